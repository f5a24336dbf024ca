//! What a php-fpm operator needs to see: the conditions that degrade the
//! cache, written to PHP's error log once per worker per condition (not per
//! request; never the token or the secret), and the pool mistake that
//! silently drops settings.
//!
//! Conditions are the core's warnings (`TokenCache::last_warning`): a failed
//! refresh ahead of expiry, a token fetched but not cached (unwritable
//! directory, full disk), a cache lock that cannot be had. Each is keyed by
//! the text before its first `:` (the condition, without the details that
//! change from call to call), so a worker logs each condition once, and again
//! only after it has cleared.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::ffi::CString;
use std::sync::atomic::{AtomicBool, Ordering};

/// Set in MINIT when a php-fpm pool loaded the extension itself
/// (`php_admin_value[extension]=wxtoken.so`), see [`pool_load_hint`].
static LOADED_BY_POOL: AtomicBool = AtomicBool::new(false);
/// Whether this worker already said so in the error log.
static POOL_LOAD_LOGGED: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// Conditions this worker has logged and that still hold.
    static LOGGED: RefCell<BTreeSet<String>> = const { RefCell::new(BTreeSet::new()) };
    /// The last warning, for `wxtoken_status()`.
    static LAST_WARNING: RefCell<Option<String>> = const { RefCell::new(None) };
}

#[cfg(not(test))]
extern "C" {
    /// PHP's error log (the `error_log` ini, else the SAPI's log: php-fpm's
    /// worker output). Exported by PHP 8.0 and later.
    fn php_log_err_with_severity(message: *const std::ffi::c_char, syslog_type: std::ffi::c_int);
}

/// One line to PHP's error log, as `error_log()` would write it.
pub(crate) fn log(line: &str) {
    let Ok(c) = CString::new(format!("wxtoken: {line}").replace('\0', " ")) else {
        return;
    };
    #[cfg(not(test))]
    // SAFETY: a NUL-terminated string PHP copies; LOG_WARNING is 4.
    unsafe {
        php_log_err_with_severity(c.as_ptr(), 4)
    };
    #[cfg(test)]
    let _ = c;
}

/// The condition a warning is about: its text before the first `:`.
fn condition(warning: &str) -> &str {
    warning.split(':').next().unwrap_or(warning).trim()
}

/// After each call: logs a warning whose condition this worker has not
/// logged yet, and forgets conditions once the cache reports none.
pub fn after_call(warning: Option<String>) {
    if warning.is_none() && LAST_WARNING.with(|l| l.borrow().is_none()) {
        return; // the usual case, and the hit path: nothing to do
    }
    match &warning {
        Some(w) => {
            let key = condition(w).to_string();
            let new = LOGGED.with(|l| l.borrow_mut().insert(key));
            if new {
                log(w);
            }
        }
        None => LOGGED.with(|l| l.borrow_mut().clear()),
    }
    LAST_WARNING.with(|l| *l.borrow_mut() = warning);
}

/// The last warning this worker's cache reported, if it still holds.
pub fn last_warning() -> Option<String> {
    LAST_WARNING.with(|l| l.borrow().clone())
}

/// MINIT: notes whether a php-fpm pool is loading the extension itself. The
/// master (php.ini, conf.d) loads extensions before it forks; a pool's
/// `php_admin_value[extension]` loads it in each worker, which by then is
/// titled `php-fpm: pool NAME`.
pub fn note_load() {
    let cmdline = std::fs::read("/proc/self/cmdline").unwrap_or_default();
    if cmdline.starts_with(b"php-fpm: pool") {
        LOADED_BY_POOL.store(true, Ordering::Relaxed);
    }
}

/// What to add to a configuration error when the pool loaded the extension:
/// php-fpm applies a pool's `php_value` lines, then its `php_admin_value`
/// lines from the last to the first, so `wxtoken.*` settings listed after
/// the extension line (and every `php_value[wxtoken.*]`) were set before the
/// extension existed, and PHP dropped them. Logged once per worker too.
pub fn pool_load_hint() -> Option<&'static str> {
    if !LOADED_BY_POOL.load(Ordering::Relaxed) {
        return None;
    }
    const HINT: &str = "the wxtoken extension was loaded by this php-fpm pool \
        (php_admin_value[extension]): wxtoken.* pool settings listed after that line, and every \
        php_value[wxtoken.*], were applied before it existed and are lost; load it from conf.d \
        (phpenmod wxtoken) and keep the settings in the pool (README: php-fpm)";
    if !POOL_LOAD_LOGGED.swap(true, Ordering::Relaxed) {
        log(HINT);
    }
    Some(HINT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_condition_is_remembered_once_until_it_clears() {
        after_call(Some(
            "token fetched but not cached: cannot write /x: ENOSPC".into(),
        ));
        after_call(Some(
            "token fetched but not cached: cannot write /x: EACCES".into(),
        ));
        assert_eq!(LOGGED.with(|l| l.borrow().len()), 1);
        after_call(Some(
            "refresh ahead of expiry failed: HTTP status 500".into(),
        ));
        assert_eq!(LOGGED.with(|l| l.borrow().len()), 2);
        assert!(last_warning().unwrap().starts_with("refresh ahead"));
        after_call(None);
        assert_eq!(LOGGED.with(|l| l.borrow().len()), 0);
        assert_eq!(last_warning(), None);
    }
}
