//! The Redis URL forms the store accepts, parsed once:
//!
//! | form | what it reaches |
//! |---|---|
//! | `redis://[user:pass@]host[:port][/db]` | one server |
//! | `rediss://…` | the same over TLS |
//! | `redis+sentinel://[user:pass@]host:port[,host:port…]/MASTER[/db]` | the master that the sentinels name |
//! | `redis+cluster://[user:pass@]host:port[,host:port…]` | a Redis Cluster, from any of its nodes |
//!
//! and `rediss+sentinel://`, `rediss+cluster://` for TLS (to the sentinels
//! and to the data nodes alike). The user and password are the data nodes';
//! sentinels are asked without them unless one answers that it needs them.
//!
//! Written by hand: redis-rs parses only the one-server form, and its
//! sentinel and cluster clients take lists of addresses, not a URL.

/// Which kind of deployment a URL names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Topology {
    /// One server (the URL as given is redis-rs's own form).
    Single,
    /// A master found through sentinels.
    Sentinel {
        /// The master's name in the sentinels' configuration.
        master: String,
        /// The database to select on it.
        db: i64,
    },
    /// A Redis Cluster, reached through its seed nodes.
    Cluster,
}

/// A parsed Redis URL. Its `Debug` shows no password.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct RedisUrl {
    /// What it reaches.
    pub topology: Topology,
    /// TLS to every node (`rediss…`).
    pub tls: bool,
    /// The addresses given: the sentinels or the cluster's seed nodes (for
    /// one server, its address).
    pub nodes: Vec<(String, u16)>,
    /// `user:pass` (or `:pass`) as written, still percent-encoded, to splice
    /// into the URL of each node it connects to.
    userinfo: Option<String>,
    /// The password, decoded, to scrub from messages.
    password: Option<String>,
}

impl std::fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisUrl")
            .field("topology", &self.topology)
            .field("tls", &self.tls)
            .field("nodes", &self.nodes)
            .finish_non_exhaustive()
    }
}

/// What a valid URL looks like, for configuration errors.
pub(crate) const FORMS: &str = "redis://[user:pass@]host[:port][/db], rediss://..., \
     redis+sentinel://[user:pass@]host:port[,host:port...]/MASTER[/db] or \
     redis+cluster://[user:pass@]host:port[,host:port...] (rediss+sentinel://, rediss+cluster:// for TLS)";

