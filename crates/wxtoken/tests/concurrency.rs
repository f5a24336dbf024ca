//! Callers racing for one refresh: threads of one process, and a lock held
//! by a stuck process.

mod common;

use std::sync::{Arc, Barrier};

use common::World;
use wxtoken::TokenCache;

/// Starts `n` threads together, each calling `get_token` on the cache that
/// `cache_for` gives it, and returns their tokens.
fn race(n: usize, cache_for: impl Fn() -> Arc<TokenCache>) -> Vec<String> {
    let barrier = Arc::new(Barrier::new(n));
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let cache = cache_for();
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                cache.get_token()
            })
        })
        .collect();
    handles
        .into_iter()
        .map(|h| h.join().unwrap().unwrap())
        .collect()
}

#[test]
fn sixteen_threads_share_one_refresh() {
    let w = World::new();
    w.write_files("EXPIRED", "1");
    let cache = Arc::new(w.cache());
    let tokens = race(16, || Arc::clone(&cache));
    assert!(tokens.iter().all(|t| t == &tokens[0] && t != "EXPIRED"));
    assert_eq!(w.token_calls(), 1);
}

#[test]
fn sixteen_threads_with_separate_caches_share_one_refresh() {
    // Separate caches on the same files share only the flock, as separate
    // processes would.
    let w = World::new();
    w.write_files("EXPIRED", "1");
    let tokens = race(16, || Arc::new(w.cache()));
    assert!(tokens.iter().all(|t| t == &tokens[0] && t != "EXPIRED"));
    assert_eq!(w.token_calls(), 1);
}

#[test]
fn a_lock_held_too_long_is_a_clear_error_not_a_hang() {
    use fs2::FileExt;
    let w = World::new();
    w.write_files("EXPIRED", "1");
    // A stuck process holds the refresh lock.
    let lock = std::fs::File::create(w.dir.path("token.txt.lock")).unwrap();
    lock.lock_exclusive().unwrap();
    let cache = w.cache_with(
        w.builder()
            .http_timeout(std::time::Duration::from_millis(200)),
    );
    let e = cache.get_token().unwrap_err();
    assert!(matches!(e, wxtoken::Error::LockTimeout { .. }), "{e}");
    assert!(e.to_string().contains("token.txt.lock"), "{e}");
    assert_eq!(w.token_calls(), 0);
    // Once it lets go, the next call refreshes.
    drop(lock);
    assert_ne!(cache.get_token().unwrap(), "EXPIRED");
    assert_eq!(w.token_calls(), 1);
}
