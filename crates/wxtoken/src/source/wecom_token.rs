//! WeCom: `GET /cgi-bin/gettoken?corpid=ID&corpsecret=SECRET`. Each app of a
//! corp has its own secret and its own token; a new one retires only that
//! app's previous token. Here 40001 means a wrong secret (a configuration
//! error: fail fast, no invalidate-and-retry), as do 40013 (corp id), 40091,
//! 41002, 41004 and 60020 (IP allow list).

use reqwest::{Client, RequestBuilder};

use crate::config::{Config, Secret};
use crate::error::{Result, WECOM_REJECT_ERRCODES};
use crate::source::http::{bad_base, Endpoint};

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

    fn rejects(&self) -> &'static [i64] {
        WECOM_REJECT_ERRCODES
    }

    fn sensitive(&self) -> &str {
        self.secret.expose()
    }
}

/// The request of one fetch (each call issues a new token: `force` is moot).
pub(super) fn endpoint<'a>(
    config: &'a Config,
    secret: &'a Secret,
    _force: bool,
) -> Box<dyn Endpoint + 'a> {
    Box::new(GetTokenEndpoint {
        corpid: config.appid(),
        secret,
    })
}
