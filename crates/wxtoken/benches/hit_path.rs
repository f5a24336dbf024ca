//! `make bench`: what a cache hit and a refresh cost, against the real mock.
//!
//! Prints figures and ratios; asserts nothing about speed (that would make
//! tests depend on the machine). No benchmark framework: a warm-up and a
//! timed loop are enough for numbers this far apart.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use wechat_mock::MockServer;
use wxtoken::{Config, TokenCache};

/// Runs `f` repeatedly for about `budget`; returns nanoseconds per call.
fn measure(budget: Duration, mut f: impl FnMut()) -> f64 {
    for _ in 0..1000 {
        f();
    }
    let mut calls = 0u64;
    let start = Instant::now();
    while start.elapsed() < budget {
        for _ in 0..1000 {
            f();
        }
        calls += 1000;
    }
    start.elapsed().as_nanos() as f64 / calls as f64
}

fn report(name: &str, ns: f64) {
    println!("{name:<52} {ns:>10.0} ns/call {:>12.0} calls/s", 1e9 / ns);
}

/// What the legacy script does on every call, in Rust: read both files,
/// trim, parse, compare with the clock.
fn legacy_style_read(token: &std::path::Path, expiry: &std::path::Path) -> Option<String> {
    let t = std::fs::read_to_string(token).ok()?.trim().to_string();
    let x: u64 = std::fs::read_to_string(expiry).ok()?.trim().parse().ok()?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_secs();
    (!t.is_empty() && now < x).then_some(t)
}

fn main() {
    let budget = Duration::from_millis(
        std::env::var("BENCH_MS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(1000),
    );
    let mock = MockServer::start().expect("mock starts");
    let dir = std::env::temp_dir().join(format!("wxtoken-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = Config::builder()
        .appid("wx_test_appid")
        .secret("test_secret_0123456789")
        .api_base(mock.url())
        .token_file(dir.join("token.txt"))
        .expiry_file(dir.join("expiry.txt"))
        .build()
        .unwrap();
    let cache = Arc::new(TokenCache::new(config.clone()));
    cache.get_token().unwrap();
    // Files changed within the last second are read again on every call
    // (timestamps may be too coarse to trust yet); measure the steady state.
    std::thread::sleep(Duration::from_millis(2100));

    println!(
        "wxtoken core benchmarks ({} ms per figure)",
        budget.as_millis()
    );
    let hit = measure(budget, || {
        black_box(cache.get_token().unwrap());
    });
    report("hit: TokenCache::get_token (fstat-validated)", hit);

    let (t, e) = (config.token_file(), config.expiry_file());
    let legacy = measure(budget, || {
        black_box(legacy_style_read(t, e).unwrap());
    });
    report("baseline: read + parse both files every call", legacy);
    println!(
        "  ratio: hit path is {:.1}x the read-every-time baseline",
        legacy / hit
    );

    let threads = 2;
    let start = Instant::now();
    let per_thread = 200_000;
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let cache = Arc::clone(&cache);
            std::thread::spawn(move || {
                for _ in 0..per_thread {
                    black_box(cache.get_token().unwrap());
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let ns = start.elapsed().as_nanos() as f64 / (threads * per_thread) as f64;
    report(
        &format!("hit: {threads} threads sharing one cache (aggregate)"),
        ns,
    );

    // A refresh: HTTP round trip to the local mock, two fsync'd renames.
    let n = 200;
    let start = Instant::now();
    for _ in 0..n {
        black_box(cache.force_refresh().unwrap());
    }
    let refresh = start.elapsed().as_nanos() as f64 / n as f64;
    report(
        "miss: force_refresh (local HTTP + 2 atomic writes)",
        refresh,
    );
    println!(
        "  ratio: a refresh costs {:.0}x a hit; upstream calls made: {}",
        refresh / hit,
        mock.stats().token_calls
    );
    let _ = std::fs::remove_dir_all(&dir);
}
