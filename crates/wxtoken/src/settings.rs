//! The one table of settings: each setting's names in every front end (the
//! environment, the PHP constant and ini entry, the CLI flag, the daemon's
//! config key), its default and a line of documentation.
//!
//! Everything else is derived from it: the environment names
//! [`ConfigBuilder::from_env`](crate::ConfigBuilder::from_env) reads, the PHP
//! extension's ini entries and `phpinfo()` rows, the CLI's flags and their
//! help, the daemon's config keys, and the README's configuration table (a
//! test fails when the README is stale), the builder's storage and
//! [`ConfigBuilder::set`](crate::ConfigBuilder::set), the defaults (and the
//! `DEFAULT_*` constants), and the order of `Config::describe`. Adding a
//! setting means adding a row here, reading it in `ConfigBuilder::build`
//! and showing it in `Config::describe`.

use std::ffi::CStr;

/// How a CLI flag takes its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagValue {
    /// `--flag VALUE` or `--flag=VALUE`.
    Required,
    /// A switch: `--flag` means 1, `--flag=0` turns it off.
    Switch,
}

/// One setting under each of its names.
#[derive(Debug, Clone, Copy)]
pub struct Setting {
    /// Environment name, which is also the core's name for it (`WX_APPID`).
    pub env: &'static str,
    /// The PHP ini entry (`wxtoken.appid`), as PHP's ini API takes it.
    pub ini: &'static CStr,
    /// The legacy script's PHP constant, for the four it had.
    pub constant: Option<&'static str>,
    /// The `wxtoken` command's flag, without the dashes; `None`: no flag.
    pub flag: Option<&'static str>,
    /// How the flag takes its value.
    pub flag_value: FlagValue,
    /// The key in `wxtoken daemon`'s config file; `None`: not allowed there.
    pub toml: Option<&'static str>,
    /// What it is, for help texts and the README.
    pub doc: &'static str,
    /// The default in words, as the README shows it; `""`: the
    /// [`value`](Self::value) in backticks, or "none".
    pub default: &'static str,
    /// The default value, as text the setting's own parser reads: the one
    /// place a default is written (the `DEFAULT_*` constants are derived
    /// from it).
    pub value: Option<&'static str>,
    /// A setting that setting this one clears: the secret and its file
    /// replace each other, so the later (stronger) source wins in either
    /// form.
    pub replaces: Option<&'static str>,
}

impl Setting {
    /// The ini entry's name as text.
    pub fn ini_name(&self) -> &'static str {
        self.ini.to_str().unwrap_or("")
    }
}

const fn setting(env: &'static str, ini: &'static CStr, doc: &'static str) -> Setting {
    Setting {
        env,
        ini,
        constant: None,
        flag: None,
        flag_value: FlagValue::Required,
        toml: None,
        doc,
        default: "",
        value: None,
        replaces: None,
    }
}

/// The default value of the setting named `env`, at compile time.
pub const fn default_value(env: &str) -> &'static str {
    match SETTINGS[setting_index(env)].value {
        Some(v) => v,
        None => panic!("this setting has no default value"),
    }
}

/// A decimal number at compile time (the defaults of numeric settings).
pub const fn parse_u64(text: &str) -> u64 {
    let b = text.as_bytes();
    let mut n = 0u64;
    let mut i = 0;
    while i < b.len() {
        assert!(b[i].is_ascii_digit(), "not a decimal number");
        n = n * 10 + (b[i] - b'0') as u64;
        i += 1;
    }
    n
}

/// Number of settings.
pub const SETTING_COUNT: usize = 19;

