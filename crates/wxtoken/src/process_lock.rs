//! State that belongs to one process: what a child of `fork(2)` must not
//! inherit, but make anew.
//!
//! Some per-cache state is held across a slow operation: the refresh lock
//! (a tokio mutex held across the whole fetch) and the Redis connection
//! (a mutex held across a round trip). A child forked while another thread
//! held one would find it locked by a thread it does not have, and wait
//! forever; and the Redis connection is the parent's socket besides. So such
//! state lives in a [`PerProcess`] cell, which remembers the pid it was made
//! in, and a child makes its own on first use. (A child still shares the
//! store's lock with the parent, through the inherited descriptor, and takes
//! the parent's answer from the store as it waits.)

use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio::sync::{Mutex, OwnedMutexGuard, TryLockError};

/// A value made per process: [`get`](Self::get) in the child of a fork
/// makes a new one instead of using the parent's.
pub(crate) struct PerProcess<T> {
    current: ArcSwap<(u32, Arc<T>)>,
    make: fn() -> T,
}

impl<T> PerProcess<T> {
    pub(crate) fn new(make: fn() -> T) -> Self {
        PerProcess {
            current: ArcSwap::from_pointee((std::process::id(), Arc::new(make()))),
            make,
        }
    }

    /// This process's value. Costs a `getpid`, so it is kept off the file
    /// store's hit path.
    pub(crate) fn get(&self) -> Arc<T> {
        let pid = std::process::id();
        let seen = self.current.load_full();
        if seen.0 == pid {
            return seen.1.clone();
        }
        let mine = Arc::new((pid, Arc::new((self.make)())));
        // Threads of the child racing here agree on whichever swap lands.
        let before = self.current.compare_and_swap(&seen, mine.clone());
        if Arc::ptr_eq(&*before, &seen) {
            // The parent's value is never used, dropped or closed here: it
            // may be locked, or own the parent's socket. A few bytes, once.
            std::mem::forget(seen);
            mine.1.clone()
        } else {
            self.current.load().1.clone()
        }
    }
}

/// Held while refreshing; dropping it lets the next caller in.
pub(crate) type ProcessGuard = OwnedMutexGuard<()>;

/// The lock that serialises refreshes inside one process, first come first
/// served: one caller polls the store's lock while the others queue here.
pub(crate) struct ProcessLock(PerProcess<Mutex<()>>);

impl ProcessLock {
    pub(crate) fn new() -> Self {
        ProcessLock(PerProcess::new(|| Mutex::new(())))
    }

    /// Waits for the lock (the caller bounds the wait).
    pub(crate) async fn lock(&self) -> ProcessGuard {
        self.0.get().lock_owned().await
    }

    /// The lock if nobody in this process holds it.
    pub(crate) fn try_lock(&self) -> Result<ProcessGuard, TryLockError> {
        self.0.get().try_lock_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_made_in_another_process_is_replaced_not_waited_for() {
        let lock = ProcessLock::new();
        let held = lock.try_lock().unwrap();
        assert!(lock.try_lock().is_err(), "held in this process");
        // As a child of a fork sees it: made in another pid, still held there.
        let parents = Arc::new(Mutex::new(()));
        let _held_there = parents.clone().try_lock_owned().unwrap();
        lock.0
            .current
            .store(Arc::new((std::process::id().wrapping_add(1), parents)));
        assert!(lock.try_lock().is_ok(), "the child makes its own");
        drop(held);
    }
}
