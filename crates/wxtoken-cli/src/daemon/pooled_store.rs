//! An app's token in Redis, reached through the server's shared pool
//! (`redis_pool`) instead of a connection of its own.
//!
//! The keys, values, TTLs, lock and compare-and-delete scripts are the
//! core's (README, "Redis keys"; `wxtoken::REDIS_RECHECK_INTERVAL`), so
//! passive readers, other daemons and active workers using the core's store
//! share one token, one lock and one failure note with this one. Only the
//! connection handling differs.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use wxtoken::{Cached, Config, LockOutcome, Result, StoreInfo, StoreLock, TokenStore};

use super::redis_pool::Pool;

/// How long a failure note outlives the refresh that wrote it (the core's).
const NOTE_TTL_SECS: u64 = 120;

const RELEASE: &str = r#"if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end"#;
const INVALIDATE: &str = r#"if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1], KEYS[2], KEYS[3]) else return 0 end"#;

/// The key names for one app's token, as the core names them.
#[derive(Debug, Clone)]
pub struct Keys {
    /// The token.
    pub token: String,
    /// Its Unix expiry.
    pub expires_at: String,
    fetched_at: String,
    lock: String,
    failure: String,
}

impl Keys {
    /// The keys of `appid` under `prefix`.
    pub fn new(prefix: &str, appid: &str) -> Keys {
        let base = format!("{prefix}:{{{appid}}}:access_token");
        Keys {
            expires_at: format!("{base}:expires_at"),
            fetched_at: format!("{base}:fetched_at"),
            lock: format!("{base}:lock"),
            failure: format!("{base}:failure"),
            token: base,
        }
    }
}

/// A token as Redis holds it: what a reader would take, or none.
pub fn parse(
    token: Option<Vec<u8>>,
    expiry: Option<Vec<u8>>,
    fetched: Option<Vec<u8>>,
) -> Option<Cached> {
    let number =
        |v: Option<Vec<u8>>| -> Option<u64> { String::from_utf8(v?).ok()?.trim().parse().ok() };
    let token = String::from_utf8(token?).ok()?;
    let token = token.trim();
    if token.is_empty()
        || token.len() > wxtoken::MAX_TOKEN_LEN
        || !token.bytes().all(|b| b.is_ascii_graphic())
    {
        return None;
    }
    Some(Cached {
        token: token.to_string(),
        expires_at: number(expiry).unwrap_or(0),
        written_at: number(fetched).filter(|&t| t > 0),
    })
}

/// One app's token on a pooled server.
pub struct PooledStore {
    pool: Arc<Pool>,
    keys: Keys,
    lock_ms: u64,
    /// What this process last read, and when (see the core's memo).
    memo: Mutex<Option<(Cached, Instant)>>,
}

impl std::fmt::Debug for PooledStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PooledStore")
            .field("server", &self.pool.shown)
            .field("key", &self.keys.token)
            .finish()
    }
}

impl PooledStore {
    /// The store of `config`'s app on `pool`.
    pub fn new(pool: Arc<Pool>, config: &Config) -> PooledStore {
        PooledStore {
            pool,
            keys: Keys::new(config.redis_prefix(), &config.app_key()),
            lock_ms: (config.http_timeout() + std::time::Duration::from_secs(2)).as_millis() as u64,
            memo: Mutex::new(None),
        }
    }

