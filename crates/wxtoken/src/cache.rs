//! The token cache: hit, single-flight miss, refresh-ahead, invalidation.
//!
//! Shape borrowed from smithy-rs's `ExpiringCache`: a cheap read path, one
//! refresher at a time, and time injected through a [`Clock`]. Here the
//! "one at a time" spans processes too, through the store's `flock`.

use std::sync::{Arc, Mutex, MutexGuard, TryLockError};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::backoff::{self, FailureNote, AHEAD_BACKOFF};
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::fetch::Fetcher;
use crate::file_store::{preview, Cached, FileLock, FileStore, LockOutcome};

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
    /// The last failed refresh in this process, for when there is no lock
    /// file to share it through.
    last_failure: Mutex<Option<FailureNote>>,
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
            last_failure: Mutex::new(None),
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
        match self.store.load()? {
            Some(c) if c.is_fresh(now, self.config.refresh_margin()) => Ok(c.token),
            stored => self.miss(now, stored),
        }
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
        match stored {
            Some(c) if c.is_valid(now) => self.refresh_ahead(c),
            _ => self.refresh(Refresh::IfStale),
        }
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
        let deadline = Instant::now() + self.lock_wait();
        let _in_process = self.lock_in_process(deadline)?;
        let mut dropped = false;
        {
            let mut mem = lock(&self.unpersisted);
            if mem.as_ref().is_some_and(|c| c.token == failed) {
                *mem = None;
                dropped = true;
            }
        }
        let _cross_process = match self.store.lock(left(deadline))? {
            LockOutcome::Held(l) => l,
            LockOutcome::Busy | LockOutcome::Unavailable(_) => return Ok(dropped),
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
            seconds_left: cached.as_ref().map(|c| seconds_between(now, c.expires_at)),
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

    /// Inside the refresh margin: `valid` still works, so this never waits
    /// for another refresher. Whoever gets both locks first refreshes;
    /// everyone else, and everyone while a failed attempt is recent, is
    /// served `valid`, as is the refresher if its attempt fails.
    fn refresh_ahead(&self, valid: Cached) -> Result<String> {
        let _in_process = match self.refresh.try_lock() {
            Ok(g) => g,
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
            Err(TryLockError::WouldBlock) => return Ok(valid.token),
        };
        let held = match self.store.try_lock() {
            Ok(LockOutcome::Held(l)) => Some(l),
            Ok(LockOutcome::Unavailable(_)) => None,
            Ok(LockOutcome::Busy) | Err(_) => return Ok(valid.token),
        };
        let now = self.clock.now();
        // Someone may have refreshed, or invalidated `valid`, meanwhile.
        let stored = match self.store.load() {
            Ok(stored) => stored,
            Err(_) => return Ok(valid.token),
        };
        if let Some(c) = stored
            .as_ref()
            .filter(|c| c.is_fresh(now, self.config.refresh_margin()))
        {
            return Ok(c.token.clone());
        }
        let fallback = stored.filter(|c| c.is_valid(now));
        if let Some(c) = &fallback {
            let note = self.failure_note(held.as_ref());
            if note.is_some_and(|n| n.within(AHEAD_BACKOFF) || n.quota_backoff()) {
                return Ok(c.token.clone());
            }
        }
        match self.fetch_and_store(held.as_ref(), Refresh::IfStale, fallback.is_some()) {
            Ok(token) => Ok(token),
            Err(e) => match fallback {
                Some(c) => {
                    self.set_warning(Some(format!("refresh ahead of expiry failed: {e}")));
                    Ok(c.token)
                }
                // `valid` was dropped meanwhile (invalidated): nothing to serve.
                None => Err(e),
            },
        }
    }

    /// No usable token (or a forced refresh): wait, bounded, for the locks,
    /// then fetch unless someone else just did, or just failed.
    fn refresh(&self, kind: Refresh) -> Result<String> {
        let waiting_since = backoff::now_us();
        let deadline = Instant::now() + self.lock_wait();
        let _in_process = self.lock_in_process(deadline)?;
        let held = match self.store.lock(left(deadline))? {
            LockOutcome::Held(l) => Some(l),
            LockOutcome::Busy | LockOutcome::Unavailable(_) => {
                self.set_warning(Some(format!(
                    "cache lock {} unavailable; only this process is serialised",
                    self.store.lock_path().display()
                )));
                None
            }
        };
        // Whoever held the locks before us may have refreshed already.
        let now = self.clock.now();
        let stored = self.store.load()?;
        if kind == Refresh::IfStale {
            if let Some(c) = stored
                .as_ref()
                .filter(|c| c.is_fresh(now, self.config.refresh_margin()))
            {
                return Ok(c.token.clone());
            }
            if let Some(token) = self.unpersisted_fresh(now) {
                return Ok(token);
            }
            // ...or failed: share that answer rather than ask again at once.
            if let Some(note) = self.failure_note(held.as_ref()) {
                if note.since(waiting_since) || note.quota_backoff() {
                    return Err(note.to_error());
                }
            }
        }
        let old_valid = stored.is_some_and(|c| c.is_valid(now));
        self.fetch_and_store(held.as_ref(), kind, old_valid)
    }

    /// One fetch, its outcome noted for other callers, the token stored.
    fn fetch_and_store(
        &self,
        held: Option<&FileLock>,
        kind: Refresh,
        old_valid: bool,
    ) -> Result<String> {
        let started = self.clock.now();
        let fetched = match self.fetcher.fetch(kind == Refresh::Force) {
            Ok(f) => f,
            Err(e) => {
                self.note_failure(held, Some(FailureNote::of(&e)));
                return Err(e);
            }
        };
        self.note_failure(held, None);
        let cached = Cached {
            token: fetched.token,
            expires_at: started + fetched.expires_in,
            written_at: Some(started),
        };
        match self.store.save(&cached, old_valid) {
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

    /// The last failed refresh: from the lock file when it is held (shared
    /// by all processes), else this process's own.
    fn failure_note(&self, held: Option<&FileLock>) -> Option<FailureNote> {
        match held.and_then(FileLock::read_note) {
            Some(text) => FailureNote::decode(&text),
            None => lock(&self.last_failure).clone(),
        }
    }

    fn note_failure(&self, held: Option<&FileLock>, note: Option<FailureNote>) {
        if let Some(l) = held {
            l.write_note(&note.as_ref().map(FailureNote::encode).unwrap_or_default());
        }
        *lock(&self.last_failure) = note;
    }

    /// The in-process refresh lock, waiting no later than `deadline`.
    fn lock_in_process(&self, deadline: Instant) -> Result<MutexGuard<'_, ()>> {
        let start = Instant::now();
        let mut pause = Duration::from_millis(1);
        loop {
            match self.refresh.try_lock() {
                Ok(g) => return Ok(g),
                Err(TryLockError::Poisoned(p)) => return Ok(p.into_inner()),
                Err(TryLockError::WouldBlock) if Instant::now() >= deadline => {
                    return Err(Error::LockTimeout {
                        path: self.store.lock_path().to_path_buf(),
                        waited: start.elapsed(),
                    });
                }
                Err(TryLockError::WouldBlock) => {
                    // A std Mutex has no timed lock; this is the miss path only.
                    std::thread::sleep(pause.min(left(deadline)));
                    pause = (pause * 2).min(Duration::from_millis(20));
                }
            }
        }
    }
}

/// `to - from` in seconds, saturating (an expiry file may hold any number).
fn seconds_between(from: u64, to: u64) -> i64 {
    let d = i128::from(to) - i128::from(from);
    d.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

/// Time left until `deadline`.
fn left(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}

/// Locks a mutex whose data stays consistent even if a holder panicked.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
