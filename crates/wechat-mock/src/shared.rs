//! What the accept loop, the connection threads and the `MockServer` handle
//! share: the state behind a mutex and the stop signal.

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::state::{MockConfig, State};

/// Shared by every thread of one server.
#[derive(Debug)]
pub struct Shared {
    state: Mutex<State>,
    stopping: Mutex<bool>,
    stop_cv: Condvar,
}

impl Shared {
    /// Fresh shared data for `config`.
    pub fn new(config: MockConfig) -> Self {
        Self {
            state: Mutex::new(State::new(config)),
            stopping: Mutex::new(false),
            stop_cv: Condvar::new(),
        }
    }

    /// Locks the state. A panic in another thread while holding the lock
    /// leaves the state usable (every update is a few plain assignments), so
    /// poisoning is ignored rather than spreading the panic to every thread.
    pub fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Marks the server as stopping and wakes every `sleep`.
    pub fn stop(&self) {
        *self.stopping.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.stop_cv.notify_all();
    }

    /// Whether `stop` was called.
    pub fn is_stopping(&self) -> bool {
        *self.stopping.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sleeps for `d` (the `slow` fault) unless the server stops first, so
    /// dropping a `MockServer` never waits out a long delay.
    pub fn sleep(&self, d: Duration) {
        // An absurd delay from /mock/fault must not overflow the Instant:
        // then just wait until the server stops.
        let deadline = Instant::now().checked_add(d);
        let mut stopping = self.stopping.lock().unwrap_or_else(|e| e.into_inner());
        while !*stopping {
            let wait = match deadline {
                Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => left,
                    _ => return,
                },
                None => Duration::from_secs(3600),
            };
            stopping = match self.stop_cv.wait_timeout(stopping, wait) {
                Ok((guard, _)) => guard,
                Err(e) => e.into_inner().0,
            };
        }
    }
}
