//! Where a cached credential lives: the one trait every store implements.
//!
//! [`TokenCache`](crate::TokenCache) holds all the policy (freshness,
//! refresh-ahead, single flight, the shared back-off, invalidation) and
//! reaches its store only through [`TokenStore`]. The legacy files
//! ([`FileStore`](crate::FileStore)), Redis
//! ([`RedisStore`](crate::RedisStore)) and a MySQL/MariaDB or PostgreSQL
//! table (`database.rs`, its connections in `db_pool.rs`) are three
//! implementations; an in-memory store is another file of the same shape
//! (see the example on [`TokenStore`]). Modelled on yup-oauth2's `TokenStorage`: small,
//! synchronous, and free of policy.
//!
//! A store keeps one `(token, expires_at)` pair, a lock that serialises
//! refreshes among everyone sharing the store, and a note of the last failed
//! refresh that the lock holder can read and write. Each credential (the
//! access token, the JS-SDK tickets) is a store instance of its own, with its
//! own key or files, under the same policy; [`StoreSpec`](crate::StoreSpec)
//! says which store a configuration names and opens it for any credential.

pub(crate) mod database;
pub(crate) mod db_pool;
pub(crate) mod files;
pub(crate) mod memo;
pub(crate) mod redis;
pub(crate) mod redis_pool;
pub(crate) mod redis_url;
pub(crate) mod spec;

use std::fmt;
use std::path::PathBuf;

use crate::cached::Cached;
use crate::error::Result;

/// The refresh lock, held until dropped; it carries the failure note.
pub trait StoreLock: Send + Sync {
    /// The note the last failed refresh left, if the store keeps one.
    fn read_note(&self) -> Option<String>;
    /// Replaces the note (`""` clears it). Best effort: a store that cannot
    /// write it keeps none, and callers fall back to their own process's note.
    fn write_note(&self, note: &str);
}

/// The result of trying to take a store's lock.
pub enum LockOutcome {
    /// The lock is held until this is dropped.
    Held(Box<dyn StoreLock>),
    /// Someone else holds it.
    Busy,
    /// No lock can be had here (a read-only directory, for instance); the
    /// caller goes on with in-process exclusion only. The text says why.
    Unavailable(String),
}

impl fmt::Debug for LockOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LockOutcome::Held(_) => f.write_str("Held"),
            LockOutcome::Busy => f.write_str("Busy"),
            LockOutcome::Unavailable(why) => write!(f, "Unavailable({why:?})"),
        }
    }
}

/// What `status` says about a store: safe to print (passwords masked).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StoreInfo {
    /// `"files"`, `"redis"`, `"mysql"`, `"postgres"`, or a custom store's name.
    pub kind: String,
    /// Where the pair lives: the two paths, or the server and key.
    pub location: String,
    /// The lock: a file's path, or a key; named when waiting for it times out.
    pub lock: String,
}

/// A place that keeps one cached credential for everyone sharing it.
///
/// Every method is synchronous and bounded in time: a store that talks to a
/// server uses timeouts shorter than the HTTP timeout. Errors name the store,
/// never a secret.
///
/// A store of your own, here one that lives in memory (a test double, or a
/// single-process service that wants no files):
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use wxtoken::{Cached, Config, LockOutcome, StoreInfo, StoreLock, TokenCache, TokenStore};
///
/// #[derive(Debug, Default)]
/// struct MemoryStore {
///     pair: Mutex<Option<Cached>>,
///     locked: Arc<Mutex<bool>>,
/// }
///
/// struct Held(Arc<Mutex<bool>>);
/// impl StoreLock for Held {
///     fn read_note(&self) -> Option<String> { None }
///     fn write_note(&self, _note: &str) {}
/// }
/// impl Drop for Held {
///     fn drop(&mut self) { *self.0.lock().unwrap() = false; }
/// }
///
/// impl TokenStore for MemoryStore {
///     fn load(&self) -> wxtoken::Result<Option<Cached>> {
///         Ok(self.pair.lock().unwrap().clone())
///     }
///     fn try_lock(&self) -> wxtoken::Result<LockOutcome> {
///         let mut locked = self.locked.lock().unwrap();
///         if *locked { return Ok(LockOutcome::Busy); }
///         *locked = true;
///         Ok(LockOutcome::Held(Box::new(Held(self.locked.clone()))))
///     }
///     fn save(&self, cached: &Cached, _old_still_valid: bool) -> wxtoken::Result<()> {
///         *self.pair.lock().unwrap() = Some(cached.clone());
///         Ok(())
///     }
///     fn invalidate(&self, failed: &str) -> wxtoken::Result<bool> {
///         let mut pair = self.pair.lock().unwrap();
///         let drop_it = pair.as_ref().is_some_and(|c| c.token == failed);
///         if drop_it { *pair = None; }
///         Ok(drop_it)
///     }
///     fn describe(&self) -> StoreInfo {
///         StoreInfo { kind: "memory".into(), location: "this process".into(), lock: "a flag".into() }
///     }
/// }
///
/// let config = Config::builder().appid("wx_app").secret("app_secret").build()?;
/// let cache = TokenCache::builder(config).store(Arc::new(MemoryStore::default())).build();
/// assert_eq!(cache.status()?.store.kind, "memory");
/// # Ok::<(), wxtoken::Error>(())
/// ```
pub trait TokenStore: Send + Sync + fmt::Debug {
    /// The pair as the store holds it, or `None` when it holds no usable
    /// token. This is the hit path: a store may answer from memory as long as
    /// it documents how stale that can be (the files: never; Redis: about a
    /// second).
    fn load(&self) -> Result<Option<Cached>>;

    /// The pair as the store holds it now, bypassing any memory; called with
    /// the lock held, before deciding to fetch, and by callers waiting for
    /// someone else's refresh. Defaults to [`load`](Self::load).
    fn reload(&self) -> Result<Option<Cached>> {
        self.load()
    }

    /// The failure note, read without the lock: how callers learn of a
    /// failure (and its back-off) while someone else holds the lock, so that
    /// nobody has to win the lock to get the answer they waited for. Best
    /// effort: a note being rewritten may read as none. Defaults to none
    /// (then only the lock holder reads the note).
    fn peek_note(&self) -> Option<String> {
        None
    }

    /// Takes the refresh lock if nobody holds it. The cache polls this, with
    /// its own bounded wait, so a store never blocks here.
    fn try_lock(&self) -> Result<LockOutcome>;

    /// Replaces the pair. `old_still_valid` says whether the pair it replaces
    /// still works, for stores whose write is not atomic (see the files).
    fn save(&self, cached: &Cached, old_still_valid: bool) -> Result<()>;

    /// Drops the pair if its token is still `failed` (compare-and-delete);
    /// returns whether it did. A newer token is kept.
    fn invalidate(&self, failed: &str) -> Result<bool>;

    /// Where the pair lives, for `status`.
    fn describe(&self) -> StoreInfo;

    /// When the stored token was written (Unix seconds), if the store knows.
    fn written_at(&self) -> Option<u64> {
        None
    }

    /// The token file and the expiry file, for a store made of files.
    fn paths(&self) -> Option<(PathBuf, PathBuf)> {
        None
    }
}
