//! The token cache: hit, single-flight miss, refresh-ahead, invalidation.
//!
//! Shape borrowed from smithy-rs's `ExpiringCache`: a cheap read path, one
//! refresher at a time, and time injected through a [`Clock`]. Here the
//! "one at a time" spans processes too, through the store's `flock`.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::Serialize;

use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::fetch::Fetcher;
use crate::file_store::{preview, Cached, FileStore, LockOutcome};

/// Extra time a waiter allows beyond the HTTP timeout for the lock holder to
/// write its files.
const LOCK_GRACE: Duration = Duration::from_secs(1);

/// A shared, file-backed WeChat access-token cache.
///
/// One value serves any number of threads; any number of processes using
/// the same files (this crate, the C library, the PHP extension, the legacy
/// script) share one token.
pub struct TokenCache {
    config: Config,
    clock: Arc<dyn Clock>,
    store: FileStore,
    fetcher: Fetcher,
    /// Serialises refreshes inside this process, so one thread polls the
    /// cross-process lock while the others wait here.
    refresh: Mutex<()>,
    /// A token fetched but not written (unwritable directory), kept so the
    /// process does not fetch again on every call.
    unpersisted: Mutex<Option<Cached>>,
    /// Why the last write or refresh-ahead failed, while it goes on failing.
    warning: Mutex<Option<String>>,
}

impl std::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCache")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// What `status` reports about the cached token.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Status {
    /// Path of the token file.
    pub token_file: String,
    /// Path of the expiry file.
    pub expiry_file: String,
    /// A usable token is cached (in the files, or in memory if they are unwritable).
    pub present: bool,
    /// The first characters of the token, safe to print.
    pub token_preview: Option<String>,
    /// Unix expiry time.
    pub expires_at: Option<u64>,
    /// Seconds until expiry (negative once expired).
    pub seconds_left: Option<i64>,
    /// Seconds since the token file was written.
    pub age_seconds: Option<u64>,
    /// A `get` now would be a hit (valid for more than the refresh margin).
    pub fresh: bool,
    /// The refresh margin in use.
    pub refresh_margin: u64,
    /// The last write or refresh problem, if it persists.
    pub warning: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Refresh {
    /// Fetch only if the files are still stale once the lock is held.
    IfStale,
    /// Fetch regardless.
    Force,
}

impl TokenCache {
    /// A cache on the wall clock.
    pub fn new(config: Config) -> Self {
        Self::with_clock(config, Arc::new(SystemClock))
    }

    /// A cache on the given clock (tests move time with [`crate::ManualClock`]).
    pub fn with_clock(config: Config, clock: Arc<dyn Clock>) -> Self {
        TokenCache {
            store: FileStore::new(config.token_file(), config.expiry_file()),
            fetcher: Fetcher::new(config.clone()),
            config,
            clock,
            refresh: Mutex::new(()),
            unpersisted: Mutex::new(None),
            warning: Mutex::new(None),
        }
    }

    /// The configuration in use.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// A valid token: from the files when fresh (no network, no lock), else
    /// fetched once for all threads and processes sharing the files.
    pub fn get_token(&self) -> Result<String> {
        let now = self.clock.now();
        let stored = self.store.load()?;
        if let Some(c) = stored {
            if c.is_fresh(now, self.config.refresh_margin()) {
                return Ok(c.token);
            }
            return self.miss(now, Some(c));
        }
        self.miss(now, None)
    }

    /// The slow half of [`get_token`](Self::get_token), kept apart so the hit
    /// path stays small.
    fn miss(&self, now: u64, stored: Option<Cached>) -> Result<String> {
        if let Some(token) = self.unpersisted_fresh(now) {
            return Ok(token);
        }
        if self.config.passive() {
            // Someone else refreshes; a token inside the margin still works.
            return match stored {
                Some(c) if c.is_valid(now) => Ok(c.token),
                _ => Err(Error::Passive),
            };
        }
        self.refresh(Refresh::IfStale)
    }

    /// Fetches a new token now, whatever the cache holds, and stores it.
    pub fn force_refresh(&self) -> Result<String> {
        if self.config.passive() {
            return Err(Error::Passive);
        }
        self.refresh(Refresh::Force)
    }

