//! One refresher at a time: the in-process lock, then the store's lock,
//! polled within the HTTP timeout, a second look at the store once both are
//! held, then one fetch whose outcome (a token or a failure note) every
//! waiter takes from the store as soon as it shows.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::failure_note::{FailureNote, AHEAD_BACKOFF};
use super::{left, TokenCache};
use crate::blocking::blocking_step;
use crate::cached::Cached;
use crate::error::{Error, Result};
use crate::process_lock::ProcessGuard;
use crate::store::{LockOutcome, StoreLock};

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Refresh {
    /// Fetch only if the store is still stale once the lock is held.
    IfStale,
    /// Fetch regardless.
    Force,
}

impl TokenCache {
    /// The slow half of `get_token`, kept apart so the hit path stays small.
    pub(super) async fn miss(&self, now: u64, stored: Option<Cached>) -> Result<String> {
        if let Some(token) = self.unpersisted_fresh(now) {
            return Ok(token);
        }
        if self.policy.passive {
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

    /// The store again, under the lock: someone may have refreshed, failed or
    /// invalidated meanwhile. `Ok(token)` when it is fresh now.
    fn recheck(&self) -> Result<std::result::Result<String, Option<Cached>>> {
        let now = self.clock.now();
        let stored = blocking_step(|| self.store.reload())?;
        if let Some(c) = stored
            .as_ref()
            .filter(|c| c.is_fresh(now, self.policy.refresh_margin))
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
            let now_us = self.clock.now_micros();
            if note.is_some_and(|n| n.within(AHEAD_BACKOFF, now_us) || n.backing_off(now_us)) {
                return Ok(c.token.clone());
            }
        }
        let budget = self.policy.http_timeout - self.reserve();
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
    pub(super) async fn refresh(&self, kind: Refresh) -> Result<String> {
        let waiting_since = self.clock.now_micros();
        let deadline = Instant::now() + self.policy.http_timeout;
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
                if note.since(waiting_since) || note.backing_off(self.clock.now_micros()) {
                    return Err(note.to_error(self.clock.now_micros()));
                }
            }
        }
        // The lock came late (its holder crashed, or left no answer): fetch
        // with what is left, unless that is under half the timeout. A fetch
        // cut that short could fail against a slow but working API, and its
        // note would hold everyone back.
        let budget = left(deadline)
            .checked_sub(self.reserve())
            .filter(|b| *b >= self.policy.http_timeout / 2)
            .ok_or_else(|| Error::LockTimeout {
                lock: self.store.describe().lock,
                waited: self.policy.http_timeout.saturating_sub(left(deadline)),
            })?;
        self.fetch_and_store(held.as_deref(), kind, stored, budget)
            .await
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
                    &self.app,
                    &self.source.scope(),
                    self.clock.now_micros(),
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

    /// The in-process refresh lock, waiting no later than `deadline`.
    pub(super) async fn lock_in_process(&self, deadline: Instant) -> Result<ProcessGuard> {
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
    pub(super) async fn lock_store(
        &self,
        deadline: Instant,
        shared_since: Option<u64>,
    ) -> Result<Turn> {
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
pub(super) enum Turn {
    /// The lock is ours (`None`: the store has none to give here).
    Mine(Option<Box<dyn StoreLock>>),
    /// Someone else's refresh answered meanwhile.
    Answered(Result<String>),
}
