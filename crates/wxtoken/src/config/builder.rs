//! [`ConfigBuilder`]: collects settings from any number of sources, by their
//! environment names, in one slot per row of the settings table, then checks
//! them all at once in [`ConfigBuilder::build`].

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use super::secret::{check_secret, read_secret_file, Secret};
use super::{parse, Config, Mode, Platform, DEFAULT_WECOM_API_BASE};
use crate::error::{Error, Result};
use crate::settings::{setting_index, SETTINGS, SETTING_COUNT, SETTING_NAMES};
use crate::store::spec::{StoreGiven, StoreSpec};

/// A typed value from a setter: checked, never turned into text and back
/// (a `Duration` of 1/3 s has no exact decimal form).
#[derive(Clone, Copy, Debug)]
enum Typed {
    Bool(bool),
    Secs(u64),
    Duration(Duration),
    Mode(Mode),
}

/// A setting as a source gave it: text from the environment, an ini entry or
/// a flag (parsed in `build`), or a typed value from a setter.
#[derive(Clone)]
enum Given {
    Text(String),
    Path(PathBuf),
    Typed(Typed),
}

/// Collects settings from any number of sources, then validates them once.
#[derive(Clone, Default)]
pub struct ConfigBuilder {
    /// One slot per setting, in the table's order.
    given: [Option<Given>; SETTING_COUNT],
}

