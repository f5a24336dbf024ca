//! The connections to one Redis server, shared by every store of the process
//! on that server (each app's token and tickets, in a PHP worker, a C server
//! or `wxtoken daemon` with thousands of apps).
//!
//! One connection per store was right for a worker with one app and wrong
//! for a process with thousands: 5,000 apps on one Redis were 5,000 clients
//! and ran the process out of descriptors. A server here gets at most
//! [`MAX_CONNECTIONS`], opened on demand; a caller that finds them all busy
//! waits at most the Redis timeout, then gets an error. Every round trip is
//! bounded by that timeout too, so a paused Redis makes callers fail, never
//! hang. The pool is made per process (see `process_lock`): a connection made
//! before a fork belongs to the parent.
//!
//! A "server" is any form of [`redis_url`](crate::store::redis_url): one
//! server, the master that Sentinel names, or a Cluster. A connection is
//! whichever of redis-rs's fits (a plain connection to the master, or a
//! cluster connection that follows `MOVED` and `ASK`); callers see only
//! [`redis::ConnectionLike`].
//!
//! Sentinel: each new connection asks the sentinels, in turn, for the master's
//! address, connects, and checks with `ROLE` that the node is a master; a
//! connection is dropped on any error (a `READONLY` from a demoted master
//! included), so the next one asks again and follows a failover. This is
//! done here rather than with redis-rs's sentinel client, which connects to
//! sentinels and masters with no timeout: a sentinel that does not answer
//! would hang every caller.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use redis::ConnectionLike;

use crate::error::{Error, Result};
use crate::process_lock::PerProcess;
use crate::store::redis_url::{RedisUrl, Topology};

/// A connection of any topology.
type Conn = Box<dyn ConnectionLike + Send>;

/// How often redis-rs retries a cluster command after a redirection, a
/// `TRYAGAIN` or a timeout, and the longest pause between tries. Few: a
/// read timeout counts as a retry too, and each try may take the response
/// timeout (the Redis timeout divided by the tries), so a paused node costs
/// about one Redis timeout, not several. A slot being migrated is waited
/// out by [`RedisServer::with`] itself, until the Redis timeout.
const CLUSTER_RETRIES: u32 = 2;
const CLUSTER_MAX_RETRY_WAIT_MS: u64 = 250;
/// The least time a sentinel is given to answer, however many there are.
const MIN_SENTINEL_WAIT: Duration = Duration::from_millis(250);
/// The pause before this module tries again itself, once redis-rs has
/// given up on a slot being migrated (see [`RedisServer::with`]).
const CLUSTER_PAUSE: Duration = Duration::from_millis(50);

/// Connections per server and process: the refreshes in flight at once are
/// few (one per credential, and the daemon bounds its fetches), and each
/// holds one connection for one round trip at a time.
pub const MAX_CONNECTIONS: usize = 8;

/// The longest one Redis operation (or the wait for a free connection) may
/// take, however long the HTTP timeout.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(3);

/// What makes two stores' servers the same: the URL, the CA file, the timeout.
type ServerKey = (String, Option<std::path::PathBuf>, Duration);

/// Every server this process has a pool for.
static SERVERS: Mutex<Vec<(ServerKey, Arc<RedisServer>)>> = Mutex::new(Vec::new());

/// The registry's lock, for `fork::prepare`.
pub(crate) fn lock_servers() -> MutexGuard<'static, Vec<(ServerKey, Arc<RedisServer>)>> {
    SERVERS.lock().unwrap_or_else(|p| p.into_inner())
}

/// One Redis server, as this process reaches it: a small pool of
/// connections, shared by every store on it and by anything else of the
/// process that talks to it (`wxtoken daemon`'s store watcher and publishing).
pub struct RedisServer {
    url: String,
    /// The URL with its password masked, for messages.
    shown: String,
    /// The URL parsed (an error if it does not parse: then every connection
    /// attempt fails with it; configurations are checked before this).
    parsed: std::result::Result<RedisUrl, String>,
    ca_file: Option<std::path::PathBuf>,
    timeout: Duration,
    pool: PerProcess<Pool>,
    /// Which sentinel answered last (an index into the URL's list).
    last_sentinel: AtomicUsize,
}

#[derive(Default)]
struct Pool {
    state: Mutex<Slots>,
    freed: Condvar,
}

