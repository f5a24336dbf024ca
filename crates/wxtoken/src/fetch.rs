//! Talking to the WeChat token endpoint: one bounded, retrying, secret-safe
//! fetch, on reqwest's async client.
//!
//! The same code serves the async API (on the caller's runtime) and the
//! blocking one (through `blocking::block_on`). The client is built on the
//! first miss, never at start-up and never on the hit path, keeps no idle
//! connections (a token is fetched once in two hours, and a pooled connection
//! would tie the client to the runtime that opened it), and is rebuilt in the
//! child of a fork.

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use reqwest::{Client, Response};

use crate::cached::{MAX_LIFETIME, MAX_TOKEN_LEN};
use crate::config::{Config, Mode};
use crate::error::{Error, Result};

/// Answers larger than this are refused unread.
pub const MAX_BODY: u64 = 64 * 1024;
/// Attempts per fetch for retryable failures (busy, unreachable).
const MAX_ATTEMPTS: u32 = 3;
/// First pause between attempts; doubles each time.
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
/// A CA bundle larger than this is not one (Debian's whole bundle is ~220 KiB).
const MAX_CA_FILE: u64 = 4 * 1024 * 1024;

/// A token as WeChat handed it out.
#[derive(Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The access token.
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

/// What makes two caches' HTTP clients interchangeable: the process, the
/// timeout and the CA file.
type ClientKey = (u32, Duration, Option<std::path::PathBuf>);
/// The process's HTTP clients, shared by every cache with the same key.
pub(crate) type Clients = Vec<(ClientKey, Client)>;
static CLIENTS: Mutex<Clients> = Mutex::new(Vec::new());

/// The list's lock, for `Fetcher::client` and `fork::prepare`.
pub(crate) fn lock_clients() -> std::sync::MutexGuard<'static, Clients> {
    CLIENTS.lock().unwrap_or_else(|p| p.into_inner())
}

/// How many HTTP clients this process has built (for the sharing test).
static CLIENTS_BUILT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// A boxed future, for the object-safe [`TokenSource`].
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where new tokens come from. The cache asks it only on a miss, holding the
/// store's lock. The real one talks to WeChat; tests script one (see
/// `TokenCache::builder`).
pub trait TokenSource: Send + Sync + std::fmt::Debug {
    /// A new token; `force` asks the stable endpoint for a new one rather
    /// than the current one. Ends within `budget`: the cache gives the HTTP
    /// timeout less what it keeps back for storing the answer, or less still
    /// when the caller has already waited (see `TokenCache::get_token`). The
    /// cache cuts a source that overruns it.
    fn fetch(&self, force: bool, budget: Duration) -> BoxFuture<'_, Result<Fetched>>;

    /// A fingerprint of the credentials this source fetches with, which must
    /// reveal nothing about them. A failure caused by the credentials (a wrong
    /// secret) backs off only callers of the same scope, so that corrected
    /// credentials are tried at once. Defaults to one scope for all.
    fn scope(&self) -> String {
        String::new()
    }
}

/// Fetches tokens from the WeChat API for one configuration.
pub(crate) struct Fetcher {
    config: Config,
}

impl std::fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetcher")
            .field("api_base", &self.config.api_base())
            .finish_non_exhaustive()
    }
}

impl TokenSource for Fetcher {
    fn fetch(&self, force: bool, budget: Duration) -> BoxFuture<'_, Result<Fetched>> {
        Box::pin(self.fetch_async(force, budget))
    }

    fn scope(&self) -> String {
        self.config.credential_scope()
    }
}

impl Fetcher {
    /// A fetcher; nothing is built or connected yet.
    pub(crate) fn new(config: Config) -> Self {
        Fetcher { config }
    }

