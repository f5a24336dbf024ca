//! Many threads of one process on an expired cache: one upstream call.

mod common;

use std::sync::{Arc, Barrier};

use common::World;

#[test]
fn sixteen_threads_share_one_refresh() {
    let w = World::new();
    w.write_files("EXPIRED", "1");
    let cache = Arc::new(w.cache());
    let barrier = Arc::new(Barrier::new(16));
    let handles: Vec<_> = (0..16)
        .map(|_| {
            let cache = Arc::clone(&cache);
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                cache.get_token()
            })
        })
        .collect();
    let tokens: Vec<String> = handles
        .into_iter()
        .map(|h| h.join().unwrap().unwrap())
        .collect();
    assert!(tokens.iter().all(|t| t == &tokens[0] && t != "EXPIRED"));
    assert_eq!(w.token_calls(), 1);
}

#[test]
fn sixteen_threads_with_separate_caches_share_one_refresh() {
    // Separate caches on the same files only share the flock, as separate
    // processes would.
    let w = Arc::new(World::new());
    w.write_files("EXPIRED", "1");
    let barrier = Arc::new(Barrier::new(16));
    let handles: Vec<_> = (0..16)
        .map(|_| {
            let cache = w.cache();
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                cache.get_token()
            })
        })
        .collect();
    let tokens: Vec<String> = handles
        .into_iter()
        .map(|h| h.join().unwrap().unwrap())
        .collect();
    assert!(tokens.iter().all(|t| t == &tokens[0]));
    assert_eq!(w.token_calls(), 1);
}
