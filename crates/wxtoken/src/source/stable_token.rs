//! `POST /cgi-bin/stable_token` with `{"grant_type","appid","secret",
//! "force_refresh"}`: the same token while it is valid (the secret travels
//! in the body, not the URL); `force_refresh` asks for a new one.

use reqwest::{Client, RequestBuilder};
use std::time::Duration;

use crate::config::{Config, Secret};
use crate::error::{Result, TOKEN_REJECT_ERRCODES};
use crate::source::http::{bad_base, Endpoint, Http};
use crate::source::{answer, BoxFuture, Fetched, TokenSource};

/// The request, with the secret read for this fetch.
struct StableTokenEndpoint<'a> {
    appid: &'a str,
    secret: &'a Secret,
    force: bool,
}

impl Endpoint for StableTokenEndpoint<'_> {
    fn request(&self, client: &Client, base: &str) -> Result<RequestBuilder> {
        let url = reqwest::Url::parse(&format!("{base}/cgi-bin/stable_token"))
            .map_err(|_| bad_base(base))?;
        let body = serde_json::json!({
            "grant_type": "client_credential",
            "appid": self.appid,
            "secret": self.secret.expose(),
            "force_refresh": self.force,
        });
        Ok(client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_string()))
    }

    fn parse(&self, body: &[u8], host: &str) -> Result<Fetched> {
        answer::parse_answer(body, host).map_err(|e| e.rejected_if(TOKEN_REJECT_ERRCODES))
    }

    fn sensitive(&self) -> &str {
        self.secret.expose()
    }
}

/// Access tokens from `/cgi-bin/stable_token`.
pub(crate) struct StableTokenSource {
    config: Config,
    http: Http,
}

impl std::fmt::Debug for StableTokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StableTokenSource")
            .field("api_base", &self.config.api_base())
            .finish_non_exhaustive()
    }
}

impl StableTokenSource {
    pub(crate) fn new(config: &Config) -> Self {
        StableTokenSource {
            config: config.clone(),
            http: Http::new(config),
        }
    }
}

impl TokenSource for StableTokenSource {
    fn fetch(&self, force: bool, budget: Duration) -> BoxFuture<'_, Result<Fetched>> {
        Box::pin(async move {
            // Read again for each fetch: a corrected secret file is used at once.
            let secret = self.config.current_secret()?;
            let endpoint = StableTokenEndpoint {
                appid: self.config.appid(),
                secret: &secret,
                force,
            };
            self.http.fetch(&endpoint, budget).await
        })
    }

    fn scope(&self) -> String {
        self.config.credential_scope()
    }
}
