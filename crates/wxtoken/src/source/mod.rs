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
//! its answer reads, with the codes that mean refused credentials there) and
//! a function that makes it; [`SecretSource`] does the rest for every
//! access-token endpoint, `ticket.rs` for tickets.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::config::{Config, Mode, Platform, Secret};
use crate::error::Result;
use http::{Endpoint, Http};

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

/// Makes the request of one fetch, with the secret read for it and whether
/// a new token is forced.
type MakeEndpoint = for<'a> fn(&'a Config, &'a Secret, bool) -> Box<dyn Endpoint + 'a>;

/// An access-token source: reads the secret again for each fetch (a
/// corrected secret file is used at once, without a restart) and asks the
/// endpoint its file makes. The endpoint files hold only what differs: the
/// request and how the answer reads.
pub(crate) struct SecretSource {
    config: Config,
    http: Http,
    /// The endpoint's name, for `Debug`.
    name: &'static str,
    endpoint: MakeEndpoint,
}

impl std::fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretSource")
            .field("endpoint", &self.name)
            .field("api_base", &self.config.api_base())
            .finish_non_exhaustive()
    }
}

impl SecretSource {
    fn new(config: &Config, name: &'static str, endpoint: MakeEndpoint) -> Self {
        SecretSource {
            config: config.clone(),
            http: Http::new(config),
            name,
            endpoint,
        }
    }
}

impl TokenSource for SecretSource {
    fn fetch(&self, force: bool, budget: Duration) -> BoxFuture<'_, Result<Fetched>> {
        Box::pin(async move {
            let secret = self.config.current_secret()?;
            let endpoint = (self.endpoint)(&self.config, &secret, force);
            self.http.fetch(endpoint.as_ref(), budget).await
        })
    }

    fn scope(&self) -> String {
        self.config.credential_scope()
    }
}

/// The default source of `kind` tickets for `config`: the WeChat ticket
/// endpoint, asked with `token`'s access token (see `ticket.rs`). Wrap it to
/// observe fetches, as the daemon does, and hand the wrapper to
/// [`TokenCacheBuilder::source`](crate::TokenCacheBuilder::source) with
/// [`ticket`](crate::TokenCacheBuilder::ticket).
pub fn ticket_source(
    config: &Config,
    kind: crate::credential::TicketKind,
    token: Arc<crate::cache::TokenCache>,
) -> Arc<dyn TokenSource> {
    Arc::new(ticket::TicketSource::new(token, Http::new(config), kind))
}

/// The default access-token source for `config`: the WeChat API (or the
/// configured bases) through the endpoint `WX_TOKEN_MODE` names, bounded by
/// the HTTP timeout. Wrap it to observe fetches (the `wxtoken daemon` counts
/// them for its metrics) and hand the wrapper to
/// [`TokenCacheBuilder::source`](crate::TokenCacheBuilder::source).
pub fn wechat_api_source(config: &Config) -> Arc<dyn TokenSource> {
    let (name, endpoint): (_, MakeEndpoint) = match (config.platform(), config.mode()) {
        (Platform::WeCom, _) => ("gettoken", wecom_token::endpoint),
        (Platform::Mp, Mode::Token) => ("token", token::endpoint),
        (Platform::Mp, Mode::Stable) => ("stable_token", stable_token::endpoint),
    };
    Arc::new(SecretSource::new(config, name, endpoint))
}
