//! The shared store in the SQL database a site already runs: MySQL 8,
//! MariaDB 10.6+ or PostgreSQL 13+ (`WX_DATABASE_URL`).
//!
//! One table, `{prefix}_credentials` (`wxtoken_credentials` by default), one
//! row per app and credential, plain columns any client reads:
//!
//! | column | what |
//! |---|---|
//! | `appid` | the app key: the app id, or WeCom's `corpid:agentid` |
//! | `kind` | `access_token`, `jsapi_ticket`, `wx_card_ticket`, `corp_ticket`, `agent_ticket` |
//! | `token` | the token or ticket; NULL when there is none |
//! | `expires_at` | Unix seconds when it expires (0: none) |
//! | `fetched_at` | Unix seconds when it was fetched |
//! | `lock_owner`, `lock_until_ms` | the refresh lease: a random owner id and its deadline (Unix ms, the database's clock) |
//! | `note`, `note_until` | the last failed refresh's note and when it lapses (Unix s) |
//!
//! The secret never goes into it. The DDL is [`schema`]; the table is
//! created if missing and the user may (`CREATE TABLE IF NOT EXISTS`, tried
//! only when a statement finds no table), else the error says so.
//!
//! The lock is a lease on the row: one `UPDATE ... SET lock_owner = ?,
//! lock_until_ms = now + HTTP timeout + 2 s WHERE ... AND (lock_owner IS
//! NULL OR lock_until_ms < now)` (or an `INSERT` of the row with the lease
//! when the row is new), held when it changed a row, released by a
//! compare-and-clear on the owner. Deadlines use the database's clock, so
//! the hosts' clocks do not matter, and a crashed holder's lease lapses on
//! its own. No statement leaves anything behind in the session (no advisory
//! lock, no open transaction): each works alone, through pgbouncer in
//! transaction mode or ProxySQL, where advisory locks, which belong to a
//! server session, would be taken on one server connection and released on
//! another, or never.
//!
//! The save writes the token, its expiry and its fetch time in one
//! statement on one row: no reader sees a new token with an old expiry.
//! Invalidation is a compare-and-clear on the token. Hits, down databases and
//! memo work as in the Redis store: see [`RECHECK_INTERVAL`].

use std::sync::Arc;
use std::time::Duration;

use crate::cached::Cached;
use crate::credential::Credential;
use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::store::db_pool::{
    mask_db_url, parse_url, Answer, DbServer, DbUrl, Dialect, Kind, Param, Value,
};
use crate::store::files::legacy_format::parse_token;
use crate::store::memo::{unix_now, Memo};
use crate::store::redis::random_owner;
use crate::store::spec::StoreGiven;
use crate::store::{LockOutcome, StoreInfo, StoreLock, TokenStore};

/// How long a process serves what it last read before asking the database
/// again (as with Redis: another host's refresh retires the old token only
/// five minutes later).
pub use crate::store::memo::RECHECK_INTERVAL;
/// How long a failure note outlives the refresh that wrote it: longer than
/// any back-off window.
const NOTE_TTL_SECS: i64 = 120;

/// The `CREATE TABLE IF NOT EXISTS` of the table `table` in `dialect`: what
/// the store runs when the table is missing, and what `wxtoken db-schema`
/// prints for DBAs who create tables themselves.
pub fn schema(dialect: Dialect, table: &str) -> String {
    // The columns are the same in both dialects; only the table options
    // differ.
    let options = match dialect {
        // Binary collation: an app id, a token or an owner compares byte for
        // byte (the default collation ignores case and trailing spaces).
        Dialect::Mysql => " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
        Dialect::Postgres => "",
    };
    format!(
        "CREATE TABLE IF NOT EXISTS {table} (\n\
        \x20 appid VARCHAR(128) NOT NULL,\n\
        \x20 kind VARCHAR(32) NOT NULL,\n\
        \x20 token VARCHAR(2048) NULL,\n\
        \x20 expires_at BIGINT NOT NULL DEFAULT 0,\n\
        \x20 fetched_at BIGINT NULL,\n\
        \x20 lock_owner VARCHAR(64) NULL,\n\
        \x20 lock_until_ms BIGINT NULL,\n\
        \x20 note TEXT NULL,\n\
        \x20 note_until BIGINT NULL,\n\
        \x20 PRIMARY KEY (appid, kind)\n\
        ){options}"
    )
}

// ------------------------------------------------------------ the settings

/// Default prefix of the database table's name (`wxtoken_credentials`).
pub const DEFAULT_DATABASE_PREFIX: &str = "wxtoken";

