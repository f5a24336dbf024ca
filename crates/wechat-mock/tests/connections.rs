//! The HTTP side as clients meet it: keep-alive, closing, malformed input,
//! request bodies however framed, concurrency and shutdown. The framing
//! itself is hyper's; these check the mock is wired to it as clients need.

mod common;

use std::collections::HashSet;
use std::net::TcpStream;
use std::sync::{Arc, Barrier};
use std::thread;

use common::*;
use wechat_mock::{MockServer, DEFAULT_APPID, DEFAULT_SECRET};

#[test]
fn keep_alive_serves_several_requests_on_one_connection() {
    let mock = MockServer::start().unwrap();
    let mut c = Conn::open(mock.port());
    let path = token_path(DEFAULT_APPID, DEFAULT_SECRET);
    let a = c.request("GET", &path, None);
    let b = c.request("GET", &path, None);
    let s = c.request("GET", "/mock/stats", None);
    for r in [&a, &b, &s] {
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(r.header("connection"), None, "must not announce a close");
    }
    assert_ne!(access_token(&a.json()), access_token(&b.json()));
    assert_eq!(s.json()["token_calls"], 2);
    // A POST with a body on the same connection, then the business call.
    let body = stable_body(DEFAULT_APPID, DEFAULT_SECRET, false);
    let st = c.request("POST", "/cgi-bin/stable_token", Some(&body));
    let t = access_token(&st.json());
    let ok = c.request(
        "GET",
        &format!("/cgi-bin/getcallbackip?access_token={t}"),
        None,
    );
    assert!(ok.json()["ip_list"].is_array());
}

#[test]
fn connection_close_is_honoured() {
    let mock = MockServer::start().unwrap();
    let mut c = Conn::open(mock.port());
    c.send("GET", "/mock/stats", None, true);
    let r = c.read_reply().unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("connection"), Some("close"));
    assert!(c.is_closed());
}

// PHP's file_get_contents, used by the PHP suite, speaks HTTP/1.0.
#[test]
fn http10_closes_unless_keep_alive_is_asked_for() {
    let mock = MockServer::start().unwrap();
    let mut c = Conn::open(mock.port());
    c.send_raw(b"GET /mock/stats HTTP/1.0\r\n\r\n");
    assert_eq!(c.read_reply().unwrap().status, 200);
    assert!(c.is_closed());

    let mut c = Conn::open(mock.port());
    c.send_raw(b"GET /mock/stats HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    let r = c.read_reply().unwrap();
    assert_eq!(r.header("connection"), Some("keep-alive"));
    c.send_raw(b"GET /mock/stats HTTP/1.0\r\n\r\n");
    assert_eq!(c.read_reply().unwrap().status, 200);
}

#[test]
fn malformed_requests_are_refused_and_the_server_survives() {
    let mock = MockServer::start().unwrap();
    // hyper's own answers: an empty 400 and a close.
    let cases: [&[u8]; 3] = [
        b"this is not http\r\n\r\n",
        b"GET /mock/stats HTTP/1.1\r\nbroken header\r\n\r\n",
        b"POST /cgi-bin/stable_token HTTP/1.1\r\nContent-Length: nope\r\n\r\n",
    ];
    for raw in cases {
        let mut c = Conn::open(mock.port());
        c.send_raw(raw);
        let r = c.read_reply().unwrap();
        assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(raw));
        assert!(c.is_closed(), "connection must close after a 400");
    }
    // The mock's own cap on a stable_token body, announced too large: a JSON
    // 413 at once, without waiting for the body.
    let mut c = Conn::open(mock.port());
    c.send_raw(b"POST /cgi-bin/stable_token HTTP/1.1\r\nContent-Length: 999999999\r\n\r\n");
    let r = c.read_reply().unwrap();
    assert_eq!(r.status, 413);
    assert!(r.json()["error"].is_string());
    // A client that hangs up mid-request.
    let mut c = Conn::open(mock.port());
    c.send_raw(b"GET /cgi-bin/tok");
    drop(c);
    // Still serving, and none of the above counted as a call.
    assert!(token(&mock)["access_token"].is_string());
    let s = mock.stats();
    assert_eq!((s.token_calls, s.stable_calls), (1, 0));
}

#[test]
fn chunked_body_and_expect_continue() {
    let mock = MockServer::start().unwrap();
    let body = stable_body(DEFAULT_APPID, DEFAULT_SECRET, false);
    let (a, b) = body.split_at(10);
    let mut c = Conn::open(mock.port());
    c.send_raw(
        format!(
            "POST /cgi-bin/stable_token HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n",
            a.len(),
            b.len()
        )
        .as_bytes(),
    );
    let r = c.read_reply().unwrap();
    assert!(r.json()["access_token"].is_string(), "{}", r.text());

    // curl-style: wait for 100 Continue before sending the body.
    c.send_raw(
        format!(
            "POST /cgi-bin/stable_token HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    let (status, _) = c.read_head().unwrap();
    assert_eq!(status, 100);
    c.send_raw(body.as_bytes());
    let r = c.read_reply().unwrap();
    assert!(r.json()["access_token"].is_string(), "{}", r.text());
    assert_eq!(mock.stats().stable_calls, 2);
}

#[test]
fn many_concurrent_clients_are_all_answered() {
    const CLIENTS: usize = 100;
    let mock = MockServer::start().unwrap();
    let port = mock.port();
    // All connections are open at once before anyone sends a request.
    let barrier = Arc::new(Barrier::new(CLIENTS));
    let handles: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                let mut c = Conn::open(port);
                barrier.wait();
                let path = token_path(DEFAULT_APPID, DEFAULT_SECRET);
                let a = access_token(&c.request("GET", &path, None).json());
                let b = access_token(&c.request("GET", &path, None).json());
                (a, b)
            })
        })
        .collect();
    let mut tokens = HashSet::new();
    for h in handles {
        let (a, b) = h.join().expect("client thread");
        tokens.insert(a);
        tokens.insert(b);
    }
    assert_eq!(tokens.len(), CLIENTS * 2, "every token unique");
    let s = mock.stats();
    assert_eq!(s.token_calls, (CLIENTS * 2) as u64);
    assert_eq!(s.tokens_issued, (CLIENTS * 2) as u64);
}

#[test]
fn drop_stops_the_server() {
    let mock = MockServer::start().unwrap();
    let port = mock.port();
    let mut idle = Conn::open(port);
    assert_eq!(idle.request("GET", "/mock/stats", None).status, 200);
    drop(mock);
    assert!(
        idle.is_closed(),
        "open keep-alive connection must be closed"
    );
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "listener must be closed"
    );
}

#[test]
fn url_and_port_agree() {
    let mock = MockServer::start().unwrap();
    assert_eq!(mock.url(), format!("http://127.0.0.1:{}", mock.port()));
    assert!(!mock.url().ends_with('/'));
    assert!(format!("{mock:?}").contains(&mock.url()));
}
