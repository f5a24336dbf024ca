//! # libwxtoken: the C ABI of wxtoken
//!
//! A thin layer over the core crate for C and C++ programs: argument
//! checking, a per-settings cache registry, status codes, the thread's last
//! error, and a panic boundary. No cache logic lives here, so C programs,
//! PHP sites and Rust apps sharing `token.txt`/`expiry.txt` behave alike.
//!
//! Conventions, as the header states them for C readers:
//! - every `int` result is [`wx_status`]: `WX_OK` (0) or negative;
//! - every pointer is checked for NULL, every string for UTF-8;
//! - no panic crosses the boundary (`WX_ERR_PANIC` instead);
//! - strings returned by pointer are static; everything else is copied into
//!   caller-owned buffers; builders and cache handles (`handle.rs`) are the
//!   only things a caller frees;
//! - what PHP would write to its error log goes to the program's log
//!   callback (`log.rs`), never with a secret or a token.
//!
//! `include/wxtoken.h` is generated from this crate by cbindgen (see
//! `cbindgen.toml`); `tests/header.rs` fails when it is stale, and
//! `make header` regenerates it.

mod args;
mod error;
mod handle;
mod last_error;
mod log;
mod registry;
mod status;

use std::os::raw::{c_char, c_int, c_long};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use wxtoken::TokenCache;

use crate::error::Failure;
pub use crate::handle::{wx_cache, wx_config_builder};
pub use crate::log::{wx_log_fn, wx_log_level};
use crate::registry::Settings;
pub use crate::status::wx_status;

/// Size of an `out` buffer that holds any token: WeChat tokens are at most
/// 512 characters (reserve 512, says the API documentation), plus the NUL.
pub const WX_TOKEN_BUF_LEN: usize = 513;

// The core refuses tokens longer than this, so the buffer size and the core
// cannot drift apart silently.
const _: () = assert!(WX_TOKEN_BUF_LEN == wxtoken::MAX_TOKEN_LEN + 1);

/// `wx_version()`'s string.
const VERSION: &std::ffi::CStr = match std::ffi::CStr::from_bytes_with_nul(
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes(),
) {
    Ok(v) => v,
    Err(_) => panic!("version string has an inner NUL"),
};

/// Runs one entry point: clears the thread's last error, stops panics, and
/// turns a failure into its status after recording it.
fn guard(function: &str, body: impl FnOnce() -> Result<c_int, Failure>) -> c_int {
    last_error::clear();
    let failure = match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(v)) => return v,
        Ok(Err(f)) => f,
        Err(_payload) => Failure::panic(function),
    };
    let status = failure.status.code();
    last_error::set(failure);
    status
}

/// Checks the four settings arguments and finds (or makes) their cache.
///
/// # Safety
/// Each pointer is NULL or a NUL-terminated string valid for the call.
unsafe fn cache_of<'a>(
    appid: *const c_char,
    secret: *const c_char,
    token_file: *const c_char,
    expiry_file: *const c_char,
) -> Result<(Arc<registry::Entry>, Settings<'a>), Failure> {
    // SAFETY (all four): forwarded from the caller.
    let s = Settings {
        appid: unsafe { args::required(appid, "appid") }?,
        // NULL or empty: none given (a passive reader needs none; anything
        // else gets the configuration's "secret is required").
        secret: unsafe { args::optional(secret, "secret") }?.unwrap_or(""),
        token_file: unsafe { args::optional(token_file, "token_file") }?,
        expiry_file: unsafe { args::optional(expiry_file, "expiry_file") }?,
    };
    let cache = registry::cache_for(s).map_err(|e| Failure::from_core(&e, s.secret))?;
    Ok((cache, s))
}

/// Runs `op` on a per-arguments cache, reports the outcome to the log
/// callback, and turns an error into a failure (secret masked).
fn run<T>(
    entry: &registry::Entry,
    s: Settings<'_>,
    op: impl FnOnce(&TokenCache) -> wxtoken::Result<T>,
) -> Result<T, Failure> {
    let outcome = op(&entry.cache);
    let who = log::Subject {
        credential: "access_token",
        appid: s.appid,
        secret: s.secret,
    };
    entry.log.after(&who, &entry.cache, &outcome);
    outcome.map_err(|e| Failure::from_core(&e, s.secret))
}

