//! The lock that serialises refreshes inside one process, first come first
//! served: one caller polls the store's lock while the others queue here.
//!
//! A tokio mutex, because async callers hold it across the fetch. That is
//! also why it cannot simply be inherited across `fork(2)`: a refresh that
//! another thread was running when the process forked holds the parent's
//! copy, and no thread of the child will ever release it. So the lock knows
//! the process it was made in, and a child makes its own on first use. (The
//! child still shares the store's lock with the parent, through the
//! inherited descriptor, and takes the parent's answer from the store.)

use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio::sync::{Mutex, OwnedMutexGuard, TryLockError};

/// Held while refreshing; dropping it lets the next caller in.
pub(crate) type ProcessGuard = OwnedMutexGuard<()>;

struct ForProcess {
    pid: u32,
    mutex: Arc<Mutex<()>>,
}

/// The in-process refresh lock, one per cache.
pub(crate) struct ProcessLock {
    current: ArcSwap<ForProcess>,
}

impl ProcessLock {
    pub(crate) fn new() -> Self {
        ProcessLock {
            current: ArcSwap::from_pointee(ForProcess {
                pid: std::process::id(),
                mutex: Arc::new(Mutex::new(())),
            }),
        }
    }

    /// Waits for the lock (the caller bounds the wait).
    pub(crate) async fn lock(&self) -> ProcessGuard {
        self.mutex().lock_owned().await
    }

    /// The lock if nobody in this process holds it.
    pub(crate) fn try_lock(&self) -> Result<ProcessGuard, TryLockError> {
        self.mutex().try_lock_owned()
    }

    /// This process's mutex: made anew in the child of a fork. Only the
    /// miss path gets here, so the `getpid` is not on the hit path.
    fn mutex(&self) -> Arc<Mutex<()>> {
        let pid = std::process::id();
        let seen = self.current.load_full();
        if seen.pid == pid {
            return seen.mutex.clone();
        }
        let mine = Arc::new(ForProcess {
            pid,
            mutex: Arc::new(Mutex::new(())),
        });
        // Threads of the child racing here agree on whichever swap lands.
        let before = self.current.compare_and_swap(&seen, mine.clone());
        if Arc::ptr_eq(&*before, &seen) {
            mine.mutex.clone()
        } else {
            self.current.load().mutex.clone()
        }
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
        lock.current.store(Arc::new(ForProcess {
            pid: std::process::id().wrapping_add(1),
            mutex: Arc::new(Mutex::new(())),
        }));
        let inherited = lock.current.load_full();
        let _parents = inherited.mutex.clone().try_lock_owned().unwrap();
        assert!(lock.try_lock().is_ok(), "the child makes its own");
        drop(held);
    }
}