impl RedisUrl {
    /// Parses any of the forms above; the error says what is wrong, without
    /// the password.
    pub(crate) fn parse(url: &str) -> Result<RedisUrl, String> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| "not a URL".to_string())?;
        let (tls, topology) = match scheme {
            "redis" => (false, "single"),
            "rediss" => (true, "single"),
            "redis+sentinel" => (false, "sentinel"),
            "rediss+sentinel" => (true, "sentinel"),
            "redis+cluster" => (false, "cluster"),
            "rediss+cluster" => (true, "cluster"),
            other => return Err(format!("unknown scheme {other:?}")),
        };
        // The authority ends at the first `/`, `?` or `#`; an `@` after it
        // would be part of a password that was not percent-encoded, which
        // other parsers read differently (and masking could miss).
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        if rest[end..].contains('@') {
            return Err(
                "an '@' after the host: percent-encode special characters in the password (@ is %40, # is %23, / is %2F, ? is %3F)"
                    .into(),
            );
        }
        let rest = rest.split(['?', '#']).next().unwrap_or_default();
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, ""),
        };
        let (userinfo, hosts) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u.to_string()), h),
            None => (None, authority),
        };
        let password = userinfo
            .as_deref()
            .and_then(|u| u.split_once(':'))
            .map(|(_, p)| percent_decode(p))
            .filter(|p| !p.is_empty());
        let default_port = match topology {
            "sentinel" => 26379,
            _ => 6379,
        };
        let nodes = hosts
            .split(',')
            .enumerate()
            .map(|(i, h)| {
                parse_host(h, default_port).map_err(|why| format!("address {}: {why}", i + 1))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if topology == "single" && nodes.len() != 1 {
            return Err("a redis:// URL names one server (use redis+sentinel:// or redis+cluster:// for several)".into());
        }
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let db = |s: Option<&&str>| -> Result<i64, String> {
            s.map_or(Ok(0), |d| {
                d.parse::<i64>()
                    .ok()
                    .filter(|&n| n >= 0)
                    .ok_or_else(|| "the database must be a number".to_string())
            })
        };
        let topology = match topology {
            "single" => {
                if segments.len() > 1 {
                    return Err("the path must be the database number alone".into());
                }
                db(segments.first())?;
                Topology::Single
            }
            "sentinel" => {
                let master = segments
                    .first()
                    .map(|m| percent_decode(m))
                    .filter(|m| !m.is_empty())
                    .ok_or_else(|| "a sentinel URL ends with /MASTER_NAME[/db]".to_string())?;
                if segments.len() > 2 {
                    return Err("a sentinel URL ends with /MASTER_NAME[/db]".into());
                }
                Topology::Sentinel {
                    db: db(segments.get(1))?,
                    master,
                }
            }
            _ => {
                if segments.iter().any(|s| *s != "0") {
                    return Err("a cluster has only database 0; the URL names no path".into());
                }
                Topology::Cluster
            }
        };
        Ok(RedisUrl {
            topology,
            tls,
            nodes,
            userinfo,
            password,
        })
    }

    /// The password, decoded, if the URL has one.
    pub(crate) fn password(&self) -> Option<&str> {
        self.password.as_deref()
    }

    /// The one-server URL of `host:port` with this URL's TLS and
    /// credentials (`with_auth`), selecting `db` if given.
    pub(crate) fn node_url(
        &self,
        host: &str,
        port: u16,
        db: Option<i64>,
        with_auth: bool,
    ) -> String {
        let scheme = if self.tls { "rediss" } else { "redis" };
        let auth = match (&self.userinfo, with_auth) {
            (Some(u), true) => format!("{u}@"),
            _ => String::new(),
        };
        let host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.to_string()
        };
        let db = db.map(|d| format!("/{d}")).unwrap_or_default();
        format!("{scheme}://{auth}{host}:{port}{db}")
    }
}

/// Checks a setting's Redis URL: a configuration error naming the setting,
/// the forms, and what is wrong, the password masked.
pub(crate) fn check(url: &str, setting: &str) -> crate::error::Result<()> {
    let single_ok =
        |u: &RedisUrl| u.topology != Topology::Single || redis::Client::open(url).is_ok();
    match RedisUrl::parse(url) {
        Ok(u) if single_ok(&u) => Ok(()),
        Ok(_) => Err(crate::error::Error::Config(format!(
            "bad Redis URL {} ({setting}); the forms are {FORMS}",
            mask_url(url)
        ))),
        // `why` never quotes the URL's text, so it holds no password.
        Err(why) => Err(crate::error::Error::Config(format!(
            "bad Redis URL {} ({setting}): {why}; the forms are {FORMS}",
            mask_url(url)
        ))),
    }
}

/// `host[:port]` or `[v6]:port`.
fn parse_host(text: &str, default_port: u16) -> Result<(String, u16), String> {
    let (host, port) = if let Some(v6) = text.strip_prefix('[') {
        let (h, after) = v6
            .split_once(']')
            .ok_or("an IPv6 address without its closing bracket")?;
        match after {
            "" => (h, None),
            _ => (
                h,
                Some(
                    after
                        .strip_prefix(':')
                        .ok_or("only :port may follow an IPv6 address")?,
                ),
            ),
        }
    } else {
        match text.rsplit_once(':') {
            Some((h, _)) if h.contains(':') => {
                return Err("an IPv6 address goes in brackets: [::1]:6379".into())
            }
            Some((h, p)) => (h, Some(p)),
            None => (text, None),
        }
    };
    if host.is_empty() || host.contains(['/', '@', ' ']) {
        return Err("no host".into());
    }
    let port = match port {
        None => default_port,
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|&p| p > 0)
            .ok_or("the port must be 1 to 65535")?,
    };
    Ok((host.to_string(), port))
}

