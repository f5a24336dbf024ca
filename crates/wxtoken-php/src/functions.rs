//! The PHP functions: `getToken()`, `wxtoken_last_error()`,
//! `wxtoken_invalidate()`.
//!
//! Each is a thin wrapper: find the cache for the settings in force, call the
//! core, record the outcome for `wxtoken_last_error()`, and never let a panic
//! or an error reach PHP as anything but `""` / `false`.

// PHP names parameters after the Rust ones, and PHP's style is camelCase
// (`wxtoken_invalidate(string $failedToken)`), as named arguments see it.
#![allow(non_snake_case)]

use ext_php_rs::prelude::*;

use crate::{current_cache, guarded, record, LAST_ERROR};

/// Returns the WeChat access_token: from the shared cache files when still
/// valid, otherwise fetched once for every process sharing them.
///
/// Like the legacy function it replaces, it returns `""` on any failure and
/// never throws or warns; `wxtoken_last_error()` tells why.
///
/// @return string The access token, or "" on failure.
#[php_function]
#[php(name = "getToken")]
pub fn get_token() -> String {
    record(guarded(|| {
        current_cache()?.get_token().map_err(|e| e.to_string())
    }))
    .unwrap_or_default()
}

/// Why the last `getToken()` or `wxtoken_invalidate()` in this request
/// failed, including WeChat's errcode when it gave one; `""` after a success.
/// Never contains the app secret.
///
/// @return string The last error message, or "".
#[php_function]
pub fn wxtoken_last_error() -> String {
    LAST_ERROR.with(|e| e.borrow().clone())
}

/// Drops `$failedToken` from the cache if it is still the cached token, after
/// a WeChat API rejected it (errcode 40001, 40014 or 42001), so the next
/// `getToken()` fetches a new one. A newer token is kept.
///
/// @param string $failedToken The token the WeChat API rejected.
/// @return bool Whether the token was dropped (false also on failure; see wxtoken_last_error()).
#[php_function]
pub fn wxtoken_invalidate(failedToken: String) -> bool {
    record(guarded(|| {
        current_cache()?
            .invalidate(&failedToken)
            .map_err(|e| e.to_string())
    }))
    .unwrap_or(false)
}

/// Adds the functions to the module. It lives here because the handler types
/// that `#[php_function]` generates are private to this module.
pub fn register(module: ModuleBuilder) -> ModuleBuilder {
    module
        .function(wrap_function!(get_token))
        .function(wrap_function!(wxtoken_last_error))
        .function(wrap_function!(wxtoken_invalidate))
}
