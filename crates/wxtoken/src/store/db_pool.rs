//! The connections to one SQL database (MySQL/MariaDB or PostgreSQL), shared
//! by every store of the process on it, as `redis_pool.rs` does for Redis:
//! at most [`MAX_CONNECTIONS`] per server and process, opened on demand,
//! every wait (for a free connection, a connect, a statement) bounded by the
//! store's timeout (the HTTP timeout, at most [`MAX_TIMEOUT`]). The pool is
//! made per process (`process_lock::PerProcess`): a connection made before a
//! fork belongs to the parent.
//!
//! The drivers:
//!
//! - MySQL/MariaDB: the synchronous `mysql` client, called on the caller's
//!   thread (it has no runtime of its own, so it works inside tokio too),
//!   with socket read, write and connect timeouts.
//! - PostgreSQL: `tokio-postgres`, on a one-thread tokio runtime that belongs
//!   to the pool (built on first use). Callers hand each statement to it and
//!   wait on a channel: the sync `postgres` client instead runs its own
//!   runtime on the caller's thread and panics when that thread is already in
//!   one (the async API, `wxtoken daemon`, the blocking API's own runtime).
//!   A statement that outlives the timeout is cancelled there, its
//!   connection dropped.
//!
//! Every statement is one round trip in autocommit: no transaction, session
//! variable or lock outlives a statement, so a pooler that hands each
//! statement to another server connection (pgbouncer in transaction mode,
//! ProxySQL) changes nothing. PostgreSQL's statements are unnamed and typed
//! by the client (parse, bind and execute in one message): a named prepared
//! statement is session state, which pgbouncer in transaction mode loses
//! (before 1.21, or without `max_prepared_statements`). MySQL's are prepared
//! once per connection (the binary protocol, which ProxySQL tracks per
//! backend connection itself).

use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::process_lock::PerProcess;

/// Connections per server and process: each store holds one for one
/// statement at a time, and only misses and refreshes make statements.
pub const MAX_CONNECTIONS: usize = 4;

/// The longest one statement (or the wait for a free connection) may take,
/// however long the HTTP timeout.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(3);

/// The longest a new connection (TCP, TLS, authentication) may take, however
/// long the HTTP timeout. Longer than a statement's: PostgreSQL's SCRAM
/// authentication costs real CPU on both sides, and a herd of processes that
/// all connect at once (64 PHP workers starting) must not fail for it; a
/// server that does not answer at all is refused at once instead.
pub const MAX_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Which SQL dialect a database URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// MySQL 8 or MariaDB 10.6+ (`mysql://`).
    Mysql,
    /// PostgreSQL 13+ (`postgres://`, `postgresql://`).
    Postgres,
}

impl Dialect {
    /// The product, as messages name it.
    pub fn product(self) -> &'static str {
        match self {
            Dialect::Mysql => "MySQL",
            Dialect::Postgres => "PostgreSQL",
        }
    }

    /// The name `wxtoken db-schema` takes: `mysql` or `postgres`.
    pub fn as_str(self) -> &'static str {
        match self {
            Dialect::Mysql => "mysql",
            Dialect::Postgres => "postgres",
        }
    }
}

/// A database URL, taken apart and checked (see [`parse_url`]).
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) struct DbUrl {
    pub(crate) dialect: Dialect,
    host: String,
    port: u16,
    user: String,
    password: String,
    database: String,
    /// The URL asked for TLS (`sslmode=require`, `ssl-mode=REQUIRED`, ...).
    tls: bool,
}

impl std::fmt::Debug for DbUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the password.
        f.write_str(&self.shown())
    }
}

impl DbUrl {
    /// What messages call the server: `MySQL at wx@127.0.0.1:3306/wxdb`
    /// (never the password).
    pub(crate) fn shown(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        format!(
            "{} at {}@{host}:{}/{}{}",
            self.dialect.product(),
            self.user,
            self.port,
            self.database,
            if self.tls { " (TLS)" } else { "" }
        )
    }
}

/// The URL with any password replaced by `***`, for `status` and `Debug`.
pub(crate) fn mask_db_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        Ok(u) => u.to_string(),
        Err(_) => "(an invalid database URL)".into(),
    }
}

