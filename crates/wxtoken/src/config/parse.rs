//! Parsers of the settings' text, each naming its setting in its error and
//! never echoing a secret or a password.

use std::time::Duration;

use crate::config::{Mode, Platform};
use crate::error::{Error, Result};

/// The longest token lifetime WeChat hands out; a margin this large would
/// make every token stale on arrival.
const MAX_TOKEN_LIFETIME: u64 = 7200;
/// Longest HTTP timeout accepted: beyond this a PHP request is long dead.
const MAX_HTTP_TIMEOUT: Duration = Duration::from_secs(300);
/// The longest app id accepted; WeChat's are 18 characters.
const MAX_APPID_LEN: usize = 64;

/// `WX_APPID`: what WeChat issues (wx + 16 hex digits; WeCom corp ids ww…),
/// with room to spare, and nothing that could break out of a Redis key's
/// hash slot (`{`, `}`), a glob (`*`) or a log line. Never echoed: it may be
/// anything, of any size.
pub(super) fn appid(given: Option<&str>) -> Result<String> {
    let appid = given.ok_or_else(|| Error::Config("app id is required (WX_APPID)".into()))?;
    if appid.is_empty() {
        return Err(Error::Config("app id is empty (WX_APPID)".into()));
    }
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
    Ok(appid.to_string())
}

/// `WX_REFRESH_MARGIN`: whole seconds, below the token lifetime.
pub(super) fn margin(s: &str) -> Result<u64> {
    let m: u64 = s.trim().parse().map_err(|_| {
        Error::Config(format!(
            "refresh margin must be a whole number of seconds, got {s:?} (WX_REFRESH_MARGIN)"
        ))
    })?;
    check_margin(m)
}

/// A margin given as a number.
pub(super) fn check_margin(m: u64) -> Result<u64> {
    if m >= MAX_TOKEN_LIFETIME {
        return Err(Error::Config(format!(
            "refresh margin {m}s is not below the {MAX_TOKEN_LIFETIME}s token lifetime (WX_REFRESH_MARGIN)"
        )));
    }
    Ok(m)
}

/// `WX_TOKEN_MODE`: `token` or `stable`.
pub(super) fn mode(s: &str) -> Result<Mode> {
    match s.trim() {
        "token" => Ok(Mode::Token),
        "stable" => Ok(Mode::Stable),
        other => Err(Error::Config(format!(
            "mode must be \"token\" or \"stable\", got {other:?} (WX_TOKEN_MODE)"
        ))),
    }
}

/// `WX_PLATFORM`: `mp` or `wecom`.
pub(super) fn platform(s: &str) -> Result<Platform> {
    match s.trim() {
        "mp" | "" => Ok(Platform::Mp),
        "wecom" => Ok(Platform::WeCom),
        other => Err(Error::Config(format!(
            "platform must be \"mp\" or \"wecom\", got {:?} (WX_PLATFORM)",
            other.chars().take(32).collect::<String>()
        ))),
    }
}

/// `WX_AGENTID`: required on WeCom (digits, as WeCom issues them), refused
/// elsewhere (it would mean nothing, and a site that set it expects WeCom).
pub(super) fn agentid(given: Option<&str>, platform: Platform) -> Result<Option<String>> {
    let given = given.map(str::trim).filter(|s| !s.is_empty());
    match (platform, given) {
        (Platform::Mp, None) => Ok(None),
        (Platform::Mp, Some(_)) => Err(Error::Config(
            "an agent id is only for WeCom apps; set WX_PLATFORM=wecom or leave it out (WX_AGENTID)"
                .into(),
        )),
        (Platform::WeCom, None) => Err(Error::Config(
            "a WeCom app needs its agent id (WX_AGENTID)".into(),
        )),
        (Platform::WeCom, Some(a)) if a.len() <= 20 && a.bytes().all(|b| b.is_ascii_digit()) => {
            Ok(Some(a.to_string()))
        }
        (Platform::WeCom, Some(_)) => Err(Error::Config(
            "agent id must be 1 to 20 digits, as WeCom issues them (WX_AGENTID)".into(),
        )),
    }
}

/// `WX_HTTP_TIMEOUT`: seconds, decimals allowed, above 0 and at most 300.
pub(super) fn timeout(s: &str) -> Result<Duration> {
    let secs: f64 = s.trim().parse().map_err(|_| {
        Error::Config(format!(
            "HTTP timeout must be a number of seconds, got {s:?} (WX_HTTP_TIMEOUT)"
        ))
    })?;
    let t = Duration::try_from_secs_f64(secs).map_err(|_| {
        Error::Config(format!(
            "HTTP timeout must be above 0 and at most {}s, got {s:?} (WX_HTTP_TIMEOUT)",
            MAX_HTTP_TIMEOUT.as_secs()
        ))
    })?;
    check_timeout(t)
}

/// A timeout given as a `Duration`.
pub(super) fn check_timeout(t: Duration) -> Result<Duration> {
    if t.is_zero() || t > MAX_HTTP_TIMEOUT {
        return Err(Error::Config(format!(
            "HTTP timeout must be above 0 and at most {}s, got {:?} (WX_HTTP_TIMEOUT)",
            MAX_HTTP_TIMEOUT.as_secs(),
            t.as_secs_f64().to_string()
        )));
    }
    Ok(t)
}

/// A yes/no setting: 1/true/on/yes or 0/false/off/no (empty is no).
pub(super) fn flag(s: &str, label: &str, name: &str) -> Result<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "" | "0" | "false" | "off" | "no" => Ok(false),
        "1" | "true" | "on" | "yes" => Ok(true),
        other => Err(Error::Config(format!(
            "{label} must be 1 or 0, got {other:?} ({name})"
        ))),
    }
}

/// Whether `host` (as in a URL, maybe with a port) is this machine.
pub(super) fn is_loopback(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

pub(super) fn api_base(s: &str, allow_http: bool) -> Result<Vec<String>> {
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