    /// Asks WeChat for a token. `force` asks the stable endpoint for a new one
    /// (ignored in `token` mode, where every call is new anyway).
    ///
    /// Busy answers (-1) and unreachable hosts are retried with backoff, and
    /// unreachable hosts fail over to the next base URL; everything else is
    /// final. The whole fetch, retries included, ends within `budget` (at
    /// most the HTTP timeout), and the time is divided so that every base in
    /// the list gets a try: a black-holed first host cannot use it all up.
    async fn fetch_async(&self, force: bool, budget: Duration) -> Result<Fetched> {
        let timeout = budget.min(self.config.http_timeout());
        let deadline = Instant::now() + timeout;
        let client = self.client()?;
        // Read again for each fetch: a corrected secret file is used at once.
        let secret = self.config.current_secret()?;
        let secret = secret.expose();
        let bases = self.config.api_base();
        let mut backoff = FIRST_BACKOFF;
        let mut last_err = None;
        'attempts: for attempt in 0..MAX_ATTEMPTS {
            if attempt > 0 {
                let left = deadline.saturating_duration_since(Instant::now());
                if left <= backoff {
                    break;
                }
                tokio::time::sleep(backoff).await;
                backoff *= 2;
            }
            for (i, base) in bases.iter().enumerate() {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break 'attempts;
                }
                // This base's share of what is left: the bases still to try
                // each keep theirs.
                let share = left / (bases.len() - i) as u32;
                let budget = if i + 1 == bases.len() { left } else { share };
                match self.fetch_once(&client, base, secret, force, budget).await {
                    Ok(f) => return Ok(f),
                    Err(Failure::Unreachable(e)) => last_err = Some(e),
                    Err(Failure::Busy(e)) => {
                        last_err = Some(e);
                        continue 'attempts;
                    }
                    Err(Failure::Final(e)) => return Err(e),
                }
            }
        }
        Err(last_err.unwrap_or_else(|| Error::Timeout {
            host: host_of(&bases[0]),
            waited: timeout,
        }))
    }

    /// One client per process for every cache with the same client settings
    /// (timeout and CA file): a C program or PHP worker serving many apps
    /// builds one, not one per app. Safe to share across runtimes, since it
    /// keeps no idle connection.
    fn client(&self) -> Result<Client> {
        let key: ClientKey = (
            std::process::id(),
            self.config.http_timeout(),
            self.config.ca_file().map(Into::into),
        );
        let mut clients = lock_clients();
        // Clients of a parent process are dropped from the list (not used).
        clients.retain(|(k, _)| k.0 == key.0);
        if let Some((_, c)) = clients.iter().find(|(k, _)| *k == key) {
            return Ok(c.clone());
        }
        let client = self.build_client()?;
        CLIENTS_BUILT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        clients.push((key, client.clone()));
        Ok(client)
    }

    fn build_client(&self) -> Result<Client> {
        let timeout = self.config.http_timeout();
        let mut builder = Client::builder()
            .timeout(timeout)
            .user_agent(concat!("wxtoken/", env!("CARGO_PKG_VERSION")))
            // No idle connections: see the module docs.
            .pool_max_idle_per_host(0)
            // A redirect would carry the secret-bearing query to another host.
            .redirect(reqwest::redirect::Policy::none());
        if let Some(path) = self.config.ca_file() {
            // A configuration problem (exit 2, WX_ERR_CONFIG), not a cache one;
            // a bounded read of a regular file, so /dev/zero or a FIFO cannot
            // exhaust memory or hang the caller.
            let pem =
                crate::file_safety::read_setting_file(path, "WX_CA_FILE", MAX_CA_FILE, false)?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|_| {
                Error::Config(format!(
                    "CA file {} holds no usable PEM certificate (WX_CA_FILE)",
                    path.display()
                ))
            })?;
            if certs.is_empty() {
                return Err(Error::Config(format!(
                    "CA file {} holds no PEM certificate (WX_CA_FILE)",
                    path.display()
                )));
            }
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        builder
            .build()
            .map_err(|e| Error::Config(format!("cannot build the HTTP client: {}", chain(&e))))
    }

    async fn fetch_once(
        &self,
        client: &Client,
        base: &str,
        secret: &str,
        force: bool,
        budget: Duration,
    ) -> Result<Fetched, Failure> {
        let host = host_of(base);
        let request = match self.config.mode() {
            Mode::Token => {
                let mut url = reqwest::Url::parse(&format!("{base}/cgi-bin/token"))
                    .map_err(|_| Failure::Final(bad_base(base)))?;
                url.query_pairs_mut()
                    .append_pair("grant_type", "client_credential")
                    .append_pair("appid", self.config.appid())
                    .append_pair("secret", secret);
                client.get(url)
            }
            Mode::Stable => {
                let url = reqwest::Url::parse(&format!("{base}/cgi-bin/stable_token"))
                    .map_err(|_| Failure::Final(bad_base(base)))?;
                let body = serde_json::json!({
                    "grant_type": "client_credential",
                    "appid": self.config.appid(),
                    "secret": secret,
                    "force_refresh": force,
                });
                client
                    .post(url)
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body.to_string())
            }
        };
        let started = Instant::now();
        // One deadline for connect, request and body: `budget` is all this
        // base gets before the next base is tried.
        let exchange = async {
            let response = request
                .timeout(budget)
                .send()
                .await
                .map_err(|e| Self::classify(e, &host, secret, started))?;
            let status = response.status();
            if !status.is_success() {
                return Err(Failure::Final(Error::HttpStatus {
                    status: status.as_u16(),
                    host: host.clone(),
                }));
            }
            self.read_body(response, &host, started).await
        };
        let body = exchange.await?;
        parse_answer(&body, &host).map_err(|e| match e.errcode() {
            Some(-1) => Failure::Busy(e),
            _ => Failure::Final(e),
        })
    }

    async fn read_body(
        &self,
        mut response: Response,
        host: &str,
        started: Instant,
    ) -> Result<Vec<u8>, Failure> {
        if response.content_length().is_some_and(|n| n > MAX_BODY) {
            return Err(Failure::Final(too_large(host)));
        }
        let mut body = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    body.extend_from_slice(&chunk);
                    if body.len() as u64 > MAX_BODY {
                        return Err(Failure::Final(too_large(host)));
                    }
                }
                Ok(None) => return Ok(body),
                Err(e) => {
                    let e = e.without_url();
                    return Err(Failure::Final(if e.is_timeout() {
                        Error::Timeout {
                            host: host.to_string(),
                            waited: started.elapsed(),
                        }
                    } else {
                        Error::BadAnswer {
                            host: host.to_string(),
                            reason: "the answer was cut short".into(),
                        }
                    }));
                }
            }
        }
    }

    /// Sorts a reqwest error, dropping its URL (it holds the secret).
    fn classify(e: reqwest::Error, host: &str, secret: &str, started: Instant) -> Failure {
        let e = e.without_url();
        let reason = scrub(&chain(&e), secret);
        if e.is_timeout() {
            let timeout = Error::Timeout {
                host: host.to_string(),
                waited: started.elapsed(),
            };
            // No answer within this base's share of the time (a black-holed
            // host never even connects): the next base gets its share.
            return Failure::Unreachable(timeout);
        }
        let err = Error::Network {
            host: host.to_string(),
            reason,
        };
        if e.is_connect() {
            Failure::Unreachable(err)
        } else {
            Failure::Final(err)
        }
    }
}

