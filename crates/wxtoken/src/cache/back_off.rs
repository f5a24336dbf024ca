//! The shared back-off: the note of the last failed refresh, read without
//! the lock so that waiters get a failure at once, and inside its window
//! everyone gets it instead of asking upstream again. Dated on the cache's
//! clock, so a test steps past a window without sleeping.

use std::sync::Arc;

use super::failure_note::FailureNote;
use super::TokenCache;
use crate::blocking::blocking_step;
use crate::error::Result;
use crate::store::StoreLock;

impl TokenCache {
    /// Before queueing for any lock: inside a back-off window everyone gets
    /// the failure at once (or a token stored meanwhile), so callers do not
    /// line up for the lock only to read the note.
    pub(super) fn answer_in_back_off(&self) -> Option<Result<String>> {
        let note = self
            .peeked_note()
            .filter(|n| n.backing_off(self.clock.now_micros()))?;
        Some(match self.fresh_in_store() {
            Ok(Some(token)) => Ok(token),
            Ok(None) => Err(note.to_error(self.clock.now_micros())),
            Err(e) => Err(e),
        })
    }

    /// For a caller waiting while someone else holds the store's lock: the
    /// answer of a refresh that ended after `since` (a fresh token in the
    /// store, or a failure noted), or a back-off in force. The waiter takes
    /// it as soon as the store shows it, so it never has to win the lock for
    /// it, and a process that takes the lock again cannot get ahead of it.
    pub(super) fn answer_since(&self, since: u64) -> Option<Result<String>> {
        match self.fresh_in_store() {
            Ok(Some(token)) => return Some(Ok(token)),
            Ok(None) => {}
            Err(e) => return Some(Err(e)),
        }
        let note = self.peeked_note()?;
        (note.since(since) || note.backing_off(self.clock.now_micros()))
            .then(|| Err(note.to_error(self.clock.now_micros())))
    }

    /// A fresh token in the store (bypassing any memo) or in this process.
    pub(super) fn fresh_in_store(&self) -> Result<Option<String>> {
        let now = self.clock.now();
        let stored = blocking_step(|| self.store.reload())?;
        Ok(stored
            .filter(|c| c.is_fresh(now, self.policy.refresh_margin))
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
        .filter(|n| n.is_for(&self.app, || self.source.scope()))?;
        let redated = note.clamp_to_now(self.clock.now_micros());
        Some((note, redated))
    }

    /// The last failed refresh: from the store when its lock is held (shared
    /// by all processes), else this process's own. A note dated well in the
    /// future is re-dated as long past (and stored so).
    pub(super) fn failure_note(&self, held: Option<&dyn StoreLock>) -> Option<FailureNote> {
        let (note, redated) = self.note_from(held.and_then(|l| l.read_note()))?;
        if let Some(l) = held.filter(|_| redated) {
            l.write_note(&note.encode());
        }
        Some(note)
    }

    pub(super) fn note_failure(&self, held: Option<&dyn StoreLock>, note: Option<FailureNote>) {
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
}