impl fmt::Debug for ConfigBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("ConfigBuilder");
        for (name, given) in SETTING_NAMES.iter().zip(&self.given) {
            match given {
                None => {}
                // Never the secret, whatever the setting.
                Some(_) if *name == "WX_APPSECRET" => {
                    d.field(name, &"***");
                }
                // Nor a Redis password.
                Some(Given::Text(t)) if *name == "WX_REDIS_URL" => {
                    d.field(name, &crate::store::redis_pool::mask_url(t));
                }
                // Nor a database password.
                Some(Given::Text(t)) if *name == "WX_DATABASE_URL" => {
                    d.field(name, &crate::store::db_pool::mask_db_url(t));
                }
                Some(Given::Text(t)) => {
                    d.field(name, t);
                }
                Some(Given::Path(p)) => {
                    d.field(name, p);
                }
                Some(Given::Typed(t)) => {
                    d.field(name, t);
                }
            }
        }
        d.finish()
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
    /// Values are checked when [`build`](Self::build) runs, so every source
    /// reports errors the same way; unknown names are an error here.
    pub fn set(&mut self, name: &str, value: &str) -> Result<&mut Self> {
        let i = SETTING_NAMES
            .iter()
            .position(|n| *n == name)
            .ok_or_else(|| {
                Error::Config(format!(
                    "unknown setting {}",
                    name.chars().take(64).collect::<String>()
                ))
            })?;
        self.put(i, Given::Text(value.to_string()));
        Ok(self)
    }

    fn put(&mut self, i: usize, given: Given) {
        self.given[i] = Some(given);
        if let Some(other) = SETTINGS[i].replaces {
            self.given[setting_index(other)] = None;
        }
    }

    fn with(mut self, env: &str, given: Given) -> Self {
        self.put(setting_index(env), given);
        self
    }

    fn text(self, env: &str, value: impl Into<String>) -> Self {
        self.with(env, Given::Text(value.into()))
    }

    /// App id (required).
    pub fn appid(self, appid: impl Into<String>) -> Self {
        self.text("WX_APPID", appid)
    }
    /// App secret (required unless passive, or [`secret_file`](Self::secret_file)).
    pub fn secret(self, secret: impl Into<String>) -> Self {
        self.text("WX_APPSECRET", secret)
    }
    /// Reads the app secret from the first line of a file, which must be a
    /// regular file not readable by every user (the way to keep the secret
    /// out of the environment, `ps` and `phpinfo()`).
    pub fn secret_file(self, path: impl Into<PathBuf>) -> Self {
        self.path("WX_APPSECRET_FILE", path)
    }
    /// Allows `http://` API bases on hosts other than loopback, which sends
    /// the secret in clear text (default: refused).
    pub fn allow_http(self, allow: bool) -> Self {
        self.with("WX_ALLOW_HTTP", Given::Typed(Typed::Bool(allow)))
    }
    /// Token file path (default `token.txt`).
    pub fn token_file(self, path: impl Into<PathBuf>) -> Self {
        self.path("WX_TOKEN_FILE", path)
    }
    /// Expiry file path (default `expiry.txt`).
    pub fn expiry_file(self, path: impl Into<PathBuf>) -> Self {
        self.path("WX_EXPIRY_FILE", path)
    }
    /// API base URL(s), comma-separated, tried in order.
    pub fn api_base(self, bases: impl Into<String>) -> Self {
        self.text("WX_API_BASE", bases)
    }
    /// Refresh margin in seconds (default 300).
    pub fn refresh_margin(self, secs: u64) -> Self {
        self.with("WX_REFRESH_MARGIN", Given::Typed(Typed::Secs(secs)))
    }
    /// Token endpoint (default [`Mode::Token`]).
    pub fn mode(self, mode: Mode) -> Self {
        self.with("WX_TOKEN_MODE", Given::Typed(Typed::Mode(mode)))
    }
    /// HTTP timeout for a whole fetch (default 10 s).
    pub fn http_timeout(self, timeout: Duration) -> Self {
        self.with("WX_HTTP_TIMEOUT", Given::Typed(Typed::Duration(timeout)))
    }
    /// Redis URL for a shared store: `redis://[user:pass@]host[:port][/db]`,
    /// or `rediss://` for TLS.
    pub fn redis_url(self, url: impl Into<String>) -> Self {
        self.text("WX_REDIS_URL", url)
    }
    /// Database URL for a shared store: `mysql://user:pass@host[:port]/db`
    /// (MySQL 8, MariaDB 10.6+) or `postgres://user:pass@host[:port]/db`
    /// (PostgreSQL 13+); `?sslmode=require` for TLS.
    pub fn database_url(self, url: impl Into<String>) -> Self {
        self.text("WX_DATABASE_URL", url)
    }
    /// Prefix of the database table's name (default `wxtoken`: the table
    /// is `wxtoken_credentials`).
    pub fn database_prefix(self, prefix: impl Into<String>) -> Self {
        self.text("WX_DATABASE_PREFIX", prefix)
    }
    /// The `CREATE TABLE` of the database store's table, as `wxtoken
    /// db-schema` prints it: for `dialect` (`mysql` or `postgres`) or, when
    /// none is named, for the database `WX_DATABASE_URL` names; the table
    /// named by `WX_DATABASE_PREFIX`. Needs no other setting.
    pub fn database_schema(&self, dialect: Option<&str>) -> Result<String> {
        crate::store::database::database_schema(
            dialect,
            self.given_text("WX_DATABASE_URL"),
            self.given_text("WX_DATABASE_PREFIX"),
        )
    }
    /// Prefix of the Redis keys (default `wxtoken`).
    pub fn redis_prefix(self, prefix: impl Into<String>) -> Self {
        self.text("WX_REDIS_PREFIX", prefix)
    }
    /// Never fetch; only read what others cached.
    pub fn passive(self, passive: bool) -> Self {
        self.with("WX_PASSIVE", Given::Typed(Typed::Bool(passive)))
    }
    /// Extra trusted CA bundle (PEM).
    pub fn ca_file(self, path: impl Into<PathBuf>) -> Self {
        self.path("WX_CA_FILE", path)
    }
    /// The platform (default [`Platform::Mp`]).
    pub fn platform(self, platform: Platform) -> Self {
        self.text("WX_PLATFORM", platform.as_str())
    }
    /// The WeCom agent id (required with [`Platform::WeCom`]).
    pub fn agentid(self, agentid: impl Into<String>) -> Self {
        self.text("WX_AGENTID", agentid)
    }
    /// Directory of the JS-SDK ticket files (default: the token file's).
    pub fn ticket_dir(self, path: impl Into<PathBuf>) -> Self {
        self.path("WX_TICKET_DIR", path)
    }

    fn path(self, env: &str, path: impl Into<PathBuf>) -> Self {
        self.with(env, Given::Path(path.into()))
    }

    /// The text given for `env`, if any (a typed value has none).
    fn given_text(&self, env: &str) -> Option<&str> {
        match &self.given[setting_index(env)] {
            Some(Given::Text(t)) => Some(t),
            _ => None,
        }
    }

    /// A path setting, as text or as a path; `None` when not given.
    fn given_path(&self, env: &str) -> Result<Option<PathBuf>> {
        Ok(match &self.given[setting_index(env)] {
            Some(Given::Text(t)) => Some(PathBuf::from(t)),
            Some(Given::Path(p)) => Some(p.clone()),
            _ => None,
        })
    }

    /// The value of `env`: typed as a setter gave it, else its text (or the
    /// table's default) through `parse`.
    fn value<T>(
        &self,
        env: &str,
        parse: impl FnOnce(&str) -> Result<T>,
        typed: impl FnOnce(Typed) -> Option<Result<T>>,
    ) -> Result<T> {
        let i = setting_index(env);
        match &self.given[i] {
            Some(Given::Typed(t)) => typed(*t).expect("each setter gives its own type"),
            Some(Given::Text(s)) => parse(s),
            Some(Given::Path(p)) => parse(&p.to_string_lossy()),
            None => parse(SETTINGS[i].value.unwrap_or("")),
        }
    }

    fn flag(&self, env: &str, label: &str) -> Result<bool> {
        self.value(
            env,
            |s| parse::flag(s, label, env),
            |t| match t {
                Typed::Bool(b) => Some(Ok(b)),
                _ => None,
            },
        )
    }

    /// Validates everything and returns the configuration, or an error naming
    /// the first bad setting (never echoing the secret).
    pub fn build(self) -> Result<Config> {
        let appid = parse::appid(self.given_text("WX_APPID"))?;
        let platform = self.value("WX_PLATFORM", parse::platform, |_| None)?;
        let agentid = parse::agentid(self.given_text("WX_AGENTID"), platform)?;
        let passive = self.flag("WX_PASSIVE", "passive")?;
        let secret_file = self.given_path("WX_APPSECRET_FILE")?;
        let secret = match (self.given_text("WX_APPSECRET"), &secret_file) {
            // A passive reader never fetches, so it needs no secret: the
            // secret can stay with the refresher alone. `current_secret`
            // refuses to hand out the empty one.
            (None, None) if passive => String::new(),
            (Some(""), None) if passive => String::new(),
            (Some(s), _) => {
                check_secret(s, "WX_APPSECRET")?;
                s.to_string()
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
        let ca_file = self
            .given_path("WX_CA_FILE")?
            .filter(|p| !p.as_os_str().is_empty());
        let store = StoreSpec::parse(StoreGiven {
            token_file: self.given_path("WX_TOKEN_FILE")?,
            expiry_file: self.given_path("WX_EXPIRY_FILE")?,
            ticket_dir: self.given_path("WX_TICKET_DIR")?,
            redis_url: self.given_text("WX_REDIS_URL").map(str::to_string),
            redis_prefix: self.given_text("WX_REDIS_PREFIX").map(str::to_string),
            ca_file: ca_file.clone(),
            database_url: self.given_text("WX_DATABASE_URL").map(str::to_string),
            database_prefix: self.given_text("WX_DATABASE_PREFIX").map(str::to_string),
            // A corp's apps share a corp id: the agent id keeps their
            // default files apart.
            file_suffix: agentid.clone(),
            app_id: appid.clone(),
        })?;
        let allow_http = self.flag("WX_ALLOW_HTTP", "allow http")?;
        let api_base = match (platform, self.given_text("WX_API_BASE")) {
            (Platform::WeCom, None) => parse::api_base(DEFAULT_WECOM_API_BASE, allow_http)?,
            _ => self.value("WX_API_BASE", |s| parse::api_base(s, allow_http), |_| None)?,
        };
        let refresh_margin = self.value("WX_REFRESH_MARGIN", parse::margin, |t| match t {
            Typed::Secs(m) => Some(parse::check_margin(m)),
            _ => None,
        })?;
        let mode = self.value("WX_TOKEN_MODE", parse::mode, |t| match t {
            Typed::Mode(m) => Some(Ok(m)),
            _ => None,
        })?;
        if platform == Platform::WeCom && mode == Mode::Stable {
            return Err(Error::Config(
                "WeCom has no stable_token endpoint; leave WX_TOKEN_MODE at token (WX_TOKEN_MODE)"
                    .into(),
            ));
        }
        let http_timeout = self.value("WX_HTTP_TIMEOUT", parse::timeout, |t| match t {
            Typed::Duration(d) => Some(parse::check_timeout(d)),
            _ => None,
        })?;
        Ok(Config {
            appid,
            secret: Secret(secret),
            platform,
            agentid,
            store,
            api_base,
            refresh_margin,
            mode,
            http_timeout,
            passive,
            ca_file,
            secret_file: secret_file.filter(|_| self.given_text("WX_APPSECRET").is_none()),
            allow_http,
        })
    }
}