/// Checks a `WX_DATABASE_URL`: `mysql://user:pass@host[:port]/db` or
/// `postgres[ql]://user:pass@host[:port]/db`, with at most one query
/// parameter, `sslmode` (or `ssl-mode`): `disable` (the default), or
/// `require`, `verify-ca`, `verify-full` (MySQL's `REQUIRED`, `VERIFY_CA`,
/// `VERIFY_IDENTITY` too), which all use TLS and verify the server's
/// certificate and name against `WX_CA_FILE` and public roots (PostgreSQL:
/// the system's; MySQL: the webpki roots its driver bundles).
pub(crate) fn parse_url(url: &str) -> std::result::Result<DbUrl, String> {
    let u = reqwest::Url::parse(url).map_err(|e| e.to_string())?;
    let (dialect, default_port) = match u.scheme() {
        "mysql" | "mariadb" => (Dialect::Mysql, 3306),
        "postgres" | "postgresql" => (Dialect::Postgres, 5432),
        other => return Err(format!("unknown scheme {other:?}")),
    };
    let decode = |s: &str| {
        percent_decode(s).ok_or_else(|| "a part of the URL is not valid UTF-8".to_string())
    };
    let host = match u.host_str() {
        Some(h) if !h.is_empty() => h.trim_start_matches('[').trim_end_matches(']').to_string(),
        _ => return Err("no host".into()),
    };
    let user = decode(u.username())?;
    if user.is_empty() {
        return Err("no user name".into());
    }
    let password = decode(u.password().unwrap_or(""))?;
    let database = decode(u.path().trim_start_matches('/'))?;
    if database.is_empty() || database.contains('/') {
        return Err("no database name (the path, as in .../wxdb)".into());
    }
    let mut tls = false;
    for (key, value) in u.query_pairs() {
        match key.as_ref() {
            "sslmode" | "ssl-mode" | "ssl_mode" => {
                tls = match value.to_ascii_lowercase().replace('_', "-").as_str() {
                    "disable" | "disabled" => false,
                    "require" | "required" | "verify-ca" | "verify-full" | "verify-identity" => {
                        true
                    }
                    _ => {
                        return Err(format!(
                        "sslmode must be disable, require, verify-ca or verify-full, got {value:?}"
                    ))
                    }
                }
            }
            other => {
                return Err(format!(
                    "unknown parameter {other:?} (only sslmode is read)"
                ))
            }
        }
    }
    Ok(DbUrl {
        dialect,
        port: u.port().unwrap_or(default_port),
        host,
        user,
        password,
        database,
        tls,
    })
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// A statement's parameter.
#[derive(Debug, Clone)]
pub(crate) enum Param {
    Text(String),
    Int(i64),
}

/// A value read back.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Null,
    Int(i64),
    Text(String),
}

impl Value {
    pub(crate) fn int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Text(t) => t.trim().parse().ok(),
            Value::Null => None,
        }
    }

    pub(crate) fn text(&self) -> Option<&str> {
        match self {
            Value::Text(t) => Some(t),
            _ => None,
        }
    }
}

/// What a statement is run for. (Statements are written with `?`
/// placeholders, turned into `$1`, `$2`, ... for PostgreSQL.)
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    /// Returns the number of rows it changed.
    Exec,
    /// Returns its first row, if any.
    Row,
}

/// What a statement returned.
pub(crate) enum Answer {
    Affected(u64),
    Row(Option<Vec<Value>>),
}

/// A driver's error, classified where it matters.
struct DbErr {
    /// The table does not exist (MySQL 1146, PostgreSQL 42P01).
    missing_table: bool,
    /// The connection, not the statement, failed (closed, reset, broken),
    /// on a connection taken from the idle list: the server restarted or
    /// dropped it while idle. Not a timeout: that is not retried.
    stale: bool,
    text: String,
}

