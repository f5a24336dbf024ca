//! WeCom: `GET /cgi-bin/gettoken?corpid=ID&corpsecret=SECRET`. Each app of a
//! corp has its own secret and its own token; a new one retires only that
//! app's previous token. Here 40001 means a wrong secret (a configuration
//! error: fail fast, no invalidate-and-retry), as do 40013 (corp id), 40091,
//! 41002, 41004 and 60020 (IP allow list).

use reqwest::{Client, RequestBuilder};
use std::time::Duration;

use crate::config::{Config, Secret};
use crate::error::{Result, WECOM_REJECT_ERRCODES};
use crate::source::http::{bad_base, Endpoint, Http};
use crate::source::{answer, BoxFuture, Fetched, TokenSource};

/// The request, with the secret read for this fetch.
struct GetTokenEndpoint<'a> {
    corpid: &'a str,
    secret: &'a Secret,
}

impl Endpoint for GetTokenEndpoint<'_> {
    fn request(&self, client: &Client, base: &str) -> Result<RequestBuilder> {
        let mut url =
            reqwest::Url::parse(&format!("{base}/cgi-bin/gettoken")).map_err(|_| bad_base(base))?;
        url.query_pairs_mut()
            .append_pair("corpid", self.corpid)
            .append_pair("corpsecret", self.secret.expose());
        Ok(client.get(url))
    }

    fn parse(&self, body: &[u8], host: &str) -> Result<Fetched> {
        answer::parse_answer(body, host).map_err(|e| e.rejected_if(WECOM_REJECT_ERRCODES))
    }

    fn sensitive(&self) -> &str {
        self.secret.expose()
    }
}

/// A WeCom app's access tokens.
pub(crate) struct WeComTokenSource {
    config: Config,
    http: Http,
}

impl std::fmt::Debug for WeComTokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WeComTokenSource")
            .field("api_base", &self.config.api_base())
            .field("agentid", &self.config.agentid())
            .finish_non_exhaustive()
    }
}

impl WeComTokenSource {
    pub(crate) fn new(config: &Config) -> Self {
        WeComTokenSource {
            config: config.clone(),
            http: Http::new(config),
        }
    }
}

impl TokenSource for WeComTokenSource {
    fn fetch(&self, _force: bool, budget: Duration) -> BoxFuture<'_, Result<Fetched>> {
        Box::pin(async move {
            // Read again for each fetch: a corrected secret file is used at once.
            let secret = self.config.current_secret()?;
            let endpoint = GetTokenEndpoint {
                corpid: self.config.appid(),
                secret: &secret,
            };
            self.http.fetch(&endpoint, budget).await
        })
    }

    fn scope(&self) -> String {
        self.config.credential_scope()
    }
}
