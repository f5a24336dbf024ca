//! What a process last read from a shared store (Redis, a database): served
//! for about a second without a round trip, and served on while the store
//! cannot be reached as long as it is valid. Both network stores keep one
//! per credential; the files need none (reading them is the hit path).

use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;

use crate::cached::Cached;

/// How long a process serves what it last read before asking the store
/// again. Another host's refresh retires the old token only five minutes
/// later, so a second of staleness is safe.
pub const RECHECK_INTERVAL: Duration = Duration::from_secs(1);

/// The last read and when it was made. An `arc-swap` cell: a hit takes no
/// lock, so none can be inherited held across a fork.
#[derive(Default)]
pub(crate) struct Memo(ArcSwapOption<(Cached, Instant)>);

impl Memo {
    /// What was read less than [`RECHECK_INTERVAL`] ago, if anything.
    pub(crate) fn fresh(&self) -> Option<Cached> {
        match self.0.load().as_deref() {
            Some((c, at)) if at.elapsed() < RECHECK_INTERVAL => Some(c.clone()),
            _ => None,
        }
    }

    /// Notes what the store holds now (`None`: nothing usable).
    pub(crate) fn remember(&self, cached: Option<Cached>) {
        self.0.store(cached.map(|c| Arc::new((c, Instant::now()))));
    }

    /// The answer of a read of the store; when the read failed (the store
    /// is down or slow), a token read before that is still valid instead,
    /// looked at again only after another interval: serving it beats
    /// failing every request.
    pub(crate) fn or_still_valid<E>(
        &self,
        read: Result<Option<Cached>, E>,
    ) -> Result<Option<Cached>, E> {
        match read {
            Ok(c) => Ok(c),
            Err(e) => match self.0.load_full().as_deref() {
                Some((c, _)) if c.is_valid(unix_now()) => {
                    self.remember(Some(c.clone()));
                    Ok(Some(c.clone()))
                }
                _ => Err(e),
            },
        }
    }

    /// Forgets `failed`, but only if it is still what was read: a
    /// concurrent read may have brought a newer one.
    pub(crate) fn forget(&self, failed: &str) {
        let seen = self.0.load_full();
        if seen.as_deref().is_some_and(|(c, _)| c.token == failed) {
            self.0.compare_and_swap(&seen, None);
        }
    }
}

/// Unix seconds now.
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