/// Every setting, in DESIGN.md's order.
pub const SETTINGS: [Setting; SETTING_COUNT] = [
    Setting {
        constant: Some("APPID"),
        flag: Some("appid"),
        toml: Some("appid"),
        default: "required",
        ..setting("WX_APPID", c"wxtoken.appid", "app id")
    },
    Setting {
        constant: Some("APPSECRET"),
        flag: Some("secret"),
        default: "required (or the file below)",
        replaces: Some("WX_APPSECRET_FILE"),
        ..setting("WX_APPSECRET", c"wxtoken.appsecret", "app secret")
    },
    Setting {
        constant: Some("TOKENFILE"),
        flag: Some("token-file"),
        toml: Some("token_file"),
        value: Some("token.txt"),
        ..setting("WX_TOKEN_FILE", c"wxtoken.token_file", "token file")
    },
    Setting {
        constant: Some("EXPIRY"),
        flag: Some("expiry-file"),
        toml: Some("expiry_file"),
        value: Some("expiry.txt"),
        ..setting("WX_EXPIRY_FILE", c"wxtoken.expiry_file", "expiry file")
    },
    Setting {
        flag: Some("api-base"),
        toml: Some("api_base"),
        value: Some("https://api.weixin.qq.com,https://api2.weixin.qq.com"),
        ..setting(
            "WX_API_BASE",
            c"wxtoken.api_base",
            "API base URL(s), comma-separated, tried in order",
        )
    },
    Setting {
        flag: Some("margin"),
        toml: Some("refresh_margin"),
        value: Some("300"),
        ..setting(
            "WX_REFRESH_MARGIN",
            c"wxtoken.refresh_margin",
            "refresh margin, seconds (below 7200)",
        )
    },
    Setting {
        flag: Some("mode"),
        toml: Some("mode"),
        value: Some("token"),
        ..setting("WX_TOKEN_MODE", c"wxtoken.mode", "endpoint: `token` or `stable`")
    },
    Setting {
        flag: Some("timeout"),
        toml: Some("http_timeout"),
        value: Some("10"),
        ..setting(
            "WX_HTTP_TIMEOUT",
            c"wxtoken.http_timeout",
            "Time a whole call may take when it fetches or waits for a fetch, seconds (decimals allowed, at most 300)",
        )
    },
    Setting {
        flag: Some("redis-url"),
        toml: Some("redis_url"),
        default: "none: files",
        ..setting(
            "WX_REDIS_URL",
            c"wxtoken.redis_url",
            "shared store: `redis://[user:pass@]host[:port][/db]`, `redis+sentinel://[user:pass@]h:p[,h:p]/MASTER[/db]`, `redis+cluster://[user:pass@]h:p[,h:p]`; `rediss…` for TLS (see Redis below)",
        )
    },
    Setting {
        flag: Some("passive"),
        flag_value: FlagValue::Switch,
        default: "off",
        value: Some("0"),
        ..setting("WX_PASSIVE", c"wxtoken.passive", "read only, never fetch")
    },
    Setting {
        flag: Some("ca-file"),
        toml: Some("ca_file"),
        default: "none: system roots",
        ..setting("WX_CA_FILE", c"wxtoken.ca_file", "extra trusted CA bundle (PEM)")
    },
    Setting {
        flag: Some("secret-file"),
        toml: Some("appsecret_file"),
        replaces: Some("WX_APPSECRET"),
        ..setting(
            "WX_APPSECRET_FILE",
            c"wxtoken.appsecret_file",
            "app secret read from a file (first line; not world-readable)",
        )
    },
    Setting {
        flag: Some("allow-http"),
        flag_value: FlagValue::Switch,
        toml: Some("allow_http"),
        default: "off: refused",
        value: Some("0"),
        ..setting(
            "WX_ALLOW_HTTP",
            c"wxtoken.allow_http",
            "allow `http://` to a host other than loopback (sends the secret in clear)",
        )
    },
    Setting {
        flag: Some("redis-prefix"),
        toml: Some("redis_prefix"),
        value: Some("wxtoken"),
        ..setting("WX_REDIS_PREFIX", c"wxtoken.redis_prefix", "Redis key prefix")
    },
    Setting {
        flag: Some("ticket-dir"),
        toml: Some("ticket_dir"),
        default: "the token file's directory",
        ..setting(
            "WX_TICKET_DIR",
            c"wxtoken.ticket_dir",
            "directory of the JS-SDK ticket files (`jsapi_ticket.txt`, ...)",
        )
    },
    Setting {
        flag: Some("platform"),
        toml: Some("platform"),
        value: Some("mp"),
        ..setting(
            "WX_PLATFORM",
            c"wxtoken.platform",
            "`mp` (official accounts, mini programs) or `wecom` (WeCom: `WX_APPID` is the corp id)",
        )
    },
    Setting {
        flag: Some("agentid"),
        toml: Some("agentid"),
        default: "required for `wecom`",
        ..setting(
            "WX_AGENTID",
            c"wxtoken.agentid",
            "WeCom app (agent) id, whose secret `WX_APPSECRET` is",
        )
    },
    Setting {
        flag: Some("database-url"),
        toml: Some("database_url"),
        default: "none: files",
        ..setting(
            "WX_DATABASE_URL",
            c"wxtoken.database_url",
            "shared store in MySQL/MariaDB or PostgreSQL: `mysql://user:pass@host[:port]/db`, `postgres://...`, `?sslmode=require` for TLS (see Database below)",
        )
    },
    Setting {
        flag: Some("database-prefix"),
        toml: Some("database_prefix"),
        value: Some("wxtoken"),
        ..setting(
            "WX_DATABASE_PREFIX",
            c"wxtoken.database_prefix",
            "database table prefix (the table is `PREFIX_credentials`)",
        )
    },
];