/// A slot taken from a pool: on drop, its connection goes back to the idle
/// list if the round trip succeeded (`keep`), else the slot is freed.
struct Slot<'a> {
    pool: &'a Pool,
    con: Option<Conn>,
    keep: bool,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let mut slots = self.pool.state.lock().unwrap_or_else(|p| p.into_inner());
        match self.con.take().filter(|_| self.keep) {
            Some(con) => slots.idle.push(con),
            None => slots.open = slots.open.saturating_sub(1),
        }
        self.pool.freed.notify_one();
    }
}

#[derive(Default)]
struct Slots {
    idle: Vec<Conn>,
    open: usize,
}

impl RedisServer {
    /// The process's handle on the server at `url` (one per URL, CA file and
    /// timeout, the timeout capped at 3 s); connects nothing yet.
    pub fn shared(
        url: &str,
        ca_file: Option<&std::path::Path>,
        timeout: Duration,
    ) -> Arc<RedisServer> {
        let timeout = timeout.min(MAX_TIMEOUT);
        let key: ServerKey = (url.to_string(), ca_file.map(Into::into), timeout);
        let mut servers = lock_servers();
        if let Some((_, s)) = servers.iter().find(|(k, _)| *k == key) {
            return s.clone();
        }
        let server = Arc::new(RedisServer {
            shown: mask_url(url),
            parsed: RedisUrl::parse(url),
            url: key.0.clone(),
            ca_file: key.1.clone(),
            timeout,
            pool: PerProcess::new(Pool::default),
            last_sentinel: AtomicUsize::new(0),
        });
        servers.push((key, server.clone()));
        server
    }

    /// Runs `f` on a connection of the pool, connecting first if none is
    /// idle and fewer than [`MAX_CONNECTIONS`] are open, else waiting (at
    /// most the timeout) for one to come back. Any error drops the
    /// connection, so the next call reconnects. An idle connection found
    /// dead (its server restarted, or failed over: a Sentinel master killed
    /// or demoted to a replica, which answers writes with `READONLY`) is
    /// replaced and `f` run once more on the new one, so that a long-lived
    /// process follows a failover without failing a call.
    pub fn with<T>(
        &self,
        op: &'static str,
        mut f: impl FnMut(&mut dyn ConnectionLike) -> redis::RedisResult<T>,
    ) -> Result<T> {
        let pool = self.pool.get();
        let idle = self.take(&pool)?;
        // From here the slot is the guard's: it goes back to the pool however
        // this ends, a panic in `f` included (the connection then is dropped).
        let mut slot = Slot {
            pool: &pool,
            con: None,
            keep: false,
        };
        let reused = idle.is_some();
        let con = match idle {
            Some(con) => slot.con.insert(con),
            None => slot.con.insert(self.connect()?),
        };
        let started = Instant::now();
        let mut result = f(con.as_mut());
        if reused && result.as_ref().is_err_and(is_stale) {
            slot.con = None;
            let con = slot.con.insert(self.connect()?);
            result = f(con.as_mut());
        }
        // A slot being migrated answers TRYAGAIN (the keys of a command
        // split between the two nodes) or ASK until its keys have moved;
        // redis-rs retries a few times, and this goes on until the
        // timeout, so a slow resharding does not fail the call. Neither
        // answer ran the command, so running it again is safe.
        while let (Err(e), Some(con)) = (&result, slot.con.as_mut()) {
            if !e.is_cluster_error() || started.elapsed() >= self.timeout {
                break;
            }
            std::thread::sleep(CLUSTER_PAUSE);
            result = f(con.as_mut());
        }
        match result {
            Ok(v) => Ok(v),
            Err(e) => {
                slot.con = None;
                Err(self.error(op, &e))
            }
        }
        .inspect(|_| slot.keep = true)
    }

    /// The server's URL with its password masked, for messages.
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// Checks a Redis URL of any form: a configuration error naming
    /// `setting`, the forms, and what is wrong (the password masked).
    pub fn check_url(url: &str, setting: &str) -> Result<()> {
        crate::store::redis_url::check(url, setting)
    }

    /// A Redis Cluster: a transaction or pipeline must keep to one hash
    /// slot, and a command on keys of several slots is split by redis-rs
    /// (`MGET`, `EXISTS`, `DEL`) or refused.
    pub fn is_cluster(&self) -> bool {
        matches!(&self.parsed, Ok(u) if u.topology == Topology::Cluster)
    }

