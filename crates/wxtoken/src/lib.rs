//! # wxtoken
//!
//! A cache for the WeChat `access_token` that many threads, processes and
//! hosts share: through the legacy `token.txt` / `expiry.txt` files (so the
//! old PHP script, the PHP extension and C programs all see one token), or
//! through Redis when a site runs on several hosts.
//!
//! - a hit (`now < expiry - margin`) makes no network call and takes no lock
//!   (two `fstat`s on the files; nothing at all on Redis within a second);
//! - a miss takes the store's lock, looks again, and only then fetches: one
//!   upstream call per expiry, however many callers;
//! - writes never leave a torn or half-written pair, files are mode 0600, and
//!   planted links and foreign files are refused (SECURITY.md);
//! - error answers never touch the store, failures back off for everyone, and
//!   no error, log line or `Debug` output carries the secret.
//!
//! The examples below run against `wechat-mock`, a local stand-in for the
//! WeChat API; in production leave `api_base` at its default.
//!
//! ## Blocking
//!
//! ```
//! # let mock = wechat_mock::MockServer::start().unwrap();
//! # let dir = tempfile::tempdir().unwrap();
//! use wxtoken::{Config, TokenCache};
//!
//! let config = Config::builder()
//!     .appid("wx_test_appid")
//!     .secret("test_secret_0123456789") // or .secret_file(...), or Config::from_env()
//!     .token_file(dir.path().join("token.txt"))
//!     .expiry_file(dir.path().join("expiry.txt"))
//! #   .api_base(mock.url())
//!     .build()?;
//! let cache = TokenCache::new(config);
//! let token = cache.get_token()?; // fetched once...
//! assert_eq!(cache.get_token()?, token); // ...then a hit
//! # Ok::<(), wxtoken::Error>(())
//! ```
//!
//! ## Async, on your tokio runtime
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), wxtoken::Error> {
//! # let (mock, dir) = (wechat_mock::MockServer::start().unwrap(), tempfile::tempdir().unwrap());
//! use std::sync::Arc;
//! use wxtoken::{Config, TokenCache};
//!
//! # let config = Config::builder().appid("wx_test_appid").secret("test_secret_0123456789")
//! #     .token_file(dir.path().join("token.txt")).expiry_file(dir.path().join("expiry.txt"))
//! #     .api_base(mock.url()).build()?;
//! let cache = Arc::new(TokenCache::new(config)); // share one per process
//! let token = cache.get_token_async().await?;
//! // The blocking calls work here too (they never panic inside a runtime),
//! // but they hold the thread for a refresh.
//! assert_eq!(cache.get_token()?, token);
//! # Ok(())
//! # }
//! ```
//!
//! ## When WeChat rejects the token
//!
//! After a business API answers 40001, 40014 or 42001, hand the token back;
//! it is dropped only if it is still the cached one, and the next call
//! refreshes once.
//!
//! ```
//! # let mock = wechat_mock::MockServer::start().unwrap();
//! # let dir = tempfile::tempdir().unwrap();
//! # let config = wxtoken::Config::builder().appid("wx_test_appid").secret("test_secret_0123456789")
//! #     .token_file(dir.path().join("token.txt")).expiry_file(dir.path().join("expiry.txt"))
//! #     .api_base(mock.url()).build()?;
//! # let cache = wxtoken::TokenCache::new(config);
//! let rejected = cache.get_token()?;
//! // ... the business API said 40001 for `rejected` ...
//! assert!(cache.invalidate(&rejected)?);
//! let fresh = cache.get_token()?;
//! assert_ne!(fresh, rejected);
//! assert!(!cache.invalidate(&rejected)?); // an old token never drops a newer one
//! # Ok::<(), wxtoken::Error>(())
//! ```
//!
//! ## Status, without fetching
//!
//! ```
//! # let mock = wechat_mock::MockServer::start().unwrap();
//! # let dir = tempfile::tempdir().unwrap();
//! # let config = wxtoken::Config::builder().appid("wx_test_appid").secret("test_secret_0123456789")
//! #     .token_file(dir.path().join("token.txt")).expiry_file(dir.path().join("expiry.txt"))
//! #     .api_base(mock.url()).build()?;
//! # let cache = wxtoken::TokenCache::new(config);
//! let status = cache.status()?;
//! assert!(!status.present); // nothing cached yet, and nothing fetched
//! cache.get_token()?;
//! let status = cache.status()?;
//! assert!(status.fresh && status.seconds_left.unwrap() > 7000);
//! assert_eq!(status.store.kind, "files");
//! println!("{}", status.token_preview.unwrap()); // the first characters only
//! # Ok::<(), wxtoken::Error>(())
//! ```
//!
//! Errors are [`Error`], `Send + Sync + 'static`, usable with `?` in any
//! handler, with [`Error::kind`] and [`Error::errcode`] to decide what to do.
//! A store of your own plugs in through [`TokenStore`].

#![deny(missing_docs)]

mod assemble;
mod blocking;
mod cache;
mod cached;
mod clock;
mod config;
mod credential;
mod error;
mod file_safety;
mod fork;
mod jssdk;
mod process_lock;
mod registry;
mod settings;
mod source;
mod store;

pub use assemble::{AppCache, TokenCacheBuilder};
pub use cache::{Policy, Status, TokenCache};
pub use cached::{Cached, MAX_LIFETIME, MAX_TOKEN_LEN};
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{
    Config, ConfigBuilder, Mode, Platform, Secret, DEFAULT_API_BASE, DEFAULT_EXPIRY_FILE,
    DEFAULT_HTTP_TIMEOUT, DEFAULT_REDIS_PREFIX, DEFAULT_REFRESH_MARGIN, DEFAULT_TOKEN_FILE,
    DEFAULT_WECOM_API_BASE,
};
pub use credential::{Credential, TicketKind};
pub use error::{
    Error, ErrorKind, Result, CONFIG_ERRCODES, INVALID_TOKEN_ERRCODES, QUOTA_ERRCODES,
    TOKEN_REJECT_ERRCODES, WECOM_REJECT_ERRCODES,
};
pub use file_safety::read_trusted_setting_file;
pub use fork::install_fork_handlers;
pub use jssdk::{signature as jssdk_signature, JsSdkConfig};
pub use registry::{CacheRegistry, RegistryHold};
pub use settings::{
    setting_index, setting_named, settings_markdown, FlagValue, Setting, SETTINGS, SETTING_COUNT,
    SETTING_NAMES,
};
pub use source::{ticket_source, wechat_api_source, BoxFuture, Fetched, TokenSource};
pub use store::database::{
    schema as database_schema, RECHECK_INTERVAL as DATABASE_RECHECK_INTERVAL,
};
pub use store::db_pool::{Dialect, MAX_CONNECTIONS as DATABASE_MAX_CONNECTIONS};
pub use store::redis::RECHECK_INTERVAL as REDIS_RECHECK_INTERVAL;
pub use store::redis_pool::{RedisServer, MAX_CONNECTIONS as REDIS_MAX_CONNECTIONS};
pub use store::spec::{FilesSpec, RedisSpec, StoreSpec};
pub use store::{LockOutcome, StoreInfo, StoreLock, TokenStore};

/// The parsers of untrusted input, for the fuzz targets in `fuzz/` only.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing {
    /// The token endpoint's answer; never panics, never echoes `secret`.
    pub fn parse_answer(body: &[u8], secret: &str) -> bool {
        match crate::source::answer::parse_answer(body, "fuzz") {
            Ok(_) => true,
            Err(e) => {
                assert!(secret.len() < 8 || !e.to_string().contains(secret));
                false
            }
        }
    }
    /// `token.txt` and `expiry.txt` as either side writes them.
    pub fn parse_files(token: &[u8], expiry: &[u8]) -> (Option<String>, u64) {
        (
            crate::store::files::legacy_format::parse_token(token),
            crate::store::files::legacy_format::parse_expiry(expiry),
        )
    }
    /// The failure note kept in the lock file.
    pub fn parse_note(text: &str) -> bool {
        crate::cache::failure_note::FailureNote::decode(text).is_some()
    }
}

/// The crate version, for `wx_version()`, `phpinfo()` and `wxtoken --version`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