/// How one attempt failed, which decides what happens next.
enum Failure {
    /// Could not connect: try the next host, then retry after a pause.
    Unreachable(Error),
    /// WeChat said -1 (busy): retry after a pause.
    Busy(Error),
    /// Anything else: report it now.
    Final(Error),
}

/// Turns a token answer body into a token, or a typed error.
///
/// WeChat's own `errmsg` is never passed on: an upstream that echoes the
/// secret could do so in any spelling (upper case, base64, cut short,
/// spaced out), and no scrubbing catches every one. The error carries the
/// `errcode` and this crate's own description of it instead.
pub(crate) fn parse_answer(body: &[u8], host: &str) -> Result<Fetched> {
    let bad = |reason: &str| Error::BadAnswer {
        host: host.to_string(),
        reason: reason.to_string(),
    };
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|_| bad("the answer is not valid JSON"))?;
    let obj = value
        .as_object()
        .ok_or_else(|| bad("the answer is not a JSON object"))?;
    if let Some(code) = obj.get("errcode") {
        let errcode = code
            .as_i64()
            .ok_or_else(|| bad("errcode is not an integer"))?;
        if errcode != 0 {
            let errmsg = crate::error::describe_errcode(errcode).to_string();
            return Err(Error::WeChat { errcode, errmsg });
        }
    }
    let token = match obj.get("access_token") {
        None => return Err(bad("access_token is missing")),
        Some(t) => t
            .as_str()
            .ok_or_else(|| bad("access_token is not a string"))?,
    };
    if token.is_empty()
        || token.len() > MAX_TOKEN_LEN
        || !token.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(bad("access_token is empty, too long or not printable"));
    }
    let expires_in = obj
        .get("expires_in")
        .ok_or_else(|| bad("expires_in is missing"))?
        .as_i64()
        .ok_or_else(|| bad("expires_in is not an integer"))?;
    if !(1..=MAX_LIFETIME as i64).contains(&expires_in) {
        return Err(bad(&format!(
            "expires_in {expires_in} is outside 1..={MAX_LIFETIME}"
        )));
    }
    Ok(Fetched {
        token: token.to_string(),
        expires_in: expires_in as u64,
    })
}