/// The environment names of all settings, in the table's order.
pub const SETTING_NAMES: [&str; SETTING_COUNT] = {
    let mut names = [""; SETTING_COUNT];
    let mut i = 0;
    while i < SETTING_COUNT {
        names[i] = SETTINGS[i].env;
        i += 1;
    }
    names
};

/// The setting with this environment name.
pub fn setting_named(env: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.env == env)
}

/// The index of the setting with this environment name, at compile time
/// (front ends keep per-setting arrays in the table's order).
pub const fn setting_index(env: &str) -> usize {
    let mut i = 0;
    while i < SETTING_COUNT {
        if const_eq(SETTINGS[i].env, env) {
            return i;
        }
        i += 1;
    }
    panic!("no such setting")
}

const fn const_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// The README's configuration table, in Markdown, from [`SETTINGS`]. The
/// table in README.md must equal this (`crates/wxtoken/tests/readme.rs`).
pub fn settings_markdown() -> String {
    let mut out = String::from(
        "| setting | environment | PHP (constant, then ini) | CLI flag | default |\n|---|---|---|---|---|\n",
    );
    for s in &SETTINGS {
        let env = match s.flag_value {
            FlagValue::Switch => format!("`{}=1`", s.env),
            FlagValue::Required => format!("`{}`", s.env),
        };
        let php = match s.constant {
            Some(c) => format!("`{c}`, `{}`", s.ini_name()),
            None => format!("`{}`", s.ini_name()),
        };
        let flag = s.flag.map(|f| format!("`--{f}`")).unwrap_or_default();
        let default = match (s.default, s.value) {
            ("", Some(v)) => format!("`{v}`"),
            ("", None) => "none".to_string(),
            (words, _) => words.to_string(),
        };
        out.push_str(&format!(
            "| {} | {env} | {php} | {flag} | {default} |\n",
            s.doc
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_consistent() {
        for (i, s) in SETTINGS.iter().enumerate() {
            assert_eq!(setting_index(s.env), i);
            assert!(s.env.starts_with("WX_"), "{}", s.env);
            assert!(s.ini_name().starts_with("wxtoken."), "{}", s.env);
            for other in &SETTINGS[i + 1..] {
                assert_ne!(s.env, other.env);
                assert_ne!(s.ini_name(), other.ini_name());
                assert!(s.flag.is_none() || s.flag != other.flag);
                assert!(s.toml.is_none() || s.toml != other.toml);
            }
        }
        assert_eq!(setting_named("WX_MODE").map(|s| s.env), None);
        assert_eq!(setting_named("WX_TOKEN_MODE").unwrap().flag, Some("mode"));
    }
}
