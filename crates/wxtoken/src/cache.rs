//! The token cache: hit, single-flight miss, refresh-ahead, shared back-off,
//! invalidation. All the policy lives here, once, above the
//! [`TokenStore`] trait.
//!
//! Shape borrowed from smithy-rs's lazy identity cache: a cheap synchronous
//! read path, one refresher at a time, time injected through a [`Clock`],
//! and the source of new tokens injected too, so the policy is tested with a
//! scripted source. Here "one at a time" spans processes and hosts as well,
//! through the store's lock.
//!
//! The slow path is written once, as async code. The async API runs it on the
//! caller's runtime; the blocking API drives it with `blocking::block_on`,
//! which works outside any runtime and inside either kind of tokio runtime.

use std::sync::Arc;

use arc_swap::ArcSwapOption;
use std::time::Duration;

// tokio's `Instant`, not std's: the same in production, and tests of the
// waits run on tokio's paused clock instead of the machine's speed.
use tokio::time::Instant;

use serde::Serialize;

use crate::blocking::{block_on, blocking_step};
use crate::cached::{preview, Cached};
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::failure_note::{self, FailureNote, AHEAD_BACKOFF};
use crate::fetch::{Fetcher, TokenSource};
use crate::file_store::FileStore;
use crate::process_lock::{ProcessGuard, ProcessLock};
use crate::redis_store::RedisStore;
use crate::store::{LockOutcome, StoreInfo, StoreLock, TokenStore};

/// The most a fetch's budget keeps back from the HTTP timeout (see
/// `TokenCache::reserve`).
const MAX_RESERVE: Duration = Duration::from_secs(1);

/// A shared WeChat access-token cache.
///
/// One value serves any number of threads and tasks; any number of
/// processes using the same store (this crate, the C library, the PHP
/// extension, the legacy script on the files) share one token.
pub struct TokenCache {
    config: Config,
    clock: Arc<dyn Clock>,
    store: Arc<dyn TokenStore>,
    source: Arc<dyn TokenSource>,
    /// Serialises refreshes inside this process (see `process_lock`).
    refresh: ProcessLock,
    /// A token fetched but not written (unwritable store), kept so the
    /// process does not fetch again on every call.
    ///
    /// This and the other per-cache slots below are lock-free (`arc-swap`),
    /// so that no thread can hold a lock on them when the process forks:
    /// the child would wait for it forever.
    unpersisted: ArcSwapOption<Cached>,
    /// Why the last write or refresh-ahead failed, while it goes on failing.
    warning: ArcSwapOption<String>,
    /// Whether `warning` holds one: front ends ask after every call, and
    /// then a hit pays one atomic load for it.
    has_warning: std::sync::atomic::AtomicBool,
    /// The last failed refresh in this process, for when the store keeps no
    /// note.
    last_failure: ArcSwapOption<FailureNote>,
}

impl std::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCache")
            .field("config", &self.config)
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

/// What `status` reports about the cached token.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Status {
    /// Which store, and where (passwords masked).
    pub store: StoreInfo,
    /// Path of the token file (file store only).
    pub token_file: Option<String>,
    /// Path of the expiry file (file store only).
    pub expiry_file: Option<String>,
    /// A usable token is cached (in the store, or in memory if it is unwritable).
    pub present: bool,
    /// The first characters of the token, safe to print.
    pub token_preview: Option<String>,
    /// Unix expiry time.
    pub expires_at: Option<u64>,
    /// Seconds until expiry (negative once expired).
    pub seconds_left: Option<i64>,
    /// Seconds since the token was written.
    pub age_seconds: Option<u64>,
    /// Unix time from which a `get` refreshes it ahead of expiry.
    pub refresh_at: Option<u64>,
    /// A `get` now would be a hit (valid for more than the refresh margin).
    pub fresh: bool,
    /// The refresh margin in use.
    pub refresh_margin: u64,
    /// The last write or refresh problem, if it persists.
    pub warning: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Refresh {
    /// Fetch only if the store is still stale once the lock is held.
    IfStale,
    /// Fetch regardless.
    Force,
}

