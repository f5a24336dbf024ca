//! `GET /cgi-bin/token?grant_type=client_credential&appid=..&secret=..`:
//! every call issues a new access token and retires the previous one five
//! minutes later.

use reqwest::{Client, RequestBuilder};
use std::time::Duration;

use crate::config::{Config, Secret};
use crate::error::{Result, TOKEN_REJECT_ERRCODES};
use crate::source::http::{bad_base, Endpoint, Http};
use crate::source::{answer, BoxFuture, Fetched, TokenSource};

/// The request, with the secret read for this fetch.
pub(crate) struct TokenEndpoint<'a> {
    pub(crate) appid: &'a str,
    pub(crate) secret: &'a Secret,
}

impl Endpoint for TokenEndpoint<'_> {
    fn request(&self, client: &Client, base: &str) -> Result<RequestBuilder> {
        let mut url =
            reqwest::Url::parse(&format!("{base}/cgi-bin/token")).map_err(|_| bad_base(base))?;
        url.query_pairs_mut()
            .append_pair("grant_type", "client_credential")
            .append_pair("appid", self.appid)
            .append_pair("secret", self.secret.expose());
        Ok(client.get(url))
    }

    fn parse(&self, body: &[u8], host: &str) -> Result<Fetched> {
        answer::parse_answer(body, host).map_err(|e| e.rejected_if(TOKEN_REJECT_ERRCODES))
    }

    fn sensitive(&self) -> &str {
        self.secret.expose()
    }
}

/// Access tokens from `/cgi-bin/token`.
pub(crate) struct TokenApiSource {
    config: Config,
    http: Http,
}

impl std::fmt::Debug for TokenApiSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSource")
            .field("api_base", &self.config.api_base())
            .finish_non_exhaustive()
    }
}

impl TokenApiSource {
    pub(crate) fn new(config: &Config) -> Self {
        TokenApiSource {
            config: config.clone(),
            http: Http::new(config),
        }
    }
}

impl TokenSource for TokenApiSource {
    fn fetch(&self, _force: bool, budget: Duration) -> BoxFuture<'_, Result<Fetched>> {
        Box::pin(async move {
            // Read again for each fetch: a corrected secret file is used at once.
            let secret = self.config.current_secret()?;
            let endpoint = TokenEndpoint {
                appid: self.config.appid(),
                secret: &secret,
            };
            self.http.fetch(&endpoint, budget).await
        })
    }

    fn scope(&self) -> String {
        self.config.credential_scope()
    }
}
