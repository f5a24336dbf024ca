//! The axum example (examples/axum_service.rs), served for real on
//! 127.0.0.1 and asked over HTTP, against the mock: the cached token is used,
//! and a token WeChat rejects is invalidated and replaced once.

mod common;
#[path = "../examples/axum_service.rs"]
mod example;

use std::sync::Arc;

use common::World;
use serde_json::Value;

async fn serve(w: &World) -> String {
    let state = example::AppState {
        cache: Arc::new(w.cache()),
        api_base: w.mock.url(),
        http: reqwest::Client::new(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, example::app(state)).await });
    url
}

async fn ask(url: &str) -> (u16, Value) {
    let r = reqwest::get(format!("{url}/callback-ip")).await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_answers_and_recovers_from_rejected_tokens() {
    let w = World::new();
    let url = serve(&w).await;
    let (status, body) = ask(&url).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["ip_list"].is_array(), "{body}");
    assert_eq!(w.token_calls(), 1);
    // A hit: no new token.
    assert_eq!(ask(&url).await.0, 200);
    assert_eq!(w.token_calls(), 1);

    // WeChat forgets every token (40001 for ours): invalidated, one refetch,
    // one retry, and the caller never sees the failure.
    w.mock.reset();
    let (status, body) = ask(&url).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["ip_list"].is_array(), "{body}");
    assert_eq!(w.token_calls(), 1, "counted since the reset");

    // The token expires at WeChat before the cache expects (42001): the same.
    w.mock.advance(7200 + 1);
    let (status, body) = ask(&url).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(w.token_calls(), 2);
}

#[tokio::test(flavor = "current_thread")]
async fn a_token_error_becomes_a_502_with_a_clear_message() {
    let w = World::new();
    w.mock
        .set_fault(Some(wechat_mock::Fault::Errcode(40013)), None);
    let url = serve(&w).await;
    let r = reqwest::get(format!("{url}/callback-ip")).await.unwrap();
    assert_eq!(r.status().as_u16(), 502);
    let text = r.text().await.unwrap();
    assert!(
        text.contains("40013") && !text.contains(common::SECRET),
        "{text}"
    );
}
