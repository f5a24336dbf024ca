//! # wxtoken
//!
//! A cache for the WeChat `access_token` that many threads and processes
//! share through the legacy `token.txt` / `expiry.txt` files:
//!
//! - a hit (`now < expiry - margin`) reads two small files, or only `stat`s
//!   them when nothing changed since the last read, and makes no network call;
//! - a miss takes an `flock` on `token.txt.lock`, re-reads, and only then
//!   fetches: one upstream call per expiry, however many callers;
//! - writes are temp file + fsync + rename, mode 0600, so no reader ever
//!   sees a torn file;
//! - error answers never touch the files, and no error carries the secret.
//!
//! ```no_run
//! use wxtoken::{Config, TokenCache};
//! let cache = TokenCache::new(Config::from_env()?);
//! let token = cache.get_token()?;
//! # Ok::<(), wxtoken::Error>(())
//! ```

#![warn(missing_docs)]

mod backoff;
mod cache;
mod clock;
mod config;
mod error;
mod fetch;
mod file_safety;
mod file_store;
mod staged_file;

pub use cache::{Status, TokenCache};
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{
    Config, ConfigBuilder, Mode, Secret, DEFAULT_API_BASE, DEFAULT_EXPIRY_FILE,
    DEFAULT_HTTP_TIMEOUT, DEFAULT_REFRESH_MARGIN, DEFAULT_TOKEN_FILE, SETTING_NAMES,
};
pub use error::{
    Error, ErrorKind, Result, CONFIG_ERRCODES, INVALID_TOKEN_ERRCODES, QUOTA_ERRCODES,
};
pub use fetch::{Fetched, Fetcher, MAX_BODY};
pub use file_store::{Cached, FileStore, MAX_LIFETIME, MAX_TOKEN_LEN};

/// The parsers of untrusted input, for the fuzz targets in `fuzz/` only.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing {
    /// The token endpoint's answer; never panics, never echoes `secret`.
    pub fn parse_answer(body: &[u8], secret: &str) -> bool {
        crate::fetch::parse_answer(body, "fuzz", secret).is_ok()
    }
    /// `token.txt` and `expiry.txt` as either side writes them.
    pub fn parse_files(token: &[u8], expiry: &[u8]) -> (Option<String>, u64) {
        (
            crate::file_store::parse_token(token),
            crate::file_store::parse_expiry(expiry),
        )
    }
    /// The failure note kept in the lock file.
    pub fn parse_note(text: &str) -> bool {
        crate::backoff::FailureNote::decode(text).is_some()
    }
}

/// The crate version, for `wx_version()`, `phpinfo()` and `wxtoken --version`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
