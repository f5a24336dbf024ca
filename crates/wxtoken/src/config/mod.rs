//! Settings: one set of names for every front end, one parser for every source.
//!
//! Every source (environment, CLI flags, PHP constants and ini entries, C
//! arguments) ends up in [`ConfigBuilder::set`] under the environment name of
//! the setting, so a value means the same thing wherever it was written. Later
//! calls override earlier ones, which is how precedence is expressed: apply the
//! weakest source first.

//!
//! - `builder.rs`: [`ConfigBuilder`], one slot per row of the settings table;
//! - `parse.rs`: the parsers of each setting's text;
//! - `secret.rs`: the secret, its file and its fingerprint;
//! - the store settings are parsed by [`StoreSpec`] (`store/spec.rs`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::settings::{default_value, parse_u64, SETTINGS};
use crate::store::spec::StoreSpec;

mod builder;
mod parse;
mod secret;

pub use builder::ConfigBuilder;
pub use secret::Secret;

/// Default token file, as in the legacy script (from the settings table).
pub const DEFAULT_TOKEN_FILE: &str = default_value("WX_TOKEN_FILE");
/// Default expiry file, as in the legacy script.
pub const DEFAULT_EXPIRY_FILE: &str = default_value("WX_EXPIRY_FILE");
/// Default prefix of the Redis keys.
pub const DEFAULT_REDIS_PREFIX: &str = default_value("WX_REDIS_PREFIX");
/// Default API base URLs: WeChat's main host, then its disaster-recovery
/// host, tried when the first cannot be reached.
pub const DEFAULT_API_BASE: &str = default_value("WX_API_BASE");
/// Default refresh margin: refresh this many seconds before expiry.
pub const DEFAULT_REFRESH_MARGIN: u64 = parse_u64(default_value("WX_REFRESH_MARGIN"));
/// Default API base for WeCom (`WX_PLATFORM=wecom`).
pub const DEFAULT_WECOM_API_BASE: &str = "https://qyapi.weixin.qq.com";
/// Default HTTP timeout.
pub const DEFAULT_HTTP_TIMEOUT: Duration =
    Duration::from_secs(parse_u64(default_value("WX_HTTP_TIMEOUT")));

/// Which WeChat platform the app is on: its endpoints, its error codes and
/// the identity of its credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Platform {
    /// Official accounts and mini programs (`api.weixin.qq.com`).
    #[default]
    Mp,
    /// WeCom (企业微信, `qyapi.weixin.qq.com`): the app id is the corp id,
    /// and an agent id names the app whose secret is configured.
    WeCom,
}

impl Platform {
    /// The name used in `WX_PLATFORM`.
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Mp => "mp",
            Platform::WeCom => "wecom",
        }
    }
}

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

/// A complete, validated configuration. Build one with [`Config::builder`] or
/// [`Config::from_env`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Config {
    appid: String,
    secret: Secret,
    platform: Platform,
    /// The WeCom app (agent) id; `None` on `mp`.
    agentid: Option<String>,
    /// Where every credential lives (files, Redis or a database).
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
    /// The platform.
    pub fn platform(&self) -> Platform {
        self.platform
    }
    /// The WeCom agent id (`None` on `mp`).
    pub fn agentid(&self) -> Option<&str> {
        self.agentid.as_deref()
    }
    /// What identifies this app's credentials in stores, failure notes and
    /// logs: the app id, or for WeCom `corpid:agentid` (a corp has many
    /// apps, each with its own secret and token, and two must never share
    /// or retire each other's).
    pub fn app_key(&self) -> String {
        match &self.agentid {
            Some(agent) => format!("{}:{agent}", self.appid),
            None => self.appid.clone(),
        }
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
                let secret = secret::read_secret_file(path)?;
                secret::check_secret(&secret, "WX_APPSECRET_FILE")?;
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
        match self.current_secret() {
            Ok(secret) => secret::fingerprint(&self.app_key(), &secret),
            Err(_) => String::new(),
        }
    }
    /// Whether `http://` to a host other than loopback was allowed.
    pub fn allow_http(&self) -> bool {
        self.allow_http
    }

    /// The effective settings as `(environment name, value)` pairs, secret
    /// and passwords masked, one per row of the settings table and in its
    /// order; for `phpinfo()`, `wxtoken status` and diagnostics.
    pub fn describe(&self) -> Vec<(&'static str, String)> {
        let store = self.store.describe();
        SETTINGS
            .iter()
            .map(|s| {
                let shown = store
                    .iter()
                    .find(|(name, _)| *name == s.env)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_else(|| self.shown(s.env));
                (s.env, shown)
            })
            .collect()
    }

    /// One setting's effective value as `describe` shows it (the store's
    /// settings are shown by the [`StoreSpec`]).
    fn shown(&self, env: &str) -> String {
        let path =
            |p: Option<&Path>, none: &str| p.map_or(none.to_string(), |p| p.display().to_string());
        let switch = |on: bool| if on { "1" } else { "0" }.to_string();
        match env {
            "WX_APPID" => self.appid.clone(),
            "WX_APPSECRET" => "***".to_string(),
            "WX_API_BASE" => self.api_base.join(","),
            "WX_REFRESH_MARGIN" => self.refresh_margin.to_string(),
            "WX_TOKEN_MODE" => self.mode.as_str().to_string(),
            "WX_HTTP_TIMEOUT" => format!("{}", self.http_timeout.as_secs_f64()),
            "WX_PASSIVE" => switch(self.passive),
            "WX_CA_FILE" => path(self.ca_file.as_deref(), "(system roots)"),
            "WX_APPSECRET_FILE" => path(self.secret_file.as_deref(), "(none)"),
            "WX_ALLOW_HTTP" => switch(self.allow_http),
            "WX_PLATFORM" => self.platform.as_str().to_string(),
            "WX_AGENTID" => self.agentid.clone().unwrap_or_else(|| "(none)".into()),
            _ => "(unknown)".to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::settings::SETTING_NAMES;

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
        let with_redis = base().redis_url("redis://u:redis-pw-42@127.0.0.1:6379/0");
        assert!(!format!("{with_redis:?}").contains("redis-pw-42"));
        assert!(!format!("{:?}", with_redis.build().unwrap()).contains("redis-pw-42"));
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