    /// An idle connection, or `None` with a slot reserved for a new one.
    fn take(&self, pool: &Pool) -> Result<Option<Conn>> {
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
                return Err(Error::Redis {
                    op: "wait for a connection to",
                    server: self.shown.clone(),
                    reason: format!("all {MAX_CONNECTIONS} connections stayed busy"),
                });
            }
            slots = pool
                .freed
                .wait_timeout(slots, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    fn connect(&self) -> Result<Conn> {
        let parsed = self
            .parsed
            .as_ref()
            .map_err(|why| Error::Config(format!("bad Redis URL: {why} (WX_REDIS_URL)")))?;
        let deadline = Instant::now() + self.timeout;
        Ok(match &parsed.topology {
            Topology::Single => Box::new(self.open(&self.url, self.timeout)?),
            Topology::Sentinel { master, db } => {
                Box::new(self.find_master(parsed, master, *db, deadline)?)
            }
            Topology::Cluster => Box::new(self.open_cluster(parsed)?),
        })
    }

    /// The CA file's certificates, when one is set and the URL uses TLS.
    fn root_cert(&self, tls: bool) -> Result<Option<Vec<u8>>> {
        if tls {
            // redis builds its TLS client from rustls's process default.
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        match &self.ca_file {
            Some(path) if tls => Ok(Some(crate::file_safety::read_setting_file(
                path,
                "WX_CA_FILE",
                4 << 20,
                false,
            )?)),
            _ => Ok(None),
        }
    }

    /// A connection to the one server at `url`, every wait bounded by
    /// `timeout`.
    fn open(&self, url: &str, timeout: Duration) -> Result<redis::Connection> {
        let timeout = timeout.max(Duration::from_millis(10));
        let client = match self.root_cert(url.starts_with("rediss://"))? {
            Some(pem) => redis::Client::build_with_tls(
                url,
                redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(pem),
                },
            ),
            None => redis::Client::open(url),
        }
        .map_err(|e| self.error("connect to", &e))?;
        let con = client
            .get_connection_with_timeout(timeout)
            .map_err(|e| self.error("connect to", &e))?;
        con.set_read_timeout(Some(timeout))
            .and_then(|()| con.set_write_timeout(Some(timeout)))
            .map_err(|e| self.error("configure", &e))?;
        Ok(con)
    }

    /// The master named `master`, asked of each sentinel in turn until one
    /// names a node that says it is a master; all of it before `deadline`.
    /// Each sentinel gets its share of the time (at least
    /// [`MIN_SENTINEL_WAIT`]), so one that accepts connections but never
    /// answers cannot use up the others' turn; the one that answered last is
    /// asked first next time.
    fn find_master(
        &self,
        url: &RedisUrl,
        master: &str,
        db: i64,
        deadline: Instant,
    ) -> Result<redis::Connection> {
        let n = url.nodes.len().max(1);
        let share = (self.timeout / n as u32).max(MIN_SENTINEL_WAIT);
        let first = self.last_sentinel.load(Ordering::Relaxed) % n;
        let mut why = Vec::new();
        for i in (0..n).map(|k| (first + k) % n) {
            let (host, port) = &url.nodes[i];
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                why.push("out of time".to_string());
                break;
            }
            let addr = match self.ask_sentinel(url, host, *port, master, left.min(share)) {
                Ok(Some(addr)) => addr,
                Ok(None) => {
                    why.push(format!("sentinel {host}:{port} knows no master {master:?}"));
                    continue;
                }
                Err(e) => {
                    why.push(format!(
                        "sentinel {host}:{port}: {}",
                        self.scrub(&e.to_string())
                    ));
                    continue;
                }
            };
            let left = deadline.saturating_duration_since(Instant::now());
            let node = url.node_url(&addr.0, addr.1, Some(db), true);
            let mut con = match self.open(&node, left.max(MIN_SENTINEL_WAIT)) {
                Ok(con) => con,
                Err(e) => {
                    why.push(format!("master {}:{}: {e}", addr.0, addr.1));
                    continue;
                }
            };
            // Never a replica: a sentinel that has not yet seen a failover
            // can name the old master, now demoted. A user without `ROLE`
            // (it is in the @admin and @dangerous ACL categories) cannot ask;
            // a replica would refuse its writes with READONLY anyway, which
            // `with` answers by asking the sentinels again.
            let role: redis::RedisResult<Vec<redis::Value>> = redis::cmd("ROLE").query(&mut con);
            let is_master = match role.as_deref() {
                Ok([redis::Value::BulkString(r), ..]) => r == b"master",
                Ok(_) => false,
                Err(e) if e.code() == Some("NOPERM") => true,
                Err(e) => {
                    why.push(format!(
                        "{}:{}: {}",
                        addr.0,
                        addr.1,
                        self.scrub(&e.to_string())
                    ));
                    continue;
                }
            };
            if !is_master {
                why.push(format!("{}:{} is not a master", addr.0, addr.1));
                continue;
            }
            // The connection joins the pool: its waits are the pool's, not
            // what was left of this search.
            con.set_read_timeout(Some(self.timeout))
                .and_then(|()| con.set_write_timeout(Some(self.timeout)))
                .map_err(|e| self.error("configure", &e))?;
            self.last_sentinel.store(i, Ordering::Relaxed);
            return Ok(con);
        }
        Err(Error::Redis {
            op: "find the master through",
            server: self.shown.clone(),
            reason: why.join("; "),
        })
    }