/// Builds a [`TokenCache`] with parts other than the defaults.
///
/// ```
/// use std::sync::Arc;
/// use wxtoken::{Config, ManualClock, TokenCache};
/// let config = Config::builder().appid("wx_app").secret("app_secret").build()?;
/// let cache = TokenCache::builder(config)
///     .clock(Arc::new(ManualClock::new(1_700_000_000)))
///     .build();
/// # Ok::<(), wxtoken::Error>(())
/// ```
pub struct TokenCacheBuilder {
    config: Config,
    clock: Option<Arc<dyn Clock>>,
    store: Option<Arc<dyn TokenStore>>,
    source: Option<Arc<dyn TokenSource>>,
}

impl TokenCacheBuilder {
    /// The clock (default: the system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// The store (default: Redis when the configuration names a Redis URL,
    /// else the configured token and expiry files).
    pub fn store(mut self, store: Arc<dyn TokenStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// Where new tokens come from (default: the WeChat API as configured).
    pub fn source(mut self, source: Arc<dyn TokenSource>) -> Self {
        self.source = Some(source);
        self
    }

    /// The cache. Nothing is opened, connected or started yet.
    pub fn build(self) -> TokenCache {
        let config = self.config;
        let store = self.store.unwrap_or_else(|| default_store(&config));
        let source = self.source.unwrap_or_else(|| wechat_api_source(&config));
        TokenCache {
            clock: self.clock.unwrap_or_else(|| Arc::new(SystemClock)),
            store,
            source,
            config,
            refresh: ProcessLock::new(),
            unpersisted: ArcSwapOption::empty(),
            warning: ArcSwapOption::empty(),
            has_warning: std::sync::atomic::AtomicBool::new(false),
            last_failure: ArcSwapOption::empty(),
        }
    }
}

/// The default token source for `config`: the WeChat API (or the configured
/// bases), bounded by the HTTP timeout. Wrap it to observe fetches (the
/// `wxtoken daemon` counts them for its metrics) and hand the wrapper to
/// [`TokenCacheBuilder::source`].
pub fn wechat_api_source(config: &Config) -> Arc<dyn TokenSource> {
    Arc::new(Fetcher::new(config.clone()))
}

/// The store a configuration names. A second kind of store is one more arm.
fn default_store(config: &Config) -> Arc<dyn TokenStore> {
    match config.redis_url() {
        Some(_) => Arc::new(RedisStore::new(config)),
        None => Arc::new(FileStore::new(config.token_file(), config.expiry_file())),
    }
}

impl TokenCache {
    /// A cache on the wall clock, with the store and source the
    /// configuration names.
    pub fn new(config: Config) -> Self {
        Self::builder(config).build()
    }

    /// A cache on the given clock (tests move time with [`crate::ManualClock`]).
    pub fn with_clock(config: Config, clock: Arc<dyn Clock>) -> Self {
        Self::builder(config).clock(clock).build()
    }

    /// A builder, to choose the clock, the store or the token source.
    pub fn builder(config: Config) -> TokenCacheBuilder {
        TokenCacheBuilder {
            config,
            clock: None,
            store: None,
            source: None,
        }
    }

    /// The configuration in use.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// A valid token: from the store when fresh (no network, no lock), else
    /// fetched once for all threads, processes and hosts sharing the store.
    ///
    /// A call ends within the HTTP timeout, whether it fetches or waits for
    /// someone else's fetch: a fetch gets the timeout less a tenth (at most a
    /// second) kept back for storing the answer, so that every caller that
    /// waited for it is answered in time too. (With Redis, a round trip
    /// already under way when the time is up still ends first; each is
    /// bounded by the Redis timeout.) A caller waiting for the lock
    /// takes the answer (a token or a failure) as soon as the store shows
    /// it, without having to win the lock; so no caller, in any process,
    /// can get ahead of it by taking the lock again.
    ///
    /// Works from any thread, including inside a tokio runtime (where
    /// [`get_token_async`](Self::get_token_async) is the better choice: this
    /// blocks the calling thread for a refresh).
    pub fn get_token(&self) -> Result<String> {
        let now = self.clock.now();
        match self.store.load()? {
            Some(c) if c.is_fresh(now, self.config.refresh_margin()) => Ok(c.token),
            stored => run_blocking(self.miss(now, stored))?,
        }
    }

