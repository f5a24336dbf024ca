//! Every fault kind, through the library handle and through `/mock/fault`,
//! with and without `times`.

mod common;

use std::time::{Duration, Instant};

use common::*;
use wechat_mock::{Fault, MockServer, DEFAULT_APPID, DEFAULT_SECRET};

fn token_reply(mock: &MockServer) -> Reply {
    get(mock.port(), &token_path(DEFAULT_APPID, DEFAULT_SECRET))
}

#[test]
fn errcode_fault_for_n_calls_then_normal() {
    let mock = MockServer::start().unwrap();
    mock.set_fault(Some(Fault::Errcode(45009)), Some(2));
    for _ in 0..2 {
        let r = token_reply(&mock);
        assert_eq!(r.status, 200);
        let v = r.json();
        assert_eq!(v["errcode"], 45009, "{v}");
        assert_eq!(v["errmsg"], "reach max api daily quota limit");
    }
    assert!(token(&mock)["access_token"].is_string());
    let s = mock.stats();
    assert_eq!(s.token_calls, 3);
    assert_eq!(s.tokens_issued, 1);
}

#[test]
fn errcodes_have_plausible_messages() {
    let mock = MockServer::start().unwrap();
    for code in [-1i64, 45009, 45011, 40164, 61004, 40243, 12345] {
        mock.set_fault(Some(Fault::Errcode(code)), None);
        let v = token_reply(&mock).json();
        assert_eq!(v["errcode"], code);
        let msg = v["errmsg"].as_str().unwrap();
        assert!(!msg.is_empty(), "{code}");
    }
    mock.set_fault(Some(Fault::Errcode(-1)), None);
    assert_eq!(token_reply(&mock).json()["errmsg"], "system error");
}

#[test]
fn fault_applies_to_both_token_endpoints_and_shares_times() {
    let mock = MockServer::start().unwrap();
    control(&mock, "/mock/fault?kind=errcode&errcode=-1&times=2");
    assert_eq!(stable(&mock, false)["errcode"], -1);
    assert_eq!(token(&mock)["errcode"], -1);
    assert!(stable(&mock, false)["access_token"].is_string());
    assert!(token(&mock)["access_token"].is_string());
    // The business API is never faulted.
    mock.set_fault(Some(Fault::Http500), None);
    let t = mock.stats().last_token.unwrap();
    assert!(callback(&mock, &t)["ip_list"].is_array());
}

#[test]
fn http500_fault() {
    let mock = MockServer::start().unwrap();
    control(&mock, "/mock/fault?kind=http500&times=1");
    let r = token_reply(&mock);
    assert_eq!(r.status, 500);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert!(r.json().get("access_token").is_none());
    assert_eq!(token_reply(&mock).status, 200);
}

#[test]
fn invalid_json_fault() {
    let mock = MockServer::start().unwrap();
    mock.set_fault(Some(Fault::InvalidJson), Some(1));
    let r = token_reply(&mock);
    assert_eq!(r.status, 200);
    assert!(r.text().starts_with("{\"access_token\":"));
    assert!(serde_json::from_slice::<serde_json::Value>(&r.body).is_err());
    assert!(token(&mock)["access_token"].is_string());
    assert_eq!(mock.stats().tokens_issued, 1);
}

#[test]
fn truncated_fault_announces_more_than_it_sends_then_closes() {
    let mock = MockServer::start().unwrap();
    control(&mock, "/mock/fault?kind=truncated&times=1");
    let mut c = Conn::open(mock.port());
    // Keep-alive request: the server must close anyway.
    c.send(
        "GET",
        &token_path(DEFAULT_APPID, DEFAULT_SECRET),
        None,
        false,
    );
    let (status, headers) = c.read_head().unwrap();
    assert_eq!(status, 200);
    let declared = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .map(|(_, v)| v.as_str());
    assert_eq!(declared, Some("200"));
    let body = c.read_to_end().unwrap();
    assert!(
        !body.is_empty() && body.len() < 200,
        "got {} bytes",
        body.len()
    );
    assert!(body.starts_with(b"{\""));
    assert!(token(&mock)["access_token"].is_string());
}

#[test]
fn missing_field_fault() {
    let mock = MockServer::start().unwrap();
    control(&mock, "/mock/fault?kind=missing_field");
    for _ in 0..3 {
        let v = token_reply(&mock).json();
        assert_eq!(v, serde_json::json!({"expires_in": 7200}));
    }
    control(&mock, "/mock/fault?kind=none");
    assert!(token(&mock)["access_token"].is_string());
}

