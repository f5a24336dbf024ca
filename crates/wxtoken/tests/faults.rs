//! Every fault of the mock, with an expired-but-present cache: a clear typed
//! error, files untouched, secret nowhere.

mod common;

use std::time::{Duration, Instant};

use common::{World, SECRET};
use wechat_mock::Fault;
use wxtoken::{Error, ErrorKind};

fn expired_world() -> World {
    let w = World::new();
    w.write_files("STILL_THE_OLD_TOKEN", "1000");
    w
}

/// Runs one fault and checks the common promises; returns the error.
fn run_fault(fault: Fault) -> Error {
    let w = expired_world();
    w.mock.set_fault(Some(fault.clone()), None);
    let before = (w.read(&w.token_file()), w.read(&w.expiry_file()));
    let cache = w.cache();
    let e = cache.get_token().expect_err("a fault is an error");
    let after = (w.read(&w.token_file()), w.read(&w.expiry_file()));
    assert_eq!(before, after, "{fault:?}: files must be byte-identical");
    for text in [e.to_string(), format!("{e:?}"), format!("{cache:?}")] {
        assert!(!text.contains(SECRET), "{fault:?}: secret leaked in {text}");
    }
    e
}

#[test]
fn wechat_errcodes_are_typed_and_not_retried() {
    for (code, kind) in [
        (45009, ErrorKind::WeChat),
        (45011, ErrorKind::WeChat),
        (40164, ErrorKind::Config),
        (61004, ErrorKind::Config),
        (40243, ErrorKind::Config),
        (40013, ErrorKind::Config),
        (40125, ErrorKind::Config),
    ] {
        let w = expired_world();
        w.mock.set_fault(Some(Fault::Errcode(code)), None);
        let e = w.cache().get_token().unwrap_err();
        assert_eq!(e.errcode(), Some(code));
        assert_eq!(e.kind(), kind, "{code}");
        assert!(e.to_string().contains(&code.to_string()), "{e}");
        assert_eq!(w.token_calls(), 1, "{code} must not be retried");
        assert_eq!(w.read(&w.token_file()), b"STILL_THE_OLD_TOKEN");
    }
}

#[test]
fn busy_is_retried_with_backoff_and_succeeds() {
    let w = expired_world();
    w.mock.set_fault(Some(Fault::Errcode(-1)), Some(2));
    let t = w.cache().get_token().unwrap();
    assert_ne!(t, "STILL_THE_OLD_TOKEN");
    assert_eq!(w.token_calls(), 3);
}

#[test]
fn busy_forever_gives_up_after_bounded_attempts() {
    let e = run_fault(Fault::Errcode(-1));
    assert_eq!(e.errcode(), Some(-1));
}

#[test]
fn http_and_body_faults_are_bad_answers() {
    let e = run_fault(Fault::Http500);
    assert!(matches!(e, Error::HttpStatus { status: 500, .. }), "{e}");
    for (fault, says) in [
        (Fault::InvalidJson, "not valid JSON"),
        (Fault::Truncated, "cut short"),
        (Fault::MissingField, "access_token is missing"),
        (Fault::Oversized, "larger than 64 KiB"),
    ] {
        let e = run_fault(fault.clone());
        assert_eq!(e.kind(), ErrorKind::Network, "{fault:?}: {e}");
        assert!(e.to_string().contains(says), "{fault:?}: {e}");
    }
}

#[test]
fn absurd_expires_in_is_refused() {
    for secs in [0, -5, 10_000_000] {
        let w = expired_world();
        w.mock.set_expires_in(secs);
        let e = w.cache().get_token().unwrap_err();
        assert!(e.to_string().contains("expires_in"), "{e}");
        assert_eq!(w.read(&w.token_file()), b"STILL_THE_OLD_TOKEN");
    }
}

#[test]
fn wrong_secret_is_a_config_error_without_the_secret() {
    let w = expired_world();
    let wrong = "wrong_secret_that_must_not_leak";
    let cache = w.cache_with(w.builder().secret(wrong));
    let e = cache.get_token().unwrap_err();
    assert_eq!(e.errcode(), Some(40125));
    assert_eq!(e.kind(), ErrorKind::Config);
    assert!(!e.to_string().contains(wrong) && !format!("{e:?}").contains(wrong));
}