/// The body of `wx_get_token()` and `wx_refresh()`: empties `out` first (so
/// it is empty whatever fails next), finds the cache, runs `op` and copies the
/// token in.
///
/// # Safety
/// As for `wx_get_token()`: the settings pointers are NULL or NUL-terminated,
/// `out` is NULL or writable for its length.
unsafe fn token_into(
    function: &str,
    [appid, secret, token_file, expiry_file]: [*const c_char; 4],
    (out, out_len): (*mut c_char, usize),
    op: fn(&TokenCache) -> wxtoken::Result<String>,
) -> c_int {
    guard(function, || {
        // SAFETY: forwarded from the caller.
        let out = unsafe { args::out_buffer(out, out_len) }?;
        let (cache, s) = unsafe { cache_of(appid, secret, token_file, expiry_file) }?;
        let token = run(&cache, s, op)?;
        out.write(&token)?;
        Ok(wx_status::WX_OK.code())
    })
}

/// Gets a valid access token into `out`.
///
/// From the cache files when fresh (no network call), else fetched once for
/// every thread and process sharing the files, and stored.
///
/// - `appid`: required. `secret`: required unless passive (`WX_PASSIVE=1`);
///   NULL or `""` means none (then `$WX_APPSECRET` / `$WX_APPSECRET_FILE` if
///   set), so passive readers need only the app id.
/// - `token_file`, `expiry_file`: paths of the cache files; NULL means
///   `$WX_TOKEN_FILE` / `$WX_EXPIRY_FILE` if set, else `token.txt` /
///   `expiry.txt` (relative to the current directory).
/// - `out`, `out_len`: caller's buffer; `WX_TOKEN_BUF_LEN` bytes always
///   suffice.
///
/// Returns `WX_OK` with the NUL-terminated token in `out`, or a negative
/// status with `out` holding an empty string (when `out_len > 0`); a token
/// that does not fit gives `WX_ERR_BUFFER_TOO_SMALL` and is not written even
/// in part (it stays cached: retry with a larger buffer).
///
/// # Safety
/// Every non-NULL string argument is NUL-terminated; `out` is NULL or
/// writable for `out_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn wx_get_token(
    appid: *const c_char,
    secret: *const c_char,
    token_file: *const c_char,
    expiry_file: *const c_char,
    out: *mut c_char,
    out_len: usize,
) -> c_int {
    // SAFETY: forwarded from the caller.
    unsafe {
        token_into(
            "wx_get_token",
            [appid, secret, token_file, expiry_file],
            (out, out_len),
            TokenCache::get_token,
        )
    }
}

/// Fetches a new token now, whatever the cache holds, stores it and copies
/// it into `out`.
///
/// Same arguments, results and buffer rules as `wx_get_token()`. Every call
/// costs an upstream request against the daily quota: use it when a token
/// must be replaced at once, not routinely (after a business API rejects a
/// token, prefer `wx_invalidate()`). Fails with `WX_ERR_PASSIVE` in passive
/// mode.
///
/// # Safety
/// As for `wx_get_token()`.
#[no_mangle]
pub unsafe extern "C" fn wx_refresh(
    appid: *const c_char,
    secret: *const c_char,
    token_file: *const c_char,
    expiry_file: *const c_char,
    out: *mut c_char,
    out_len: usize,
) -> c_int {
    // SAFETY: forwarded from the caller.
    unsafe {
        token_into(
            "wx_refresh",
            [appid, secret, token_file, expiry_file],
            (out, out_len),
            TokenCache::force_refresh,
        )
    }
}

