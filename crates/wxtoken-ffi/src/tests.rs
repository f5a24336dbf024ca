//! The extern functions called from Rust against a real mock over HTTP.
//! (The C programs in tests/c/ do the same from C; these run in `cargo test`
//! and reach the one status C cannot provoke: a panic.)

use std::ffi::{CStr, CString};
use std::sync::OnceLock;

use wechat_mock::{MockServer, DEFAULT_APPID, DEFAULT_SECRET};

use super::*;

/// One mock for the whole test binary: the environment is process-wide, so
/// `WX_API_BASE` is set once, before any cache is made.
fn mock() -> &'static MockServer {
    static MOCK: OnceLock<MockServer> = OnceLock::new();
    MOCK.get_or_init(|| {
        let m = MockServer::start().expect("start wechat-mock");
        std::env::set_var("WX_API_BASE", m.url());
        std::env::set_var("WX_HTTP_TIMEOUT", "60"); // generous: not under test
        m
    })
}

/// A fresh directory (removed when dropped, even by a panic) and the C
/// strings of its two cache files.
fn files(name: &str) -> (tempfile::TempDir, CString, CString) {
    let dir = tempfile::Builder::new()
        .prefix(&format!("wxtoken-ffi-{name}-"))
        .tempdir()
        .unwrap();
    let c = |f: &str| CString::new(dir.path().join(f).to_str().unwrap()).unwrap();
    let (t, e) = (c("token.txt"), c("expiry.txt"));
    (dir, t, e)
}

fn last_error() -> String {
    let mut buf = [0 as c_char; 512];
    unsafe { wx_last_error(buf.as_mut_ptr(), buf.len()) };
    unsafe { CStr::from_ptr(buf.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

/// The signature `wx_get_token` and `wx_refresh` share.
type TokenFn = unsafe extern "C" fn(
    *const c_char,
    *const c_char,
    *const c_char,
    *const c_char,
    *mut c_char,
    usize,
) -> c_int;

/// Calls `f` with the default appid and these settings; its status and token.
fn call(f: TokenFn, secret: &CStr, t: &CStr, e: &CStr) -> (c_int, String) {
    let appid = CString::new(DEFAULT_APPID).unwrap();
    let mut out = [0x7f as c_char; WX_TOKEN_BUF_LEN];
    let rc = unsafe {
        f(
            appid.as_ptr(),
            secret.as_ptr(),
            t.as_ptr(),
            e.as_ptr(),
            out.as_mut_ptr(),
            out.len(),
        )
    };
    let s = unsafe { CStr::from_ptr(out.as_ptr()) };
    (rc, s.to_str().unwrap().to_owned())
}

fn get(secret: &CStr, t: &CStr, e: &CStr) -> (c_int, String) {
    call(wx_get_token, secret, t, e)
}

#[test]
fn a_panic_becomes_a_status_and_the_library_goes_on() {
    let rc = guard("wx_test", || panic!("boom"));
    assert_eq!(rc, wx_status::WX_ERR_PANIC.code());
    let msg = last_error();
    assert!(msg.contains("wx_test panicked"), "{msg}");
    assert_eq!(wx_last_errcode(), 0);
    let name = unsafe { CStr::from_ptr(wx_status_name(rc)) };
    assert_eq!(name, c"WX_ERR_PANIC");
    // The same thread goes on, and a successful call clears the error.
    assert_eq!(guard("wx_test", || Ok(0)), 0);
    assert_eq!(last_error(), "");
}

#[test]
fn get_hit_invalidate_and_refresh_through_the_c_functions() {
    let m = mock();
    let (dir, t, e) = files("flow");
    let secret = CString::new(DEFAULT_SECRET).unwrap();
    let before = m.stats().token_calls;

    let (rc, token) = get(&secret, &t, &e);
    assert_eq!(rc, 0, "{}", last_error());
    assert!(!token.is_empty());
    assert_eq!(
        std::fs::read_to_string(dir.path().join("token.txt")).unwrap(),
        token
    );
    let (rc, again) = get(&secret, &t, &e);
    assert_eq!((rc, &again), (0, &token));
    assert_eq!(m.stats().token_calls, before + 1, "second call is a hit");

    let appid = CString::new(DEFAULT_APPID).unwrap();
    let failed = CString::new(token.clone()).unwrap();
    let inval = || unsafe {
        wx_invalidate(
            appid.as_ptr(),
            secret.as_ptr(),
            t.as_ptr(),
            e.as_ptr(),
            failed.as_ptr(),
        )
    };
    assert_eq!(inval(), 1);
    assert_eq!(inval(), 0, "already gone");
    let (rc, fresh) = get(&secret, &t, &e);
    assert_eq!(rc, 0);
    assert_ne!(fresh, token);

    let (rc, forced) = call(wx_refresh, &secret, &t, &e);
    assert_eq!(rc, 0);
    assert!(forced != fresh && !forced.is_empty());
    drop(dir);
}

#[test]
fn a_bad_secret_gives_its_errcode_and_never_shows_the_secret() {
    mock();
    let (dir, t, e) = files("badsecret");
    let secret = CString::new("wrong_secret_ABCDEF").unwrap();
    let (rc, out) = get(&secret, &t, &e);
    assert_eq!(rc, wx_status::WX_ERR_CONFIG.code());
    assert_eq!(out, "", "out is emptied on failure");
    assert_eq!(wx_last_errcode(), 40125);
    let msg = last_error();
    assert!(
        msg.contains("40125") && !msg.contains("wrong_secret_ABCDEF"),
        "{msg}"
    );
    drop(dir);
}

#[test]
fn version_matches_the_core() {
    let v = unsafe { CStr::from_ptr(wx_version()) };
    assert_eq!(v.to_str().unwrap(), wxtoken::VERSION);
}

/// The model is rustls-ffi's `rustls_version` test: the version C programs
/// see is the one the workspace's Cargo.toml declares.
#[test]
fn version_matches_cargo_toml() {
    let manifest =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../Cargo.toml")).unwrap();
    let declared = manifest
        .lines()
        .skip_while(|l| l.trim() != "[workspace.package]")
        .find_map(|l| l.strip_prefix("version = "))
        .map(|v| v.trim_matches('"'))
        .expect("[workspace.package] version in Cargo.toml");
    let v = unsafe { CStr::from_ptr(wx_version()) };
    assert_eq!(v.to_str().unwrap(), declared);
}
