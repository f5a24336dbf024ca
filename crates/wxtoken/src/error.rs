//! Everything that can go wrong, as one typed error.
//!
//! No variant ever holds the app secret: configuration errors name the setting,
//! network errors name only the host, and text that came back from the network
//! is scrubbed of the secret before it is stored here.

use std::path::PathBuf;
use std::time::Duration;

/// Result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a token could not be had.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A setting is missing or malformed; nothing was sent anywhere.
    #[error("configuration error: {0}")]
    Config(String),

    /// The WeChat API answered with a non-zero `errcode`.
    #[error("WeChat API error {errcode}: {errmsg}{}", hint(*errcode))]
    WeChat {
        /// WeChat's numeric error code.
        errcode: i64,
        /// WeChat's error message, scrubbed of the secret.
        errmsg: String,
    },

    /// WeChat refused the credentials the token endpoint was given (a wrong
    /// secret, app id or corp id, a server not on the IP allow list): a
    /// configuration error, whatever the same code means from a business API
    /// (40001 is a dead token there, a wrong secret here).
    #[error("WeChat API error {errcode}: {errmsg}{}", rejected_hint(*errcode))]
    Rejected {
        /// WeChat's code.
        errcode: i64,
        /// This crate's description of it (never WeChat's own text).
        errmsg: String,
    },

    /// The API answered with an HTTP status other than 200.
    #[error("HTTP status {status} from {host}")]
    HttpStatus {
        /// The HTTP status code.
        status: u16,
        /// Host that answered (never the full URL: it holds the secret).
        host: String,
    },

    /// The API could not be reached at all (refused, reset, DNS, TLS).
    #[error("network error contacting {host}: {reason}")]
    Network {
        /// Host that was tried last.
        host: String,
        /// What failed, without the URL.
        reason: String,
    },

    /// The API did not answer within the configured HTTP timeout.
    #[error("timed out after {:.1}s waiting for {host}", .waited.as_secs_f64())]
    Timeout {
        /// Host that was being waited for.
        host: String,
        /// How long was waited.
        waited: Duration,
    },

    /// The API answered, but not with something usable as a token.
    #[error("bad answer from {host}: {reason}")]
    BadAnswer {
        /// Host that answered.
        host: String,
        /// What was wrong with the answer.
        reason: String,
    },

    /// A cache file could not be read, written or locked.
    #[error("cannot {op} {}: {source}", .path.display())]
    Io {
        /// What was being done ("read", "write", "lock", ...).
        op: &'static str,
        /// The file concerned.
        path: PathBuf,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },

    /// A cache or settings file exists but may not be used: a symbolic link,
    /// not a regular file, hard-linked, owned by an untrusted user, or
    /// writable by others (see SECURITY.md). Nothing was read from it or
    /// written to it.
    #[error("refusing {}: {reason}", .path.display())]
    Unsafe {
        /// The file concerned.
        path: PathBuf,
        /// What is wrong with it, and the fix.
        reason: String,
    },

    /// The Redis store could not be used (unreachable, timed out, refused).
    #[error("cannot {op} Redis at {server}: {reason}")]
    Redis {
        /// What was being done ("connect to", "read from", ...).
        op: &'static str,
        /// The server's URL, password masked.
        server: String,
        /// Redis's reason, password masked.
        reason: String,
    },

    /// The database store could not be used (unreachable, timed out,
    /// refused, a wrong password, no table and no right to create it).
    #[error("cannot {op} {server}: {reason}")]
    Database {
        /// What was being done ("connect to", "read from", ...).
        op: &'static str,
        /// The server, as `MySQL at user@host:port/db`; never the password.
        server: String,
        /// The database's reason, password masked.
        reason: String,
    },

    /// Another process held the cache lock for longer than a refresh can take.
    #[error("timed out after {:.1}s waiting for the cache lock {lock}", .waited.as_secs_f64())]
    LockTimeout {
        /// The lock: a file's path, or a Redis key.
        lock: String,
        /// How long was waited.
        waited: Duration,
    },

    /// A refresh failed moments ago (while this caller waited for it, or a
    /// quota error still in its back-off), so it was not tried again.
    #[error("{message} (a refresh {secs_ago}s ago; not retried yet)")]
    RecentFailure {
        /// The class of the original error.
        kind: ErrorKind,
        /// The original WeChat errcode, if any.
        errcode: Option<i64>,
        /// The original error's text.
        message: String,
        /// How long ago it failed.
        secs_ago: u64,
    },

    /// Passive mode: no valid token is cached and fetching one is not allowed.
    #[error("no valid token in the cache and passive mode (WX_PASSIVE) forbids fetching one")]
    Passive,
}

/// Broad classes of [`Error`], for exit codes and C status codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// A setting is wrong, or WeChat rejected the credentials (fix the config).
    Config,
    /// WeChat answered with an errcode that is not a configuration problem.
    WeChat,
    /// Could not talk to the API: unreachable, timeout, HTTP error, bad answer.
    Network,
    /// The cache files could not be used.
    Store,
    /// Passive mode found nothing to return.
    Passive,
}