    /// Drops `failed` from the cache if it is still the cached token, after a
    /// business API rejected it (40001, 40014, 42001). Returns whether it was
    /// dropped; a newer token is kept. Nothing is fetched here: the next
    /// `get_token` refreshes once.
    pub fn invalidate(&self, failed: &str) -> Result<bool> {
        if failed.is_empty() {
            return Ok(false);
        }
        let _in_process = lock(&self.refresh);
        let mut dropped = false;
        {
            let mut mem = lock(&self.unpersisted);
            if mem.as_ref().is_some_and(|c| c.token == failed) {
                *mem = None;
                dropped = true;
            }
        }
        let _cross_process = match self.store.lock(self.lock_wait())? {
            LockOutcome::Held(l) => l,
            LockOutcome::Unavailable(_) => return Ok(dropped),
        };
        if self.store.load()?.is_some_and(|c| c.token == failed) {
            self.store.clear()?;
            dropped = true;
        }
        Ok(dropped)
    }

    /// What is cached now, without fetching.
    pub fn status(&self) -> Result<Status> {
        let now = self.clock.now();
        let cached = match self.store.load()? {
            Some(c) => Some(c),
            None => lock(&self.unpersisted).clone(),
        };
        let age = self.store.token_written_at().and_then(|t| {
            let written = t.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs();
            Some(now.saturating_sub(written))
        });
        let margin = self.config.refresh_margin();
        Ok(Status {
            token_file: self.store.token_path().display().to_string(),
            expiry_file: self.store.expiry_path().display().to_string(),
            present: cached.as_ref().is_some_and(|c| c.is_valid(now)),
            token_preview: cached.as_ref().map(|c| preview(&c.token)),
            expires_at: cached.as_ref().map(|c| c.expires_at),
            seconds_left: cached.as_ref().map(|c| c.expires_at as i64 - now as i64),
            age_seconds: cached.as_ref().and(age),
            fresh: cached.as_ref().is_some_and(|c| c.is_fresh(now, margin)),
            refresh_margin: margin,
            warning: self.last_warning(),
        })
    }

    /// Why the last write to the cache files, or the last refresh-ahead,
    /// failed, while that goes on; `None` once a write succeeds.
    pub fn last_warning(&self) -> Option<String> {
        lock(&self.warning).clone()
    }

    fn lock_wait(&self) -> Duration {
        self.config.http_timeout() + LOCK_GRACE
    }

    fn unpersisted_fresh(&self, now: u64) -> Option<String> {
        lock(&self.unpersisted)
            .as_ref()
            .filter(|c| c.is_fresh(now, self.config.refresh_margin()))
            .map(|c| c.token.clone())
    }

    fn set_warning(&self, w: Option<String>) {
        *lock(&self.warning) = w;
    }

    fn refresh(&self, kind: Refresh) -> Result<String> {
        let _in_process = lock(&self.refresh);
        let _cross_process = match self.store.lock(self.lock_wait())? {
            LockOutcome::Held(l) => Some(l),
            LockOutcome::Unavailable(e) => {
                self.set_warning(Some(format!(
                    "cache lock {} unavailable ({e}); only this process is serialised",
                    self.store.lock_path().display()
                )));
                None
            }
        };
        // Whoever held the lock before us may have refreshed already.
        let now = self.clock.now();
        let margin = self.config.refresh_margin();
        let stored = self.store.load()?;
        if kind == Refresh::IfStale {
            if let Some(c) = stored.as_ref().filter(|c| c.is_fresh(now, margin)) {
                return Ok(c.token.clone());
            }
            if let Some(token) = self.unpersisted_fresh(now) {
                return Ok(token);
            }
        }
        let started = self.clock.now();
        let fetched = match self.fetcher.fetch(kind == Refresh::Force) {
            Ok(f) => f,
            Err(e) => {
                // Refresh-ahead failed but the token still works: serve it,
                // and say why the refresh failed.
                if kind == Refresh::IfStale {
                    if let Some(c) = stored.filter(|c| c.is_valid(now)) {
                        self.set_warning(Some(format!("refresh ahead of expiry failed: {e}")));
                        return Ok(c.token);
                    }
                }
                return Err(e);
            }
        };
        let cached = Cached {
            token: fetched.token,
            expires_at: started + fetched.expires_in,
            written_at: Some(started),
        };
        match self.store.save(&cached) {
            Ok(()) => {
                *lock(&self.unpersisted) = None;
                self.set_warning(None);
            }
            Err(e) => {
                self.set_warning(Some(format!(
                    "token fetched but not cached: {e}; it is kept in this process only"
                )));
                *lock(&self.unpersisted) = Some(cached.clone());
            }
        }
        Ok(cached.token)
    }
}

/// Locks a mutex whose data stays consistent even if a holder panicked.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
