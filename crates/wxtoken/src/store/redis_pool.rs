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

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::process_lock::PerProcess;

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
    ca_file: Option<std::path::PathBuf>,
    timeout: Duration,
    pool: PerProcess<Pool>,
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
    con: Option<redis::Connection>,
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
    idle: Vec<redis::Connection>,
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
            url: key.0.clone(),
            ca_file: key.1.clone(),
            timeout,
            pool: PerProcess::new(Pool::default),
        });
        servers.push((key, server.clone()));
        server
    }

    /// Runs `f` on a connection of the pool, connecting first if none is
    /// idle and fewer than [`MAX_CONNECTIONS`] are open, else waiting (at
    /// most the timeout) for one to come back. Any error drops the
    /// connection, so the next call reconnects.
    pub fn with<T>(
        &self,
        op: &'static str,
        f: impl FnOnce(&mut redis::Connection) -> redis::RedisResult<T>,
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
        let con = match idle {
            Some(con) => slot.con.insert(con),
            None => slot.con.insert(self.connect()?),
        };
        match f(con) {
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

    /// An idle connection, or `None` with a slot reserved for a new one.
    fn take(&self, pool: &Pool) -> Result<Option<redis::Connection>> {
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

    fn connect(&self) -> Result<redis::Connection> {
        let client = match &self.ca_file {
            Some(path) if self.url.starts_with("rediss://") => {
                let pem =
                    crate::file_safety::read_setting_file(path, "WX_CA_FILE", 4 << 20, false)?;
                // redis builds its TLS client from rustls's process default.
                let _ = rustls::crypto::ring::default_provider().install_default();
                redis::Client::build_with_tls(
                    self.url.as_str(),
                    redis::TlsCertificates {
                        client_tls: None,
                        root_cert: Some(pem),
                    },
                )
            }
            _ => {
                if self.url.starts_with("rediss://") {
                    let _ = rustls::crypto::ring::default_provider().install_default();
                }
                redis::Client::open(self.url.as_str())
            }
        }
        .map_err(|e| self.error("connect to", &e))?;
        let con = client
            .get_connection_with_timeout(self.timeout)
            .map_err(|e| self.error("connect to", &e))?;
        con.set_read_timeout(Some(self.timeout))
            .and_then(|()| con.set_write_timeout(Some(self.timeout)))
            .map_err(|e| self.error("configure", &e))?;
        Ok(con)
    }

    /// A Redis error as this crate's, the password masked.
    pub(crate) fn error(&self, op: &'static str, e: &redis::RedisError) -> Error {
        let mut reason = e.to_string();
        if let Some(pw) = password(&self.url) {
            reason = reason.replace(&pw, "***");
        }
        Error::Redis {
            op,
            server: self.shown.clone(),
            reason,
        }
    }
}

/// The password in a Redis URL, if any.
fn password(url: &str) -> Option<String> {
    let parsed = reqwest::Url::parse(url).ok()?;
    parsed
        .password()
        .filter(|p| !p.is_empty())
        .map(str::to_string)
}

/// The URL with any password replaced by `***`.
pub(crate) fn mask_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        Ok(u) => u.to_string(),
        Err(_) => "(an invalid Redis URL)".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_masked() {
        assert_eq!(
            mask_url("redis://app:hunter2@10.0.0.5:6379/2"),
            "redis://app:***@10.0.0.5:6379/2"
        );
        assert_eq!(mask_url("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
        assert_eq!(password("redis://:pw@h:1/0").as_deref(), Some("pw"));
    }

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