    /// [`get_token`](Self::get_token) for async code, on the caller's
    /// runtime. A hit completes at once; a miss never blocks a runtime worker
    /// for the fetch or for the wait on another refresher. Dropping the
    /// future releases whatever it holds and leaves the store as it was or
    /// fully replaced.
    pub async fn get_token_async(&self) -> Result<String> {
        let now = self.clock.now();
        match self.store.load()? {
            Some(c) if c.is_fresh(now, self.config.refresh_margin()) => Ok(c.token),
            stored => self.miss(now, stored).await,
        }
    }

    /// Fetches a new token now, whatever the cache holds, and stores it.
    pub fn force_refresh(&self) -> Result<String> {
        run_blocking(self.force_refresh_async())?
    }

    /// [`force_refresh`](Self::force_refresh) for async code.
    pub async fn force_refresh_async(&self) -> Result<String> {
        if self.config.passive() {
            return Err(Error::Passive);
        }
        self.refresh(Refresh::Force).await
    }

    /// Drops `failed` from the cache if it is still the cached token, after a
    /// business API rejected it (40001, 40014, 42001). Returns whether it was
    /// dropped; a newer token is kept. Nothing is fetched here: the next
    /// `get_token` refreshes once.
    pub fn invalidate(&self, failed: &str) -> Result<bool> {
        run_blocking(self.invalidate_async(failed))?
    }

    /// [`invalidate`](Self::invalidate) for async code.
    pub async fn invalidate_async(&self, failed: &str) -> Result<bool> {
        if failed.is_empty() {
            return Ok(false);
        }
        let deadline = Instant::now() + self.config.http_timeout();
        let _in_process = self.lock_in_process(deadline).await?;
        // Under the in-process lock: nobody else replaces it meanwhile.
        let mut dropped = false;
        if self
            .unpersisted
            .load()
            .as_ref()
            .is_some_and(|c| c.token == failed)
        {
            self.unpersisted.store(None);
            dropped = true;
        }
        let Turn::Mine(Some(_held)) = self.lock_store(deadline, None).await? else {
            return Ok(dropped);
        };
        if blocking_step(|| self.store.invalidate(failed))? {
            dropped = true;
        }
        Ok(dropped)
    }

    /// What is cached now, without fetching.
    pub fn status(&self) -> Result<Status> {
        let now = self.clock.now();
        let cached = match self.store.load()? {
            Some(c) => Some(c),
            None => self.unpersisted.load_full().map(|c| (*c).clone()),
        };
        let age = self.store.written_at().map(|w| now.saturating_sub(w));
        let margin = self.config.refresh_margin();
        let store = self.store.describe();
        let files = store.kind == "files";
        let path = |p: &std::path::Path| {
            files.then(|| {
                std::path::absolute(p)
                    .unwrap_or(p.into())
                    .display()
                    .to_string()
            })
        };
        Ok(Status {
            token_file: path(self.config.token_file()),
            expiry_file: path(self.config.expiry_file()),
            store,
            present: cached.as_ref().is_some_and(|c| c.is_valid(now)),
            token_preview: cached.as_ref().map(|c| preview(&c.token)),
            expires_at: cached.as_ref().map(|c| c.expires_at),
            seconds_left: cached.as_ref().map(|c| seconds_between(now, c.expires_at)),
            age_seconds: cached.as_ref().and(age),
            refresh_at: cached.as_ref().map(|c| c.refresh_at(margin)),
            fresh: cached.as_ref().is_some_and(|c| c.is_fresh(now, margin)),
            refresh_margin: margin,
            warning: self.last_warning(),
        })
    }

    /// Why the last write to the store, or the last refresh-ahead, failed,
    /// while that goes on; `None` once a write succeeds.
    pub fn last_warning(&self) -> Option<String> {
        if !self.has_warning.load(std::sync::atomic::Ordering::Acquire) {
            return None;
        }
        self.warning.load_full().map(|w| (*w).clone())
    }

    /// What a fetch keeps back from the time it could have: a tenth of the
    /// HTTP timeout, at most a second, for storing the answer and for the
    /// callers waiting on it to see it before their own timeouts.
    fn reserve(&self) -> Duration {
        (self.config.http_timeout() / 10).min(MAX_RESERVE)
    }

    /// The longest pause between two looks at a held lock.
    fn max_poll_pause(&self) -> Duration {
        (self.reserve() / 4).min(Duration::from_millis(20))
    }

    /// The slow half of `get_token`, kept apart so the hit path stays small.
    async fn miss(&self, now: u64, stored: Option<Cached>) -> Result<String> {
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
            Some(c) if c.is_valid(now) => self.refresh_ahead(c).await,
            _ => self.refresh(Refresh::IfStale).await,
        }
    }