/// A MySQL/MariaDB or PostgreSQL database and the prefix of its table.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct DatabaseSpec {
    pub(crate) url: String,
    pub(crate) parsed: DbUrl,
    pub(crate) prefix: String,
    pub(crate) ca_file: Option<PathBuf>,
}

impl std::fmt::Debug for DatabaseSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the password.
        f.debug_struct("DatabaseSpec")
            .field("url", &mask_db_url(&self.url))
            .field("table", &self.table())
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

impl DatabaseSpec {
    /// The table every credential of every app lives in:
    /// `{prefix}_credentials`, one row per app key and credential.
    pub fn table(&self) -> String {
        format!("{}_credentials", self.prefix)
    }

    /// `MySQL` (MariaDB too) or `PostgreSQL`.
    pub fn dialect(&self) -> Dialect {
        self.parsed.dialect
    }

    /// The URL with its password masked.
    pub fn shown_url(&self) -> String {
        mask_db_url(&self.url)
    }
}

/// The database settings, checked: a URL of a known form, a prefix that is
/// a plain SQL identifier, and not Redis as well.
pub(crate) fn parse_database(given: &StoreGiven, redis_too: bool) -> Result<Option<DatabaseSpec>> {
    let Some(url) = given
        .database_url
        .as_deref()
        .filter(|s| !s.trim().is_empty())
    else {
        return Ok(None);
    };
    if redis_too {
        return Err(Error::Config(
            "both a Redis server and a database are set as the store; set only one \
             (WX_REDIS_URL, WX_DATABASE_URL)"
                .into(),
        ));
    }
    let parsed = parse_url(url.trim()).map_err(|why| {
        Error::Config(format!(
            "database URL must be mysql://user:pass@host[:port]/db or postgres://user:pass@host[:port]/db \
             [?sslmode=require], got {:?}: {why} (WX_DATABASE_URL)",
            mask_db_url(url)
        ))
    })?;
    let prefix = database_prefix(given.database_prefix.as_deref())?;
    Ok(Some(DatabaseSpec {
        url: url.trim().to_string(),
        parsed,
        prefix,
        ca_file: given.ca_file.clone().filter(|p| !p.as_os_str().is_empty()),
    }))
}

/// The table prefix, checked: a plain SQL identifier, so it needs no quoting
/// in any dialect.
fn database_prefix(given: Option<&str>) -> Result<String> {
    match given.map(str::trim) {
        None | Some("") => Ok(DEFAULT_DATABASE_PREFIX.to_string()),
        Some(p)
            if p.len() <= 48
                && p.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') =>
        {
            Ok(p.to_string())
        }
        Some(p) => Err(Error::Config(format!(
            "database table prefix must be letters, digits and _ (at most 48), got {:?} (WX_DATABASE_PREFIX)",
            p.chars().take(64).collect::<String>()
        ))),
    }
}

/// The DDL of the table for `dialect` (`mysql`, `mariadb`, `postgres`,
/// `postgresql`), or when none is named, for the database `url` names; the
/// table named by `prefix`.
pub(crate) fn database_schema(
    dialect: Option<&str>,
    url: Option<&str>,
    prefix: Option<&str>,
) -> Result<String> {
    let dialect = match (dialect.map(str::trim), url.filter(|u| !u.trim().is_empty())) {
        (Some("mysql" | "mariadb"), _) => Dialect::Mysql,
        (Some("postgres" | "postgresql"), _) => Dialect::Postgres,
        (Some(other), _) => {
            return Err(Error::Config(format!(
                "unknown database {:?}: use mysql or postgres",
                other.chars().take(32).collect::<String>()
            )))
        }
        (None, Some(url)) => {
            parse_url(url.trim())
                .map_err(|why| {
                    Error::Config(format!(
                        "bad database URL {}: {why} (WX_DATABASE_URL)",
                        mask_db_url(url)
                    ))
                })?
                .dialect
        }
        (None, None) => {
            return Err(Error::Config(
                "name the database (mysql or postgres), or set WX_DATABASE_URL".into(),
            ))
        }
    };
    let prefix = database_prefix(prefix)?;
    Ok(format!(
        "{};\n",
        crate::store::database::schema(dialect, &format!("{prefix}_credentials"))
    ))
}

/// Every statement of the store, written once per table and dialect.
#[derive(Debug)]
struct Sql {
    create: String,
    read: String,
    lock: String,
    lock_new_row: String,
    release: String,
    save: String,
    invalidate: String,
    note_read: String,
    note_write: String,
    note_clear: String,
}

