//! The shared store for sites on several hosts: Redis.
//!
//! Keys, all in one cluster hash slot (the `{appid}` hash tag), never holding
//! the secret, values plain strings any client in any language reads; for
//! each credential (`access_token`, `jsapi_ticket`, `wx_card_ticket`):
//!
//! | key | value | TTL |
//! |---|---|---|
//! | `{prefix}:{appid}:{credential}` | the token or ticket | until it expires |
//! | `{prefix}:{appid}:{credential}:expires_at` | Unix seconds, decimal | the same |
//! | `{prefix}:{appid}:{credential}:fetched_at` | Unix seconds of the fetch, decimal | the same |
//! | `{prefix}:{appid}:{credential}:lock` | a random owner id, while a refresh runs | HTTP timeout + 2 s |
//! | `{prefix}:{appid}:{credential}:failure` | the note of the last failed refresh | 2 minutes |
//!
//! (with braces around the appid). A refresh takes the lock with
//! `SET NX PX` and a random owner, re-reads, fetches, writes the three keys
//! in one script (atomic, and in one slot, so it runs the same on one
//! server, a Sentinel master and a Cluster node), and releases the lock by
//! compare-and-delete; a crashed holder's lock expires on its own. Invalidation is a compare-and-delete of the pair.
//! The fetch time bounds the refresh margin to half the token's lifetime, as
//! the token file's age does for the files: without it a token that lives
//! less than the margin was refetched on every call.
//!
//! The first lock taken by a store first does what a refresh does on a
//! scratch key beside the app's (`…:access_token:check`, deleted at once):
//! an ACL user who may not run a command, or not on these keys, gets a
//! configuration error naming it, before any lock is taken or token fetched
//! (a lock it could not release would otherwise hold everyone back until it
//! expired).
//!
//! A hit makes no round trip: each process keeps what it last read and looks
//! again only after [`RECHECK_INTERVAL`] (about a second), or when the cache
//! finds that token due for a refresh (it then asks with [`TokenStore::reload`]).
//! Another host's refresh retires the old token only five minutes later, so a
//! second of staleness is safe. When Redis cannot be reached, a token read
//! before that is still valid keeps being served; with none, callers get a
//! clear error within the Redis timeout and nobody fetches (fetching without
//! the shared lock would retire every other host's token). There is no
//! fallback to local files, for the same reason.
//!
//! Sentinel and Cluster (see [`redis_url`](crate::store::redis_url)): Redis
//! replicates asynchronously, so a failover can lose the last writes of the
//! old master. What that costs here, and its bound: a lost lock lets a
//! second host refresh while the first still does (one extra upstream call,
//! the two tokens both valid for five minutes, the later write wins); a
//! lost token write makes the next reader refresh (one extra call). A
//! failover takes the sentinels' `down-after-milliseconds` plus an election;
//! until then, callers with a token read earlier keep serving it and the
//! others get a store error within the timeout, never a fetch without the
//! lock.

use std::sync::Arc;

use std::time::Duration;

use crate::cached::Cached;
use crate::credential::Credential;
use crate::error::{Error, Result};
use crate::store::files::legacy_format::{parse_expiry, parse_token};
use crate::store::memo::{unix_now, Memo};
use crate::store::redis_pool::RedisServer;
use crate::store::spec::RedisSpec;
use crate::store::{LockOutcome, StoreInfo, StoreLock, TokenStore};

/// How long a process serves what it last read before asking Redis again.
pub use crate::store::memo::RECHECK_INTERVAL;
/// How long a failure note outlives the refresh that wrote it: longer than
/// any back-off window.
const NOTE_TTL_SECS: u64 = 120;

const RELEASE: &str = r#"if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end"#;
/// The write of a refresh: the token, its expiry and its fetch time, all
/// expiring with the token (`ARGV[4]`, Unix milliseconds).
const WRITE: &str =
    r#"for i = 1, 3 do redis.call('SET', KEYS[i], ARGV[i], 'PXAT', ARGV[4]) end return 1"#;
const INVALIDATE: &str = r#"if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1], KEYS[2], KEYS[3]) else return 0 end"#;

/// The key names for one credential of one app.
#[derive(Debug, Clone)]
struct Keys {
    token: String,
    expires_at: String,
    fetched_at: String,
    lock: String,
    failure: String,
}

impl Keys {
    /// The keys of a credential whose token lives at `base`.
    fn new(base: String) -> Keys {
        Keys {
            expires_at: format!("{base}:expires_at"),
            fetched_at: format!("{base}:fetched_at"),
            lock: format!("{base}:lock"),
            failure: format!("{base}:failure"),
            token: base,
        }
    }
}

