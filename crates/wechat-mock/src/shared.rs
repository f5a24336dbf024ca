//! What the accept loop, the connection threads and the `MockServer` handle
//! share: the state behind a mutex and the stop signal.

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::state::{MockConfig, State};

/// What ends a `slow` fault's sleep early.
#[derive(Debug, Default)]
struct Wake {
    /// The server is stopping.
    stopping: bool,
    /// Bumped by a reset: answers still sleeping are abandoned, so a test can
    /// use a long delay without waiting it out afterwards.
    generation: u64,
}

/// Shared by every thread of one server.
#[derive(Debug)]
pub struct Shared {
    state: Mutex<State>,
    wake: Mutex<Wake>,
    stop_cv: Condvar,
}

impl Shared {
    /// Fresh shared data for `config`.
    pub fn new(config: MockConfig) -> Self {
        Self {
            state: Mutex::new(State::new(config)),
            wake: Mutex::new(Wake::default()),
            stop_cv: Condvar::new(),
        }
    }

    /// Locks the state. A panic in another thread while holding the lock
    /// leaves the state usable (every update is a few plain assignments), so
    /// poisoning is ignored rather than spreading the panic to every thread.
    pub fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wake(&self) -> MutexGuard<'_, Wake> {
        self.wake.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Marks the server as stopping and wakes every `sleep`.
    pub fn stop(&self) {
        self.wake().stopping = true;
        self.stop_cv.notify_all();
    }

    /// Whether `stop` was called.
    pub fn is_stopping(&self) -> bool {
        self.wake().stopping
    }

    /// Resets the state and abandons every answer a `slow` fault still owes
    /// (they answer busy, issue no token and count nothing more).
    pub fn reset(&self) {
        self.state().reset();
        self.wake().generation += 1;
        self.stop_cv.notify_all();
    }

    /// Sleeps for `d` (the `slow` fault). Returns `false` when cut short by a
    /// stop or a reset, so dropping a `MockServer` or resetting it never waits
    /// out a long delay, and the abandoned answer is not a late token.
    pub fn sleep(&self, d: Duration) -> bool {
        // An absurd delay from /mock/fault must not overflow the Instant:
        // then just wait until the server stops or is reset.
        let deadline = Instant::now().checked_add(d);
        let mut wake = self.wake();
        let generation = wake.generation;
        while !wake.stopping && wake.generation == generation {
            let wait = match deadline {
                Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => left,
                    _ => return true,
                },
                None => Duration::from_secs(3600),
            };
            wake = match self.stop_cv.wait_timeout(wake, wait) {
                Ok((guard, _)) => guard,
                Err(e) => e.into_inner().0,
            };
        }
        false
    }
}
