//! The daemon's config file: TOML, one `[[app]]` table per app, with the
//! settings' names in lower case (as in DESIGN.md):
//!
//! ```toml
//! [[app]]
//! appid = "wx0123456789abcdef"
//! appsecret_file = "/etc/wxtoken/wx0123456789abcdef.secret"   # never inline
//! token_file = "/var/lib/wxtoken/wx0123456789abcdef/token.txt"
//! expiry_file = "/var/lib/wxtoken/wx0123456789abcdef/expiry.txt"
//! # redis_url = "redis://127.0.0.1:6379/0"
//! # publish = ["wxjava", "silenceper", "wechatpy"]   # other SDKs' Redis keys
//! ```
//!
//! Every value is checked by the same `ConfigBuilder` as the environment and
//! the flags, so a setting means the same thing everywhere.
//!
//! The file decides where each secret is sent (`api_base`), so it is read
//! like a secret file: a bounded read of a regular file (a FIFO or
//! `/dev/zero` there is refused, not read forever), refused when another
//! user owns it or anyone but its owner may write it. One appid in two
//! tables would be two refreshers retiring each other's tokens: refused.

use std::collections::HashMap;
use std::path::Path;

use wxtoken::{Config, ConfigBuilder, Error, Result};

use super::publish::{Publish, Sdk};

/// The TOML key of a setting: from the core's table (`Setting::toml`). The
/// secret has none on purpose: a secret in a config file ends up in backups
/// and editors; it goes in `appsecret_file`. Nor has `passive`: the refresher
/// is the one that fetches.
fn setting_for(key: &str) -> Option<&'static str> {
    wxtoken::SETTINGS
        .iter()
        .find(|s| s.toml == Some(key))
        .map(|s| s.env)
}

/// The largest config file read: ample for 10,000 apps.
const MAX_CONFIG_LEN: u64 = 64 << 20;

/// One app the daemon keeps fresh.
#[derive(Debug, PartialEq, Eq)]
pub struct App {
    /// Its settings.
    pub config: Config,
    /// The same, passive: how the daemon reads what readers read.
    pub reader_config: Config,
    /// Where else to publish its token, if anywhere.
    pub publish: Option<Publish>,
}

fn bad(file: &Path, what: String) -> Error {
    Error::Config(format!("{}: {what}", file.display()))
}

/// A scalar TOML value as the text a setting takes.
fn text(v: &toml::Value) -> Option<String> {
    match v {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Integer(i) => Some(i.to_string()),
        toml::Value::Float(f) => Some(f.to_string()),
        toml::Value::Boolean(b) => Some(if *b { "1" } else { "0" }.into()),
        _ => None,
    }
}

/// Reads and checks the config file.
pub fn load(file: &Path) -> Result<Vec<App>> {
    let raw = wxtoken::read_trusted_setting_file(file, "daemon config", MAX_CONFIG_LEN)?;
    let raw = String::from_utf8(raw).map_err(|_| bad(file, "not valid UTF-8".into()))?;
    let doc: toml::Table = raw
        .parse()
        .map_err(|e: toml::de::Error| bad(file, format!("not valid TOML: {}", e.message())))?;
    for key in doc.keys() {
        if key != "app" {
            return Err(bad(
                file,
                format!("unknown top-level key {key:?} (expected [[app]] tables)"),
            ));
        }
    }
    let tables = match doc.get("app") {
        Some(toml::Value::Array(a)) if !a.is_empty() => a,
        _ => return Err(bad(file, "no [[app]] table".into())),
    };
    let mut apps = Vec::new();
    // Each app's id and store, with the table that named it first.
    let mut appids: HashMap<String, usize> = HashMap::new();
    let mut stores: HashMap<String, usize> = HashMap::new();
    for (i, t) in tables.iter().enumerate() {
        let n = i + 1;
        let toml::Value::Table(t) = t else {
            return Err(bad(file, format!("app #{n} is not a table")));
        };
        let app = app(t).map_err(|e| bad(file, format!("app #{n}: {e}")))?;
        if let Some(first) = appids.insert(app.config.appid().to_string(), n) {
            return Err(bad(
                file,
                format!(
                    "app #{n} has the same appid as app #{first}: two refreshers of one app \
                     retire each other's tokens (keep one table per appid)"
                ),
            ));
        }
        if let Some(first) = stores.insert(store_of(&app.config), n) {
            return Err(bad(
                file,
                format!("app #{n} uses the same store as app #{first}"),
            ));
        }
        apps.push(app);
    }
    Ok(apps)
}

/// Where an app's token lives, as a comparable name.
fn store_of(c: &Config) -> String {
    match c.redis_url() {
        Some(url) => format!("redis {url} {} {}", c.redis_prefix(), c.appid()),
        None => {
            let p = c.token_file();
            format!(
                "files {}",
                std::path::absolute(p).unwrap_or(p.into()).display()
            )
        }
    }
}

fn app(t: &toml::Table) -> Result<App> {
    let mut builder = ConfigBuilder::default();
    let mut publish = Vec::new();
    let mut publish_url = None;
    let mut prefixes = (None, None);
    for (key, value) in t {
        match key.as_str() {
            "appsecret" => {
                return Err(Error::Config(
                    "the secret may not be written in the config file: put it in a file \
                     readable only by the daemon's user and name it in appsecret_file"
                        .into(),
                ))
            }
            "passive" => {
                return Err(Error::Config(
                    "passive makes no sense for the refresher".into(),
                ))
            }
            "publish" => {
                let list = value.as_array().ok_or_else(|| {
                    Error::Config("publish must be a list, e.g. [\"wxjava\", \"wechatpy\"]".into())
                })?;
                for v in list {
                    let name = v.as_str().unwrap_or_default();
                    publish.push(Sdk::from_name(name).ok_or_else(|| {
                        Error::Config(format!(
                            "publish: unknown SDK {name:?} (wxjava, silenceper, wechatpy)"
                        ))
                    })?);
                }
            }
            "publish_redis_url" => publish_url = text(value),
            "wxjava_prefix" => prefixes.0 = text(value),
            "wechatpy_prefix" => prefixes.1 = text(value),
            key => {
                let setting = setting_for(key)
                    .ok_or_else(|| Error::Config(format!("unknown setting {key:?}")))?;
                let v = text(value).ok_or_else(|| {
                    Error::Config(format!("{key} must be a string, number or boolean"))
                })?;
                builder.set(setting, &v)?;
            }
        }
    }
    if !t.contains_key("appsecret_file") {
        return Err(Error::Config("appsecret_file is required".into()));
    }
    let reader_config = builder.clone().passive(true).build()?;
    let config = builder.build()?;
    let publish = if publish.is_empty() {
        None
    } else {
        let url = publish_url
            .or_else(|| config.redis_url().map(str::to_string))
            .ok_or_else(|| {
                Error::Config(
                    "publish needs a Redis server: set redis_url or publish_redis_url".into(),
                )
            })?;
        Some(Publish::new(
            &url, publish, prefixes.0, prefixes.1, &config,
        )?)
    };
    Ok(App {
        config,
        reader_config,
        publish,
    })
}
