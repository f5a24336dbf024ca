//! The JS-SDK tickets, fetched with the cached access token:
//!
//! | kind | endpoint |
//! |---|---|
//! | `jsapi`, `wx_card` | `GET /cgi-bin/ticket/getticket?access_token=T&type=jsapi\|wx_card` |
//! | WeCom `corp` | `GET /cgi-bin/get_jsapi_ticket?access_token=T` |
//! | WeCom `agent` | `GET /cgi-bin/ticket/get?access_token=T&type=agent_config` |
//!
//! When the ticket endpoint says the access token is dead (40001, 40014,
//! 42001), that token is dropped from its cache if it is still the cached
//! one (compare-and-invalidate, so a newer token another process stored is
//! kept), a token is got again (one refresh, under the token cache's own
//! single flight and back-off) and the ticket is asked once more. Never a
//! third time: a loop here would spend the token quota.

use std::sync::Arc;
use std::time::Duration;

use reqwest::{Client, RequestBuilder};
use tokio::time::Instant;

use crate::cache::TokenCache;
use crate::credential::TicketKind;
use crate::error::{Error, Result, INVALID_TOKEN_ERRCODES};
use crate::source::http::{bad_base, Endpoint, Http};
use crate::source::{BoxFuture, Fetched, TokenSource};

/// The request for one ticket kind with one access token.
struct TicketEndpoint<'a> {
    access_token: &'a str,
    kind: TicketKind,
}

impl Endpoint for TicketEndpoint<'_> {
    fn request(&self, client: &Client, base: &str) -> Result<RequestBuilder> {
        let (path, kind) = match self.kind {
            TicketKind::Jsapi | TicketKind::WxCard => {
                ("/cgi-bin/ticket/getticket", Some(self.kind.as_str()))
            }
            TicketKind::Corp => ("/cgi-bin/get_jsapi_ticket", None),
            TicketKind::Agent => ("/cgi-bin/ticket/get", Some("agent_config")),
        };
        let mut url = reqwest::Url::parse(&format!("{base}{path}")).map_err(|_| bad_base(base))?;
        url.query_pairs_mut()
            .append_pair("access_token", self.access_token);
        if let Some(kind) = kind {
            url.query_pairs_mut().append_pair("type", kind);
        }
        Ok(client.get(url))
    }

    fn field(&self) -> &'static str {
        "ticket"
    }

    fn sensitive(&self) -> &str {
        self.access_token
    }
}

/// Tickets of one kind, with the access token of `token`.
pub(crate) struct TicketSource {
    token: Arc<TokenCache>,
    http: Http,
    kind: TicketKind,
}

impl std::fmt::Debug for TicketSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TicketSource")
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl TicketSource {
    /// Tickets of `kind`, asked of `http`'s bases with `token`'s tokens.
    pub(crate) fn new(token: Arc<TokenCache>, http: Http, kind: TicketKind) -> Self {
        TicketSource { token, http, kind }
    }

    async fn fetch_async(&self, budget: Duration) -> Result<Fetched> {
        let deadline = Instant::now() + budget;
        let left = || deadline.saturating_duration_since(Instant::now());
        let token = self.access_token(left()).await?;
        match self.ask(&token, left()).await {
            // The token was revoked or retired upstream (a refresh by a
            // process outside this cache, a secret reset): drop it, get
            // another, and ask once more; but only with at least half the
            // budget left, so that a token refresh is not cut off after
            // WeChat issued the token and before it is stored.
            Err(e)
                if e.errcode()
                    .is_some_and(|c| INVALID_TOKEN_ERRCODES.contains(&c))
                    && left() >= budget / 2 =>
            {
                match tokio::time::timeout(left(), self.token.invalidate_async(&token)).await {
                    Ok(dropped) => dropped?,
                    Err(_) => return Err(e),
                };
                let fresh = self.access_token(left()).await?;
                self.ask(&fresh, left()).await
            }
            other => other,
        }
    }

    /// The access token, within `budget`.
    async fn access_token(&self, budget: Duration) -> Result<String> {
        tokio::time::timeout(budget, self.token.get_token_async())
            .await
            .unwrap_or_else(|_| {
                Err(Error::Timeout {
                    host: "the access token cache".into(),
                    waited: budget,
                })
            })
    }

    async fn ask(&self, access_token: &str, budget: Duration) -> Result<Fetched> {
        let endpoint = TicketEndpoint {
            access_token,
            kind: self.kind,
        };
        self.http.fetch(&endpoint, budget).await
    }
}

impl TokenSource for TicketSource {
    fn fetch(&self, _force: bool, budget: Duration) -> BoxFuture<'_, Result<Fetched>> {
        Box::pin(self.fetch_async(budget))
    }

    fn scope(&self) -> String {
        self.token.scope()
    }
}
