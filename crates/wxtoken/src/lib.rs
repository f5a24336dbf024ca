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

#![deny(missing_docs)]

mod blocking;
mod cache;
mod cached;
mod clock;
mod config;
mod error;
mod failure_note;
mod fetch;
mod file_safety;
mod file_store;
mod legacy_format;
mod lock_file;
mod redis_store;
mod staged_file;
mod store;
mod watched_file;

pub use cache::{Status, TokenCache, TokenCacheBuilder};
pub use cached::{Cached, MAX_LIFETIME, MAX_TOKEN_LEN};
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{
    Config, ConfigBuilder, Mode, Secret, DEFAULT_API_BASE, DEFAULT_EXPIRY_FILE,
    DEFAULT_HTTP_TIMEOUT, DEFAULT_REDIS_PREFIX, DEFAULT_REFRESH_MARGIN, DEFAULT_TOKEN_FILE,
    SETTING_NAMES,
};
pub use error::{
    Error, ErrorKind, Result, CONFIG_ERRCODES, INVALID_TOKEN_ERRCODES, QUOTA_ERRCODES,
};
pub use fetch::{BoxFuture, Fetched, TokenSource};
pub use redis_store::RECHECK_INTERVAL as REDIS_RECHECK_INTERVAL;
pub use store::{LockOutcome, StoreInfo, StoreLock, TokenStore};

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
            crate::legacy_format::parse_token(token),
            crate::legacy_format::parse_expiry(expiry),
        )
    }
    /// The failure note kept in the lock file.
    pub fn parse_note(text: &str) -> bool {
        crate::failure_note::FailureNote::decode(text).is_some()
    }
}

/// The crate version, for `wx_version()`, `phpinfo()` and `wxtoken --version`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
