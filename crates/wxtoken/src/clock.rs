//! Time as the cache sees it: whole Unix seconds, injectable so expiry can be
//! tested without sleeping.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// A source of the current Unix time in seconds.
///
/// The cache compares this with the decimal expiry in `expiry.txt`, which the
/// legacy PHP script writes as `time() + expires_in`, so whole seconds are the
/// natural unit.
pub trait Clock: Send + Sync + fmt::Debug {
    /// Current Unix time, seconds.
    fn now(&self) -> u64;

    /// Current Unix time, microseconds: what the shared back-off dates its
    /// failure notes with and measures its windows on. Processes sharing a
    /// store order their notes by it (did this refresh fail while I
    /// waited?), so two readings should differ. Defaults to [`now`](Self::now)
    /// in microseconds.
    fn now_micros(&self) -> u64 {
        self.now().saturating_mul(1_000_000)
    }
}

/// The real wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> u64 {
        // A clock before 1970 is a broken machine; treating it as 0 makes every
        // cached token look valid-until-expiry, which is the safe direction.
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    }

    fn now_micros(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64)
    }
}

/// A clock that only moves when told to; clones share the same time.
///
/// It keeps microseconds. Each [`now_micros`](Clock::now_micros) reading moves
/// it one microsecond on, so that two events (a wait begun, a failure noted)
/// never share an instant, as on a real clock; whole seconds move only by
/// [`set`](Self::set) and [`advance`](Self::advance).
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<AtomicU64>);

impl ManualClock {
    /// A clock standing at `now` (Unix seconds).
    pub fn new(now: u64) -> Self {
        Self(Arc::new(AtomicU64::new(now.saturating_mul(1_000_000))))
    }

    /// A clock standing at the current wall-clock time.
    pub fn at_system_time() -> Self {
        Self::new(SystemClock.now())
    }

    /// Moves the clock to `now`.
    pub fn set(&self, now: u64) {
        self.0
            .store(now.saturating_mul(1_000_000), Ordering::SeqCst);
    }

    /// Moves the clock forward by `secs`.
    pub fn advance(&self, secs: u64) {
        self.0
            .fetch_add(secs.saturating_mul(1_000_000), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> u64 {
        self.0.load(Ordering::SeqCst) / 1_000_000
    }

    fn now_micros(&self) -> u64 {
        self.0.fetch_add(1, Ordering::SeqCst) + 1
    }
}