    fn memo(&self) -> std::sync::MutexGuard<'_, Option<(Cached, Instant)>> {
        self.memo.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn remember(&self, cached: Option<Cached>) {
        *self.memo() = cached.map(|c| (c, Instant::now()));
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl TokenStore for PooledStore {
    fn load(&self) -> Result<Option<Cached>> {
        if let Some((c, at)) = self.memo().as_ref() {
            if at.elapsed() < wxtoken::REDIS_RECHECK_INTERVAL {
                return Ok(Some(c.clone()));
            }
        }
        self.reload()
    }

    fn reload(&self) -> Result<Option<Cached>> {
        let keys = [
            &self.keys.token,
            &self.keys.expires_at,
            &self.keys.fetched_at,
        ];
        type Three = (Option<Vec<u8>>, Option<Vec<u8>>, Option<Vec<u8>>);
        let read: Result<Three> = self
            .pool
            .with("read from", |c| redis::cmd("MGET").arg(&keys).query(c));
        match read {
            Ok((t, e, f)) => {
                let cached = parse(t, e, f);
                self.remember(cached.clone());
                Ok(cached)
            }
            // Redis down or slow: a token read before that still works.
            Err(e) => match self.memo().as_ref() {
                Some((c, _)) if c.is_valid(unix_now()) => Ok(Some(c.clone())),
                _ => Err(e),
            },
        }
    }

    fn peek_note(&self) -> Option<String> {
        read_note(&self.pool, &self.keys)
    }

    fn try_lock(&self) -> Result<LockOutcome> {
        let owner = random_owner();
        let set: Option<String> = self.pool.with("lock", |c| {
            redis::cmd("SET")
                .arg(&self.keys.lock)
                .arg(&owner)
                .arg("NX")
                .arg("PX")
                .arg(self.lock_ms)
                .query(c)
        })?;
        Ok(match set {
            Some(_) => LockOutcome::Held(Box::new(PooledLock {
                pool: self.pool.clone(),
                keys: self.keys.clone(),
                owner,
            })),
            None => LockOutcome::Busy,
        })
    }

    fn save(&self, cached: &Cached, _old_still_valid: bool) -> Result<()> {
        // One MULTI: no reader ever sees a new token with an old expiry.
        let at_ms = cached.expires_at.saturating_mul(1000);
        let fetched = cached.written_at.unwrap_or_else(unix_now).to_string();
        self.pool.with("write to", |c| {
            redis::pipe()
                .atomic()
                .cmd("SET")
                .arg(&self.keys.token)
                .arg(&cached.token)
                .arg("PXAT")
                .arg(at_ms)
                .ignore()
                .cmd("SET")
                .arg(&self.keys.expires_at)
                .arg(cached.expires_at.to_string())
                .arg("PXAT")
                .arg(at_ms)
                .ignore()
                .cmd("SET")
                .arg(&self.keys.fetched_at)
                .arg(&fetched)
                .arg("PXAT")
                .arg(at_ms)
                .ignore()
                .query::<()>(c)
        })?;
        self.remember(Some(cached.clone()));
        Ok(())
    }

    fn invalidate(&self, failed: &str) -> Result<bool> {
        let dropped: i64 = self.pool.with("invalidate in", |c| {
            redis::Script::new(INVALIDATE)
                .key(&self.keys.token)
                .key(&self.keys.expires_at)
                .key(&self.keys.fetched_at)
                .arg(failed)
                .invoke(c)
        })?;
        let mut memo = self.memo();
        if memo.as_ref().is_some_and(|(c, _)| c.token == failed) {
            *memo = None;
        }
        Ok(dropped > 0)
    }

    fn describe(&self) -> StoreInfo {
        StoreInfo {
            kind: "redis".into(),
            location: format!("{} key {}", self.pool.shown, self.keys.token),
            lock: format!("{} key {}", self.pool.shown, self.keys.lock),
        }
    }
}

/// The lock, released by compare-and-delete when dropped.
struct PooledLock {
    pool: Arc<Pool>,
    keys: Keys,
    owner: String,
}

impl StoreLock for PooledLock {
    fn read_note(&self) -> Option<String> {
        read_note(&self.pool, &self.keys)
    }

    fn write_note(&self, note: &str) {
        let _ = self.pool.with("write to", |c| {
            if note.is_empty() {
                redis::cmd("DEL").arg(&self.keys.failure).query::<()>(c)
            } else {
                redis::cmd("SET")
                    .arg(&self.keys.failure)
                    .arg(note)
                    .arg("EX")
                    .arg(NOTE_TTL_SECS)
                    .query::<()>(c)
            }
        });
    }
}

impl Drop for PooledLock {
    fn drop(&mut self) {
        // Only our own lock; if Redis is unreachable it expires on its own.
        let _ = self.pool.with("unlock", |c| {
            redis::Script::new(RELEASE)
                .key(&self.keys.lock)
                .arg(&self.owner)
                .invoke::<i64>(c)
        });
    }
}

fn read_note(pool: &Pool, keys: &Keys) -> Option<String> {
    pool.with("read from", |c| {
        redis::cmd("GET")
            .arg(&keys.failure)
            .query::<Option<String>>(c)
    })
    .ok()
    .flatten()
}

/// A lock owner id no other process picks: 16 random bytes, hex.
fn random_owner() -> String {
    super::schedule::random_bytes::<16>()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_the_cores() {
        let k = Keys::new("wxtoken", "wx123");
        assert_eq!(k.token, "wxtoken:{wx123}:access_token");
        assert_eq!(k.expires_at, "wxtoken:{wx123}:access_token:expires_at");
        assert_eq!(k.lock, "wxtoken:{wx123}:access_token:lock");
        assert_eq!(k.failure, "wxtoken:{wx123}:access_token:failure");
    }

    #[test]
    fn what_a_reader_would_take() {
        let b = |s: &str| Some(s.as_bytes().to_vec());
        let c = parse(b("TOKEN\n"), b("1800000000"), None).unwrap();
        assert_eq!((c.token.as_str(), c.expires_at), ("TOKEN", 1_800_000_000));
        assert!(parse(b(""), b("1"), None).is_none());
        assert!(parse(None, b("1"), None).is_none());
        assert_eq!(parse(b("T"), None, None).unwrap().expires_at, 0);
    }
}
