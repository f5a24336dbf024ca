//! The HTTP plumbing every WeChat source shares: one bounded, retrying,
//! failing-over, size-capped exchange, on reqwest's async client, with
//! nothing of the request (the secret, an access token) in any error.
//!
//! What is asked and how the answer reads is the endpoint's business (see
//! [`Endpoint`] and the sources beside this file); everything here is the same
//! for all of them.
//!
//! The same code serves the async API (on the caller's runtime) and the
//! blocking one (through `blocking::block_on`). The client is built on the
//! first miss, never at start-up and never on the hit path, keeps no idle
//! connections (a token is fetched once in two hours, and a pooled connection
//! would tie the client to the runtime that opened it), and is rebuilt in the
//! child of a fork.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use reqwest::{Client, RequestBuilder, Response};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::source::Fetched;

/// Answers larger than this are refused unread.
pub const MAX_BODY: u64 = 64 * 1024;
/// Attempts per fetch for retryable failures (busy, unreachable).
const MAX_ATTEMPTS: u32 = 3;
/// First pause between attempts; doubles each time.
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
/// A CA bundle larger than this is not one (Debian's whole bundle is ~220 KiB).
const MAX_CA_FILE: u64 = 4 * 1024 * 1024;

/// What makes two caches' HTTP clients interchangeable: the process, the
/// timeout and the CA file.
type ClientKey = (u32, Duration, Option<std::path::PathBuf>);
/// The process's HTTP clients, shared by every cache with the same key.
pub(crate) type Clients = Vec<(ClientKey, Client)>;
static CLIENTS: Mutex<Clients> = Mutex::new(Vec::new());

/// The list's lock, for `Http::client` and `fork::prepare`.
pub(crate) fn lock_clients() -> std::sync::MutexGuard<'static, Clients> {
    CLIENTS.lock().unwrap_or_else(|p| p.into_inner())
}

/// How many HTTP clients this process has built (for the sharing test).
static CLIENTS_BUILT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// One WeChat endpoint: how to ask it, and how its answer reads.
pub(crate) trait Endpoint: Send + Sync {
    /// The request to `base` (no trailing slash). An error here is final.
    fn request(&self, client: &Client, base: &str) -> Result<RequestBuilder>;
    /// The answer's field that holds the credential.
    fn field(&self) -> &'static str {
        "access_token"
    }
    /// The errcodes by which this endpoint refuses the credentials it was
    /// given: configuration errors here, whatever they mean elsewhere.
    fn rejects(&self) -> &'static [i64] {
        &[]
    }
    /// The answer's body as a credential, or the error it says.
    fn parse(&self, body: &[u8], host: &str) -> Result<Fetched> {
        crate::source::answer::parse_credential(body, host, self.field())
            .map_err(|e| e.rejected_if(self.rejects()))
    }
    /// Text the request carries that no error may show (the secret, an
    /// access token): masked in transport errors, in every encoding.
    fn sensitive(&self) -> &str;
}

/// The HTTP side of a configuration: the bases, the timeout, the CA file.
#[derive(Debug, Clone)]
pub(crate) struct Http {
    bases: Vec<String>,
    timeout: Duration,
    ca_file: Option<std::path::PathBuf>,
}

impl Http {
    /// What `config` says; nothing is built or connected yet.
    pub(crate) fn new(config: &Config) -> Http {
        Http {
            bases: config.api_base().to_vec(),
            timeout: config.http_timeout(),
            ca_file: config.ca_file().map(Into::into),
        }
    }

    /// Asks `endpoint`.
    ///
    /// Busy answers (-1) and unreachable hosts are retried with backoff, and
    /// unreachable hosts fail over to the next base URL; everything else is
    /// final. The whole fetch, retries included, ends within `budget` (at
    /// most the HTTP timeout), and the time is divided so that every base in
    /// the list gets a try: a black-holed first host cannot use it all up.
    pub(crate) async fn fetch(&self, endpoint: &dyn Endpoint, budget: Duration) -> Result<Fetched> {
        let timeout = budget.min(self.timeout);
        let deadline = Instant::now() + timeout;
        let client = self.client()?;
        let bases = &self.bases;
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
                match self.fetch_once(&client, base, endpoint, budget).await {
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
        let key: ClientKey = (std::process::id(), self.timeout, self.ca_file.clone());
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
        let timeout = self.timeout;
        let mut builder = Client::builder()
            .timeout(timeout)
            .user_agent(concat!("wxtoken/", env!("CARGO_PKG_VERSION")))
            // No idle connections: see the module docs.
            .pool_max_idle_per_host(0)
            // A redirect would carry the secret-bearing query to another host.
            .redirect(reqwest::redirect::Policy::none());
        if let Some(path) = &self.ca_file {
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
        endpoint: &dyn Endpoint,
        budget: Duration,
    ) -> Result<Fetched, Failure> {
        let host = host_of(base);
        let request = endpoint.request(client, base).map_err(Failure::Final)?;
        let started = Instant::now();
        // One deadline for connect, request and body: `budget` is all this
        // base gets before the next base is tried.
        let exchange = async {
            let response = request
                .timeout(budget)
                .send()
                .await
                .map_err(|e| Self::classify(e, &host, endpoint.sensitive(), started))?;
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
        endpoint.parse(&body, &host).map_err(|e| match e.errcode() {
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

/// The host part of a base URL, for error messages.
pub(crate) fn host_of(base: &str) -> String {
    base.split_once("://")
        .map_or(base, |(_, rest)| rest)
        .split('/')
        .next()
        .unwrap_or("")
        .to_string()
}

pub(crate) fn bad_base(base: &str) -> Error {
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
            Http::new(&config(appid, 287)).client().unwrap();
        }
        let after_three = CLIENTS_BUILT.load(std::sync::atomic::Ordering::Relaxed);
        assert_eq!(after_three - before, 1, "three apps, one client");
        Http::new(&config("wx_d", 286)).client().unwrap();
        let after_four = CLIENTS_BUILT.load(std::sync::atomic::Ordering::Relaxed);
        assert!(after_four > after_three, "other settings, another client");
    }

    #[test]
    fn host_of_strips_scheme_and_path() {
        assert_eq!(host_of("https://api.weixin.qq.com"), "api.weixin.qq.com");
        assert_eq!(host_of("http://127.0.0.1:8080/x"), "127.0.0.1:8080");
    }
}
