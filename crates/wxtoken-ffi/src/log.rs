//! The program's log callback, `wx_set_log_callback()`, and what reaches it:
//! the conditions PHP writes to its error log (a degraded cache, a failed
//! refresh with its errcode), once per condition per cache until it clears,
//! never a secret or a token.
//!
//! Everything here is lock-free, so a fork at any moment leaves nothing
//! locked behind: the callback is a pointer to an immutable (function,
//! userdata) pair, swapped atomically, and each cache remembers the
//! condition it last reported as a 64-bit hash in an atomic.

use std::ffi::CString;
use std::hash::{Hash, Hasher};
use std::os::raw::{c_char, c_int, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

use wxtoken::TokenCache;

/// How serious a message to the log callback is; the numbers are syslog's
/// (`LOG_ERR`, `LOG_WARNING`), so a callback may pass them on to
/// `syslog(3)` as they are.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum wx_log_level {
    /// A call failed: a refresh WeChat refused (with its errcode), an
    /// unreachable API, a store that cannot be read, passive mode with
    /// nothing cached. Callers get the same error as a status.
    WX_LOG_ERROR = 3,
    /// The cache works but is degraded: a refresh ahead of expiry failed
    /// (the cached token is still valid), a token was fetched but could not
    /// be stored, a cache lock could not be had.
    WX_LOG_WARNING = 4,
}

/// The log callback: `userdata` as given to `wx_set_log_callback()`,
/// `level` a `wx_log_level`, `message` one line of UTF-8 without a newline,
/// valid only during the call (copy it to keep it).
#[allow(non_camel_case_types)]
pub type wx_log_fn =
    Option<unsafe extern "C" fn(userdata: *mut c_void, level: c_int, message: *const c_char)>;

/// One (function, userdata) pair ever installed. Never freed, never changed:
/// a thread that loaded the pointer just before another thread replaced the
/// callback can still read it safely. Identical pairs are reused, so the
/// list only grows with distinct pairs.
struct Sink {
    f: unsafe extern "C" fn(*mut c_void, c_int, *const c_char),
    userdata: *mut c_void,
    /// The pair made before this one (the list of all of them).
    next: *mut Sink,
}

/// Every pair ever installed, newest first (kept reachable, so leak
/// checkers see no leak).
static SINKS: AtomicPtr<Sink> = AtomicPtr::new(ptr::null_mut());
/// The pair in force; NULL: no callback.
static CURRENT: AtomicPtr<Sink> = AtomicPtr::new(ptr::null_mut());

/// Installs `f` with `userdata`, or removes the callback when `f` is None.
pub(crate) fn set(f: wx_log_fn, userdata: *mut c_void) {
    let Some(f) = f else {
        CURRENT.store(ptr::null_mut(), Ordering::Release);
        return;
    };
    let mut head = SINKS.load(Ordering::Acquire);
    // SAFETY: every node in the list is a leaked Box, never freed or changed.
    let mut p = head;
    while let Some(node) = unsafe { p.as_ref() } {
        if node.f as usize == f as usize && node.userdata == userdata {
            CURRENT.store(p, Ordering::Release);
            return;
        }
        p = node.next;
    }
    let node = Box::into_raw(Box::new(Sink {
        f,
        userdata,
        next: head,
    }));
    loop {
        match SINKS.compare_exchange_weak(head, node, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => break,
            Err(now) => {
                head = now;
                // SAFETY: `node` is ours alone until it is published.
                unsafe { (*node).next = now };
            }
        }
    }
    CURRENT.store(node, Ordering::Release);
}

/// Whether a callback is installed (one atomic load).
pub(crate) fn enabled() -> bool {
    !CURRENT.load(Ordering::Acquire).is_null()
}

/// Passes `message` to the callback in force, if any. Called with no lock
/// held, so the callback may call back into the library.
pub(crate) fn emit(level: wx_log_level, message: &str) {
    // SAFETY: NULL or a node that is never freed (see `Sink`).
    let Some(sink) = (unsafe { CURRENT.load(Ordering::Acquire).as_ref() }) else {
        return;
    };
    let line = message.replace(['\n', '\r'], " ").replace('\0', " ");
    let Ok(line) = CString::new(line) else {
        return;
    };
    // SAFETY: the program installed this function for this userdata; the
    // string is valid for the call.
    unsafe { (sink.f)(sink.userdata, level as c_int, line.as_ptr()) };
}

/// Installs the program's log callback, or removes it when `f` is NULL.
///
/// The callback receives what the PHP extension writes to PHP's error log:
/// a degraded cache (`WX_LOG_WARNING`: a refresh ahead of expiry failed, a
/// token fetched but not stored, a cache lock not had) and a failed call
/// (`WX_LOG_ERROR`: a refresh WeChat refused, with its errcode; an
/// unreachable API; an unreadable store; passive mode with nothing cached).
/// Each condition is passed once per cache until it clears, not on every
/// call, from the calls on `wx_cache` handles and from `wx_get_token()`,
/// `wx_refresh()` and `wx_invalidate()`. A message names the credential and
/// the app id, never the secret or a token.
///
/// The callback runs on the thread that made the call, after the work and
/// outside every lock of the library, so it may call the library (a
/// condition already passed is not passed again). It must not unwind
/// (no C++ exception, no longjmp) out of itself. Any thread may set or
/// change the callback at any time, also while others are logging: each
/// message goes to one (function, userdata) pair as it was set, never to a
/// mix. Each distinct pair ever set keeps a few bytes until exit.
///
/// # Safety
/// `f`, while installed, can be called from any thread with `userdata`.
#[no_mangle]
pub unsafe extern "C" fn wx_set_log_callback(f: wx_log_fn, userdata: *mut c_void) {
    let _ = catch_unwind(|| set(f, userdata));
}

