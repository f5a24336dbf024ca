//! What the request handlers and the `MockServer` handle share: the state
//! behind a mutex, and the signal that abandons `slow` answers on a reset.
//!
//! The handle lives on the caller's thread and the handlers on the server's
//! own runtime, so everything here works from either side: a plain mutex
//! (held only for a few assignments, never across an `.await`) and a
//! `Notify`, which can be fired without a runtime.

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;

use crate::state::{MockConfig, State};

/// Shared by the handle and every handler of one server.
#[derive(Debug)]
pub struct Shared {
    state: Mutex<State>,
    /// Fired by a reset: answers still sleeping are abandoned, so a test can
    /// use a long delay without waiting it out afterwards.
    reset: Notify,
}

impl Shared {
    /// Fresh shared data for `config`.
    pub fn new(config: MockConfig) -> Self {
        Self {
            state: Mutex::new(State::new(config)),
            reset: Notify::new(),
        }
    }

    /// Locks the state. A panic in another thread while holding the lock
    /// leaves the state usable (every update is a few plain assignments), so
    /// poisoning is ignored rather than spreading the panic to every thread.
    pub fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Resets the state and abandons every answer a `slow` fault still owes
    /// (they answer busy, issue no token and count nothing more).
    pub fn reset(&self) {
        self.state().reset();
        self.reset.notify_waiters();
    }

    /// Sleeps for `d` (the `slow` fault). Returns `false` when cut short by a
    /// reset, so the abandoned answer is not a late token. Stopping the
    /// server needs no signal here: it drops the runtime, and with it this
    /// future.
    pub async fn sleep(&self, d: Duration) -> bool {
        // tokio clamps an absurd delay (from /mock/fault) to a far future
        // instead of overflowing; a reset or a stop still ends it.
        tokio::select! {
            () = tokio::time::sleep(d) => true,
            () = self.reset.notified() => false,
        }
    }
}
