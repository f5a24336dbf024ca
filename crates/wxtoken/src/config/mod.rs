//! Settings: one set of names for every front end, one parser for every source.
//!
//! Every source (environment, CLI flags, PHP constants and ini entries, C
//! arguments) ends up in [`ConfigBuilder::set`] under the environment name of
//! the setting, so a value means the same thing wherever it was written. Later
//! calls override earlier ones, which is how precedence is expressed: apply the
//! weakest source first.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::settings::SETTING_NAMES;
use crate::store::spec::{StoreGiven, StoreSpec};

pub use crate::store::spec::{DEFAULT_EXPIRY_FILE, DEFAULT_REDIS_PREFIX, DEFAULT_TOKEN_FILE};
/// Default API base URLs: WeChat's main host, then its disaster-recovery
/// host, tried when the first cannot be reached.
pub const DEFAULT_API_BASE: &str = "https://api.weixin.qq.com,https://api2.weixin.qq.com";
/// Default refresh margin: refresh this many seconds before expiry.
pub const DEFAULT_REFRESH_MARGIN: u64 = 300;
/// Default HTTP timeout.
pub const DEFAULT_HTTP_TIMEOUT: Duration = Duration::from_secs(10);

/// The longest token lifetime WeChat hands out; a margin this large would
/// make every token stale on arrival.
const MAX_TOKEN_LIFETIME: u64 = 7200;
/// Longest HTTP timeout accepted: beyond this a PHP request is long dead.
const MAX_HTTP_TIMEOUT: Duration = Duration::from_secs(300);
/// The longest app id accepted; WeChat's are 18 characters.
const MAX_APPID_LEN: usize = 64;
/// A secret file holds one short line; anything longer is not one.
const MAX_SECRET_FILE: u64 = 4096;

/// Which WeChat endpoint issues tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Mode {
    /// `GET /cgi-bin/token`: every call issues a new token.
    #[default]
    Token,
    /// `POST /cgi-bin/stable_token`: the same token while it is valid; the
    /// secret travels in the body, not the URL.
    Stable,
}

impl Mode {
    /// The name used in `WX_TOKEN_MODE`.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Token => "token",
            Mode::Stable => "stable",
        }
    }
}

/// The app secret. Its `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Secret(String);

impl Secret {
    /// The secret itself, for building the request and nothing else.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"***\"")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// A complete, validated configuration. Build one with [`Config::builder`] or
/// [`Config::from_env`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Config {
    appid: String,
    secret: Secret,
    /// Where every credential lives (files or Redis).
    store: StoreSpec,
    api_base: Vec<String>,
    refresh_margin: u64,
    mode: Mode,
    http_timeout: Duration,
    passive: bool,
    ca_file: Option<PathBuf>,
    secret_file: Option<PathBuf>,
    allow_http: bool,
}

