//! The status codes every entry point returns, and how core errors map to them.
//!
//! The names are spelled as C programs see them (`WX_ERR_NETWORK`), so the
//! Rust source, the header and the C tests can be grepped for the same word.

use std::ffi::CStr;
use std::os::raw::{c_char, c_int};

use wxtoken::{Error, ErrorKind};

/// Result of a `wx_*` call: `WX_OK` (0) or a negative error status.
///
/// Functions return these as a plain `int` so the ABI does not depend on
/// the size a compiler picks for an enum; compare against these names.
/// After any negative status, `wx_last_error()` describes the cause and
/// `wx_last_errcode()` gives WeChat's errcode when WeChat sent one.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum wx_status {
    /// Success.
    WX_OK = 0,
    /// A required pointer argument was NULL.
    WX_ERR_NULL_ARG = -1,
    /// A string argument is not valid UTF-8.
    WX_ERR_INVALID_UTF8 = -2,
    /// The token does not fit in `out` (it needs `strlen(token) + 1` bytes;
    /// `WX_TOKEN_BUF_LEN` always suffices). `out` holds an empty string.
    WX_ERR_BUFFER_TOO_SMALL = -3,
    /// A setting is missing or malformed (an argument or a `WX_*`
    /// environment variable), or WeChat rejected the credentials or the
    /// caller's IP: retrying cannot help. `wx_last_errcode()` is WeChat's
    /// errcode in the latter case (40013 bad appid, 40125 bad secret,
    /// 40164/61004 IP not whitelisted, ...), else 0.
    WX_ERR_CONFIG = -4,
    /// WeChat answered with another errcode (-1 busy, 45009 daily quota,
    /// 45011 per-minute limit, ...): see `wx_last_errcode()`.
    WX_ERR_WECHAT = -5,
    /// The API could not be used: unreachable, timed out, HTTP error, or an
    /// answer that is not a token.
    WX_ERR_NETWORK = -6,
    /// The cache files could not be read, written or locked.
    WX_ERR_STORE = -7,
    /// Passive mode (`WX_PASSIVE=1`) found no valid token in the cache and
    /// may not fetch one.
    WX_ERR_PASSIVE = -8,
    /// A bug inside the library panicked; the panic was stopped at the
    /// boundary. The library stays usable.
    WX_ERR_PANIC = -9,
}

impl wx_status {
    /// The value returned through the `int` of every entry point.
    pub fn code(self) -> c_int {
        self as c_int
    }

    /// The status a core error maps to.
    pub fn of_error(e: &Error) -> wx_status {
        match e.kind() {
            ErrorKind::Config => wx_status::WX_ERR_CONFIG,
            ErrorKind::WeChat => wx_status::WX_ERR_WECHAT,
            ErrorKind::Network => wx_status::WX_ERR_NETWORK,
            ErrorKind::Store => wx_status::WX_ERR_STORE,
            ErrorKind::Passive => wx_status::WX_ERR_PASSIVE,
        }
    }

    /// The status for a returned `int`, if it is one.
    pub fn from_code(code: c_int) -> Option<wx_status> {
        use wx_status::*;
        [
            WX_OK,
            WX_ERR_NULL_ARG,
            WX_ERR_INVALID_UTF8,
            WX_ERR_BUFFER_TOO_SMALL,
            WX_ERR_CONFIG,
            WX_ERR_WECHAT,
            WX_ERR_NETWORK,
            WX_ERR_STORE,
            WX_ERR_PASSIVE,
            WX_ERR_PANIC,
        ]
        .into_iter()
        .find(|s| s.code() == code)
    }

    /// Its name as in the header, NUL-terminated for `wx_status_name()`.
    pub fn name(self) -> &'static CStr {
        use wx_status::*;
        match self {
            WX_OK => c"WX_OK",
            WX_ERR_NULL_ARG => c"WX_ERR_NULL_ARG",
            WX_ERR_INVALID_UTF8 => c"WX_ERR_INVALID_UTF8",
            WX_ERR_BUFFER_TOO_SMALL => c"WX_ERR_BUFFER_TOO_SMALL",
            WX_ERR_CONFIG => c"WX_ERR_CONFIG",
            WX_ERR_WECHAT => c"WX_ERR_WECHAT",
            WX_ERR_NETWORK => c"WX_ERR_NETWORK",
            WX_ERR_STORE => c"WX_ERR_STORE",
            WX_ERR_PASSIVE => c"WX_ERR_PASSIVE",
            WX_ERR_PANIC => c"WX_ERR_PANIC",
        }
    }
}

/// What `wx_status_name()` returns for an `int` that is no status.
pub(crate) const UNKNOWN_STATUS: &CStr = c"WX_UNKNOWN_STATUS";

/// `wx_status_name()`'s answer: a static string, never NULL.
pub(crate) fn name_of(code: c_int) -> *const c_char {
    wx_status::from_code(code)
        .map_or(UNKNOWN_STATUS, wx_status::name)
        .as_ptr()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ok_is_zero_and_every_error_is_negative_and_distinct() {
        let mut seen = std::collections::HashSet::new();
        for code in -20..=20 {
            if let Some(s) = wx_status::from_code(code) {
                assert_eq!(s.code(), code);
                assert!(seen.insert(code));
                assert!(s.name().to_str().unwrap().starts_with("WX_"));
            }
        }
        assert_eq!(seen.len(), 10);
        assert!(seen.iter().all(|&c| c <= 0));
        assert_eq!(wx_status::WX_OK.code(), 0);
    }

    #[test]
    fn core_errors_map_by_kind() {
        let e = |errcode| Error::WeChat {
            errcode,
            errmsg: "x".into(),
        };
        assert_eq!(wx_status::of_error(&e(40125)), wx_status::WX_ERR_CONFIG);
        assert_eq!(wx_status::of_error(&e(45009)), wx_status::WX_ERR_WECHAT);
        assert_eq!(
            wx_status::of_error(&Error::Passive),
            wx_status::WX_ERR_PASSIVE
        );
        assert_eq!(
            wx_status::of_error(&Error::Config("x".into())),
            wx_status::WX_ERR_CONFIG
        );
    }
}
