//! `POST /cgi-bin/stable_token` with `{"grant_type","appid","secret",
//! "force_refresh"}`: the same token while it is valid (the secret travels
//! in the body, not the URL); `force_refresh` asks for a new one.

use reqwest::{Client, RequestBuilder};

use crate::config::{Config, Secret};
use crate::error::{Result, TOKEN_REJECT_ERRCODES};
use crate::source::http::{bad_base, Endpoint};

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

    fn rejects(&self) -> &'static [i64] {
        TOKEN_REJECT_ERRCODES
    }

    fn sensitive(&self) -> &str {
        self.secret.expose()
    }
}

/// The request of one fetch; `force` asks for a new token.
pub(super) fn endpoint<'a>(
    config: &'a Config,
    secret: &'a Secret,
    force: bool,
) -> Box<dyn Endpoint + 'a> {
    Box::new(StableTokenEndpoint {
        appid: config.appid(),
        secret,
        force,
    })
}