impl Config {
    /// An empty builder holding the defaults.
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder::default()
    }

    /// Reads every `WX_*` setting from the process environment.
    pub fn from_env() -> Result<Config> {
        ConfigBuilder::from_env()?.build()
    }

    /// The app id.
    pub fn appid(&self) -> &str {
        &self.appid
    }
    /// The app secret (masked in `Debug`).
    pub fn secret(&self) -> &Secret {
        &self.secret
    }
    /// Where every credential lives.
    pub fn store(&self) -> &StoreSpec {
        &self.store
    }
    /// Path of `token.txt`.
    pub fn token_file(&self) -> &Path {
        self.store.files().token_file()
    }
    /// Path of `expiry.txt`.
    pub fn expiry_file(&self) -> &Path {
        self.store.files().expiry_file()
    }
    /// API base URLs, tried in order; no trailing slash.
    pub fn api_base(&self) -> &[String] {
        &self.api_base
    }
    /// Seconds before expiry at which a token counts as stale.
    pub fn refresh_margin(&self) -> u64 {
        self.refresh_margin
    }
    /// Token endpoint in use.
    pub fn mode(&self) -> Mode {
        self.mode
    }
    /// Time allowed for one whole fetch, retries included.
    pub fn http_timeout(&self) -> Duration {
        self.http_timeout
    }
    /// Redis URL for a shared store (`None`: the files).
    pub fn redis_url(&self) -> Option<&str> {
        self.store.redis().map(|r| r.url.as_str())
    }
    /// Prefix of the Redis keys.
    pub fn redis_prefix(&self) -> &str {
        self.store
            .redis()
            .map_or(DEFAULT_REDIS_PREFIX, |r| r.prefix.as_str())
    }
    /// Read-only mode: never fetch.
    pub fn passive(&self) -> bool {
        self.passive
    }
    /// Extra trusted CA bundle (PEM), if any.
    pub fn ca_file(&self) -> Option<&Path> {
        self.ca_file.as_deref()
    }
    /// The file the secret was read from, if it came from one.
    pub fn secret_file(&self) -> Option<&Path> {
        self.secret_file.as_deref()
    }

    /// The secret as it is now: read again from its file, if it came from
    /// one, so that an operator who corrects the file is heard at the next
    /// fetch by every long-lived process (a PHP worker, a C server), without
    /// a restart. Read only when fetching, never on a hit.
    pub fn current_secret(&self) -> Result<Secret> {
        match &self.secret_file {
            Some(path) => {
                let secret = read_secret_file(path)?;
                check_secret(&secret, "WX_APPSECRET_FILE")?;
                Ok(Secret(secret))
            }
            // Only a passive configuration has none; anything that would
            // send it gets a configuration error, never a request.
            None if self.secret.0.is_empty() => Err(Error::Config(
                "no app secret is configured (WX_APPSECRET or WX_APPSECRET_FILE): a passive \
                 reader needs none, but fetching a token does"
                    .into(),
            )),
            None => Ok(self.secret.clone()),
        }
    }

    /// A fingerprint of the credentials (app id and current secret) that
    /// reveals nothing about the secret: the first 64 bits of a SHA-256 over
    /// both, under a label of its own. A failure that is about the
    /// credentials (a wrong secret) holds back only callers with the same
    /// fingerprint; fixed credentials are tried at once. Empty when the
    /// secret cannot be read.
    pub fn credential_scope(&self) -> String {
        let Ok(secret) = self.current_secret() else {
            return String::new();
        };
        let mut input = b"wxtoken credential scope v1\0".to_vec();
        input.extend_from_slice(self.appid.as_bytes());
        input.push(0);
        input.extend_from_slice(secret.expose().as_bytes());
        let digest = ring::digest::digest(&ring::digest::SHA256, &input);
        digest.as_ref()[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
    /// Whether `http://` to a host other than loopback was allowed.
    pub fn allow_http(&self) -> bool {
        self.allow_http
    }

    /// The effective settings as `(environment name, value)` pairs, secret
    /// masked, in the settings table's order; for `phpinfo()`, `wxtoken
    /// status` and diagnostics.
    pub fn describe(&self) -> Vec<(&'static str, String)> {
        let path = |p: &Path| p.display().to_string();
        let switch = |on: bool| if on { "1" } else { "0" }.to_string();
        let mut rows = vec![
            ("WX_APPID", self.appid.clone()),
            ("WX_APPSECRET", "***".to_string()),
            ("WX_API_BASE", self.api_base.join(",")),
            ("WX_REFRESH_MARGIN", self.refresh_margin.to_string()),
            ("WX_TOKEN_MODE", self.mode.as_str().to_string()),
            (
                "WX_HTTP_TIMEOUT",
                format!("{}", self.http_timeout.as_secs_f64()),
            ),
            ("WX_PASSIVE", switch(self.passive)),
            (
                "WX_CA_FILE",
                self.ca_file
                    .as_deref()
                    .map(path)
                    .unwrap_or_else(|| "(system roots)".into()),
            ),
            (
                "WX_APPSECRET_FILE",
                self.secret_file
                    .as_deref()
                    .map(path)
                    .unwrap_or_else(|| "(none)".into()),
            ),
            ("WX_ALLOW_HTTP", switch(self.allow_http)),
        ];
        rows.extend(self.store.describe());
        // The table's order, whoever describes which setting.
        rows.sort_by_key(|(name, _)| SETTING_NAMES.iter().position(|n| n == name));
        rows
    }
}

/// A setting as a source gave it: text from the environment, an ini entry or
/// a flag (parsed and checked in `build`), or a typed value from a setter
/// (only checked), so a `Duration` never goes through text and back.
#[derive(Clone, Debug)]
enum Given<T> {
    Text(String),
    Typed(T),
}

impl<T: Copy> Given<T> {
    /// The value, parsing text with `parse` (which names the setting in its
    /// error).
    fn value(&self, parse: impl FnOnce(&str) -> Result<T>) -> Result<T> {
        match self {
            Given::Text(s) => parse(s),
            Given::Typed(v) => Ok(*v),
        }
    }
}

/// Collects settings from any number of sources, then validates them once.
#[derive(Clone, Default)]
pub struct ConfigBuilder {
    appid: Option<String>,
    secret: Option<String>,
    token_file: Option<PathBuf>,
    expiry_file: Option<PathBuf>,
    api_base: Option<String>,
    refresh_margin: Option<Given<u64>>,
    mode: Option<Given<Mode>>,
    http_timeout: Option<Given<Duration>>,
    redis_url: Option<String>,
    passive: Option<Given<bool>>,
    ca_file: Option<PathBuf>,
    secret_file: Option<PathBuf>,
    allow_http: Option<Given<bool>>,
    redis_prefix: Option<String>,
    ticket_dir: Option<PathBuf>,
}

impl fmt::Debug for ConfigBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfigBuilder")
            .field("appid", &self.appid)
            .field("secret", &self.secret.as_ref().map(|_| "***"))
            .field("secret_file", &self.secret_file)
            .field("token_file", &self.token_file)
            .field("expiry_file", &self.expiry_file)
            .field("api_base", &self.api_base)
            .finish_non_exhaustive()
    }
}

