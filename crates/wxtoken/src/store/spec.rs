//! Which store a configuration names, and where each credential lives in it.
//!
//! The store settings (`WX_TOKEN_FILE`, `WX_EXPIRY_FILE`, `WX_TICKET_DIR`,
//! `WX_REDIS_URL`, `WX_REDIS_PREFIX`) are parsed and checked here, once, and
//! a [`StoreSpec`] opens the store for any credential of any app: the
//! configuration knows nothing of how a store works, and no store reads the
//! configuration. A new kind of store is a variant here and a file beside
//! `files/` and `redis.rs`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::credential::Credential;
use crate::error::{Error, Result};
use crate::store::database::{
    parse_database, DatabaseSpec, DatabaseStore, DEFAULT_DATABASE_PREFIX,
};
use crate::store::files::FileStore;
use crate::store::redis::RedisStore;
use crate::store::redis_pool::mask_url;
use crate::store::TokenStore;

/// Default token file, as in the legacy script.
pub const DEFAULT_TOKEN_FILE: &str = "token.txt";
/// Default expiry file, as in the legacy script.
pub const DEFAULT_EXPIRY_FILE: &str = "expiry.txt";
/// Default prefix of the Redis keys.
pub const DEFAULT_REDIS_PREFIX: &str = "wxtoken";

/// The legacy files: the token pair, and the tickets' pairs beside it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FilesSpec {
    token_file: PathBuf,
    expiry_file: PathBuf,
    /// Where the tickets' files go; `None`: the token file's directory.
    ticket_dir: Option<PathBuf>,
    /// Added to the tickets' file names so that apps sharing a directory
    /// keep apart: WeCom's agent id; for other apps their app id, unless
    /// the token file is the default `token.txt` and the tickets sit beside
    /// it (one app per directory, the legacy layout, where the names are
    /// DESIGN.md's `jsapi_ticket.txt`).
    suffix: Option<String>,
}

impl FilesSpec {
    /// The access token's file.
    pub fn token_file(&self) -> &Path {
        &self.token_file
    }

    /// The access token's expiry file.
    pub fn expiry_file(&self) -> &Path {
        &self.expiry_file
    }

    /// Where the tickets' files go, when it is not the token file's
    /// directory.
    pub fn ticket_dir(&self) -> Option<&Path> {
        self.ticket_dir.as_deref()
    }

    /// The two files of `credential`: the configured pair for the access
    /// token; `<kind>.txt` and `<kind>_expiry.txt` in the ticket directory
    /// (by default the token file's) for a ticket, e.g. `jsapi_ticket.txt`
    /// and `jsapi_ticket_expiry.txt`.
    pub fn paths(&self, credential: Credential) -> (PathBuf, PathBuf) {
        match credential {
            Credential::AccessToken => (self.token_file.clone(), self.expiry_file.clone()),
            other => {
                let dir = match &self.ticket_dir {
                    Some(dir) => dir.clone(),
                    None => self
                        .token_file
                        .parent()
                        .map(Path::to_path_buf)
                        .unwrap_or_default(),
                };
                let key = match &self.suffix {
                    Some(suffix) => format!("{}_{suffix}", other.key()),
                    None => other.key().to_string(),
                };
                (
                    dir.join(format!("{key}.txt")),
                    dir.join(format!("{key}_expiry.txt")),
                )
            }
        }
    }
}

/// A Redis server and the prefix of the keys.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RedisSpec {
    pub(crate) url: String,
    pub(crate) prefix: String,
    pub(crate) ca_file: Option<PathBuf>,
}

impl std::fmt::Debug for RedisSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the password: `Config`'s and `StoreSpec`'s `Debug` show this.
        f.debug_struct("RedisSpec")
            .field("url", &mask_url(&self.url))
            .field("prefix", &self.prefix)
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

impl RedisSpec {
    /// The key of `credential` for the app `app_key` (the app id, or for
    /// WeCom `corpid:agentid`: see [`Config::app_key`](crate::Config::app_key));
    /// the credential's other keys (`:expires_at`, `:lock`, ...) add a suffix
    /// to it. Every key of an app shares its hash slot through the braces.
    pub fn key(&self, app_key: &str, credential: Credential) -> String {
        format!("{}:{{{app_key}}}:{}", self.prefix, credential.key())
    }
}