impl Sql {
    fn new(dialect: Dialect, t: &str) -> Sql {
        // The database's clock, so that the hosts' clocks never matter.
        let (now_ms, now_s) = match dialect {
            // In UTC, not the session's time zone: UNIX_TIMESTAMP(NOW(3))
            // would jump by an hour where that zone changes to or from
            // daylight saving time.
            Dialect::Mysql => (
                "(TIMESTAMPDIFF(MICROSECOND, '1970-01-01', UTC_TIMESTAMP(6)) DIV 1000)",
                "(TIMESTAMPDIFF(MICROSECOND, '1970-01-01', UTC_TIMESTAMP(6)) DIV 1000000)",
            ),
            Dialect::Postgres => (
                "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)",
                "CAST(EXTRACT(EPOCH FROM clock_timestamp()) AS BIGINT)",
            ),
        };
        let row = "appid = ? AND kind = ?";
        let (lock_new_row, save) = match dialect {
            // INSERT IGNORE: a row that exists is left alone and counts 0,
            // whatever the client flags (ON DUPLICATE KEY UPDATE would count
            // an unchanged row as 1 under CLIENT_FOUND_ROWS).
            Dialect::Mysql => (
                format!(
                    "INSERT IGNORE INTO {t} (appid, kind, lock_owner, lock_until_ms) \
                     VALUES (?, ?, ?, {now_ms} + ?)"
                ),
                format!(
                    "INSERT INTO {t} (appid, kind, token, expires_at, fetched_at) \
                     VALUES (?, ?, ?, ?, ?) \
                     ON DUPLICATE KEY UPDATE token = ?, expires_at = ?, fetched_at = ?"
                ),
            ),
            Dialect::Postgres => (
                format!(
                    "INSERT INTO {t} (appid, kind, lock_owner, lock_until_ms) \
                     VALUES (?, ?, ?, {now_ms} + ?) ON CONFLICT (appid, kind) DO NOTHING"
                ),
                format!(
                    "INSERT INTO {t} (appid, kind, token, expires_at, fetched_at) \
                     VALUES (?, ?, ?, ?, ?) \
                     ON CONFLICT (appid, kind) DO UPDATE SET token = ?, expires_at = ?, fetched_at = ?"
                ),
            ),
        };
        Sql {
            create: schema(dialect, t),
            read: format!("SELECT token, expires_at, fetched_at FROM {t} WHERE {row}"),
            lock: format!(
                "UPDATE {t} SET lock_owner = ?, lock_until_ms = {now_ms} + ? WHERE {row} \
                 AND (lock_owner IS NULL OR lock_until_ms IS NULL OR lock_until_ms < {now_ms})"
            ),
            lock_new_row,
            release: format!(
                "UPDATE {t} SET lock_owner = NULL, lock_until_ms = NULL WHERE {row} AND lock_owner = ?"
            ),
            save,
            invalidate: format!(
                "UPDATE {t} SET token = NULL, expires_at = 0, fetched_at = NULL WHERE {row} AND token = ?"
            ),
            note_read: format!("SELECT note FROM {t} WHERE {row} AND note_until > {now_s}"),
            note_write: format!(
                "UPDATE {t} SET note = ?, note_until = {now_s} + {NOTE_TTL_SECS} WHERE {row}"
            ),
            note_clear: format!("UPDATE {t} SET note = NULL, note_until = NULL WHERE {row}"),
        }
    }
}

/// The row of one credential of one app.
#[derive(Debug, Clone)]
struct RowKey {
    app: String,
    kind: &'static str,
}

impl RowKey {
    fn params(&self) -> [Param; 2] {
        [Param::Text(self.app.clone()), Param::Text(self.kind.into())]
    }
}

/// One app's credential in a database; see the module docs.
pub(crate) struct DatabaseStore {
    server: Arc<DbServer>,
    sql: Arc<Sql>,
    table: String,
    row: RowKey,
    lock_ttl: Duration,
    /// What this process last read, and when (lock-free, fork-safe).
    memo: Memo,
}

impl std::fmt::Debug for DatabaseStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseStore")
            .field("server", &self.server.shown())
            .field("table", &self.table)
            .field("row", &self.row)
            .finish_non_exhaustive()
    }
}