impl ConfigBuilder {
    /// A builder pre-filled from the process environment (`WX_*`); later
    /// setters override it.
    pub fn from_env() -> Result<ConfigBuilder> {
        Self::from_lookup(|name| std::env::var_os(name))
    }

    /// A builder pre-filled from any name → value lookup using the
    /// environment names; unset or empty values are skipped.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<std::ffi::OsString>,
    ) -> Result<ConfigBuilder> {
        let mut b = ConfigBuilder::default();
        for name in SETTING_NAMES {
            if let Some(value) = lookup(name) {
                let value = value
                    .into_string()
                    .map_err(|_| Error::Config(format!("{name} is not valid UTF-8")))?;
                if !value.is_empty() {
                    b.set(name, &value)?;
                }
            }
        }
        Ok(b)
    }

    /// Sets one setting by its environment name (`WX_APPID`, ...) from text.
    /// Numbers are checked when [`build`](Self::build) runs, so every source
    /// reports errors the same way; unknown names are an error here.
    pub fn set(&mut self, name: &str, value: &str) -> Result<&mut Self> {
        let v = value.to_string();
        match name {
            "WX_APPID" => self.appid = Some(v),
            // The secret and its file replace each other: the later (stronger)
            // source wins whichever form it uses.
            "WX_APPSECRET" => {
                self.secret = Some(v);
                self.secret_file = None;
            }
            "WX_APPSECRET_FILE" => {
                self.secret_file = Some(v.into());
                self.secret = None;
            }
            "WX_ALLOW_HTTP" => self.allow_http = Some(Given::Text(v)),
            "WX_REDIS_PREFIX" => self.redis_prefix = Some(v),
            "WX_TOKEN_FILE" => self.token_file = Some(v.into()),
            "WX_EXPIRY_FILE" => self.expiry_file = Some(v.into()),
            "WX_API_BASE" => self.api_base = Some(v),
            "WX_REFRESH_MARGIN" => self.refresh_margin = Some(Given::Text(v)),
            "WX_TOKEN_MODE" => self.mode = Some(Given::Text(v)),
            "WX_HTTP_TIMEOUT" => self.http_timeout = Some(Given::Text(v)),
            "WX_REDIS_URL" => self.redis_url = Some(v),
            "WX_PASSIVE" => self.passive = Some(Given::Text(v)),
            "WX_CA_FILE" => self.ca_file = Some(v.into()),
            "WX_TICKET_DIR" => self.ticket_dir = Some(v.into()),
            other => return Err(Error::Config(format!("unknown setting {other}"))),
        }
        Ok(self)
    }

    /// App id (required).
    pub fn appid(mut self, appid: impl Into<String>) -> Self {
        self.appid = Some(appid.into());
        self
    }
    /// App secret (required, or [`secret_file`](Self::secret_file)).
    pub fn secret(mut self, secret: impl Into<String>) -> Self {
        self.secret = Some(secret.into());
        self.secret_file = None;
        self
    }
    /// Reads the app secret from the first line of a file, which must be a
    /// regular file not readable by every user (the way to keep the secret
    /// out of the environment, `ps` and `phpinfo()`).
    pub fn secret_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.secret_file = Some(path.into());
        self.secret = None;
        self
    }
    /// Allows `http://` API bases on hosts other than loopback, which sends
    /// the secret in clear text (default: refused).
    pub fn allow_http(mut self, allow: bool) -> Self {
        self.allow_http = Some(Given::Typed(allow));
        self
    }
    /// Token file path (default `token.txt`).
    pub fn token_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.token_file = Some(path.into());
        self
    }
    /// Expiry file path (default `expiry.txt`).
    pub fn expiry_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.expiry_file = Some(path.into());
        self
    }
    /// API base URL(s), comma-separated, tried in order.
    pub fn api_base(mut self, bases: impl Into<String>) -> Self {
        self.api_base = Some(bases.into());
        self
    }
    /// Refresh margin in seconds (default 300).
    pub fn refresh_margin(mut self, secs: u64) -> Self {
        self.refresh_margin = Some(Given::Typed(secs));
        self
    }
    /// Token endpoint (default [`Mode::Token`]).
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = Some(Given::Typed(mode));
        self
    }
    /// HTTP timeout for a whole fetch (default 10 s).
    pub fn http_timeout(mut self, timeout: Duration) -> Self {
        self.http_timeout = Some(Given::Typed(timeout));
        self
    }
    /// Redis URL for a shared store: `redis://[user:pass@]host[:port][/db]`,
    /// or `rediss://` for TLS.
    pub fn redis_url(mut self, url: impl Into<String>) -> Self {
        self.redis_url = Some(url.into());
        self
    }
    /// Prefix of the Redis keys (default `wxtoken`).
    pub fn redis_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.redis_prefix = Some(prefix.into());
        self
    }
    /// Never fetch; only read what others cached.
    pub fn passive(mut self, passive: bool) -> Self {
        self.passive = Some(Given::Typed(passive));
        self
    }
    /// Extra trusted CA bundle (PEM).
    pub fn ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_file = Some(path.into());
        self
    }
    /// Directory of the JS-SDK ticket files (default: the token file's).
    pub fn ticket_dir(mut self, path: impl Into<PathBuf>) -> Self {
        self.ticket_dir = Some(path.into());
        self
    }

    /// Validates everything and returns the configuration, or an error naming
    /// the first bad setting (never echoing the secret).
    pub fn build(self) -> Result<Config> {
        let appid = self
            .appid
            .ok_or_else(|| Error::Config("app id is required (WX_APPID)".into()))?;
        if appid.is_empty() {
            return Err(Error::Config("app id is empty (WX_APPID)".into()));
        }
        // What WeChat issues (wx + 16 hex digits; WeCom corp ids ww…),
        // with room to spare, and nothing that could break out of a Redis key's
        // hash slot (`{`, `}`), a glob (`*`) or a log line. Never echoed: it
        // may be anything, of any size.
        if appid.len() > MAX_APPID_LEN
            || !appid
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(Error::Config(format!(
                "app id must be 1 to {MAX_APPID_LEN} letters, digits, '_' or '-', as WeChat \
                 issues them (wx… for apps, ww… for WeCom corps) (WX_APPID)"
            )));
        }
        let passive = flag(self.passive.as_ref(), "passive", "WX_PASSIVE")?;
        let from_file = self.secret.is_none() && self.secret_file.is_some();
        let secret = match (self.secret, &self.secret_file) {
            // A passive reader never fetches, so it needs no secret: the
            // secret can stay with the refresher alone. `current_secret`
            // refuses to hand out the empty one.
            (None, None) if passive => String::new(),
            (Some(s), None) if passive && s.is_empty() => s,
            (Some(s), _) => {
                check_secret(&s, "WX_APPSECRET")?;
                s
            }
            (None, Some(path)) => {
                let s = read_secret_file(path)?;
                check_secret(&s, "WX_APPSECRET_FILE")?;
                s
            }
            (None, None) => {
                return Err(Error::Config(
                    "app secret is required (WX_APPSECRET or WX_APPSECRET_FILE)".into(),
                ))
            }
        };
        let ca_file = self.ca_file.filter(|p| !p.as_os_str().is_empty());
        let store = StoreSpec::parse(StoreGiven {
            token_file: self.token_file,
            expiry_file: self.expiry_file,
            ticket_dir: self.ticket_dir,
            redis_url: self.redis_url,
            redis_prefix: self.redis_prefix,
            ca_file: ca_file.clone(),
        })?;
        let allow_http = flag(self.allow_http.as_ref(), "allow http", "WX_ALLOW_HTTP")?;
        let api_base = parse_api_base(
            self.api_base.as_deref().unwrap_or(DEFAULT_API_BASE),
            allow_http,
        )?;
        let refresh_margin = match &self.refresh_margin {
            None => DEFAULT_REFRESH_MARGIN,
            Some(given) => {
                let m = given.value(|s| {
                    s.trim().parse().map_err(|_| {
                        Error::Config(format!(
                            "refresh margin must be a whole number of seconds, got {s:?} (WX_REFRESH_MARGIN)"
                        ))
                    })
                })?;
                if m >= MAX_TOKEN_LIFETIME {
                    return Err(Error::Config(format!(
                        "refresh margin {m}s is not below the {MAX_TOKEN_LIFETIME}s token lifetime (WX_REFRESH_MARGIN)"
                    )));
                }
                m
            }
        };
        let mode = match &self.mode {
            None => Mode::Token,
            Some(given) => given.value(|s| match s.trim() {
                "token" => Ok(Mode::Token),
                "stable" => Ok(Mode::Stable),
                other => Err(Error::Config(format!(
                    "mode must be \"token\" or \"stable\", got {other:?} (WX_TOKEN_MODE)"
                ))),
            })?,
        };
        let http_timeout = match &self.http_timeout {
            None => DEFAULT_HTTP_TIMEOUT,
            Some(given) => {
                let t = given.value(|s| {
                    let secs: f64 = s.trim().parse().map_err(|_| {
                        Error::Config(format!(
                            "HTTP timeout must be a number of seconds, got {s:?} (WX_HTTP_TIMEOUT)"
                        ))
                    })?;
                    Duration::try_from_secs_f64(secs).map_err(|_| {
                        Error::Config(format!(
                            "HTTP timeout must be above 0 and at most {}s, got {s:?} (WX_HTTP_TIMEOUT)",
                            MAX_HTTP_TIMEOUT.as_secs()
                        ))
                    })
                })?;
                if t.is_zero() || t > MAX_HTTP_TIMEOUT {
                    return Err(Error::Config(format!(
                        "HTTP timeout must be above 0 and at most {}s, got {:?} (WX_HTTP_TIMEOUT)",
                        MAX_HTTP_TIMEOUT.as_secs(),
                        t.as_secs_f64().to_string()
                    )));
                }
                t
            }
        };
        Ok(Config {
            appid,
            secret: Secret(secret),
            store,
            api_base,
            refresh_margin,
            mode,
            http_timeout,
            passive,
            ca_file,
            secret_file: self.secret_file.filter(|_| from_file),
            allow_http,
        })
    }
}