/// Where every credential of a configuration lives.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StoreSpec {
    files: FilesSpec,
    /// A store shared between hosts, used instead of the files.
    redis: Option<RedisSpec>,
    /// A database shared between hosts, used instead of the files.
    database: Option<DatabaseSpec>,
}

/// The store settings as given (text, unchecked).
#[derive(Debug, Default)]
pub(crate) struct StoreGiven {
    pub(crate) token_file: Option<PathBuf>,
    pub(crate) expiry_file: Option<PathBuf>,
    pub(crate) ticket_dir: Option<PathBuf>,
    pub(crate) redis_url: Option<String>,
    pub(crate) redis_prefix: Option<String>,
    pub(crate) ca_file: Option<PathBuf>,
    pub(crate) database_url: Option<String>,
    pub(crate) database_prefix: Option<String>,
    /// WeCom's agent id: the default file names carry it (`token_ID.txt`).
    pub(crate) file_suffix: Option<String>,
    /// The app id, which names the tickets' files where apps may share a
    /// directory.
    pub(crate) app_id: String,
}

impl StoreSpec {
    /// Checks the store settings, naming the first bad one.
    pub(crate) fn parse(given: StoreGiven) -> Result<StoreSpec> {
        let redis_given = given
            .redis_url
            .as_deref()
            .is_some_and(|s| !s.trim().is_empty());
        let database = parse_database(&given, redis_given)?;
        let legacy_name = given
            .token_file
            .as_deref()
            .is_none_or(|p| p.file_name().is_some_and(|n| n == DEFAULT_TOKEN_FILE));
        let has_dir = given
            .ticket_dir
            .as_ref()
            .is_some_and(|p| !p.as_os_str().is_empty());
        let suffix = ticket_suffix(legacy_name, has_dir, &given);
        // WeCom: a corp's apps share a directory and a corp id, so the
        // default names carry the agent id (`token_1000002.txt`).
        let suffixed = |name: &str| match &given.file_suffix {
            Some(s) => name.replace(".txt", &format!("_{s}.txt")),
            None => name.to_string(),
        };
        let token_file = non_empty_path(
            given.token_file,
            &suffixed(DEFAULT_TOKEN_FILE),
            "WX_TOKEN_FILE",
        )?;
        let expiry_file = non_empty_path(
            given.expiry_file,
            &suffixed(DEFAULT_EXPIRY_FILE),
            "WX_EXPIRY_FILE",
        )?;
        if token_file == expiry_file {
            return Err(Error::Config(
                "token file and expiry file are the same path".into(),
            ));
        }
        let ticket_dir = given.ticket_dir.filter(|p| !p.as_os_str().is_empty());
        let redis_url = given.redis_url.filter(|s| !s.trim().is_empty());
        if let Some(url) = &redis_url {
            crate::store::redis_url::check(url, "WX_REDIS_URL")?;
        }
        let prefix = match given.redis_prefix.as_deref().map(str::trim) {
            None | Some("") => DEFAULT_REDIS_PREFIX.to_string(),
            Some(p) if p.chars().all(|c| c.is_ascii_graphic() && c != '{' && c != '}') => {
                p.to_string()
            }
            Some(p) => {
                return Err(Error::Config(format!(
                    "Redis prefix must be printable ASCII without spaces or braces, got {p:?} (WX_REDIS_PREFIX)"
                )))
            }
        };
        Ok(StoreSpec {
            database,
            files: FilesSpec {
                token_file,
                expiry_file,
                ticket_dir,
                suffix,
            },
            redis: redis_url.map(|url| RedisSpec {
                url,
                prefix,
                ca_file: given.ca_file.filter(|p| !p.as_os_str().is_empty()),
            }),
        })
    }

