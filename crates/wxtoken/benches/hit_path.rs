//! `make bench`: what the core's hit, a refresh and the Redis store cost,
//! against the real mock (and a real redis-server when one is installed).
//!
//! Prints figures and, for scripts/bench.sh, `RESULT <key> <value>` lines
//! that BENCHMARKS.md is written from. Asserts nothing about speed (that would
//! make tests depend on the machine). No benchmark framework: a warm-up and
//! timed loops, the median of several rounds, are enough for figures this far
//! apart.

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use wechat_mock::MockServer;
use wxtoken::{Config, TokenCache};

const ROUNDS: usize = 5;

/// The median over `ROUNDS` rounds of about `budget / ROUNDS` each, in
/// nanoseconds per call.
fn measure(budget: Duration, mut f: impl FnMut()) -> f64 {
    for _ in 0..1000 {
        f();
    }
    let round = budget / ROUNDS as u32;
    let mut figures: Vec<f64> = (0..ROUNDS)
        .map(|_| {
            let mut calls = 0u64;
            let start = Instant::now();
            while start.elapsed() < round {
                for _ in 0..1000 {
                    f();
                }
                calls += 1000;
            }
            start.elapsed().as_nanos() as f64 / calls as f64
        })
        .collect();
    figures.sort_by(f64::total_cmp);
    figures[ROUNDS / 2]
}