/// `%XX` escapes decoded (invalid ones kept as written).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The URL with any password replaced by `***`; a URL that does not parse
/// is not shown at all (it could be anything, a password included).
pub(crate) fn mask_url(url: &str) -> String {
    if RedisUrl::parse(url).is_err() {
        return "(an invalid Redis URL)".into();
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return "(an invalid Redis URL)".into();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    match authority.rsplit_once('@') {
        Some((userinfo, hosts)) => {
            let user = match userinfo.split_once(':') {
                Some((u, _)) => format!("{u}:***"),
                None => userinfo.to_string(),
            };
            format!("{scheme}://{user}@{hosts}{tail}")
        }
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_parses() {
        let u = RedisUrl::parse("redis://app:p%40ss@10.0.0.5:6380/2").unwrap();
        assert_eq!(u.topology, Topology::Single);
        assert_eq!(u.nodes, vec![("10.0.0.5".to_string(), 6380)]);
        assert_eq!(u.password(), Some("p@ss"));

        let s =
            RedisUrl::parse("rediss+sentinel://:pw@s1:26379,s2,[::1]:26380/mymaster/3").unwrap();
        assert!(s.tls);
        assert_eq!(
            s.topology,
            Topology::Sentinel {
                master: "mymaster".into(),
                db: 3
            }
        );
        assert_eq!(
            s.nodes,
            vec![
                ("s1".to_string(), 26379),
                ("s2".to_string(), 26379),
                ("::1".to_string(), 26380)
            ]
        );
        assert_eq!(
            s.node_url("10.0.0.9", 6379, Some(3), true),
            "rediss://:pw@10.0.0.9:6379/3"
        );
        assert_eq!(s.node_url("::1", 6379, None, false), "rediss://[::1]:6379");

        let c = RedisUrl::parse("redis+cluster://127.0.0.1:7000,127.0.0.1:7001").unwrap();
        assert_eq!(c.topology, Topology::Cluster);
        assert_eq!(c.nodes.len(), 2);
        assert!(!c.tls);
    }

    #[test]
    fn bad_urls_are_refused_with_a_reason() {
        for bad in [
            "http://h",
            "redis://a:1,b:2",
            "redis+sentinel://h:1",
            "redis+sentinel://h:1/m/x",
            "redis+cluster://h:1/3",
            "redis+cluster://h:0",
            "redis+cluster://h:1,,h:2",
            "rediss://h/x/y",
            "no scheme",
            "redis://u:6379#pw@h",
            "redis+sentinel://u:12/x@h",
            "redis://fe80::1",
            "redis://[::1]junk",
        ] {
            assert!(RedisUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords_are_masked_in_every_form_and_in_debug() {
        assert_eq!(
            mask_url("redis://app:hunter2@10.0.0.5:6379/2"),
            "redis://app:***@10.0.0.5:6379/2"
        );
        assert_eq!(mask_url("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
        assert_eq!(
            mask_url("rediss+sentinel://u:hunter2@a:1,b:2/m"),
            "rediss+sentinel://u:***@a:1,b:2/m"
        );
        assert_eq!(
            mask_url("redis+cluster://:hunter2@a:1,b:2"),
            "redis+cluster://:***@a:1,b:2"
        );
        assert_eq!(
            mask_url("redis://:hunter2@a:1,b:2"),
            "(an invalid Redis URL)"
        );
        let parsed = RedisUrl::parse("redis+cluster://:hunter2@a:1").unwrap();
        assert!(!format!("{parsed:?}").contains("hunter2"));
    }
}