    /// The master's address as one sentinel knows it, within `timeout`.
    /// Sentinels are asked without credentials first (they often have none
    /// of their own), then with the URL's if the sentinel asks for them.
    fn ask_sentinel(
        &self,
        url: &RedisUrl,
        host: &str,
        port: u16,
        master: &str,
        timeout: Duration,
    ) -> Result<Option<(String, u16)>> {
        let deadline = Instant::now() + timeout;
        let ask = |with_auth: bool| -> Result<redis::RedisResult<Option<(String, u16)>>> {
            let left = deadline.saturating_duration_since(Instant::now());
            let mut con = self.open(&url.node_url(host, port, None, with_auth), left)?;
            Ok(redis::cmd("SENTINEL")
                .arg("get-master-addr-by-name")
                .arg(master)
                .query::<Option<(String, u16)>>(&mut con))
        };
        let answer = match ask(false) {
            Ok(Err(e)) if e.code() == Some("NOAUTH") => ask(true)?,
            Err(Error::Redis { reason, .. }) if reason.contains("NOAUTH") => ask(true)?,
            other => other?,
        };
        answer.map_err(|e| self.error("ask", &e))
    }

    /// A cluster connection through the seed nodes; redis-rs follows
    /// `MOVED` and `ASK` and retries `TRYAGAIN` a bounded number of times.
    fn open_cluster(&self, url: &RedisUrl) -> Result<redis::cluster::ClusterConnection> {
        let nodes: Vec<String> = url
            .nodes
            .iter()
            .map(|(h, p)| url.node_url(h, *p, None, true))
            .collect();
        let mut builder = redis::cluster::ClusterClient::builder(nodes)
            .connection_timeout(self.timeout / (CLUSTER_RETRIES + 1))
            .response_timeout(self.timeout / (CLUSTER_RETRIES + 1))
            .retries(CLUSTER_RETRIES)
            .min_retry_wait(10)
            .max_retry_wait(CLUSTER_MAX_RETRY_WAIT_MS);
        if let Some(pem) = self.root_cert(url.tls)? {
            builder = builder.certs(redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(pem),
            });
        }
        builder
            .build()
            .and_then(|client| client.get_connection())
            .map_err(|e| self.error("connect to", &e))
    }

    /// `text` with the password masked.
    fn scrub(&self, text: &str) -> String {
        match self.parsed.as_ref().ok().and_then(RedisUrl::password) {
            Some(pw) => text.replace(pw, "***"),
            None => text.to_string(),
        }
    }

    /// A Redis error as this crate's, the password masked.
    pub(crate) fn error(&self, op: &'static str, e: &redis::RedisError) -> Error {
        Error::Redis {
            op,
            server: self.shown.clone(),
            reason: self.scrub(&e.to_string()),
        }
    }
}

pub(crate) use crate::store::redis_url::mask_url;

/// An error that says the connection, not the command, is at fault: the
/// server went away, or it is no longer the master it was.
fn is_stale(e: &redis::RedisError) -> bool {
    e.is_connection_dropped()
        || e.is_connection_refusal()
        || matches!(e.code(), Some("READONLY" | "MASTERDOWN" | "LOADING"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_on_one_server_share_its_pool() {
        let t = Duration::from_millis(2917);
        let a = RedisServer::shared("redis://127.0.0.1:1/0", None, t);
        let b = RedisServer::shared("redis://127.0.0.1:1/0", None, t);
        let c = RedisServer::shared("redis://127.0.0.1:1/1", None, t);
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &c));
    }
}
