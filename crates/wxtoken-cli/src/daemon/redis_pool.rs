//! One small pool of Redis connections per server, shared by every app the
//! daemon keeps on that server (stores, the store watcher, publishing).
//!
//! The core's store makes one connection per app, which is right for a PHP
//! worker with one app and wrong for a daemon with thousands: 5,000 apps on
//! one Redis were 5,000 clients and ran the process out of descriptors. Here
//! a server gets at most [`MAX_CONNECTIONS`], opened on demand; a caller that
//! finds them all busy waits at most the Redis timeout, then gets an error.
//! Every round trip is bounded by that timeout too, so a paused Redis makes
//! callers fail, never hang.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use wxtoken::{Error, Result};

/// Connections per server: the fetches in flight are bounded (see
/// `refresh::MAX_CONCURRENT_FETCHES`) and each holds one at a time.
pub const MAX_CONNECTIONS: usize = 8;
/// The longest one Redis operation (or the wait for a connection) may take.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(3);

/// The connections to one server.
pub struct Pool {
    url: String,
    /// The URL with its password masked, for messages.
    pub shown: String,
    timeout: Duration,
    state: Mutex<Slots>,
    freed: Condvar,
}

struct Slots {
    idle: Vec<redis::Connection>,
    open: usize,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool").field("server", &self.shown).finish()
    }
}

impl Pool {
    fn new(url: &str, timeout: Duration) -> Pool {
        Pool {
            url: url.to_string(),
            shown: mask_url(url),
            timeout: timeout.min(MAX_TIMEOUT),
            state: Mutex::new(Slots {
                idle: Vec::new(),
                open: 0,
            }),
            freed: Condvar::new(),
        }
    }

    fn slots(&self) -> std::sync::MutexGuard<'_, Slots> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` on a connection of the pool; an error drops that connection
    /// (the next caller opens a new one) and names the server, never its
    /// password.
    pub fn with<T>(
        &self,
        op: &'static str,
        f: impl FnOnce(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> Result<T> {
        let mut con = self.checkout(op)?;
        match f(&mut con) {
            Ok(v) => {
                self.checkin(Some(con));
                Ok(v)
            }
            Err(e) => {
                self.checkin(None);
                Err(self.error(op, &e.to_string()))
            }
        }
    }

    /// Connections open now (idle or in use).
    #[cfg(test)]
    pub fn open(&self) -> usize {
        self.slots().open
    }

    fn checkout(&self, op: &'static str) -> Result<redis::Connection> {
        let deadline = Instant::now() + self.timeout;
        let mut slots = self.slots();
        loop {
            if let Some(c) = slots.idle.pop() {
                return Ok(c);
            }
            if slots.open < MAX_CONNECTIONS {
                slots.open += 1;
                drop(slots);
                return self.connect().inspect_err(|_| self.checkin(None));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(self.error(op, "every connection of the daemon's pool stayed busy"));
            }
            slots = self
                .freed
                .wait_timeout(slots, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Gives a connection back, or (`None`) gives up its slot.
    fn checkin(&self, con: Option<redis::Connection>) {
        let mut slots = self.slots();
        match con {
            Some(c) => slots.idle.push(c),
            None => slots.open -= 1,
        }
        drop(slots);
        self.freed.notify_one();
    }

    fn connect(&self) -> Result<redis::Connection> {
        let client = redis::Client::open(self.url.as_str())
            .map_err(|e| self.error("connect to", &e.to_string()))?;
        let con = client
            .get_connection_with_timeout(self.timeout)
            .map_err(|e| self.error("connect to", &e.to_string()))?;
        con.set_read_timeout(Some(self.timeout))
            .and_then(|()| con.set_write_timeout(Some(self.timeout)))
            .map_err(|e| self.error("configure", &e.to_string()))?;
        Ok(con)
    }

    fn error(&self, op: &'static str, reason: &str) -> Error {
        Error::Redis {
            op,
            server: self.shown.clone(),
            reason: match password(&self.url) {
                Some(pw) => reason.replace(pw, "***"),
                None => reason.to_string(),
            },
        }
    }
}

/// The pools, one per server URL.
#[derive(Default)]
pub struct Pools(Mutex<HashMap<String, Arc<Pool>>>);

impl Pools {
    /// The pool for `url`, made on first use (nothing connects yet).
    pub fn get(&self, url: &str, timeout: Duration) -> Arc<Pool> {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(url.to_string())
            .or_insert_with(|| Arc::new(Pool::new(url, timeout)))
            .clone()
    }
}

/// The password in a `redis://user:password@host` URL, if any.
fn password(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split('/').next()?;
    let userinfo = authority.rsplit_once('@')?.0;
    userinfo
        .split_once(':')
        .map(|(_, pw)| pw)
        .filter(|pw| !pw.is_empty())
}

/// The URL with any password replaced by `***`.
pub fn mask_url(url: &str) -> String {
    match password(url) {
        Some(pw) => url.replacen(&format!(":{pw}@"), ":***@", 1),
        None => url.to_string(),
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
        assert_eq!(mask_url("redis://:pw@h:1/0"), "redis://:***@h:1/0");
        assert_eq!(mask_url("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
    }

    #[test]
    fn a_server_nobody_answers_is_an_error_in_bounded_time() {
        // A port nothing listens on: refused at once, and the slot is given
        // back, so the pool does not fill up with failed attempts.
        let pool = Pool::new("redis://127.0.0.1:1/0", Duration::from_millis(500));
        for _ in 0..MAX_CONNECTIONS + 2 {
            let e = pool.with("read from", |c| redis::cmd("PING").query::<String>(c));
            assert!(matches!(e, Err(Error::Redis { .. })));
        }
        assert_eq!(pool.open(), 0);
    }
}
