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

/// Handles (`wx_config_builder`, `wx_cache`) and the log callback.
mod handles {
    use std::ffi::{c_void, CStr, CString};
    use std::os::raw::{c_char, c_int};
    use std::ptr;
    use std::sync::Mutex;

    use wechat_mock::{DEFAULT_APPID, DEFAULT_SECRET};

    use super::{files, last_error, mock};
    use crate::handle::*;
    use crate::log::wx_set_log_callback;
    use crate::*;

    fn set(b: *mut wx_config_builder, name: &str, value: &str) -> c_int {
        let (n, v) = (CString::new(name).unwrap(), CString::new(value).unwrap());
        unsafe { wx_config_builder_set(b, n.as_ptr(), v.as_ptr()) }
    }

    /// A builder for `appid`/`secret` on the mock, files in `t`/`e`; nothing
    /// from the environment.
    fn builder(appid: &str, secret: &str, t: &CStr, e: &CStr) -> *mut wx_config_builder {
        let b = wx_config_builder_new();
        assert!(!b.is_null());
        for (n, v) in [
            ("WX_APPID", appid),
            ("WX_APPSECRET", secret),
            ("WX_API_BASE", &mock().url()),
            ("WX_HTTP_TIMEOUT", "60"),
            ("WX_TOKEN_FILE", t.to_str().unwrap()),
            ("WX_EXPIRY_FILE", e.to_str().unwrap()),
        ] {
            assert_eq!(set(b, n, v), 0, "{n}: {}", last_error());
        }
        b
    }

    fn new_cache(b: *const wx_config_builder) -> (c_int, *mut wx_cache) {
        let mut c = ptr::dangling_mut::<wx_cache>(); // overwritten on every path
        let rc = unsafe { wx_cache_new(b, &mut c) };
        (rc, c)
    }

    fn get(c: *mut wx_cache) -> (c_int, String) {
        let mut out = [0x7f as c_char; WX_TOKEN_BUF_LEN];
        let rc = unsafe { wx_cache_get_token(c, out.as_mut_ptr(), out.len()) };
        let s = unsafe { CStr::from_ptr(out.as_ptr()) };
        (rc, s.to_str().unwrap().to_owned())
    }

    #[test]
    fn equal_settings_share_one_cache_until_the_last_free() {
        let m = mock();
        let (dir, t, e) = files("share");
        let b = builder(DEFAULT_APPID, DEFAULT_SECRET, &t, &e);
        let (rc, x) = new_cache(b);
        assert_eq!(rc, 0, "{}", last_error());
        let (_, y) = new_cache(b);
        let (other_dir, t2, e2) = files("share-other");
        let b2 = builder(DEFAULT_APPID, DEFAULT_SECRET, &t2, &e2);
        let (_, z) = new_cache(b2);
        let shared = unsafe {
            assert!(std::sync::Arc::ptr_eq(
                &(*x).shared_for_test(),
                &(*y).shared_for_test()
            ));
            assert!(!std::sync::Arc::ptr_eq(
                &(*x).shared_for_test(),
                &(*z).shared_for_test()
            ));
            std::sync::Arc::downgrade(&(*x).shared_for_test())
        };
        let before = m.stats().token_calls;
        let (rc, token) = get(x);
        assert_eq!(rc, 0, "{}", last_error());
        assert_eq!(get(y), (0, token.clone()));
        assert_eq!(m.stats().token_calls, before + 1);
        unsafe {
            wx_cache_free(x);
            assert_eq!(get(y), (0, token), "the other handle lives on");
            wx_cache_free(y);
            wx_cache_free(z);
            wx_config_builder_free(b);
            wx_config_builder_free(b2);
        }
        assert_eq!(shared.strong_count(), 0, "the last free drops the cache");
        drop((dir, other_dir));
    }