#[test]
fn a_slow_answer_ends_within_the_timeout() {
    let w = expired_world();
    w.mock
        .set_fault(Some(Fault::Slow(Duration::from_secs(3600))), None);
    let cache = w.cache_with(w.builder().http_timeout(Duration::from_secs(2)));
    let started = Instant::now();
    let e = cache.get_token().unwrap_err();
    let took = started.elapsed();
    assert!(matches!(e, Error::Timeout { .. }), "{e}");
    // Wide bound: the answer would take an hour; the timeout is 2 s; any
    // machine, however loaded, ends between the two.
    assert!(took < Duration::from_secs(120), "took {took:?}");
    w.mock.reset();
    assert_eq!(w.read(&w.token_file()), b"STILL_THE_OLD_TOKEN");
}

#[test]
fn unreachable_server_is_a_network_error_naming_the_host() {
    let w = expired_world();
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = dead.local_addr().unwrap();
    drop(dead);
    let cache = w.cache_with(w.builder().api_base(format!("http://{addr}")));
    let e = cache.get_token().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Network);
    let text = e.to_string();
    assert!(text.contains(&addr.to_string()), "{text}");
    assert!(
        !text.contains(SECRET) && !text.contains("secret="),
        "{text}"
    );
}

/// A host that accepts no connection (its accept queue is full, so SYNs are
/// dropped and connect hangs) must not use up the whole timeout: the time is
/// divided so the second base in the list gets its try.
#[test]
fn a_black_holed_first_base_leaves_time_for_the_second() {
    use std::os::fd::AsRawFd;
    let w = expired_world();
    let hole = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    // SAFETY: a listening socket we own; a backlog of 0 keeps its queue tiny.
    assert_eq!(unsafe { libc::listen(hole.as_raw_fd(), 0) }, 0);
    let addr = hole.local_addr().unwrap();
    // Fill the queue (never accepted), until a connect no longer completes.
    let mut fillers = Vec::new();
    for _ in 0..8 {
        match std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            Ok(s) => fillers.push(s),
            Err(_) => break,
        }
    }
    let cache = w.cache_with(
        w.builder()
            .api_base(format!("http://{addr},{}", w.mock.url()))
            // 5 s: once, all of it went to the first host's connect.
            .http_timeout(Duration::from_secs(5)),
    );
    let token = cache.get_token().unwrap();
    assert_eq!(Some(token), w.mock.stats().last_token);
    assert_eq!(w.token_calls(), 1);
    drop(fillers);
}

/// A wrong secret's back-off holds back only that secret: a long-lived
/// process whose secret file is corrected fetches at once with the new one,
/// and so does another cache with the right secret.
#[test]
fn a_corrected_secret_file_is_read_again_and_not_held_back() {
    use std::os::unix::fs::PermissionsExt;
    let w = World::new();
    let secret_file = w.dir.path("secret");
    std::fs::write(&secret_file, "wrong_secret_first\n").unwrap();
    std::fs::set_permissions(&secret_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let cache = w.cache_with(w.builder().secret_file(&secret_file));
    let e = cache.get_token().expect_err("the wrong secret fails");
    assert_eq!((e.kind(), e.errcode()), (ErrorKind::Config, Some(40125)));
    // Another process with the right secret, inside the wrong one's back-off.
    let calls = w.token_calls();
    let right = w.cache();
    right
        .get_token()
        .expect("the right secret is not held back");
    assert_eq!(w.token_calls(), calls + 1);
    right.invalidate(&right.get_token().unwrap()).unwrap();
    // The same long-lived cache, its file corrected: read again, fetched.
    std::fs::write(&secret_file, format!("{SECRET}\n")).unwrap();
    let calls = w.token_calls();
    cache
        .get_token()
        .expect("the corrected file is read again, not held back");
    assert_eq!(w.token_calls(), calls + 1);
}
