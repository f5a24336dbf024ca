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

use wxtoken::{Config, ConfigBuilder, Error, Platform, Result, TicketKind};

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
    /// The JS-SDK tickets kept fresh with the token (`tickets = ["jsapi"]`).
    pub tickets: Vec<TicketKind>,
}

/// A configuration error's text without its "configuration error: "
/// prefix, for wrapping it in another (other errors as they are).
fn inner(e: &Error) -> String {
    match e {
        Error::Config(text) => text.clone(),
        other => other.to_string(),
    }
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
        let app = app(t).map_err(|e| bad(file, format!("app #{n}: {}", inner(&e))))?;
        if let Some(first) = appids.insert(app.config.app_key(), n) {
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
    match (c.redis_url(), c.store().database()) {
        (Some(url), _) => format!("redis {url} {} {}", c.redis_prefix(), c.app_key()),
        (None, Some(db)) => format!("database {} {} {}", db.shown_url(), db.table(), c.app_key()),
        (None, None) => {
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
    let mut tickets = Vec::new();
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
            "tickets" => {
                let list = value.as_array().ok_or_else(|| {
                    Error::Config("tickets must be a list, e.g. [\"jsapi\"]".into())
                })?;
                // Checked against the platform once the settings are built.
                for v in list {
                    tickets.push(v.as_str().unwrap_or_default().to_string());
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
    let tickets = tickets
        .iter()
        .map(|name| TicketKind::parse_for(name, config.platform()))
        .collect::<Result<Vec<_>>>()
        .map_err(|e| Error::Config(format!("tickets: {}", inner(&e))))?;
    if config.platform() == Platform::WeCom && !publish.is_empty() {
        return Err(Error::Config(
            "publish is for official accounts and mini programs: the other SDKs' keys have no \
             place for a WeCom app's agent"
                .into(),
        ));
    }
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
        tickets,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn load_text(text: &str) -> Result<Vec<App>> {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("secret");
        std::fs::write(&secret, "s3cret_value\n").unwrap();
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
        let file = dir.path().join("daemon.toml");
        let text = text
            .replace("SECRET", &secret.display().to_string())
            .replace("DIR", &dir.path().display().to_string());
        std::fs::write(&file, text).unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        load(&file)
    }

    const WECOM_APP: &str = r#"
[[app]]
appid = "ww_corp"
platform = "wecom"
agentid = "AGENT"
appsecret_file = "SECRET"
token_file = "DIR/AGENT/token.txt"
expiry_file = "DIR/AGENT/expiry.txt"
tickets = ["corp", "agent"]
"#;

    #[test]
    fn two_apps_of_one_corp_are_two_apps_and_one_agent_twice_is_refused() {
        let two = format!(
            "{}{}",
            WECOM_APP.replace("AGENT", "1000002"),
            WECOM_APP.replace("AGENT", "1000003")
        );
        let apps = load_text(&two).unwrap();
        assert_eq!(apps.len(), 2);
        assert_eq!(apps[0].tickets, [TicketKind::Corp, TicketKind::Agent]);
        let twice = format!(
            "{}{}",
            WECOM_APP.replace("AGENT", "1000002"),
            WECOM_APP
                .replace("AGENT", "1000002")
                .replace("DIR/1000002/", "DIR/other/")
        );
        let e = load_text(&twice).unwrap_err().to_string();
        assert!(e.contains("same appid as app #1"), "{e}");
    }

    #[test]
    fn tickets_must_be_the_platforms() {
        let e = load_text(
            &WECOM_APP
                .replace("AGENT", "7")
                .replace("\"corp\"", "\"wx_card\""),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("tickets") && e.contains("wx_card"), "{e}");
    }
}