impl DatabaseStore {
    /// The store of `app_key`'s `credential` in the database `spec` names.
    /// Connects on first use, not here. Statements are bounded by the HTTP
    /// timeout (at most 3 s each); a lease lives the HTTP timeout plus 2 s.
    pub(crate) fn new(
        spec: &DatabaseSpec,
        app_key: &str,
        credential: Credential,
        http_timeout: Duration,
    ) -> DatabaseStore {
        let server = DbServer::shared(&spec.parsed, spec.ca_file.as_deref(), http_timeout);
        let table = spec.table();
        DatabaseStore {
            sql: Arc::new(Sql::new(server.dialect(), &table)),
            server,
            table,
            row: RowKey {
                app: app_key.to_string(),
                kind: credential.key(),
            },
            lock_ttl: http_timeout + Duration::from_secs(2),
            memo: Memo::default(),
        }
    }

    fn read(&self) -> Result<Option<Cached>> {
        let row = match self.run("read from", Kind::Row, &self.sql.read, &self.row.params())? {
            Answer::Row(row) => row,
            Answer::Affected(_) => None,
        };
        let cached = row.and_then(|cols| {
            let token = cols.first().and_then(Value::text)?;
            let token = parse_token(token.as_bytes())?;
            Some(Cached {
                token,
                expires_at: cols
                    .get(1)
                    .and_then(Value::int)
                    .map_or(0, |e| e.max(0) as u64),
                written_at: cols
                    .get(2)
                    .and_then(Value::int)
                    .filter(|&t| t > 0)
                    .map(|t| t as u64),
            })
        });
        self.memo.remember(cached.clone());
        Ok(cached)
    }

    fn run(&self, op: &'static str, kind: Kind, sql: &str, params: &[Param]) -> Result<Answer> {
        self.server.run(op, kind, sql, params, &self.sql.create)
    }

    fn affected(&self, op: &'static str, sql: &str, params: &[Param]) -> Result<u64> {
        match self.run(op, Kind::Exec, sql, params)? {
            Answer::Affected(n) => Ok(n),
            Answer::Row(_) => Ok(0),
        }
    }
}

impl TokenStore for DatabaseStore {
    fn load(&self) -> Result<Option<Cached>> {
        match self.memo.fresh() {
            Some(c) => Ok(Some(c)),
            None => self.reload(),
        }
    }

    fn reload(&self) -> Result<Option<Cached>> {
        self.memo.or_still_valid(self.read())
    }

    fn try_lock(&self) -> Result<LockOutcome> {
        let owner = random_owner();
        let ttl_ms = i64::try_from(self.lock_ttl.as_millis()).unwrap_or(i64::MAX);
        let [app, kind] = self.row.params();
        let lease = [
            Param::Text(owner.clone()),
            Param::Int(ttl_ms),
            app.clone(),
            kind.clone(),
        ];
        let mut held = self.affected("lock", &self.sql.lock, &lease)? == 1;
        if !held {
            // No row yet, or someone else's lease: a new row comes with ours.
            let new_row = [app, kind, Param::Text(owner.clone()), Param::Int(ttl_ms)];
            held = self.affected("lock", &self.sql.lock_new_row, &new_row)? == 1;
        }
        Ok(if held {
            LockOutcome::Held(Box::new(DatabaseLock {
                server: self.server.clone(),
                sql: self.sql.clone(),
                row: self.row.clone(),
                owner,
            }))
        } else {
            LockOutcome::Busy
        })
    }

    fn save(&self, cached: &Cached, _old_still_valid: bool) -> Result<()> {
        // One statement on one row: no reader ever sees a new token with an
        // old expiry.
        let expires = i64::try_from(cached.expires_at).unwrap_or(i64::MAX);
        let fetched = i64::try_from(cached.written_at.unwrap_or_else(unix_now)).unwrap_or(0);
        let [app, kind] = self.row.params();
        let values = [
            Param::Text(cached.token.clone()),
            Param::Int(expires),
            Param::Int(fetched),
        ];
        let mut params = vec![app, kind];
        params.extend(values.iter().cloned());
        params.extend(values);
        self.affected("write to", &self.sql.save, &params)?;
        self.memo.remember(Some(cached.clone()));
        Ok(())
    }

    fn invalidate(&self, failed: &str) -> Result<bool> {
        let [app, kind] = self.row.params();
        let dropped = self.affected(
            "invalidate in",
            &self.sql.invalidate,
            &[app, kind, Param::Text(failed.to_string())],
        )?;
        self.memo.forget(failed);
        Ok(dropped > 0)
    }

    fn peek_note(&self) -> Option<String> {
        read_note(&self.server, &self.sql, &self.row)
    }

    fn describe(&self) -> StoreInfo {
        let row = format!(
            "table {} row ({}, {})",
            self.table, self.row.app, self.row.kind
        );
        StoreInfo {
            kind: self.server.dialect().as_str().into(),
            location: format!("{} {row}", self.server.shown()),
            lock: format!("{} {row} lease (lock_owner)", self.server.shown()),
        }
    }
}