    fn unpersisted_fresh(&self, now: u64) -> Option<String> {
        self.unpersisted
            .load()
            .as_ref()
            .filter(|c| c.is_fresh(now, self.config.refresh_margin()))
            .map(|c| c.token.clone())
    }

    fn set_warning(&self, w: Option<String>) {
        self.has_warning
            .store(w.is_some(), std::sync::atomic::Ordering::Release);
        self.warning.store(w.map(Arc::new));
    }

    /// The store again, under the lock: someone may have refreshed, failed or
    /// invalidated meanwhile. `Ok(token)` when it is fresh now.
    fn recheck(&self) -> Result<std::result::Result<String, Option<Cached>>> {
        let now = self.clock.now();
        let stored = blocking_step(|| self.store.reload())?;
        if let Some(c) = stored
            .as_ref()
            .filter(|c| c.is_fresh(now, self.config.refresh_margin()))
        {
            return Ok(Ok(c.token.clone()));
        }
        if let Some(token) = self.unpersisted_fresh(now) {
            return Ok(Ok(token));
        }
        Ok(Err(stored.filter(|c| c.is_valid(now))))
    }

    /// Inside the refresh margin: `valid` still works, so this never waits
    /// for another refresher. Whoever gets both locks first refreshes;
    /// everyone else, and everyone while a failed attempt is recent, is
    /// served `valid`, as is the refresher if its attempt fails.
    async fn refresh_ahead(&self, valid: Cached) -> Result<String> {
        let Ok(_in_process) = self.refresh.try_lock() else {
            return Ok(valid.token);
        };
        let held = match blocking_step(|| self.store.try_lock()) {
            Ok(LockOutcome::Held(l)) => Some(l),
            Ok(LockOutcome::Unavailable(_)) => None,
            Ok(LockOutcome::Busy) | Err(_) => return Ok(valid.token),
        };
        let fallback = match self.recheck() {
            Ok(Ok(token)) => return Ok(token),
            Ok(Err(still_valid)) => still_valid,
            Err(_) => return Ok(valid.token),
        };
        if let Some(c) = &fallback {
            let note = self.failure_note(held.as_deref());
            if note.is_some_and(|n| n.within(AHEAD_BACKOFF) || n.backing_off()) {
                return Ok(c.token.clone());
            }
        }
        let budget = self.config.http_timeout() - self.reserve();
        let fetched = self
            .fetch_and_store(
                held.as_deref(),
                Refresh::IfStale,
                fallback.is_some(),
                budget,
            )
            .await;
        match (fetched, fallback) {
            (Ok(token), _) => Ok(token),
            (Err(e), Some(c)) => {
                self.set_warning(Some(format!("refresh ahead of expiry failed: {e}")));
                Ok(c.token)
            }
            // `valid` was dropped meanwhile (invalidated): nothing to serve.
            (Err(e), None) => Err(e),
        }
    }

    /// No usable token (or a forced refresh): wait, within the HTTP timeout,
    /// for the locks, then fetch unless someone else just did, or just failed
    /// and is still backing off.
    async fn refresh(&self, kind: Refresh) -> Result<String> {
        let waiting_since = failure_note::now_us();
        let deadline = Instant::now() + self.config.http_timeout();
        // A forced refresh wants a fetch of its own; anyone else takes the
        // answer of a refresh that ends while they wait.
        let shared_since = (kind == Refresh::IfStale).then_some(waiting_since);
        if shared_since.is_some() {
            if let Some(answer) = self.answer_in_back_off() {
                return answer;
            }
        }
        let _in_process = self.lock_in_process(deadline).await?;
        let held = match self.lock_store(deadline, shared_since).await? {
            Turn::Answered(answer) => return answer,
            Turn::Mine(held) => held,
        };
        let stored = match self.recheck()? {
            Ok(token) if kind == Refresh::IfStale => return Ok(token),
            Ok(_) => true,
            Err(valid) => valid.is_some(),
        };
        if kind == Refresh::IfStale {
            // Share a recent failure rather than ask again at once.
            if let Some(note) = self.failure_note(held.as_deref()) {
                if note.since(waiting_since) || note.backing_off() {
                    return Err(note.to_error());
                }
            }
        }
        // The lock came late (its holder crashed, or left no answer): fetch
        // with what is left, unless that is under half the timeout. A fetch
        // cut that short could fail against a slow but working API, and its
        // note would hold everyone back.
        let budget = left(deadline)
            .checked_sub(self.reserve())
            .filter(|b| *b >= self.config.http_timeout() / 2)
            .ok_or_else(|| Error::LockTimeout {
                lock: self.store.describe().lock,
                waited: self.config.http_timeout().saturating_sub(left(deadline)),
            })?;
        self.fetch_and_store(held.as_deref(), kind, stored, budget)
            .await
    }