    #[test]
    fn unknown_names_and_bad_values_are_refused_naming_the_setting() {
        mock();
        let (dir, t, e) = files("refused");
        let b = builder(DEFAULT_APPID, DEFAULT_SECRET, &t, &e);
        assert_eq!(set(b, "WX_NO_SUCH", "1"), wx_status::WX_ERR_CONFIG.code());
        assert!(last_error().contains("WX_NO_SUCH"), "{}", last_error());
        assert_eq!(set(b, DEFAULT_SECRET, "x"), wx_status::WX_ERR_CONFIG.code());
        assert!(!last_error().contains(DEFAULT_SECRET), "{}", last_error());
        assert_eq!(set(b, "WX_HTTP_TIMEOUT", "abc"), 0);
        let (rc, c) = new_cache(b);
        assert_eq!(rc, wx_status::WX_ERR_CONFIG.code());
        assert!(c.is_null());
        assert!(last_error().contains("WX_HTTP_TIMEOUT"), "{}", last_error());
        assert_eq!(set(b, "WX_HTTP_TIMEOUT", ""), 0, "empty unsets");
        let (rc, c) = new_cache(b);
        assert_eq!(rc, 0, "{}", last_error());
        assert!(format!("{:?}", unsafe { &*b }).contains("WX_APPSECRET"));
        assert!(!format!("{:?}", unsafe { &*b }).contains(DEFAULT_SECRET));
        assert!(!format!("{:?}", unsafe { &*c }).contains(DEFAULT_SECRET));
        unsafe {
            wx_cache_free(c);
            wx_config_builder_free(b);
        }
        drop(dir);
    }

    #[test]
    fn null_handles_and_buffers_are_statuses() {
        let mut c = ptr::null_mut();
        assert_eq!(
            unsafe { wx_cache_new(ptr::null(), &mut c) },
            wx_status::WX_ERR_NULL_ARG.code()
        );
        assert_eq!(get(ptr::null_mut()).0, wx_status::WX_ERR_NULL_ARG.code());
        assert_eq!(
            unsafe { wx_cache_invalidate(ptr::null_mut(), c"t".as_ptr()) },
            wx_status::WX_ERR_NULL_ARG.code()
        );
        unsafe {
            wx_cache_free(ptr::null_mut());
            wx_config_builder_free(ptr::null_mut());
        }
    }

    static LOGGED: Mutex<Vec<(c_int, String)>> = Mutex::new(Vec::new());

    unsafe extern "C" fn on_log(userdata: *mut c_void, level: c_int, message: *const c_char) {
        assert_eq!(userdata as usize, 7);
        let m = unsafe { CStr::from_ptr(message) }
            .to_string_lossy()
            .into_owned();
        LOGGED.lock().unwrap().push((level, m));
    }

    #[test]
    fn the_log_callback_gets_a_refused_refresh_once_with_its_errcode_never_the_secret() {
        mock();
        let (dir, t, e) = files("log");
        let appid = "wx_rust_log_test";
        let secret = "wrong_secret_for_the_log_test";
        unsafe { wx_set_log_callback(Some(on_log), 7usize as *mut c_void) };
        let b = builder(appid, secret, &t, &e);
        let (rc, c) = new_cache(b);
        assert_eq!(rc, 0);
        let mut errcode = 0;
        for _ in 0..3 {
            let (rc, _) = get(c);
            assert!(rc < 0);
            errcode = wx_last_errcode();
        }
        assert_ne!(errcode, 0);
        let mine: Vec<_> = LOGGED
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, m)| m.contains(appid))
            .cloned()
            .collect();
        assert_eq!(mine.len(), 1, "{mine:?}");
        assert_eq!(mine[0].0, crate::wx_log_level::WX_LOG_ERROR as c_int);
        assert!(mine[0].1.contains(&errcode.to_string()), "{mine:?}");
        assert!(LOGGED
            .lock()
            .unwrap()
            .iter()
            .all(|(_, m)| !m.contains(secret)));
        unsafe {
            wx_cache_free(c);
            wx_config_builder_free(b);
        }
        drop(dir);
    }
}