/// What one cache last reported, so that each condition reaches the log
/// once, and again only after it cleared. Shared by every handle (and
/// thread) using that cache.
#[derive(Debug, Default)]
pub(crate) struct Reporter {
    /// The warning condition last logged (its hash; 0: none).
    warned: AtomicU64,
    /// The failure last logged (its hash; 0: none).
    failed: AtomicU64,
}

/// The condition a message is about: its text before the first `:` (the
/// details after it change from call to call), as PHP's error log keys it.
fn condition(message: &str) -> &str {
    message.split(':').next().unwrap_or(message).trim()
}

/// A non-zero hash of what identifies a condition.
fn key(parts: impl Hash) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    parts.hash(&mut h);
    h.finish().max(1)
}

/// Claims `slot` for `new`: true when it held something else, i.e. this
/// condition is news and the caller logs it (only one thread wins).
fn claim(slot: &AtomicU64, new: u64) -> bool {
    let old = slot.load(Ordering::Relaxed);
    old != new
        && slot
            .compare_exchange(old, new, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
}

/// Forgets what `slot` logged (its condition cleared), without a write
/// when there is nothing to forget: the hit path stays read-only.
fn clear(slot: &AtomicU64) {
    if slot.load(Ordering::Relaxed) != 0 {
        slot.store(0, Ordering::Relaxed);
    }
}

/// Whose message it is: the credential and the app id.
pub(crate) struct Subject<'a> {
    /// `access_token`, `jsapi ticket`, ...
    pub(crate) credential: &'a str,
    /// The app id (never secret).
    pub(crate) appid: &'a str,
    /// Masked out of every message, once more.
    pub(crate) secret: &'a str,
}

impl Reporter {
    /// A reporter that has logged nothing.
    pub(crate) const fn new() -> Reporter {
        Reporter {
            warned: AtomicU64::new(0),
            failed: AtomicU64::new(0),
        }
    }

    /// After a call on `cache`: logs its failure and its warning if they are
    /// news. Costs two atomic loads when there is no callback. Never panics
    /// into the caller: a bug here must not fail the call it reports on.
    pub(crate) fn after<T>(
        &self,
        who: &Subject<'_>,
        cache: &TokenCache,
        outcome: &Result<T, wxtoken::Error>,
    ) {
        if !enabled() {
            return;
        }
        let _ = catch_unwind(AssertUnwindSafe(|| self.report(who, cache, outcome)));
    }

    fn report<T>(
        &self,
        who: &Subject<'_>,
        cache: &TokenCache,
        outcome: &Result<T, wxtoken::Error>,
    ) {
        match outcome {
            Ok(_) => clear(&self.failed),
            Err(e) => {
                let text = e.to_string();
                if claim(
                    &self.failed,
                    key((e.kind().as_str(), e.errcode(), condition(&text))),
                ) {
                    let errcode = match e.errcode() {
                        Some(c) if !text.contains(&c.to_string()) => format!(" (errcode {c})"),
                        _ => String::new(),
                    };
                    let line = format!("{} of {}: {text}{errcode}", who.credential, who.appid);
                    emit(wx_log_level::WX_LOG_ERROR, &mask(&line, who.secret));
                }
            }
        }
        match cache.last_warning() {
            None => clear(&self.warned),
            Some(w) => {
                if claim(&self.warned, key(condition(&w))) {
                    let line = format!("{} of {}: {w}", who.credential, who.appid);
                    emit(wx_log_level::WX_LOG_WARNING, &mask(&line, who.secret));
                }
            }
        }
    }
}

/// `text` with the secret replaced by `***` (the core already keeps it out;
/// this is the last point before the text leaves for the program's log).
fn mask(text: &str, secret: &str) -> String {
    if !secret.is_empty() && text.contains(secret) {
        text.replace(secret, "***")
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_condition_is_claimed_once_until_it_changes_or_clears() {
        let slot = AtomicU64::new(0);
        let a = key(condition("token fetched but not cached: ENOSPC"));
        let a2 = key(condition("token fetched but not cached: EACCES"));
        assert_eq!(a, a2, "the details after ':' do not make a new condition");
        assert!(claim(&slot, a));
        assert!(!claim(&slot, a2));
        let b = key(condition("refresh ahead of expiry failed: HTTP 500"));
        assert!(claim(&slot, b));
        clear(&slot);
        assert!(claim(&slot, b), "logged again after it cleared");
    }

    #[test]
    fn masks_the_secret() {
        assert_eq!(mask("x s3cr3t y", "s3cr3t"), "x *** y");
        assert_eq!(mask("x y", ""), "x y");
    }
}