/// WeChat errcodes that mean the configuration is wrong: retrying cannot help.
pub const CONFIG_ERRCODES: &[i64] = &[40002, 40013, 40125, 40164, 40243, 41002, 41004, 61004];

/// What `/cgi-bin/token` and `/cgi-bin/stable_token` answer for credentials
/// they refuse: the configuration errors, and 40001 (a wrong AppSecret
/// there; a dead token from any other API).
pub const TOKEN_REJECT_ERRCODES: &[i64] = &[
    40001, 40002, 40013, 40125, 40164, 40243, 41002, 41004, 61004,
];

/// What WeCom's `/cgi-bin/gettoken` answers for credentials it refuses:
/// 40001 and 40091 a wrong secret, 40013 a wrong corp id, 41002 and 41004 a
/// missing one, 60020 a server not on the app's IP allow list.
pub const WECOM_REJECT_ERRCODES: &[i64] = &[40001, 40013, 40091, 41002, 41004, 60020];

/// WeChat errcodes that mean a quota is used up: back off, never retry at once.
pub const QUOTA_ERRCODES: &[i64] = &[45009, 45011];

/// WeChat errcodes from a business API that mean the token itself is invalid.
pub const INVALID_TOKEN_ERRCODES: &[i64] = &[40001, 40014, 42001];

/// This crate's description of a WeChat `errcode`, shown instead of the
/// upstream's `errmsg` (see `fetch::parse_answer`).
pub(crate) fn describe_errcode(errcode: i64) -> &'static str {
    match errcode {
        -1 => "system busy",
        40001 => "invalid credential",
        40002 => "invalid grant_type",
        40013 => "invalid appid",
        40014 => "invalid access_token",
        40125 => "invalid appsecret",
        40164 => "invalid ip, not in whitelist",
        40243 => "AppSecret is frozen",
        41002 => "appid missing",
        41004 => "appsecret missing",
        42001 => "access_token expired",
        45009 => "reach max api daily quota limit",
        45011 => "api minute-quota reach limit",
        40091 => "invalid secret",
        60020 => "access from this IP is not allowed",
        40056 => "invalid agentid",
        61004 => "access clientip is not registered",
        _ => "see WeChat's global error codes",
    }
}

fn rejected_hint(errcode: i64) -> &'static str {
    match errcode {
        40001 | 40091 | 40125 | 41004 => " (check the app secret)",
        40013 | 41002 => " (check the app id, or for WeCom the corp id)",
        40164 | 61004 | 60020 => " (this server's IP is not on the app's IP allow list)",
        _ => hint(errcode),
    }
}

fn hint(errcode: i64) -> &'static str {
    match errcode {
        -1 => " (WeChat busy; retried with backoff)",
        40013 | 41002 => " (check the app id)",
        40125 | 41004 => " (check the app secret)",
        40164 | 61004 => " (this server's IP is not on the app's IP whitelist)",
        40243 => " (the app secret is frozen)",
        45009 => " (daily token quota used up; wait, do not retry)",
        45011 => " (per-minute limit hit; wait before retrying)",
        _ => "",
    }
}

impl ErrorKind {
    /// A one-word name, stable across versions.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Config => "config",
            ErrorKind::WeChat => "wechat",
            ErrorKind::Network => "network",
            ErrorKind::Store => "store",
            ErrorKind::Passive => "passive",
        }
    }

    /// The kind named by [`as_str`](Self::as_str).
    pub fn from_name(name: &str) -> Option<Self> {
        [
            ErrorKind::Config,
            ErrorKind::WeChat,
            ErrorKind::Network,
            ErrorKind::Store,
            ErrorKind::Passive,
        ]
        .into_iter()
        .find(|k| k.as_str() == name)
    }
}

impl Error {
    /// The broad class of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Config(_) | Error::Unsafe { .. } => ErrorKind::Config,
            Error::WeChat { errcode, .. } if CONFIG_ERRCODES.contains(errcode) => ErrorKind::Config,
            Error::WeChat { .. } => ErrorKind::WeChat,
            Error::Rejected { .. } => ErrorKind::Config,
            Error::HttpStatus { .. }
            | Error::Network { .. }
            | Error::Timeout { .. }
            | Error::BadAnswer { .. } => ErrorKind::Network,
            Error::Io { .. }
            | Error::LockTimeout { .. }
            | Error::Redis { .. }
            | Error::Database { .. } => ErrorKind::Store,
            Error::Passive => ErrorKind::Passive,
            Error::RecentFailure { kind, .. } => *kind,
        }
    }

    /// The WeChat `errcode`, when WeChat gave one.
    pub fn errcode(&self) -> Option<i64> {
        match self {
            Error::WeChat { errcode, .. } | Error::Rejected { errcode, .. } => Some(*errcode),
            Error::RecentFailure { errcode, .. } => *errcode,
            _ => None,
        }
    }

    /// A WeChat error whose code is in `codes` (the endpoint's codes for
    /// credentials it refused) as [`Error::Rejected`]; anything else as it is.
    pub(crate) fn rejected_if(self, codes: &[i64]) -> Error {
        match self {
            Error::WeChat { errcode, errmsg } if codes.contains(&errcode) => {
                Error::Rejected { errcode, errmsg }
            }
            other => other,
        }
    }

    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }
}
