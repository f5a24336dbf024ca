//! Running the async refresh from the blocking API, wherever it is called.
//!
//! The refresh is written once, as async code on tokio (the fetch uses
//! reqwest's async client). The blocking API (`get_token`, the C library, the
//! PHP extension) drives it with [`block_on`], which must work in three
//! places:
//!
//! - outside any runtime (C programs, PHP workers, plain Rust): on a small
//!   current-thread runtime of this process, built on the first miss (never
//!   on the hit path) and rebuilt after a `fork`, since a runtime built
//!   before the fork lives on in the parent only;
//! - inside a multi-thread tokio runtime (a blocking call from async code):
//!   `block_in_place` lets the worker block without stalling the others;
//! - inside a current-thread runtime, where neither is allowed: on a scoped
//!   helper thread with a runtime of its own, so the call still works instead
//!   of panicking, as reqwest's blocking client did.

use std::future::Future;
use std::sync::{Arc, Mutex};

use tokio::runtime::{Builder, Handle, Runtime, RuntimeFlavor};

/// This process's runtime for blocking calls, and the pid it was built in.
static RUNTIME: Mutex<Option<(u32, Arc<Runtime>)>> = Mutex::new(None);

/// The slot's lock, for `fork::prepare`.
pub(crate) fn lock_runtime_slot() -> std::sync::MutexGuard<'static, Option<(u32, Arc<Runtime>)>> {
    RUNTIME.lock().unwrap_or_else(|p| p.into_inner())
}

fn runtime() -> std::io::Result<Arc<Runtime>> {
    let pid = std::process::id();
    let mut slot = lock_runtime_slot();
    if let Some((built_in, rt)) = slot.as_ref() {
        if *built_in == pid {
            return Ok(rt.clone());
        }
    }
    if let Some((_, inherited)) = slot.take() {
        // Built before a fork: its threads are the parent's. Dropping it here
        // would wait for them; leaking it costs a few kilobytes once.
        std::mem::forget(inherited);
    }
    let rt = Arc::new(Builder::new_current_thread().enable_all().build()?);
    *slot = Some((pid, rt.clone()));
    Ok(rt)
}

/// Runs `fut` to completion from synchronous code, see the module docs.
pub(crate) fn block_on<F>(fut: F) -> std::io::Result<F::Output>
where
    F: Future + Send,
    F::Output: Send,
{
    match Handle::try_current() {
        Err(_) => Ok(runtime()?.block_on(fut)),
        Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::MultiThread => {
            Ok(tokio::task::block_in_place(|| handle.block_on(fut)))
        }
        Ok(_) => std::thread::scope(|s| {
            s.spawn(|| {
                let rt = Builder::new_current_thread().enable_all().build()?;
                Ok(rt.block_on(fut))
            })
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        }),
    }
}

/// Runs a short blocking step (file I/O, a Redis round trip) from async code
/// without stalling the other tasks of a multi-thread runtime; inline
/// elsewhere (a current-thread runtime cannot hand its only worker over).
pub(crate) fn blocking_step<T>(f: impl FnOnce() -> T) -> T {
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        _ => f(),
    }
}