impl From<mysql::Error> for DbErr {
    fn from(e: mysql::Error) -> DbErr {
        let missing_table = matches!(&e, mysql::Error::MySqlError(m) if m.code == 1146);
        let io = match &e {
            mysql::Error::IoError(io) => Some(io.kind()),
            // The codec's error wraps the socket's.
            mysql::Error::CodecError(c) => std::error::Error::source(c)
                .and_then(|s| s.downcast_ref::<std::io::Error>())
                .map(std::io::Error::kind),
            _ => None,
        };
        // A socket timeout reads as EAGAIN ("Resource temporarily
        // unavailable"): say what it means.
        let timed_out = matches!(
            io,
            Some(std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut)
        );
        let text = match timed_out {
            true => format!("no answer in time (the server is slow or stopped): {e}"),
            false => e.to_string(),
        };
        DbErr {
            missing_table,
            stale: !timed_out && !matches!(&e, mysql::Error::MySqlError(_)),
            text,
        }
    }
}

impl From<tokio_postgres::Error> for DbErr {
    fn from(e: tokio_postgres::Error) -> DbErr {
        let missing_table = e.code() == Some(&tokio_postgres::error::SqlState::UNDEFINED_TABLE);
        let stale = e.is_closed()
            || (e.as_db_error().is_none()
                && std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>()));
        // The server's message says what is wrong ("password authentication
        // failed for user ..."); the outer error often says only "db error".
        let text = match e.as_db_error() {
            Some(db) => format!("{}: {}", db.severity(), db.message()),
            None => {
                // "error connecting to server" says little; its source says
                // why ("Connection refused", a certificate problem).
                let mut text = e.to_string();
                let mut source = std::error::Error::source(&e);
                while let Some(cause) = source {
                    text.push_str(&format!(": {cause}"));
                    source = cause.source();
                }
                text
            }
        };
        DbErr {
            missing_table,
            stale,
            text,
        }
    }
}

impl DbErr {
    fn other(text: impl Into<String>) -> DbErr {
        DbErr {
            missing_table: false,
            stale: false,
            text: text.into(),
        }
    }
}

/// A PostgreSQL connection.
struct PgConn {
    client: tokio_postgres::Client,
}

enum Conn {
    Mysql(Box<mysql::Conn>),
    Postgres(PgConn),
}

#[derive(Default)]
struct Pool {
    state: Mutex<Slots>,
    freed: Condvar,
    /// PostgreSQL's runtime, built on first use (in this process).
    runtime: OnceLock<std::result::Result<tokio::runtime::Runtime, String>>,
}

#[derive(Default)]
struct Slots {
    idle: Vec<Conn>,
    open: usize,
}

/// A slot taken from a pool: on drop, its connection goes back to the idle
/// list if there is one, else the slot is freed.
struct Slot<'a> {
    pool: &'a Pool,
    con: Option<Conn>,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let mut slots = self.pool.state.lock().unwrap_or_else(|p| p.into_inner());
        match self.con.take() {
            Some(con) => slots.idle.push(con),
            None => slots.open = slots.open.saturating_sub(1),
        }
        self.pool.freed.notify_one();
    }
}

/// What makes two stores' servers the same: the URL, the CA file, the
/// timeout.
type ServerKey = (DbUrl, Option<std::path::PathBuf>, Duration);

static SERVERS: Mutex<Vec<(ServerKey, Arc<DbServer>)>> = Mutex::new(Vec::new());

/// The registry's lock, held by `fork::prepare` across a fork.
pub(crate) type ServersGuard = MutexGuard<'static, Vec<(ServerKey, Arc<DbServer>)>>;

/// The registry's lock, for `fork::prepare`.
pub(crate) fn lock_servers() -> ServersGuard {
    SERVERS.lock().unwrap_or_else(|p| p.into_inner())
}

/// One database server, as this process reaches it: a small pool of
/// connections shared by every store on it.
pub(crate) struct DbServer {
    url: DbUrl,
    shown: String,
    ca_file: Option<std::path::PathBuf>,
    /// Each statement's bound, and the wait for a free connection.
    timeout: Duration,
    /// A new connection's bound.
    connect_timeout: Duration,
    pool: PerProcess<Pool>,
}

