//! The `wechat-mock` binary as shell, C and PHP tests use it: URL on the
//! first line of stdout, flags, exit codes.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use common::*;

const BIN: &str = env!("CARGO_BIN_EXE_wechat-mock");

/// Kills the child even if the test fails half-way.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the binary with `args` and returns it with the port it printed.
fn spawn(args: &[&str]) -> (Running, u16) {
    let mut child = Command::new(BIN)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn wechat-mock");
    let stdout = child.stdout.take().unwrap();
    let running = Running(child);
    let mut first = String::new();
    BufReader::new(stdout).read_line(&mut first).unwrap();
    let first = first.trim_end();
    let port = first
        .strip_prefix("http://127.0.0.1:")
        .and_then(|p| p.parse::<u16>().ok())
        .unwrap_or_else(|| panic!("first line is not the URL: {first:?}"));
    (running, port)
}

#[test]
fn prints_its_url_first_and_serves() {
    let (_child, port) = spawn(&["--port", "0"]);
    assert_ne!(port, 0);
    let r = get(port, "/mock/stats");
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["token_calls"], 0);
    let r = get(
        port,
        &token_path(wechat_mock::DEFAULT_APPID, wechat_mock::DEFAULT_SECRET),
    );
    assert!(r.json()["access_token"].is_string());
    assert_eq!(get(port, "/mock/stats").json()["tokens_issued"], 1);
}

#[test]
fn credential_and_expiry_flags() {
    let (_child, port) = spawn(&[
        "--appid",
        "wx_bin",
        "--secret=bin_secret",
        "--expires-in",
        "-5",
    ]);
    let v = get(port, &token_path("wx_bin", "bin_secret")).json();
    assert_eq!(v["expires_in"], -5, "{v}");
    let v = get(
        port,
        &token_path(wechat_mock::DEFAULT_APPID, wechat_mock::DEFAULT_SECRET),
    )
    .json();
    assert_eq!(v["errcode"], 40013);
}

#[test]
fn listens_on_the_requested_port() {
    // Find a free port, release it and ask the binary for it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (_child, printed) = spawn(&["--port", &port.to_string()]);
    assert_eq!(printed, port);
}

fn run(args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("run wechat-mock")
}

#[test]
fn unknown_flag_exits_2_with_one_line() {
    let out = run(&["--bogus"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("--bogus"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn bad_flag_values_exit_2() {
    for args in [
        &["--port", "70000"][..],
        &["--port"][..],
        &["--expires-in", "soon"][..],
        &["--secret"][..],
    ] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(!out.stderr.is_empty());
    }
}

#[test]
fn help_exits_0() {
    let out = run(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("--port") && text.contains("--expires-in"));
}