#[test]
fn oversized_fault_sends_one_mebibyte() {
    let mock = MockServer::start().unwrap();
    mock.set_fault(Some(Fault::Oversized), Some(1));
    let r = token_reply(&mock);
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), 1024 * 1024);
    assert!(r.body.starts_with(b"{\"access_token\":\""));
    assert_eq!(mock.stats().tokens_issued, 0);
    // Over HTTP too, on the stable endpoint.
    control(&mock, "/mock/fault?kind=oversized&times=1");
    let r = post(
        mock.port(),
        "/cgi-bin/stable_token",
        &stable_body(DEFAULT_APPID, DEFAULT_SECRET, false),
    );
    assert_eq!(r.body.len(), 1024 * 1024);
}

#[test]
fn slow_fault_delays_then_answers_normally() {
    let mock = MockServer::start().unwrap();
    control(&mock, "/mock/fault?kind=slow&ms=600&times=1");
    let start = Instant::now();
    let v = token(&mock);
    let slow = start.elapsed();
    assert!(v["access_token"].is_string(), "{v}");
    // A lower bound only: a loaded machine may take longer, never shorter.
    assert!(slow >= Duration::from_millis(600), "took {slow:?}");
    assert_eq!(mock.stats().tokens_issued, 1);
    // times=1: only the first call is slow. With an hour's delay, a second
    // call that were delayed too would never finish this test.
    mock.set_fault(Some(Fault::Slow(Duration::from_secs(3600))), Some(1));
    let port = mock.port();
    let first = std::thread::spawn(move || get(port, &token_path(DEFAULT_APPID, DEFAULT_SECRET)));
    while mock.stats().token_calls < 2 {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(token(&mock)["access_token"].is_string());
    mock.reset();
    first.join().unwrap();
}

#[test]
fn reset_abandons_slow_answers_without_issuing_a_token() {
    let mock = MockServer::start().unwrap();
    mock.set_fault(Some(Fault::Slow(Duration::from_secs(3600))), None);
    let port = mock.port();
    let sleeper = std::thread::spawn(move || get(port, &token_path(DEFAULT_APPID, DEFAULT_SECRET)));
    // Wait (without a time bound) until the slow call has arrived.
    while mock.stats().token_calls == 0 {
        std::thread::sleep(Duration::from_millis(20));
    }
    mock.reset();
    let r = sleeper.join().unwrap();
    assert_eq!(r.status, 200);
    assert!(String::from_utf8_lossy(&r.body).contains("\"errcode\":-1"));
    assert_eq!(mock.stats().tokens_issued, 0);
}

#[test]
fn slow_fault_does_not_block_other_clients() {
    let mock = MockServer::start().unwrap();
    let t = access_token(&token(&mock));
    // An hour: a business call that waited for it would never return.
    mock.set_fault(Some(Fault::Slow(Duration::from_secs(3600))), None);
    let port = mock.port();
    let sleeper =
        std::thread::spawn(move || get(port, &token_path(DEFAULT_APPID, DEFAULT_SECRET)).status);
    while mock.stats().token_calls < 2 {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(callback(&mock, &t)["ip_list"].is_array());
    mock.reset();
    assert_eq!(sleeper.join().unwrap(), 200);
}

#[test]
fn dropping_the_server_interrupts_a_slow_answer() {
    let mock = MockServer::start().unwrap();
    mock.set_fault(Some(Fault::Slow(Duration::from_secs(3600))), None);
    let port = mock.port();
    let client = std::thread::spawn(move || {
        let mut c = Conn::open(port);
        c.send(
            "GET",
            &token_path(DEFAULT_APPID, DEFAULT_SECRET),
            None,
            false,
        );
        // Either an answer sent while stopping or a closed connection.
        let _ = c.read_reply();
    });
    while mock.stats().token_calls == 0 {
        std::thread::sleep(Duration::from_millis(20));
    }
    // The delay is an hour: a drop that waited for it would hang the suite.
    drop(mock);
    client.join().unwrap();
}

#[test]
fn clearing_the_fault() {
    let mock = MockServer::start().unwrap();
    mock.set_fault(Some(Fault::Http500), None);
    assert_eq!(token_reply(&mock).status, 500);
    assert_eq!(token_reply(&mock).status, 500);
    mock.set_fault(None, None);
    assert_eq!(token_reply(&mock).status, 200);
    control(&mock, "/mock/fault?kind=http500");
    assert_eq!(token_reply(&mock).status, 500);
    control(&mock, "/mock/fault?kind=none");
    assert_eq!(token_reply(&mock).status, 200);
    assert_eq!(mock.stats().token_calls, 5);
}
