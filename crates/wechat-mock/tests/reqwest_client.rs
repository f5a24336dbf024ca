//! The mock as seen by reqwest, the client wxtoken uses: pooled keep-alive
//! connections and how the broken answers surface.

use std::time::Duration;

use wechat_mock::{Fault, MockServer, DEFAULT_APPID, DEFAULT_SECRET};

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// The workspace builds reqwest without its `json` feature.
fn json(r: reqwest::blocking::Response) -> serde_json::Result<serde_json::Value> {
    serde_json::from_slice(&r.bytes().unwrap())
}

fn token_url(mock: &MockServer) -> String {
    format!(
        "{}/cgi-bin/token?grant_type=client_credential&appid={DEFAULT_APPID}&secret={DEFAULT_SECRET}",
        mock.url()
    )
}

#[test]
fn pooled_client_gets_tokens_and_uses_them() {
    let mock = MockServer::start().unwrap();
    let http = client();
    let mut tokens = std::collections::HashSet::new();
    for _ in 0..5 {
        let v = json(http.get(token_url(&mock)).send().unwrap()).unwrap();
        tokens.insert(v["access_token"].as_str().unwrap().to_string());
    }
    assert_eq!(tokens.len(), 5);
    let body = serde_json::json!({
        "grant_type": "client_credential",
        "appid": DEFAULT_APPID,
        "secret": DEFAULT_SECRET,
        "force_refresh": false,
    });
    let v = json(
        http.post(format!("{}/cgi-bin/stable_token", mock.url()))
            .header("Content-Type", "application/json")
            .body(body.to_string())
            .send()
            .unwrap(),
    )
    .unwrap();
    let stable = v["access_token"].as_str().unwrap();
    let v = json(
        http.get(format!(
            "{}/cgi-bin/getcallbackip?access_token={stable}",
            mock.url()
        ))
        .send()
        .unwrap(),
    )
    .unwrap();
    assert_eq!(v["ip_list"][0], "127.0.0.1");
    let s = mock.stats();
    assert_eq!((s.token_calls, s.stable_calls, s.business_calls), (5, 1, 1));
}

#[test]
fn broken_answers_surface_as_errors_not_hangs() {
    let mock = MockServer::start().unwrap();
    let http = client();
    mock.set_fault(Some(Fault::Truncated), Some(1));
    let got = http.get(token_url(&mock)).send().and_then(|r| r.bytes());
    assert!(got.is_err(), "a short body must be an error: {got:?}");

    mock.set_fault(Some(Fault::Http500), Some(1));
    let r = http.get(token_url(&mock)).send().unwrap();
    assert_eq!(r.status(), 500);

    mock.set_fault(Some(Fault::InvalidJson), Some(1));
    let r = http.get(token_url(&mock)).send().unwrap();
    assert!(json(r).is_err());

    mock.set_fault(Some(Fault::Oversized), Some(1));
    let r = http.get(token_url(&mock)).send().unwrap();
    assert_eq!(r.content_length(), Some(1024 * 1024));
    assert_eq!(r.bytes().unwrap().len(), 1024 * 1024);

    // An hour's delay against a 1 s timeout: only the timeout can end it.
    mock.set_fault(Some(Fault::Slow(Duration::from_secs(3600))), Some(1));
    let quick = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    assert!(quick.get(token_url(&mock)).send().unwrap_err().is_timeout());

    // And the pooled client still works afterwards.
    let v = json(http.get(token_url(&mock)).send().unwrap()).unwrap();
    assert!(v["access_token"].is_string());
}
