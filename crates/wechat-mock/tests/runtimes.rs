//! The mock inside the caller's tokio runtime, as wxtoken's async tests use
//! it: it must serve from its own thread whatever the caller's runtime
//! flavour, and dropping it there (even with a `slow` answer pending) must
//! neither panic nor hang.

use std::time::Duration;

use wechat_mock::{Fault, MockServer, DEFAULT_APPID, DEFAULT_SECRET};

fn token_url(mock: &MockServer) -> String {
    format!(
        "{}/cgi-bin/token?grant_type=client_credential&appid={DEFAULT_APPID}&secret={DEFAULT_SECRET}",
        mock.url()
    )
}

/// Gets a token, then drops the mock while a `slow` answer is pending and
/// checks that the waiting client sees the connection end.
async fn serve_then_drop_mid_answer() {
    let mock = MockServer::start().unwrap();
    // Generous: only a hung mock could take this long.
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let body = http.get(token_url(&mock)).send().await.unwrap();
    let v: serde_json::Value = serde_json::from_slice(&body.bytes().await.unwrap()).unwrap();
    assert!(v["access_token"].is_string(), "{v}");

    // An hour: only the drop can end this answer.
    mock.set_fault(Some(Fault::Slow(Duration::from_secs(3600))), None);
    let pending = tokio::spawn(http.get(token_url(&mock)).send());
    while mock.stats().token_calls < 2 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    drop(mock);
    let got = pending.await.unwrap();
    // Closed without an answer, not timed out.
    let e = got.expect_err("no answer after the drop");
    assert!(!e.is_timeout(), "{e}");
}

#[tokio::test(flavor = "current_thread")]
async fn inside_a_current_thread_runtime() {
    serve_then_drop_mid_answer().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inside_a_multi_thread_runtime() {
    serve_then_drop_mid_answer().await;
}