    /// Before queueing for any lock: inside a back-off window everyone gets
    /// the failure at once (or a token stored meanwhile), so callers do not
    /// line up for the lock only to read the note.
    fn answer_in_back_off(&self) -> Option<Result<String>> {
        let note = self.peeked_note().filter(FailureNote::backing_off)?;
        Some(match self.fresh_in_store() {
            Ok(Some(token)) => Ok(token),
            Ok(None) => Err(note.to_error()),
            Err(e) => Err(e),
        })
    }

    /// For a caller waiting while someone else holds the store's lock: the
    /// answer of a refresh that ended after `since` (a fresh token in the
    /// store, or a failure noted), or a back-off in force. The waiter takes
    /// it as soon as the store shows it, so it never has to win the lock for
    /// it, and a process that takes the lock again cannot get ahead of it.
    fn answer_since(&self, since: u64) -> Option<Result<String>> {
        match self.fresh_in_store() {
            Ok(Some(token)) => return Some(Ok(token)),
            Ok(None) => {}
            Err(e) => return Some(Err(e)),
        }
        let note = self.peeked_note()?;
        (note.since(since) || note.backing_off()).then(|| Err(note.to_error()))
    }

    /// A fresh token in the store (bypassing any memo) or in this process.
    fn fresh_in_store(&self) -> Result<Option<String>> {
        let now = self.clock.now();
        let stored = blocking_step(|| self.store.reload())?;
        Ok(stored
            .filter(|c| c.is_fresh(now, self.config.refresh_margin()))
            .map(|c| c.token)
            .or_else(|| self.unpersisted_fresh(now)))
    }

    /// The failure note read without the lock: the store's, else this
    /// process's own. A note dated well in the future counts as long past.
    fn peeked_note(&self) -> Option<FailureNote> {
        self.note_from(blocking_step(|| self.store.peek_note()))
            .map(|(note, _)| note)
    }

    /// The note in `text` (the store's), else this process's own, if it is
    /// this app's; and holding back these credentials; re-dated as long past if it is
    /// from well in the future (then `true`).
    fn note_from(&self, text: Option<String>) -> Option<(FailureNote, bool)> {
        let mut note = match text {
            Some(text) => FailureNote::decode(&text),
            None => self.last_failure.load_full().map(|n| (*n).clone()),
        }
        .filter(|n| n.is_for(self.config.appid(), || self.source.scope()))?;
        let redated = note.clamp_to_now();
        Some((note, redated))
    }

    /// One fetch, its outcome noted for other callers, the token stored.
    async fn fetch_and_store(
        &self,
        held: Option<&dyn StoreLock>,
        kind: Refresh,
        old_valid: bool,
        budget: Duration,
    ) -> Result<String> {
        let started = self.clock.now();
        // The source is asked to end within `budget`; one that overruns is
        // cut a little later, still inside the reserve.
        let fetch = self.source.fetch(kind == Refresh::Force, budget);
        let cut = budget + self.reserve() / 2;
        let fetched = tokio::time::timeout(cut, fetch).await.unwrap_or_else(|_| {
            Err(Error::Timeout {
                host: "the token source".into(),
                waited: cut,
            })
        });
        let fetched = match fetched {
            Ok(f) => f,
            // A local configuration error (a secret file that cannot be
            // read, say) never reached WeChat: there is nothing to back off
            // from, and a shared note would hold back the corrected setting.
            Err(e @ (Error::Config(_) | Error::Unsafe { .. })) => return Err(e),
            Err(e) => {
                let previous = self.failure_note(held);
                let note = FailureNote::of(
                    &e,
                    previous.as_ref(),
                    self.config.appid(),
                    &self.source.scope(),
                );
                self.note_failure(held, Some(note));
                return Err(e);
            }
        };
        self.note_failure(held, None);
        let cached = Cached {
            token: fetched.token,
            expires_at: started + fetched.expires_in,
            written_at: Some(started),
        };
        match blocking_step(|| self.store.save(&cached, old_valid)) {
            Ok(()) => {
                self.unpersisted.store(None);
                self.set_warning(None);
            }
            Err(e) => {
                self.set_warning(Some(format!(
                    "token fetched but not cached: {e}; it is kept in this process only"
                )));
                self.unpersisted.store(Some(Arc::new(cached.clone())));
            }
        }
        Ok(cached.token)
    }