    /// `"files"`, `"redis"`, `"mysql"` or `"postgres"`.
    pub fn kind(&self) -> &'static str {
        match (&self.redis, &self.database) {
            (Some(_), _) => "redis",
            (None, Some(db)) => db.dialect().as_str(),
            (None, None) => "files",
        }
    }

    /// The database store, if one is configured (the files are then unused).
    pub fn database(&self) -> Option<&DatabaseSpec> {
        self.database.as_ref()
    }

    /// The file settings (always set: the defaults when not given).
    pub fn files(&self) -> &FilesSpec {
        &self.files
    }

    /// The Redis store, if one is configured (the files are then unused).
    pub fn redis(&self) -> Option<&RedisSpec> {
        self.redis.as_ref()
    }

    /// The files of `credential`, if the files are the store.
    pub fn paths(&self, credential: Credential) -> Option<(PathBuf, PathBuf)> {
        (self.redis.is_none() && self.database.is_none()).then(|| self.files.paths(credential))
    }

    /// The store settings as `(environment name, value)`, password masked.
    pub(crate) fn describe(&self) -> [(&'static str, String); 7] {
        let path = |p: &Path| p.display().to_string();
        [
            ("WX_TOKEN_FILE", path(&self.files.token_file)),
            ("WX_EXPIRY_FILE", path(&self.files.expiry_file)),
            (
                "WX_TICKET_DIR",
                self.files
                    .ticket_dir
                    .as_deref()
                    .map_or_else(|| "(the token file's directory)".into(), path),
            ),
            (
                "WX_REDIS_URL",
                self.redis
                    .as_ref()
                    .map_or_else(|| "(none)".into(), |r| mask_url(&r.url)),
            ),
            (
                "WX_REDIS_PREFIX",
                self.redis
                    .as_ref()
                    .map_or(DEFAULT_REDIS_PREFIX, |r| r.prefix.as_str())
                    .to_string(),
            ),
            (
                "WX_DATABASE_URL",
                self.database
                    .as_ref()
                    .map_or_else(|| "(none)".into(), DatabaseSpec::shown_url),
            ),
            (
                "WX_DATABASE_PREFIX",
                self.database
                    .as_ref()
                    .map_or(DEFAULT_DATABASE_PREFIX, |d| d.prefix.as_str())
                    .to_string(),
            ),
        ]
    }

    /// The store of the app `app_key`'s `credential`. Opens and connects nothing yet:
    /// each store does that on first use. `http_timeout` bounds a store's
    /// own waits (a Redis round trip, the life of a Redis lock).
    pub fn open(
        &self,
        app_key: &str,
        credential: Credential,
        http_timeout: Duration,
    ) -> Arc<dyn TokenStore> {
        match (&self.redis, &self.database) {
            (Some(redis), _) => Arc::new(RedisStore::new(redis, app_key, credential, http_timeout)),
            (None, Some(db)) => Arc::new(DatabaseStore::new(db, app_key, credential, http_timeout)),
            (None, None) => {
                let (token, expiry) = self.files.paths(credential);
                Arc::new(FileStore::new(token, expiry))
            }
        }
    }
}

/// See [`FilesSpec::suffix`].
fn ticket_suffix(legacy_name: bool, own_dir: bool, given: &StoreGiven) -> Option<String> {
    if given.file_suffix.is_some() {
        return given.file_suffix.clone();
    }
    (!given.app_id.is_empty() && (own_dir || !legacy_name)).then(|| given.app_id.clone())
}