/// The host part of a base URL, for error messages.
fn host_of(base: &str) -> String {
    base.split_once("://")
        .map_or(base, |(_, rest)| rest)
        .split('/')
        .next()
        .unwrap_or("")
        .to_string()
}

fn bad_base(base: &str) -> Error {
    Error::Config(format!(
        "API base {:?} is not a valid URL (WX_API_BASE)",
        host_of(base)
    ))
}

fn too_large(host: &str) -> Error {
    Error::BadAnswer {
        host: host.to_string(),
        reason: format!("the answer is larger than {} KiB", MAX_BODY / 1024),
    }
}

/// An error and its sources, joined; reqwest's own text alone says little.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(src) = cur {
        let text = src.to_string();
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        cur = src.source();
    }
    s
}

/// Removes the secret from text that came from elsewhere, in every form a
/// URL, a form body or JSON could carry it: as is, percent-encoded (upper or
/// lower case hex, `+` or `%20` for a space), and JSON-escaped.
pub(crate) fn scrub(text: &str, secret: &str) -> String {
    if secret.is_empty() {
        return text.to_string();
    }
    let mut out = text.to_string();
    for form in secret_forms(secret) {
        if !form.is_empty() {
            out = out.replace(&form, "***");
        }
    }
    out
}

/// The spellings of `secret` that [`scrub`] masks, longest first so a
/// shorter one never masks only part of a longer one.
fn secret_forms(secret: &str) -> Vec<String> {
    let form_encoded: String = reqwest::Url::parse_with_params("x:", [("s", secret)])
        .ok()
        .and_then(|u| u.query().map(|q| q.trim_start_matches("s=").to_string()))
        .unwrap_or_default();
    let mut all_hex_upper = String::new();
    let mut all_hex_lower = String::new();
    for b in secret.bytes() {
        all_hex_upper.push_str(&format!("%{b:02X}"));
        all_hex_lower.push_str(&format!("%{b:02x}"));
    }
    let json = serde_json::to_string(secret).unwrap_or_default();
    let mut forms = vec![
        secret.to_string(),
        form_encoded.clone(),
        lowercase_escapes(&form_encoded),
        form_encoded.replace('+', "%20"),
        all_hex_upper,
        all_hex_lower,
        json.trim_matches('"').to_string(),
    ];
    forms.sort_by_key(|f| std::cmp::Reverse(f.len()));
    forms.dedup();
    forms
}

