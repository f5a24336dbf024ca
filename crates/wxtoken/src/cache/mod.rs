//! The cache policy: hit, single-flight miss, refresh-ahead, shared back-off,
//! invalidation, for any one credential. All the policy lives here, once,
//! above the [`TokenStore`] trait and the [`TokenSource`] trait; it knows
//! nothing of settings, files, Redis or WeChat (`assemble.rs` puts caches
//! together from a configuration).
//!
//! - `mod.rs`: the facade (the public calls and `status`);
//! - `single_flight.rs`: one refresher at a time, across threads, processes
//!   and hosts, with bounded waits;
//! - `back_off.rs` and `failure_note.rs`: the shared note of the last failed
//!   refresh, and who waits how long because of it.
//!
//! Shape borrowed from smithy-rs's lazy identity cache: a cheap synchronous
//! read path, one refresher at a time, time injected through a [`Clock`]
//! (expiry and the back-off windows alike), and the source of new tokens
//! injected too, so the policy is tested with a scripted source. Here "one at
//! a time" spans processes and hosts as well, through the store's lock.
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
use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::process_lock::ProcessLock;
use crate::source::TokenSource;
use crate::store::{StoreInfo, TokenStore};
use failure_note::FailureNote;

mod back_off;
pub(crate) mod failure_note;
mod single_flight;

use single_flight::{Refresh, Turn};

/// The most a fetch's budget keeps back from the HTTP timeout (see
/// `TokenCache::reserve`).
const MAX_RESERVE: Duration = Duration::from_secs(1);

/// What the policy needs to know, and nothing more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Seconds before expiry at which a credential counts as stale and the
    /// next call refreshes it ahead of expiry.
    pub refresh_margin: u64,
    /// The longest any call takes: a fetch, or a wait for someone else's.
    pub http_timeout: Duration,
    /// Never fetch; only read what others stored.
    pub passive: bool,
}

/// A shared cache of one WeChat credential: an access token (the default,
/// from [`TokenCache::new`]) or a JS-SDK ticket (see [`AppCache`](crate::AppCache)).
///
/// One value serves any number of threads and tasks; any number of
/// processes using the same store (this crate, the C library, the PHP
/// extension, the legacy script on the files) share one token.
pub struct TokenCache {
    policy: Policy,
    /// The app whose failure notes this cache reads and writes.
    app: String,
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
            .field("app", &self.app)
            .field("policy", &self.policy)
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

impl TokenCache {
    /// A cache from its parts: the policy, the app whose failure notes it
    /// shares, the clock, the store and the source. `assemble.rs` makes them
    /// from a configuration ([`TokenCache::new`], [`TokenCache::builder`]).
    pub fn from_parts(
        policy: Policy,
        app: &str,
        clock: Arc<dyn Clock>,
        store: Arc<dyn TokenStore>,
        source: Arc<dyn TokenSource>,
    ) -> TokenCache {
        TokenCache {
            policy,
            app: app.to_string(),
            clock,
            store,
            source,
            refresh: ProcessLock::new(),
            unpersisted: ArcSwapOption::empty(),
            warning: ArcSwapOption::empty(),
            has_warning: std::sync::atomic::AtomicBool::new(false),
            last_failure: ArcSwapOption::empty(),
        }
    }

    /// The policy in use.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The source's fingerprint of its credentials (see
    /// [`TokenSource::scope`]).
    pub(crate) fn scope(&self) -> String {
        self.source.scope()
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
            Some(c) if c.is_fresh(now, self.policy.refresh_margin) => Ok(c.token),
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
            Some(c) if c.is_fresh(now, self.policy.refresh_margin) => Ok(c.token),
            stored => self.miss(now, stored).await,
        }
    }

    /// Fetches a new token now, whatever the cache holds, and stores it.
    pub fn force_refresh(&self) -> Result<String> {
        run_blocking(self.force_refresh_async())?
    }

    /// [`force_refresh`](Self::force_refresh) for async code.
    pub async fn force_refresh_async(&self) -> Result<String> {
        if self.policy.passive {
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
        let deadline = Instant::now() + self.policy.http_timeout;
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
        let margin = self.policy.refresh_margin;
        let store = self.store.describe();
        let paths = self.store.paths();
        let path = |p: &std::path::Path| {
            std::path::absolute(p)
                .unwrap_or(p.into())
                .display()
                .to_string()
        };
        Ok(Status {
            token_file: paths.as_ref().map(|(t, _)| path(t)),
            expiry_file: paths.as_ref().map(|(_, e)| path(e)),
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
    pub(super) fn reserve(&self) -> Duration {
        (self.policy.http_timeout / 10).min(MAX_RESERVE)
    }

    /// The longest pause between two looks at a held lock.
    pub(super) fn max_poll_pause(&self) -> Duration {
        (self.reserve() / 4).min(Duration::from_millis(20))
    }

    pub(super) fn unpersisted_fresh(&self, now: u64) -> Option<String> {
        self.unpersisted
            .load()
            .as_ref()
            .filter(|c| c.is_fresh(now, self.policy.refresh_margin))
            .map(|c| c.token.clone())
    }

    pub(super) fn set_warning(&self, w: Option<String>) {
        self.has_warning
            .store(w.is_some(), std::sync::atomic::Ordering::Release);
        self.warning.store(w.map(Arc::new));
    }
}

/// Runs the slow path from the blocking API (see `blocking`).
pub(super) fn run_blocking<T: Send>(fut: impl std::future::Future<Output = T> + Send) -> Result<T> {
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
pub(crate) fn left(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}