impl DbServer {
    /// The process's handle on the server `url` names; connects nothing
    /// yet.
    pub(crate) fn shared(
        url: &DbUrl,
        ca_file: Option<&std::path::Path>,
        timeout: Duration,
    ) -> Arc<DbServer> {
        let connect_timeout = timeout.min(MAX_CONNECT_TIMEOUT);
        let timeout = timeout.min(MAX_TIMEOUT);
        let key: ServerKey = (url.clone(), ca_file.map(Into::into), connect_timeout);
        let mut servers = lock_servers();
        if let Some((_, s)) = servers.iter().find(|(k, _)| *k == key) {
            return s.clone();
        }
        let server = Arc::new(DbServer {
            shown: url.shown(),
            url: url.clone(),
            ca_file: key.1.clone(),
            timeout,
            connect_timeout,
            pool: PerProcess::new(Pool::default),
        });
        servers.push((key, server.clone()));
        server
    }

    /// The server as messages name it, password never shown.
    pub(crate) fn shown(&self) -> &str {
        &self.shown
    }

    /// The dialect of its SQL.
    pub(crate) fn dialect(&self) -> Dialect {
        self.url.dialect
    }

    /// Runs one statement; when the table is missing, runs `create` (the
    /// table's DDL) and tries once more. Errors name the server and `op`.
    pub(crate) fn run(
        &self,
        op: &'static str,
        kind: Kind,
        sql: &str,
        params: &[Param],
        create: &str,
    ) -> Result<Answer> {
        match self.run_fresh(kind, sql, params) {
            Err(e) if e.missing_table => {
                let created = self.run_fresh(Kind::Exec, create, &[]);
                match self.run_fresh(kind, sql, params) {
                    Err(again) if again.missing_table => {
                        let why = match created {
                            Err(c) => c.text,
                            Ok(_) => again.text,
                        };
                        Err(self.error(
                            op,
                            format!(
                                "its table does not exist and this user cannot create it ({why}); \
                                 a DBA can create it with the DDL `wxtoken db-schema {}` prints",
                                self.url.dialect.as_str()
                            ),
                        ))
                    }
                    other => other.map_err(|e| self.error(op, e.text)),
                }
            }
            other => other.map_err(|e| self.error(op, e.text)),
        }
    }

    fn error(&self, op: &'static str, mut reason: String) -> Error {
        if !self.url.password.is_empty() {
            reason = reason.replace(&self.url.password, "***");
        }
        Error::Database {
            op,
            server: self.shown.clone(),
            reason,
        }
    }

    /// `run_once`, and once more on a new connection if an idle one turned
    /// out dead. The other idle connections are dropped too: what killed
    /// one (a restart, a failover, an idle timeout) most likely killed them
    /// all, and each would otherwise fail one caller.
    fn run_fresh(
        &self,
        kind: Kind,
        sql: &str,
        params: &[Param],
    ) -> std::result::Result<Answer, DbErr> {
        match self.run_once(kind, sql, params) {
            Err(e) if e.stale => {
                let pool = self.pool.get();
                let mut slots = pool.state.lock().unwrap_or_else(|p| p.into_inner());
                let dropped = std::mem::take(&mut slots.idle);
                slots.open = slots.open.saturating_sub(dropped.len());
                drop(slots);
                pool.freed.notify_all();
                drop(dropped);
                self.run_once(kind, sql, params)
            }
            other => other,
        }
    }

    fn run_once(
        &self,
        kind: Kind,
        sql: &str,
        params: &[Param],
    ) -> std::result::Result<Answer, DbErr> {
        let pool = self.pool.get();
        let idle = self.take(&pool)?;
        let reused = idle.is_some();
        self.run_on(&pool, idle, kind, sql, params)
            .map_err(|e| DbErr {
                stale: e.stale && reused,
                ..e
            })
    }

    fn run_on(
        &self,
        pool: &Pool,
        idle: Option<Conn>,
        kind: Kind,
        sql: &str,
        params: &[Param],
    ) -> std::result::Result<Answer, DbErr> {
        // From here the slot is the guard's: freed however this ends.
        let mut slot = Slot { pool, con: None };
        match self.url.dialect {
            Dialect::Mysql => {
                let mut con = match idle {
                    Some(Conn::Mysql(c)) => c,
                    _ => Box::new(self.connect_mysql()?),
                };
                let answer = mysql_run(&mut con, kind, sql, params)?;
                slot.con = Some(Conn::Mysql(con));
                Ok(answer)
            }
            Dialect::Postgres => {
                let idle = match idle {
                    Some(Conn::Postgres(c)) => Some(c),
                    _ => None,
                };
                let (con, answer) = self.postgres_run(pool, idle, kind, sql, params);
                slot.con = con.map(Conn::Postgres);
                answer
            }
        }
    }