fn non_empty_path(p: Option<PathBuf>, default: &str, name: &str) -> Result<PathBuf> {
    match p {
        None => Ok(PathBuf::from(default)),
        Some(p) if p.as_os_str().is_empty() => Err(Error::Config(format!("{name} is empty"))),
        Some(p) => Ok(p),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credential::TicketKind;

    fn spec(ticket_dir: Option<&str>, redis: Option<&str>) -> StoreSpec {
        StoreSpec::parse(StoreGiven {
            token_file: Some("/var/cache/wx/token.txt".into()),
            ticket_dir: ticket_dir.map(Into::into),
            redis_url: redis.map(Into::into),
            app_id: "wx1".into(),
            ..StoreGiven::default()
        })
        .unwrap()
    }

    #[test]
    fn every_redis_url_form_is_accepted_and_a_bad_one_refused_without_its_password() {
        for url in [
            "redis://127.0.0.1:6379/0",
            "rediss://:pw@cache.internal:6380/1",
            "redis+sentinel://:pw@10.0.0.1:26379,10.0.0.2:26379/mymaster/2",
            "rediss+sentinel://10.0.0.1/mymaster",
            "redis+cluster://u:pw@10.0.0.1:7000,10.0.0.2:7000",
            "rediss+cluster://10.0.0.1:7000",
        ] {
            let s = spec(None, Some(url));
            assert_eq!(s.kind(), "redis", "{url}");
            let shown = format!("{:?} {:?}", s.describe(), s);
            assert!(!shown.contains("pw@"), "{url}: {shown}");
        }
        for bad in [
            "redis+sentinel://:hunter2pw@10.0.0.1:26379",
            "redis+cluster://:hunter2pw@10.0.0.1:7000/4",
            "redis://:hunter2pw@a:1,b:2",
            "memcached://:hunter2pw@h:1",
        ] {
            let e = StoreSpec::parse(StoreGiven {
                redis_url: Some(bad.into()),
                app_id: "wx1".into(),
                ..StoreGiven::default()
            })
            .unwrap_err()
            .to_string();
            assert!(
                e.contains("WX_REDIS_URL") && e.contains("redis+sentinel://"),
                "{e}"
            );
            assert!(!e.contains("hunter2pw"), "{e}");
        }
    }

    #[test]
    fn tickets_live_beside_the_token_or_in_their_own_directory() {
        let jsapi = Credential::Ticket(TicketKind::Jsapi);
        let (t, e) = spec(None, None).paths(jsapi).unwrap();
        assert_eq!(t, Path::new("/var/cache/wx/jsapi_ticket.txt"));
        assert_eq!(e, Path::new("/var/cache/wx/jsapi_ticket_expiry.txt"));
        let card = Credential::Ticket(TicketKind::WxCard);
        // A ticket directory may be shared by many apps: the app id names
        // the files.
        let (t, e) = spec(Some("/srv/t"), None).paths(card).unwrap();
        assert_eq!(t, Path::new("/srv/t/wx_card_ticket_wx1.txt"));
        assert_eq!(e, Path::new("/srv/t/wx_card_ticket_wx1_expiry.txt"));
        // So may a directory whose token file is not the legacy token.txt.
        let other = StoreSpec::parse(StoreGiven {
            token_file: Some("/var/cache/wx/a_token.txt".into()),
            app_id: "wxa".into(),
            ..StoreGiven::default()
        })
        .unwrap();
        assert_eq!(
            other.paths(jsapi).unwrap().0,
            Path::new("/var/cache/wx/jsapi_ticket_wxa.txt")
        );
        // A bare file name keeps its tickets in the same (current) directory.
        let bare = StoreSpec::parse(StoreGiven::default()).unwrap();
        assert_eq!(bare.paths(jsapi).unwrap().0, Path::new("jsapi_ticket.txt"));
        assert!(spec(None, Some("redis://127.0.0.1")).paths(jsapi).is_none());
    }

    #[test]
    fn debug_never_shows_a_redis_password() {
        let s = StoreSpec::parse(StoreGiven {
            redis_url: Some("redis://app:hunter2pw@127.0.0.1:6379/0".into()),
            ..StoreGiven::default()
        })
        .unwrap();
        let shown = format!("{s:?}");
        assert!(
            !shown.contains("hunter2pw") && shown.contains("***"),
            "{shown}"
        );
    }

    #[test]
    fn redis_keys_per_credential_share_the_app_slot() {
        let s = spec(None, Some("redis://127.0.0.1"));
        let r = s.redis().unwrap();
        assert_eq!(
            r.key("wx1", Credential::AccessToken),
            "wxtoken:{wx1}:access_token"
        );
        assert_eq!(
            r.key("wx1", Credential::Ticket(TicketKind::Jsapi)),
            "wxtoken:{wx1}:jsapi_ticket"
        );
    }
}