/// Drops `failed_token` from the cache if it is still the cached token.
///
/// Call it after a business API answered 40001, 40014 or 42001 for that
/// token; the next `wx_get_token()` then fetches once. A newer token that
/// another thread or process stored meanwhile is kept, so many callers
/// reporting the same failure cause a single refresh. Nothing is fetched
/// here.
///
/// Settings arguments as for `wx_get_token()`; `failed_token` is required.
/// Returns 1 when the token was dropped, 0 when it was not the cached one
/// (already replaced, or empty), or a negative status.
///
/// # Safety
/// Every non-NULL argument is a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn wx_invalidate(
    appid: *const c_char,
    secret: *const c_char,
    token_file: *const c_char,
    expiry_file: *const c_char,
    failed_token: *const c_char,
) -> c_int {
    guard("wx_invalidate", || {
        // SAFETY: forwarded from the caller.
        let (cache, s) = unsafe { cache_of(appid, secret, token_file, expiry_file) }?;
        let failed = unsafe { args::required(failed_token, "failed_token") }?;
        let dropped = run(&cache, s, |c| c.invalidate(failed))?;
        Ok(c_int::from(dropped))
    })
}

/// Copies the calling thread's last error message into `buf`.
///
/// The message describes the latest failed call of this thread among those
/// returning a status (`wx_get_token()`, `wx_cache_new()`,
/// `wx_cache_get_token()`, `wx_config_builder_set()`, ...); each of those
/// calls clears it on entry, so it is empty after a success.
/// It is one line of UTF-8 and never contains the app secret.
///
/// Works like `snprintf`: writes at most `len - 1` bytes (cut at a UTF-8
/// character boundary) and a NUL, and returns the full length of the
/// message without the NUL. A result `>= len` means it was truncated; call
/// with `buf = NULL, len = 0` to learn the size (result + 1). Nothing is
/// written when `buf` is NULL or `len` is 0.
///
/// # Safety
/// `buf` is NULL or writable for `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn wx_last_error(buf: *mut c_char, len: usize) -> usize {
    // SAFETY: forwarded from the caller.
    catch_unwind(|| unsafe { last_error::copy_message(buf, len) }).unwrap_or(0)
}

/// WeChat's `errcode` from the calling thread's last failed call, or 0 when
/// that failure did not come from a WeChat answer (or there was none).
///
/// For example 40125 (bad secret, with `WX_ERR_CONFIG`), 45009 (daily quota
/// used up, with `WX_ERR_WECHAT`), -1 (WeChat busy, after retries).
#[no_mangle]
pub extern "C" fn wx_last_errcode() -> c_long {
    catch_unwind(last_error::errcode)
        .map(|c| c_long::try_from(c).unwrap_or(c_long::MAX))
        .unwrap_or(0)
}

/// The name of a status code, e.g. `"WX_ERR_NETWORK"` for
/// `WX_ERR_NETWORK`, or `"WX_UNKNOWN_STATUS"`. Static storage: never NULL,
/// never free it.
#[no_mangle]
pub extern "C" fn wx_status_name(status: c_int) -> *const c_char {
    catch_unwind(|| status::name_of(status)).unwrap_or(status::UNKNOWN_STATUS.as_ptr())
}

/// The library version, e.g. `"0.1.0"`. Static storage: never NULL, never
/// free it.
#[no_mangle]
pub extern "C" fn wx_version() -> *const c_char {
    VERSION.as_ptr()
}

/// Forgets every per-settings cache this library keeps in memory.
///
/// The next call with given settings reads the `WX_*` environment again
/// (it is otherwise read once per distinct appid/secret/file arguments).
/// It also frees the memory and the HTTP client thread those caches hold:
/// call it before exit to keep leak checkers quiet. The token files are not
/// touched. Safe to call while other threads use the library: calls already
/// running finish with the cache they had. Handles (`wx_cache`) are not
/// affected: `wx_cache_free()` frees theirs. Returns `WX_OK` (or
/// `WX_ERR_PANIC`).
#[no_mangle]
pub extern "C" fn wx_reset() -> c_int {
    guard("wx_reset", || {
        registry::reset();
        Ok(wx_status::WX_OK.code())
    })
}

#[cfg(test)]
mod tests;