    /// An idle connection, or `None` with a slot reserved for a new one.
    fn take(&self, pool: &Pool) -> std::result::Result<Option<Conn>, DbErr> {
        let deadline = Instant::now() + self.timeout;
        let mut slots = pool.state.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(con) = slots.idle.pop() {
                return Ok(Some(con));
            }
            if slots.open < MAX_CONNECTIONS {
                slots.open += 1;
                return Ok(None);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(DbErr::other(format!(
                    "all {MAX_CONNECTIONS} connections stayed busy"
                )));
            }
            slots = pool
                .freed
                .wait_timeout(slots, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    fn connect_mysql(&self) -> std::result::Result<mysql::Conn, DbErr> {
        let u = &self.url;
        let mut opts = mysql::OptsBuilder::new()
            .ip_or_hostname(Some(u.host.clone()))
            .tcp_port(u.port)
            .user(Some(u.user.clone()))
            .pass(Some(u.password.clone()))
            .db_name(Some(u.database.clone()))
            // TCP to the host named, not a socket it may point to.
            .prefer_socket(false)
            .tcp_connect_timeout(Some(self.connect_timeout))
            .read_timeout(Some(self.timeout))
            .write_timeout(Some(self.timeout))
            .stmt_cache_size(Some(32));
        if u.tls {
            if let Some(path) = &self.ca_file {
                // The driver opens the file itself: check first that it is a
                // regular file of sane size, as every settings file is (a
                // FIFO or /dev/zero there must not hang or fill the process).
                crate::file_safety::read_setting_file(path, "WX_CA_FILE", 4 << 20, false)
                    .map_err(|e| DbErr::other(e.to_string()))?;
            }
            let _ = rustls::crypto::ring::default_provider().install_default();
            let ssl = mysql::SslOpts::default()
                .with_root_cert_path(self.ca_file.clone().map(std::borrow::Cow::Owned));
            opts = opts.ssl_opts(Some(ssl));
        }
        Ok(mysql::Conn::new(opts)?)
    }

    fn postgres_config(&self) -> tokio_postgres::Config {
        let u = &self.url;
        let mut c = tokio_postgres::Config::new();
        c.host(&u.host)
            .port(u.port)
            .user(&u.user)
            .password(u.password.as_bytes())
            .dbname(&u.database)
            .application_name("wxtoken")
            .connect_timeout(self.connect_timeout)
            .ssl_mode(if u.tls {
                tokio_postgres::config::SslMode::Require
            } else {
                tokio_postgres::config::SslMode::Disable
            });
        c
    }

    /// The TLS client for PostgreSQL: the system's roots and `WX_CA_FILE`.
    fn postgres_tls(&self) -> std::result::Result<tokio_postgres_rustls::MakeRustlsConnect, DbErr> {
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls_native_certs::load_native_certs().certs {
            let _ = roots.add(cert);
        }
        if let Some(path) = &self.ca_file {
            use rustls::pki_types::pem::PemObject;
            let pem = crate::file_safety::read_setting_file(path, "WX_CA_FILE", 4 << 20, false)
                .map_err(|e| DbErr::other(e.to_string()))?;
            for cert in rustls::pki_types::CertificateDer::pem_slice_iter(&pem) {
                let cert = cert.map_err(|e| DbErr::other(format!("WX_CA_FILE: {e}")))?;
                roots
                    .add(cert)
                    .map_err(|e| DbErr::other(format!("WX_CA_FILE: {e}")))?;
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| DbErr::other(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
    }

    /// Runs one statement on the pool's runtime, connecting first if `idle`
    /// is none; gives the connection back unless it failed or timed out.
    fn postgres_run(
        &self,
        pool: &Pool,
        idle: Option<PgConn>,
        kind: Kind,
        sql: &str,
        params: &[Param],
    ) -> (Option<PgConn>, std::result::Result<Answer, DbErr>) {
        let runtime = pool.runtime.get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("wxtoken-db")
                .enable_all()
                .build()
                .map_err(|e| format!("cannot start the database thread: {e}"))
        });
        let runtime = match runtime {
            Ok(rt) => rt,
            Err(e) => return (None, Err(DbErr::other(e.clone()))),
        };
        let tls = match (self.url.tls, idle.is_none()) {
            (true, true) => match self.postgres_tls() {
                Ok(t) => Some(t),
                Err(e) => return (None, Err(e)),
            },
            _ => None,
        };
        let config = self.postgres_config();
        let sql = numbered(sql);
        let params = params.to_vec();
        let (timeout, connect_timeout) = (self.timeout, self.connect_timeout);
        let late = |what: &str, t: Duration| {
            DbErr::other(format!(
                "no answer to {what} within {:.1}s",
                t.as_secs_f64()
            ))
        };
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        runtime.spawn(async move {
            let work = async move {
                let mut con = match idle {
                    Some(c) => c,
                    None => tokio::time::timeout(connect_timeout, postgres_connect(&config, tls))
                        .await
                        .map_err(|_| late("the connect", connect_timeout))??,
                };
                let answer = tokio::time::timeout(
                    timeout,
                    postgres_statement(&mut con, kind, &sql, &params),
                )
                .await
                .map_err(|_| late("a statement", timeout))??;
                Ok::<_, DbErr>((con, answer))
            };
            // A connection that failed or timed out is dropped here (its
            // task ends with it); a good one goes back to the pool.
            let out = match work.await {
                Ok((con, answer)) => (Some(con), Ok(answer)),
                Err(e) => (None, Err(e)),
            };
            let _ = tx.send(out);
        });
        // The task is bounded by both timeouts; the margin covers a busy
        // thread.
        rx.recv_timeout(connect_timeout + timeout + Duration::from_secs(2))
            .unwrap_or_else(|_| {
                (
                    None,
                    Err(DbErr::other("the database thread did not answer")),
                )
            })
    }
}

async fn postgres_connect(
    config: &tokio_postgres::Config,
    tls: Option<tokio_postgres_rustls::MakeRustlsConnect>,
) -> std::result::Result<PgConn, DbErr> {
    let client = match tls {
        Some(tls) => {
            let (client, connection) = config.connect(tls).await?;
            tokio::spawn(connection);
            client
        }
        None => {
            let (client, connection) = config.connect(tokio_postgres::NoTls).await?;
            tokio::spawn(connection);
            client
        }
    };
    Ok(PgConn { client })
}

impl tokio_postgres::types::ToSql for Param {
    fn to_sql(
        &self,
        ty: &tokio_postgres::types::Type,
        out: &mut tokio_postgres::types::private::BytesMut,
    ) -> std::result::Result<tokio_postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>>
    {
        match self {
            Param::Text(s) => s.to_sql(ty, out),
            Param::Int(i) => i.to_sql(ty, out),
        }
    }

    fn accepts(ty: &tokio_postgres::types::Type) -> bool {
        <String as tokio_postgres::types::ToSql>::accepts(ty)
            || <i64 as tokio_postgres::types::ToSql>::accepts(ty)
    }

    tokio_postgres::types::to_sql_checked!();
}

async fn postgres_statement(
    con: &mut PgConn,
    kind: Kind,
    sql: &str,
    params: &[Param],
) -> std::result::Result<Answer, DbErr> {
    use tokio_postgres::types::{ToSql, Type};
    // Without parameters (the table's DDL, run once): the simple protocol,
    // no prepared statement kept for it; as `mysql_run` does.
    if params.is_empty() {
        con.client.batch_execute(sql).await?;
        return Ok(Answer::Affected(0));
    }
    // Typed by the client: one round trip on the unnamed statement.
    let typed: Vec<(&(dyn ToSql + Sync), Type)> = params
        .iter()
        .map(|p| {
            let ty = match p {
                Param::Text(_) => Type::TEXT,
                Param::Int(_) => Type::INT8,
            };
            (p as &(dyn ToSql + Sync), ty)
        })
        .collect();
    match kind {
        Kind::Exec => Ok(Answer::Affected(
            con.client.execute_typed(sql, &typed).await?,
        )),
        Kind::Row => {
            let row = con.client.query_typed_opt(sql, &typed).await?;
            Ok(Answer::Row(row.map(|row| {
                (0..row.len())
                    .map(|i| {
                        let ty = row.columns()[i].type_().clone();
                        let value = if ty == Type::INT8 {
                            row.try_get::<_, Option<i64>>(i)
                                .ok()
                                .flatten()
                                .map(Value::Int)
                        } else if ty == Type::INT4 {
                            row.try_get::<_, Option<i32>>(i)
                                .ok()
                                .flatten()
                                .map(|v| Value::Int(v.into()))
                        } else {
                            row.try_get::<_, Option<String>>(i)
                                .ok()
                                .flatten()
                                .map(Value::Text)
                        };
                        value.unwrap_or(Value::Null)
                    })
                    .collect()
            })))
        }
    }
}

fn mysql_run(
    con: &mut mysql::Conn,
    kind: Kind,
    sql: &str,
    params: &[Param],
) -> std::result::Result<Answer, DbErr> {
    use mysql::prelude::Queryable;
    // Without parameters (the table's DDL, run once): the text protocol, no
    // prepared statement kept for it.
    if params.is_empty() {
        con.query_drop(sql)?;
        return Ok(Answer::Affected(con.affected_rows()));
    }
    let values: Vec<mysql::Value> = params
        .iter()
        .map(|p| match p {
            Param::Text(s) => mysql::Value::from(s.as_str()),
            Param::Int(i) => mysql::Value::Int(*i),
        })
        .collect();
    let params = mysql::Params::Positional(values);
    match kind {
        Kind::Exec => {
            con.exec_drop(sql, params)?;
            Ok(Answer::Affected(con.affected_rows()))
        }
        Kind::Row => {
            let row: Option<mysql::Row> = con.exec_first(sql, params)?;
            Ok(Answer::Row(row.map(|r| {
                r.unwrap()
                    .into_iter()
                    .map(|v| match v {
                        mysql::Value::NULL => Value::Null,
                        mysql::Value::Int(i) => Value::Int(i),
                        mysql::Value::UInt(u) => Value::Int(i64::try_from(u).unwrap_or(i64::MAX)),
                        mysql::Value::Bytes(b) => {
                            Value::Text(String::from_utf8_lossy(&b).into_owned())
                        }
                        _ => Value::Null,
                    })
                    .collect()
            })))
        }
    }
}

/// `?` placeholders as PostgreSQL's `$1`, `$2`, ... (the statements here
/// hold no `?` of their own).
fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut n = 0;
    for c in sql.chars() {
        if c == '?' {
            n += 1;
            out.push_str(&format!("${n}"));
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_and_passwords_never_shown() {
        let u = parse_url("mysql://wx:p%40ss@127.0.0.1:3307/wxdb").unwrap();
        assert_eq!(u.dialect, Dialect::Mysql);
        assert_eq!(u.password, "p@ss");
        assert_eq!(u.shown(), "MySQL at wx@127.0.0.1:3307/wxdb");
        assert!(!format!("{u:?}").contains("p@ss"));
        let p = parse_url("postgresql://wx:pw@db.internal/wxdb?sslmode=require").unwrap();
        assert_eq!((p.dialect, p.port, p.tls), (Dialect::Postgres, 5432, true));
        assert!(
            parse_url("mysql://wx:pw@h/db?ssl-mode=VERIFY_IDENTITY")
                .unwrap()
                .tls
        );
        assert!(
            !parse_url("postgres://wx:pw@h/db?sslmode=disable")
                .unwrap()
                .tls
        );
        for bad in [
            "mysql://h/db",
            "mysql://wx:pw@h/",
            "mysql://wx:pw@h/db?sslmode=prefer",
            "mysql://wx:pw@h/db?ssl=true",
            "redis://wx:pw@h/db",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
        assert_eq!(
            mask_db_url("postgres://wx:hunter2@h:5432/db"),
            "postgres://wx:***@h:5432/db"
        );
    }

    #[test]
    fn placeholders_are_numbered_for_postgres() {
        assert_eq!(
            numbered("UPDATE t SET a = ? WHERE b = ? AND c = ?"),
            "UPDATE t SET a = $1 WHERE b = $2 AND c = $3"
        );
    }
}