/// Lower-case hex in percent escapes (`%2F` → `%2f`), the rest untouched.
fn lowercase_escapes(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        out.push(c);
        if c == '%' {
            out.extend(chars.by_ref().take(2).map(|h| h.to_ascii_lowercase()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_success_and_errors() {
        let ok = parse_answer(br#"{"access_token":"AT_1","expires_in":7200}"#, "h").unwrap();
        assert_eq!(ok.token, "AT_1");
        assert_eq!(ok.expires_in, 7200);
        let e = parse_answer(
            br#"{"errcode":40125,"errmsg":"invalid appsecret SECRETX"}"#,
            "h",
        )
        .unwrap_err();
        assert_eq!(e.errcode(), Some(40125));
        assert!(!e.to_string().contains("SECRETX"));
        assert!(e.to_string().contains("invalid appsecret"), "{e}");
        // Echoes of the secret in any spelling: none reaches the error,
        // because no part of the upstream's errmsg does.
        let secret = "3f1a9c0b7d2e4f6a8b0c1d2e3f4a5b6c";
        for echo in [
            secret.to_uppercase(),
            "M2YxYTljMGI3ZDJlNGY2YThiMGMxZDJlM2Y0YTViNmM=".to_string(),
            secret[..12].to_string(),
            secret.chars().map(|c| format!("{c} ")).collect(),
        ] {
            let body = serde_json::json!({"errcode": 40125, "errmsg": format!("bad {echo}")});
            let e = parse_answer(body.to_string().as_bytes(), "h").unwrap_err();
            assert!(!e.to_string().contains(echo.trim()), "{e}");
            assert!(!e.to_string().contains(&secret[..6]), "{e}");
        }
        for body in [
            &br#"{"access_token":"#[..],
            br#"{"expires_in":7200}"#,
            br#"{"access_token":"A","expires_in":0}"#,
            br#"{"access_token":"A","expires_in":86401}"#,
            br#"{"access_token":"A","expires_in":"7200"}"#,
            br#"{"access_token":"","expires_in":7200}"#,
            br#"{"access_token":"a b","expires_in":7200}"#,
            br#"[1]"#,
        ] {
            let e = parse_answer(body, "h").unwrap_err();
            assert!(matches!(e, Error::BadAnswer { .. }), "{e}");
        }
        // errcode 0 with a token is a success (some proxies add it).
        assert!(parse_answer(br#"{"errcode":0,"access_token":"A","expires_in":5}"#, "h",).is_ok());
    }

    #[test]
    fn every_encoding_of_the_secret_is_masked() {
        let secret = "s3/cr+t&=x%y!";
        let encoded = [
            secret.to_string(),
            "s3%2Fcr%2Bt%26%3Dx%25y%21".to_string(),
            "s3%2fcr%2bt%26%3dx%25y%21".to_string(),
            secret
                .bytes()
                .map(|b| format!("%{b:02X}"))
                .collect::<String>(),
        ];
        for e in encoded {
            let text = format!("error for https://h/cgi-bin/token?secret={e}&appid=wx");
            let clean = scrub(&text, secret);
            assert!(clean.contains("secret=***&appid"), "{e} -> {clean}");
        }
        assert_eq!(scrub("no secret here", secret), "no secret here");
    }

    #[test]
    fn caches_with_the_same_client_settings_share_one_client() {
        let config = |appid: &str, secs: u64| {
            Config::builder()
                .appid(appid)
                .secret("s")
                .http_timeout(Duration::from_secs(secs))
                .build()
                .unwrap()
        };
        // A timeout no other test uses, so parallel tests do not interfere.
        let before = CLIENTS_BUILT.load(std::sync::atomic::Ordering::Relaxed);
        for appid in ["wx_a", "wx_b", "wx_c"] {
            Fetcher::new(config(appid, 287)).client().unwrap();
        }
        let after_three = CLIENTS_BUILT.load(std::sync::atomic::Ordering::Relaxed);
        assert_eq!(after_three - before, 1, "three apps, one client");
        Fetcher::new(config("wx_d", 286)).client().unwrap();
        let after_four = CLIENTS_BUILT.load(std::sync::atomic::Ordering::Relaxed);
        assert!(after_four > after_three, "other settings, another client");
    }

    #[test]
    fn host_of_strips_scheme_and_path() {
        assert_eq!(host_of("https://api.weixin.qq.com"), "api.weixin.qq.com");
        assert_eq!(host_of("http://127.0.0.1:8080/x"), "127.0.0.1:8080");
    }
}

/// Properties of the answer parser over arbitrary input (proptest).
#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    const SECRET: &str = "SeCrEt_value_42";

    proptest! {
        #[test]
        fn any_body_gives_a_token_or_an_error_without_the_secret(body in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Err(e) = parse_answer(&body, "h") {
                prop_assert!(!e.to_string().contains(SECRET));
            }
        }

        #[test]
        fn errmsgs_echoing_the_secret_are_masked(code in 1i64..100_000, pre in "[a-z ]{0,20}") {
            let body = serde_json::json!({"errcode": code, "errmsg": format!("{pre}{SECRET}")}).to_string();
            let e = parse_answer(body.as_bytes(), "h").unwrap_err();
            prop_assert!(!e.to_string().contains(SECRET));
            prop_assert_eq!(e.errcode(), Some(code));
        }

        #[test]
        fn good_answers_parse(token in "[!-~]{1,512}", expires_in in 1u64..=MAX_LIFETIME) {
            let body = serde_json::json!({"access_token": token, "expires_in": expires_in}).to_string();
            let f = parse_answer(body.as_bytes(), "h").unwrap();
            prop_assert_eq!((f.token, f.expires_in), (token, expires_in));
        }
    }
}
