//! `GET /cgi-bin/token?grant_type=client_credential&appid=..&secret=..`:
//! every call issues a new access token and retires the previous one five
//! minutes later.

use reqwest::{Client, RequestBuilder};

use crate::config::{Config, Secret};
use crate::error::{Result, TOKEN_REJECT_ERRCODES};
use crate::source::http::{bad_base, Endpoint};

/// The request, with the secret read for this fetch.
struct TokenEndpoint<'a> {
    appid: &'a str,
    secret: &'a Secret,
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

    fn rejects(&self) -> &'static [i64] {
        TOKEN_REJECT_ERRCODES
    }

    fn sensitive(&self) -> &str {
        self.secret.expose()
    }
}

/// The request of one fetch (every call issues a new token: `force` is moot).
pub(super) fn endpoint<'a>(
    config: &'a Config,
    secret: &'a Secret,
    _force: bool,
) -> Box<dyn Endpoint + 'a> {
    Box::new(TokenEndpoint {
        appid: config.appid(),
        secret,
    })
}
