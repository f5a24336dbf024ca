//! Many threads of one process on an expired cache: one upstream call.

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