/// One app's token in Redis; see the module docs for the layout.
pub(crate) struct RedisStore {
    conn: Arc<RedisServer>,
    keys: Keys,
    lock_ttl: Duration,
    /// What this process last read, and when. An `arc-swap` cell: a hit
    /// takes no lock, so none can be inherited held across a fork.
    memo: Memo,
    /// The user was seen to be allowed the commands a refresh needs.
    permitted: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("server", &self.conn.shown())
            .field("key", &self.keys.token)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// The store of `appid`'s `credential` on the server `spec` names.
    /// Connects on first use, not here. Its round trips are bounded by the
    /// HTTP timeout (at most 3 s each), and a lock lives the HTTP timeout
    /// plus 2 s, so a crashed holder's lock frees itself.
    pub(crate) fn new(
        spec: &RedisSpec,
        appid: &str,
        credential: Credential,
        http_timeout: Duration,
    ) -> RedisStore {
        RedisStore {
            conn: RedisServer::shared(
                &spec.url,
                spec.ca_file.as_deref(),
                // Capped at `redis_pool::MAX_TIMEOUT` there.
                http_timeout,
            ),
            keys: Keys::new(spec.key(appid, credential)),
            lock_ttl: http_timeout + Duration::from_secs(2),
            memo: Memo::default(),
            permitted: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Once per store: the user may run what the lock, the write and the
    /// release need (`SET`, scripts); a configuration error naming the
    /// command if not.
    fn check_permissions(&self) -> Result<()> {
        if self.permitted.load(std::sync::atomic::Ordering::Relaxed) {
            return Ok(());
        }
        // What a refresh does, on a scratch key beside the app's (same slot,
        // same key patterns): read, SET NX PX, the write script, the release
        // script.
        let scratch = format!("{}:check", self.keys.token);
        let owner = random_owner();
        let soon_ms = (unix_now() + 10) * 1000;
        self.conn
            .with("check permissions on", |c| {
                let keys = [
                    &self.keys.token,
                    &self.keys.expires_at,
                    &self.keys.fetched_at,
                ];
                redis::cmd("MGET").arg(&keys).query::<redis::Value>(c)?;
                redis::cmd("SET")
                    .arg(&scratch)
                    .arg(&owner)
                    .arg("NX")
                    .arg("PX")
                    .arg(10_000)
                    .query::<()>(c)?;
                redis::Script::new(WRITE)
                    .key(&scratch)
                    .key(&scratch)
                    .key(&scratch)
                    .arg(&owner)
                    .arg(&owner)
                    .arg(&owner)
                    .arg(soon_ms)
                    .invoke::<i64>(c)?;
                redis::Script::new(RELEASE)
                    .key(&scratch)
                    .arg(&owner)
                    .invoke::<i64>(c)
                    .map(drop)
            })
            .map_err(|e| match e {
                Error::Redis { reason, server, .. } if reason.to_uppercase().contains("NOPERM") => {
                    Error::Config(format!(
                        "the Redis user at {server} may not run a command the cache needs \
                         (MGET, SET, EVALSHA, EVAL, SCRIPT LOAD, GET, DEL on its keys; ROLE under Sentinel): {reason} \
                         (WX_REDIS_URL)"
                    ))
                }
                e => e,
            })?;
        self.permitted
            .store(true, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    fn read(&self) -> Result<Option<Cached>> {
        let keys = [
            &self.keys.token,
            &self.keys.expires_at,
            &self.keys.fetched_at,
        ];
        type Three = (Option<Vec<u8>>, Option<Vec<u8>>, Option<Vec<u8>>);
        let (token, expiry, fetched): Three = self
            .conn
            .with("read from", |c| redis::cmd("MGET").arg(&keys).query(c))?;
        let cached = token.and_then(|t| parse_token(&t)).map(|token| Cached {
            token,
            expires_at: expiry.as_deref().map_or(0, parse_expiry),
            written_at: fetched.as_deref().map(parse_expiry).filter(|&t| t > 0),
        });
        self.memo.remember(cached.clone());
        Ok(cached)
    }
}

impl TokenStore for RedisStore {
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
        self.check_permissions()?;
        let owner = random_owner();
        let ms = self.lock_ttl.as_millis() as u64;
        let mut runs = 0;
        let set: Option<String> = self.conn.with("lock", |c| {
            runs += 1;
            let set: Option<String> = redis::cmd("SET")
                .arg(&self.keys.lock)
                .arg(&owner)
                .arg("NX")
                .arg("PX")
                .arg(ms)
                .query(c)?;
            // Run again (the connection died after the first run may have
            // taken the lock): a lock that is already ours is held, not busy.
            if set.is_none() && runs > 1 {
                let holder: Option<String> = redis::cmd("GET").arg(&self.keys.lock).query(c)?;
                return Ok(holder.filter(|h| *h == owner));
            }
            Ok(set)
        })?;
        Ok(match set {
            Some(_) => LockOutcome::Held(Box::new(RedisLock {
                conn: self.conn.clone(),
                keys: self.keys.clone(),
                owner,
            })),
            None => LockOutcome::Busy,
        })
    }

    fn save(&self, cached: &Cached, _old_still_valid: bool) -> Result<()> {
        // One script: no reader ever sees a new token with an old expiry,
        // and a cluster runs it on the slot's node like any one-slot command.
        let at_ms = cached.expires_at.saturating_mul(1000);
        let fetched_at = cached.written_at.unwrap_or_else(unix_now);
        self.conn.with("write to", |c| {
            redis::Script::new(WRITE)
                .key(&self.keys.token)
                .key(&self.keys.expires_at)
                .key(&self.keys.fetched_at)
                .arg(&cached.token)
                .arg(cached.expires_at)
                .arg(fetched_at)
                .arg(at_ms)
                .invoke::<i64>(c)
                .map(drop)
        })?;
        self.memo.remember(Some(cached.clone()));
        Ok(())
    }

    fn invalidate(&self, failed: &str) -> Result<bool> {
        let dropped: i64 = self.conn.with("invalidate in", |c| {
            redis::Script::new(INVALIDATE)
                .key(&self.keys.token)
                .key(&self.keys.expires_at)
                .key(&self.keys.fetched_at)
                .arg(failed)
                .invoke(c)
        })?;
        self.memo.forget(failed);
        Ok(dropped > 0)
    }

    fn peek_note(&self) -> Option<String> {
        read_note(&self.conn, &self.keys)
    }

    fn describe(&self) -> StoreInfo {
        StoreInfo {
            kind: "redis".into(),
            location: format!("{} key {}", self.conn.shown(), self.keys.token),
            lock: format!("{} key {}", self.conn.shown(), self.keys.lock),
        }
    }
}

/// The Redis lock, released by compare-and-delete when dropped.
struct RedisLock {
    conn: Arc<RedisServer>,
    keys: Keys,
    owner: String,
}

impl StoreLock for RedisLock {
    fn read_note(&self) -> Option<String> {
        read_note(&self.conn, &self.keys)
    }

    fn write_note(&self, note: &str) {
        let _ = self.conn.with("write to", |c| {
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

impl Drop for RedisLock {
    fn drop(&mut self) {
        // Only our own lock: if it expired and someone else took it, theirs
        // stays. If Redis is unreachable, it expires on its own.
        let _ = self.conn.with("unlock", |c| {
            redis::Script::new(RELEASE)
                .key(&self.keys.lock)
                .arg(&self.owner)
                .invoke::<i64>(c)
        });
    }
}

/// The failure note, or none (also when Redis cannot be asked).
fn read_note(conn: &RedisServer, keys: &Keys) -> Option<String> {
    conn.with("read from", |c| {
        redis::cmd("GET")
            .arg(&keys.failure)
            .query::<Option<String>>(c)
    })
    .ok()
    .flatten()
}

/// A lock owner id no other process will pick (the database store's lease
/// owners too): 16 bytes from the kernel's
/// random source, or (should that fail) pid, time and a counter.
pub(crate) fn random_owner() -> String {
    use std::io::Read;
    use std::sync::atomic::{AtomicU64, Ordering};
    let mut bytes = [0u8; 16];
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .is_ok()
    {
        return bytes.iter().map(|b| format!("{b:02x}")).collect();
    }
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "{}-{nanos}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_share_one_hash_slot_and_never_hold_the_secret() {
        let k = Keys::new("wxtoken:{wx123}:access_token".into());
        assert_eq!(k.token, "wxtoken:{wx123}:access_token");
        assert_eq!(k.expires_at, "wxtoken:{wx123}:access_token:expires_at");
        for key in [&k.token, &k.expires_at, &k.lock, &k.failure] {
            assert!(key.contains("{wx123}"), "{key}");
        }
    }
}
