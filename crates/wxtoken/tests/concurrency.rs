//! Callers racing for one refresh: threads of one process, and a lock held
//! by a stuck process.

mod common;

use std::sync::{Arc, Barrier};

use common::World;
use wxtoken::TokenCache;

/// Starts `n` threads together, each calling `get_token` on the cache that
/// `cache_for` gives it, and returns what each got.
fn race_results(n: usize, cache_for: impl Fn() -> Arc<TokenCache>) -> Vec<wxtoken::Result<String>> {
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
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

/// As [`race_results`], when every caller must get a token.
fn race(n: usize, cache_for: impl Fn() -> Arc<TokenCache>) -> Vec<String> {
    race_results(n, cache_for)
        .into_iter()
        .map(Result::unwrap)
        .collect()
}

/// 16 callers on an expired cache, each with the cache `cache_for` gives:
/// one new token for all, from one upstream call.
fn sixteen_share_one_refresh(w: &World, cache_for: impl Fn() -> Arc<TokenCache>) {
    let tokens = race(16, cache_for);
    assert!(tokens.iter().all(|t| t == &tokens[0] && t != "EXPIRED"));
    assert_eq!(w.token_calls(), 1);
}

#[test]
fn sixteen_threads_share_one_refresh() {
    let w = World::new();
    w.write_files("EXPIRED", "1");
    let cache = Arc::new(w.cache());
    sixteen_share_one_refresh(&w, || Arc::clone(&cache));
}

#[test]
fn sixteen_threads_with_separate_caches_share_one_refresh() {
    // Separate caches on the same files share only the flock, as separate
    // processes would.
    let w = World::new();
    w.write_files("EXPIRED", "1");
    sixteen_share_one_refresh(&w, || Arc::new(w.cache()));
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

#[test]
fn refresh_ahead_under_failure_serves_the_valid_token_and_backs_off() {
    let w = World::new();
    // Fetched 7000 s ago, 200 s left: inside the 300 s margin.
    w.write_files_aged("STILL_VALID", &(w.now() + 200).to_string(), 7000);
    w.mock
        .set_fault(Some(wechat_mock::Fault::Errcode(-1)), None);
    let tokens = race(16, || Arc::new(w.cache()));
    assert!(tokens.iter().all(|t| t == "STILL_VALID"), "{tokens:?}");
    // One refresher tried (with its bounded retries); the rest did not wait.
    let calls = w.token_calls();
    assert!((1..=3).contains(&calls), "{calls} calls");
    // Later callers inside the back-off do not ask again.
    for _ in 0..5 {
        assert_eq!(w.cache().get_token().unwrap(), "STILL_VALID");
    }
    assert_eq!(w.token_calls(), calls);
}

#[test]
fn waiters_share_a_failed_refresh_instead_of_repeating_it() {
    let w = World::new();
    w.write_files("EXPIRED", "1");
    w.mock.set_fault(Some(wechat_mock::Fault::Http500), None);
    let cache = Arc::new(w.cache());
    for result in race_results(8, || Arc::clone(&cache)) {
        let e = result.unwrap_err();
        assert!(e.to_string().contains("HTTP status 500"), "{e}");
    }
    // Threads that were waiting got the refresher's answer; only callers that
    // arrive after it is over would try again.
    assert!(w.token_calls() < 8, "{} calls", w.token_calls());
}
