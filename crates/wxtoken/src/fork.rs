//! `fork(2)` while other threads are inside the library: a lock one of them
//! held at that moment stays locked in the child, where no thread will ever
//! release it. The hit path takes no lock (the file store's memo is
//! lock-free); for the few process-wide locks on the miss path (the blocking
//! runtime's slot, the shared HTTP clients, the Redis and database servers), handlers
//! registered with
//! `pthread_atfork` take them before the fork and release them after it, in
//! the parent and in the child. A cache's own refresh lock, held across a
//! whole fetch, is made anew in the child instead (`process_lock`).

use std::cell::RefCell;
use std::sync::{MutexGuard, Once};

type RuntimeSlot = Option<(u32, std::sync::Arc<tokio::runtime::Runtime>)>;

/// The process-wide locks of the miss path. Never taken one inside the
/// other elsewhere, so taking both here cannot deadlock.
type Held = (
    MutexGuard<'static, RuntimeSlot>,
    MutexGuard<'static, crate::source::http::Clients>,
    MutexGuard<
        'static,
        Vec<(
            RedisServerKey,
            std::sync::Arc<crate::store::redis_pool::RedisServer>,
        )>,
    >,
);
type RedisServerKey = (String, Option<std::path::PathBuf>, std::time::Duration);

thread_local! {
    /// The locks taken by `prepare`, released by `parent` or `child` (all
    /// three run on the thread that forks).
    static HELD: RefCell<Option<Held>> = const { RefCell::new(None) };
}

thread_local! {
    /// The database servers' registry lock, taken last by `prepare`.
    static HELD_DATABASES: RefCell<Option<crate::store::db_pool::ServersGuard>> =
        const { RefCell::new(None) };
}

extern "C" fn prepare() {
    let runtime = crate::blocking::lock_runtime_slot();
    let clients = crate::source::http::lock_clients();
    let servers = crate::store::redis_pool::lock_servers();
    let databases = crate::store::db_pool::lock_servers();
    HELD.with(|h| *h.borrow_mut() = Some((runtime, clients, servers)));
    HELD_DATABASES.with(|h| *h.borrow_mut() = Some(databases));
}

extern "C" fn release() {
    HELD_DATABASES.with(|h| drop(h.borrow_mut().take()));
    HELD.with(|h| drop(h.borrow_mut().take()));
}

/// Registers the handlers, once per process. Front ends that can be called
/// from a multi-threaded program that forks (the C library) call this on
/// first use; it costs nothing afterwards.
pub fn install_fork_handlers() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: the handlers are plain functions that only lock and unlock
        // static mutexes, as pthread_atfork requires.
        unsafe {
            libc::pthread_atfork(Some(prepare), Some(release), Some(release));
        }
    });
}