/// A yes/no setting: 1/true/on/yes or 0/false/off/no (empty is no).
fn flag(value: Option<&Given<bool>>, label: &str, name: &str) -> Result<bool> {
    let Some(given) = value else { return Ok(false) };
    given.value(|s| match s.trim().to_ascii_lowercase().as_str() {
        "" | "0" | "false" | "off" | "no" => Ok(false),
        "1" | "true" | "on" | "yes" => Ok(true),
        other => Err(Error::Config(format!(
            "{label} must be 1 or 0, got {other:?} ({name})"
        ))),
    })
}

/// Refuses an empty secret or one with whitespace or non-printable
/// characters, naming the setting it came from (never the secret).
fn check_secret(secret: &str, secret_name: &str) -> Result<()> {
    if secret.is_empty() {
        return Err(Error::Config(format!(
            "app secret is empty ({secret_name})"
        )));
    }
    if !secret.chars().all(|c| c.is_ascii_graphic()) {
        // Say what is wrong, never what the value is.
        return Err(Error::Config(format!(
            "app secret contains whitespace or non-printable characters ({secret_name})"
        )));
    }
    Ok(())
}

/// The secret from the first line of its file; see
/// [`ConfigBuilder::secret_file`]. A second non-empty line is refused: such a
/// file holds something else (an appid and a secret, a key), and guessing
/// which line is meant would send the wrong one.
fn read_secret_file(path: &Path) -> Result<String> {
    const NAME: &str = "WX_APPSECRET_FILE";
    let bytes = crate::file_safety::read_setting_file(path, NAME, MAX_SECRET_FILE, true)?;
    let text = String::from_utf8(bytes).map_err(|_| {
        Error::Config(format!(
            "{NAME} file {} is not valid UTF-8 ({NAME})",
            path.display()
        ))
    })?;
    let mut lines = text.lines().map(|l| l.trim_end_matches('\r'));
    let first = lines.next().unwrap_or("").trim().to_string();
    if lines.any(|l| !l.trim().is_empty()) {
        return Err(Error::Config(format!(
            "{NAME} file {} holds more than one line; put only the secret in it ({NAME})",
            path.display()
        )));
    }
    Ok(first)
}