/// The lease on the row, released by compare-and-clear when dropped.
struct DatabaseLock {
    server: Arc<DbServer>,
    sql: Arc<Sql>,
    row: RowKey,
    owner: String,
}

impl StoreLock for DatabaseLock {
    fn read_note(&self) -> Option<String> {
        read_note(&self.server, &self.sql, &self.row)
    }

    fn write_note(&self, note: &str) {
        let [app, kind] = self.row.params();
        let _ = if note.is_empty() {
            self.server.run(
                "write to",
                Kind::Exec,
                &self.sql.note_clear,
                &[app, kind],
                &self.sql.create,
            )
        } else {
            self.server.run(
                "write to",
                Kind::Exec,
                &self.sql.note_write,
                &[Param::Text(note.to_string()), app, kind],
                &self.sql.create,
            )
        };
    }
}

impl Drop for DatabaseLock {
    fn drop(&mut self) {
        // Only our own lease: if it lapsed and someone else took it, theirs
        // stays. If the database is unreachable, it lapses on its own.
        let [app, kind] = self.row.params();
        let _ = self.server.run(
            "unlock",
            Kind::Exec,
            &self.sql.release,
            &[app, kind, Param::Text(self.owner.clone())],
            &self.sql.create,
        );
    }
}

/// The failure note, or none (also when the database cannot be asked).
fn read_note(server: &DbServer, sql: &Sql, row: &RowKey) -> Option<String> {
    match server.run(
        "read from",
        Kind::Row,
        &sql.note_read,
        &row.params(),
        &sql.create,
    ) {
        Ok(Answer::Row(Some(cols))) => cols.first().and_then(Value::text).map(str::to_string),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::spec::StoreSpec;

    #[test]
    fn a_database_store_is_checked_and_never_shows_its_password() {
        let given = |url: &str, redis: Option<&str>, prefix: Option<&str>| {
            StoreSpec::parse(StoreGiven {
                database_url: Some(url.into()),
                redis_url: redis.map(Into::into),
                database_prefix: prefix.map(Into::into),
                ..StoreGiven::default()
            })
        };
        let s = given("mysql://wx:hunter2pw@127.0.0.1:3306/wxdb", None, None).unwrap();
        assert_eq!(s.kind(), "mysql");
        assert_eq!(s.database().unwrap().table(), "wxtoken_credentials");
        assert!(s.paths(Credential::AccessToken).is_none(), "no files");
        let shown = format!("{s:?} {:?}", s.describe());
        assert!(
            !shown.contains("hunter2pw") && shown.contains("***"),
            "{shown}"
        );
        let p = given(
            "postgresql://wx:pw@db/wxdb?sslmode=require",
            None,
            Some("site1"),
        )
        .unwrap();
        assert_eq!(p.kind(), "postgres");
        assert_eq!(p.database().unwrap().table(), "site1_credentials");
        // Redis and a database at once: which one would be shared?
        let both = given("mysql://wx:pw@h/db", Some("redis://127.0.0.1"), None).unwrap_err();
        let text = both.to_string();
        assert!(
            text.contains("WX_REDIS_URL") && text.contains("WX_DATABASE_URL"),
            "{text}"
        );
        for (url, prefix) in [
            ("mysql://wx:hunter2pw@h/db?sslmode=prefer", None),
            ("mysql://wx:pw@h/db", Some("bad-prefix")),
            ("mysql://wx:pw@h/db", Some("1abc")),
            ("http://wx:pw@h/db", None),
        ] {
            let e = given(url, None, prefix).unwrap_err().to_string();
            assert!(e.contains("WX_DATABASE"), "{e}");
            assert!(!e.contains("hunter2pw"), "{e}");
        }
        assert!(database_schema(Some("postgres"), None, Some("x"))
            .unwrap()
            .starts_with("CREATE TABLE IF NOT EXISTS x_credentials ("));
        assert!(database_schema(None, None, None).is_err());
    }

    #[test]
    fn statements_use_the_database_clock_and_one_row() {
        for dialect in [Dialect::Mysql, Dialect::Postgres] {
            let sql = Sql::new(dialect, "wxtoken_credentials");
            assert!(sql.lock.contains("lock_until_ms <"), "{}", sql.lock);
            assert!(
                !sql.lock.contains("lock_until_ms < ?"),
                "the server's clock"
            );
            assert!(sql.save.starts_with("INSERT INTO wxtoken_credentials"));
            assert!(sql.create.contains("PRIMARY KEY (appid, kind)"));
        }
    }
}