fn report(key: &str, what: &str, ns: f64) {
    println!("{what:<58} {ns:>10.1} ns/call {:>12.0} calls/s", 1e9 / ns);
    println!("RESULT {key} {ns:.1}");
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

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Replaces `path` by rename, as every writer does.
fn replace(path: &std::path::Path, text: &str) {
    let tmp = path.with_extension("bench-tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn main() {
    let budget = Duration::from_millis(
        std::env::var("BENCH_MS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(1000),
    );
    let mock = MockServer::start().expect("mock starts");
    let dir = tempfile::tempdir().unwrap();
    let config = Config::builder()
        .appid("wx_test_appid")
        .secret("test_secret_0123456789")
        .api_base(mock.url())
        .token_file(dir.path().join("token.txt"))
        .expiry_file(dir.path().join("expiry.txt"))
        .build()
        .unwrap();
    let cache = Arc::new(TokenCache::new(config.clone()));
    cache.get_token().unwrap();
    // Files changed within the last second are read again on every call
    // (timestamps may be too coarse to trust yet); measure the steady state.
    std::thread::sleep(Duration::from_millis(2100));
    println!(
        "wxtoken core benchmarks (median of {ROUNDS} rounds, {} ms per figure)",
        budget.as_millis()
    );

    // ---------------------------------------------------------------- hits
    let hit = measure(budget, || {
        black_box(cache.get_token().unwrap());
    });
    report("rust_hit", "hit: TokenCache::get_token", hit);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let hit_async = rt.block_on(async {
        let mut ns = Vec::new();
        for _ in 0..ROUNDS {
            let start = Instant::now();
            let n = 200_000u32;
            for _ in 0..n {
                black_box(cache.get_token_async().await.unwrap());
            }
            ns.push(start.elapsed().as_nanos() as f64 / f64::from(n));
        }
        ns.sort_by(f64::total_cmp);
        ns[ROUNDS / 2]
    });
    report(
        "rust_hit_async",
        "hit: TokenCache::get_token_async (in a runtime)",
        hit_async,
    );
    let (t, e) = (config.token_file(), config.expiry_file());
    let legacy = measure(budget, || {
        black_box(legacy_style_read(t, e).unwrap());
    });
    report(
        "rust_legacy",
        "legacy approach in Rust: read + parse both files",
        legacy,
    );

    // ---------------------------------------------------------------- coherence
    // Another writer replaces the token every 100 ms; every call must see
    // the newest token within one call of the rename.
    let published = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (published, stop) = (published.clone(), stop.clone());
        let (t, e) = (t.to_path_buf(), e.to_path_buf());
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                replace(&e, &(unix_now() + 7000).to_string());
                replace(&t, &format!("COHERENCE_TOKEN_{n:08}"));
                published.store(n, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(100));
            }
            n
        })
    };
    std::thread::sleep(Duration::from_millis(150));
    let stale = AtomicU64::new(0);
    let coherent = measure(budget.max(Duration::from_millis(1000)), || {
        let before = published.load(Ordering::SeqCst);
        let token = cache.get_token().unwrap();
        let seen: u64 = token
            .strip_prefix("COHERENCE_TOKEN_")
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        if seen < before {
            stale.fetch_add(1, Ordering::Relaxed);
        }
    });
    stop.store(true, Ordering::Relaxed);
    let updates = writer.join().unwrap();
    report(
        "coherence_hit",
        "hit while another writer replaces the token every 100 ms",
        coherent,
    );
    println!(
        "  {} replacements; calls that returned a token older than the last completed replacement: {}",
        updates,
        stale.load(Ordering::Relaxed)
    );
    println!("RESULT coherence_updates {updates}");
    println!("RESULT coherence_stale {}", stale.load(Ordering::Relaxed));

    // ---------------------------------------------------------------- a miss
    let n = 100;
    let calls_before = mock.stats().token_calls;
    let start = Instant::now();
    for _ in 0..n {
        black_box(cache.force_refresh().unwrap());
    }
    let miss = start.elapsed().as_nanos() as f64 / f64::from(n);
    report(
        "miss",
        "miss: force_refresh (lock, HTTP, parse, stage, fsync, renames)",
        miss,
    );
    println!(
        "RESULT miss_calls {}",
        mock.stats().token_calls - calls_before
    );
    // The same request with the same kind of client, nothing else.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let url = format!(
        "{}/cgi-bin/token?grant_type=client_credential&appid=wx_test_appid&secret=test_secret_0123456789",
        mock.url()
    );
    let bare = rt.block_on(async {
        let start = Instant::now();
        for _ in 0..n {
            let body = client
                .get(&url)
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
            black_box(body);
        }
        start.elapsed().as_nanos() as f64 / f64::from(n)
    });
    report(
        "bare_http",
        "bare HTTP request to the mock, same client settings",
        bare,
    );
    // What the durability costs: two files written, fsynced and renamed.
    let fs_dir = tempfile::tempdir_in(dir.path()).unwrap();
    let fsync_pair = {
        let start = Instant::now();
        for i in 0..n {
            for name in ["a", "b"] {
                let tmp = fs_dir.path().join(format!("{name}.tmp"));
                let f = std::fs::File::create(&tmp).unwrap();
                std::io::Write::write_all(&mut &f, format!("{i}").as_bytes()).unwrap();
                f.sync_all().unwrap();
                std::fs::rename(&tmp, fs_dir.path().join(name)).unwrap();
            }
            std::fs::File::open(fs_dir.path())
                .unwrap()
                .sync_all()
                .unwrap();
        }
        start.elapsed().as_nanos() as f64 / f64::from(n)
    };
    report(
        "fsync_pair",
        "two files written + fsynced + renamed, directory synced",
        fsync_pair,
    );

    // ---------------------------------------------------------------- Redis
    redis_bench(&mock, budget);
}

/// The Redis store's hit (no round trip) and miss, on a redis-server
/// started here, when one is installed.
fn redis_bench(mock: &MockServer, budget: Duration) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let Ok(mut server) = std::process::Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
        ])
        .stdout(std::process::Stdio::null())
        .spawn()
    else {
        println!("redis-server not installed: no Redis figures");
        return;
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let config = Config::builder()
        .appid("wx_test_appid")
        .secret("test_secret_0123456789")
        .api_base(mock.url())
        .redis_url(format!("redis://127.0.0.1:{port}/0"))
        .build()
        .unwrap();
    let cache = TokenCache::new(config);
    cache.get_token().unwrap();
    let hit = measure(budget, || {
        black_box(cache.get_token().unwrap());
    });
    report(
        "redis_hit",
        "Redis store hit (rechecks Redis once a second)",
        hit,
    );
    let n = 100;
    let start = Instant::now();
    for _ in 0..n {
        black_box(cache.force_refresh().unwrap());
    }
    let miss = start.elapsed().as_nanos() as f64 / f64::from(n);
    report(
        "redis_miss",
        "Redis store miss: force_refresh (lock, HTTP, MULTI)",
        miss,
    );
    let _ = server.kill();
    let _ = server.wait();
}
