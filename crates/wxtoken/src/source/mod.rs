//! Where new credentials come from: the [`TokenSource`] trait, and the
//! WeChat sources, one small file per endpoint over the shared HTTP
//! plumbing (`http.rs`).
//!
//! | file | endpoint | credential |
//! |---|---|---|
//! | `token.rs` | `GET /cgi-bin/token` | access token |
//! | `stable_token.rs` | `POST /cgi-bin/stable_token` | access token |
//! | `ticket.rs` | `GET /cgi-bin/ticket/getticket` (and WeCom's two) | JS-SDK tickets |
//! | `wecom_token.rs` | WeCom `GET /cgi-bin/gettoken` | a WeCom app's access token |
//!
//! A new endpoint is a new file: an [`http::Endpoint`] (the request, and how
//! its answer reads) and a [`TokenSource`] that asks it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::config::{Config, Mode, Platform};
use crate::error::Result;

pub(crate) mod answer;
pub(crate) mod http;
mod stable_token;
pub(crate) mod ticket;
mod token;
mod wecom_token;

/// A credential as WeChat handed it out.
#[derive(Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The access token or ticket.
    pub token: String,
    /// Lifetime in seconds from when the request started.
    pub expires_in: u64,
}

impl std::fmt::Debug for Fetched {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetched")
            .field("token", &crate::cached::preview(&self.token))
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

/// A boxed future, for the object-safe [`TokenSource`].
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where new credentials come from. The cache asks it only on a miss,
/// holding the store's lock. The real ones talk to WeChat; tests script one
/// (see `TokenCache::builder`).
pub trait TokenSource: Send + Sync + std::fmt::Debug {
    /// A new credential; `force` asks the stable endpoint for a new one
    /// rather than the current one. Ends within `budget`: the cache gives the
    /// HTTP timeout less what it keeps back for storing the answer, or less
    /// still when the caller has already waited (see
    /// `TokenCache::get_token`). The cache cuts a source that overruns it.
    fn fetch(&self, force: bool, budget: Duration) -> BoxFuture<'_, Result<Fetched>>;

    /// A fingerprint of the credentials this source fetches with, which must
    /// reveal nothing about them. A failure caused by the credentials (a wrong
    /// secret) backs off only callers of the same scope, so that corrected
    /// credentials are tried at once. Defaults to one scope for all.
    fn scope(&self) -> String {
        String::new()
    }
}

/// The default access-token source for `config`: the WeChat API (or the
/// configured bases) through the endpoint `WX_TOKEN_MODE` names, bounded by
/// the HTTP timeout. Wrap it to observe fetches (the `wxtoken daemon` counts
/// them for its metrics) and hand the wrapper to
/// [`TokenCacheBuilder::source`](crate::TokenCacheBuilder::source).
pub fn wechat_api_source(config: &Config) -> Arc<dyn TokenSource> {
    match (config.platform(), config.mode()) {
        (Platform::WeCom, _) => Arc::new(wecom_token::WeComTokenSource::new(config)),
        (Platform::Mp, Mode::Token) => Arc::new(token::TokenApiSource::new(config)),
        (Platform::Mp, Mode::Stable) => Arc::new(stable_token::StableTokenSource::new(config)),
    }
}