/// Whether `host` (as in a URL, maybe with a port) is this machine.
fn is_loopback(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn parse_api_base(s: &str, allow_http: bool) -> Result<Vec<String>> {
    let mut bases = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (scheme, rest) = part.split_once("://").unwrap_or(("", ""));
        let host = rest.split('/').next().unwrap_or("");
        if !matches!(scheme, "https" | "http") || host.is_empty() || part.contains(['?', '#', ' '])
        {
            return Err(Error::Config(format!(
                "API base must be an http(s) URL without query, got {:?} (WX_API_BASE)",
                part.split('@').next_back().unwrap_or("")
            )));
        }
        if host.contains('@') {
            // Never echo it: what stands before the @ is a password.
            return Err(Error::Config(
                "API base must not hold a user name or password (user:pass@host) (WX_API_BASE)"
                    .into(),
            ));
        }
        if scheme == "http" && !allow_http && !is_loopback(host) {
            return Err(Error::Config(format!(
                "API base http://{host} would send the app secret in clear text; use https://, \
                 or set WX_ALLOW_HTTP=1 if a trusted proxy needs it (WX_API_BASE)"
            )));
        }
        bases.push(part.trim_end_matches('/').to_string());
    }
    if bases.is_empty() {
        return Err(Error::Config("API base is empty (WX_API_BASE)".into()));
    }
    Ok(bases)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> ConfigBuilder {
        Config::builder().appid("wx1").secret("s3cr3t-value")
    }

    #[test]
    fn defaults_match_the_design() {
        let c = base().build().unwrap();
        assert_eq!(c.token_file(), Path::new("token.txt"));
        assert_eq!(c.expiry_file(), Path::new("expiry.txt"));
        assert_eq!(
            c.api_base(),
            ["https://api.weixin.qq.com", "https://api2.weixin.qq.com"]
        );
        assert_eq!(c.refresh_margin(), 300);
        assert_eq!(c.mode(), Mode::Token);
        assert_eq!(c.http_timeout(), Duration::from_secs(10));
        assert!(!c.passive());
        assert!(c.redis_url().is_none());
    }

    #[test]
    fn debug_and_errors_never_show_the_secret() {
        let c = base().build().unwrap();
        assert!(!format!("{c:?}").contains("s3cr3t-value"));
        assert!(!format!("{:?}", base()).contains("s3cr3t-value"));
        let e = Config::builder()
            .appid("wx1")
            .secret("bad secret")
            .build()
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("WX_APPSECRET") && !e.contains("bad secret"),
            "{e}"
        );
        assert!(c
            .describe()
            .iter()
            .all(|(_, v)| !v.contains("s3cr3t-value")));
        // One row per setting, in the same order, for phpinfo() and status.
        let names: Vec<_> = c.describe().iter().map(|(n, _)| *n).collect();
        assert_eq!(names, SETTING_NAMES);
    }

    #[test]
    fn rejects_bad_values_with_the_setting_named() {
        let cases: Vec<(ConfigBuilder, &str)> = vec![
            (Config::builder().secret("x"), "WX_APPID"),
            (Config::builder().appid("").secret("x"), "WX_APPID"),
            (Config::builder().appid("}{").secret("x"), "WX_APPID"),
            (Config::builder().appid("wx*").secret("x"), "WX_APPID"),
            (Config::builder().appid("wx 1").secret("x"), "WX_APPID"),
            (
                Config::builder().appid("w".repeat(10_000_000)).secret("x"),
                "WX_APPID",
            ),
            (Config::builder().appid("wx1"), "WX_APPSECRET"),
            (base().refresh_margin(7200), "WX_REFRESH_MARGIN"),
            (base().api_base("ftp://x"), "WX_API_BASE"),
            (base().api_base(" , "), "WX_API_BASE"),
            (base().token_file(""), "WX_TOKEN_FILE"),
        ];
        for (b, name) in cases {
            let e = b.build().unwrap_err().to_string();
            assert!(e.contains(name), "{e} should name {name}");
            assert!(e.len() < 400, "a bad value is never echoed whole");
        }
        for (name, value) in [
            ("WX_REFRESH_MARGIN", "soon"),
            ("WX_REFRESH_MARGIN", "-1"),
            ("WX_HTTP_TIMEOUT", "0"),
            ("WX_HTTP_TIMEOUT", "ten"),
            ("WX_TOKEN_MODE", "fast"),
            ("WX_PASSIVE", "maybe"),
            ("WX_REDIS_URL", "http://x"),
            ("WX_REDIS_URL", "redis://"),
            ("WX_REDIS_PREFIX", "has space"),
        ] {
            let mut b = base();
            b.set(name, value).unwrap();
            let e = b.build().unwrap_err().to_string();
            assert!(e.contains(name), "{e} should name {name}");
        }
        assert!(base().set("WX_NOPE", "1").is_err());
        // Typed setters are checked as strictly as text.
        assert!(base().http_timeout(Duration::ZERO).build().is_err());
        assert!(base()
            .http_timeout(Duration::from_secs(301))
            .build()
            .is_err());
    }

    #[test]
    fn typed_values_stay_typed() {
        // 1/3 s has no exact decimal form: a round trip through text would
        // change it.
        let t = Duration::from_nanos(333_333_333);
        let c = base().http_timeout(t).mode(Mode::Stable).build().unwrap();
        assert_eq!(c.http_timeout(), t);
        assert_eq!(c.mode(), Mode::Stable);
    }

    #[test]
    fn clear_text_and_userinfo_bases_are_refused() {
        for bad in [
            "http://api.weixin.qq.com",
            "http://10.0.0.1:8080",
            "https://127.0.0.1,http://example.com",
        ] {
            let e = base().api_base(bad).build().unwrap_err().to_string();
            assert!(e.contains("WX_ALLOW_HTTP"), "{bad}: {e}");
        }
        for ok in [
            "http://127.0.0.1:8080",
            "http://localhost",
            "http://[::1]:9000/",
            "http://127.0.0.2",
        ] {
            assert!(base().api_base(ok).build().is_ok(), "{ok}");
        }
        let c = base()
            .api_base("http://proxy.internal")
            .allow_http(true)
            .build()
            .unwrap();
        assert_eq!(c.api_base(), ["http://proxy.internal"]);
        let e = base()
            .api_base("https://user:hunter2@api.weixin.qq.com")
            .build()
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("user name or password") && !e.contains("hunter2"),
            "{e}"
        );
    }

    #[test]
    fn the_secret_can_come_from_a_private_file() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("secret");
        let write = |text: &str, mode: u32| {
            std::fs::write(&f, text).unwrap();
            std::fs::set_permissions(&f, std::fs::Permissions::from_mode(mode)).unwrap();
        };
        write("from-file-secret\n", 0o600);
        let c = Config::builder()
            .appid("wx1")
            .secret_file(&f)
            .build()
            .unwrap();
        assert_eq!(c.secret().expose(), "from-file-secret");
        // The later source wins, in either form.
        let mut b = Config::builder().appid("wx1").secret_file(&f);
        b.set("WX_APPSECRET", "flag-secret").unwrap();
        assert_eq!(b.build().unwrap().secret().expose(), "flag-secret");
        for (text, mode, want) in [
            ("line1\nline2\n", 0o600, "more than one line"),
            ("from-file-secret\n", 0o644, "readable by every user"),
            ("", 0o600, "empty"),
            ("two words\n", 0o600, "whitespace"),
        ] {
            write(text, mode);
            let e = Config::builder()
                .appid("wx1")
                .secret_file(&f)
                .build()
                .unwrap_err();
            let msg = e.to_string();
            assert!(
                msg.contains(want) && msg.contains("WX_APPSECRET_FILE"),
                "{msg}"
            );
            assert!(
                !msg.contains("line1") && !msg.contains("two words"),
                "{msg}"
            );
            assert_eq!(e.kind(), crate::ErrorKind::Config);
        }
        let e = Config::builder()
            .appid("wx1")
            .secret_file(d.path().join("missing"))
            .build()
            .unwrap_err();
        assert!(e.to_string().contains("WX_APPSECRET_FILE"), "{e}");
    }

    #[test]
    fn lookup_fills_and_later_setters_override() {
        let env = |name: &str| -> Option<std::ffi::OsString> {
            match name {
                "WX_APPID" => Some("envid".into()),
                "WX_APPSECRET" => Some("envsecret".into()),
                "WX_API_BASE" => Some("http://127.0.0.1:1/, http://127.0.0.1:2".into()),
                "WX_HTTP_TIMEOUT" => Some("0.5".into()),
                "WX_TOKEN_MODE" => Some("stable".into()),
                "WX_PASSIVE" => Some("".into()),
                _ => None,
            }
        };
        let c = ConfigBuilder::from_lookup(env)
            .unwrap()
            .appid("flagid")
            .build()
            .unwrap();
        assert_eq!(c.appid(), "flagid");
        assert_eq!(c.secret().expose(), "envsecret");
        assert_eq!(c.api_base(), ["http://127.0.0.1:1", "http://127.0.0.1:2"]);
        assert_eq!(c.http_timeout(), Duration::from_millis(500));
        assert_eq!(c.mode(), Mode::Stable);
        assert!(!c.passive());
    }
}