    /// The last failed refresh: from the store when its lock is held (shared
    /// by all processes), else this process's own. A note dated well in the
    /// future is re-dated as long past (and stored so).
    fn failure_note(&self, held: Option<&dyn StoreLock>) -> Option<FailureNote> {
        let (note, redated) = self.note_from(held.and_then(|l| l.read_note()))?;
        if let Some(l) = held.filter(|_| redated) {
            l.write_note(&note.encode());
        }
        Some(note)
    }

    fn note_failure(&self, held: Option<&dyn StoreLock>, note: Option<FailureNote>) {
        let text = note.as_ref().map(FailureNote::encode).unwrap_or_default();
        // Once the store keeps the note, everyone reads it there, and this
        // process must not hold on to a copy that another process's success
        // clears from the store later. A store that kept nothing (a lock
        // file we may not write) leaves the process its own.
        let kept = held.is_some_and(|l| {
            l.write_note(&text);
            l.read_note().unwrap_or_default() == text
        });
        self.last_failure
            .store(if kept { None } else { note.map(Arc::new) });
    }

    /// The in-process refresh lock, waiting no later than `deadline`.
    async fn lock_in_process(&self, deadline: Instant) -> Result<ProcessGuard> {
        let start = Instant::now();
        tokio::time::timeout(left(deadline), self.refresh.lock())
            .await
            .map_err(|_| Error::LockTimeout {
                lock: format!("{} (held in this process)", self.store.describe().lock),
                waited: start.elapsed(),
            })
    }

    /// The store's lock, polled until `deadline`. `Mine(None)` when the store
    /// can give none here (noted as a warning): in-process exclusion only.
    /// With `shared_since`, a refresh's answer that the store shows meanwhile
    /// ends the wait (see [`answer_since`](Self::answer_since)).
    async fn lock_store(&self, deadline: Instant, shared_since: Option<u64>) -> Result<Turn> {
        let start = Instant::now();
        let mut pause = Duration::from_millis(1);
        loop {
            match blocking_step(|| self.store.try_lock())? {
                LockOutcome::Held(l) => return Ok(Turn::Mine(Some(l))),
                LockOutcome::Unavailable(why) => {
                    self.set_warning(Some(why));
                    return Ok(Turn::Mine(None));
                }
                LockOutcome::Busy => {}
            }
            if let Some(answer) = shared_since.and_then(|since| self.answer_since(since)) {
                return Ok(Turn::Answered(answer));
            }
            if Instant::now() >= deadline {
                return Err(Error::LockTimeout {
                    lock: self.store.describe().lock,
                    waited: start.elapsed(),
                });
            }
            // Polling keeps the wait bounded, works for every store and never
            // blocks a runtime worker. At most a quarter of the reserve
            // apart, so an answer stored at the last moment is still seen.
            tokio::time::sleep(pause.min(left(deadline))).await;
            pause = (pause * 2).min(self.max_poll_pause());
        }
    }
}

/// How a wait for the store's lock ended.
enum Turn {
    /// The lock is ours (`None`: the store has none to give here).
    Mine(Option<Box<dyn StoreLock>>),
    /// Someone else's refresh answered meanwhile.
    Answered(Result<String>),
}

/// Runs the slow path from the blocking API (see `blocking`).
fn run_blocking<T: Send>(fut: impl std::future::Future<Output = T> + Send) -> Result<T> {
    block_on(fut).map_err(|e| Error::Io {
        op: "start the async runtime for",
        path: "a refresh".into(),
        source: e,
    })
}

/// `to - from` in seconds, saturating (an expiry may hold any number).
fn seconds_between(from: u64, to: u64) -> i64 {
    let d = i128::from(to) - i128::from(from);
    d.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

/// Time left until `deadline`.
fn left(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}
