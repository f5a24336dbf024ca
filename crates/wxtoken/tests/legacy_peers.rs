//! The legacy script beside wxtoken on the same files, and the files' paths
//! changing under a long-running process: the cache must not take a legacy
//! write in progress for a miss, must not replace a newer legacy token with
//! an older one of its own, and must notice a directory replaced by a deploy.

mod common;

use std::io::Write;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::World;
use wxtoken::{BoxFuture, Fetched, TokenCache, TokenSource};

/// Writes `text` into `path` as PHP's `file_put_contents(..., LOCK_EX)`
/// does: open without truncating, lock, truncate, (pause), write, unlock.
fn legacy_write(path: &std::path::Path, text: &str, pause: Duration) {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .unwrap();
    fs2::FileExt::lock_exclusive(&f).unwrap();
    f.set_len(0).unwrap();
    std::thread::sleep(pause);
    f.write_all(text.as_bytes()).unwrap();
    fs2::FileExt::unlock(&f).unwrap();
}

/// A token source that counts its calls and, while "fetching", lets a
/// legacy writer store a newer token first (when `legacy` is set).
#[derive(Debug)]
struct Source {
    calls: AtomicU32,
    legacy: Option<(std::path::PathBuf, std::path::PathBuf)>,
}

impl TokenSource for Source {
    fn fetch(&self, _force: bool, _budget: Duration) -> BoxFuture<'_, wxtoken::Result<Fetched>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if let Some((token, expiry)) = &self.legacy {
            let far = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs()
                + 7000;
            legacy_write(token, "LEGACY_NEWER_TOKEN", Duration::ZERO);
            legacy_write(expiry, &far.to_string(), Duration::ZERO);
        }
        Box::pin(async {
            Ok(Fetched {
                token: "OURS_FETCHED_FIRST".into(),
                expires_in: 7200,
            })
        })
    }
}

#[test]
fn a_legacy_write_in_progress_is_waited_out_not_taken_for_a_miss() {
    let w = World::new();
    let far = (w.now() + 7000).to_string();
    w.write_files("LEGACY_TOKEN", &far);
    let source = Arc::new(Source {
        calls: AtomicU32::new(0),
        legacy: None,
    });
    let cache = TokenCache::builder(w.builder().build().unwrap())
        .source(source.clone())
        .build();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (stop, path) = (stop.clone(), w.token_file());
        std::thread::spawn(move || {
            let mut writes = 0;
            while !stop.load(Ordering::Relaxed) {
                // Empty for 2 ms out of every 3: a reader cannot miss it.
                legacy_write(&path, "LEGACY_TOKEN", Duration::from_millis(2));
                std::thread::sleep(Duration::from_millis(1));
                writes += 1;
            }
            writes
        })
    };
    let started = Instant::now();
    let mut reads = 0;
    while started.elapsed() < Duration::from_millis(1500) {
        assert_eq!(cache.get_token().unwrap(), "LEGACY_TOKEN");
        reads += 1;
    }
    stop.store(true, Ordering::Relaxed);
    let writes = writer.join().unwrap();
    assert!(writes > 50 && reads > 50, "{writes} writes, {reads} reads");
    assert_eq!(
        source.calls.load(Ordering::SeqCst),
        0,
        "a legacy write was taken for a miss"
    );
}

#[test]
fn a_newer_legacy_token_written_during_our_fetch_is_kept() {
    let w = World::new();
    w.write_files("EXPIRED", "1");
    let source = Arc::new(Source {
        calls: AtomicU32::new(0),
        legacy: Some((w.token_file(), w.expiry_file())),
    });
    let cache = TokenCache::builder(w.builder().build().unwrap())
        .source(source.clone())
        .build();
    // Our fetch started before the legacy script's: WeChat retires ours.
    assert_eq!(cache.get_token().unwrap(), "OURS_FETCHED_FIRST");
    assert_eq!(w.read(&w.token_file()), b"LEGACY_NEWER_TOKEN");
    assert_eq!(cache.get_token().unwrap(), "LEGACY_NEWER_TOKEN");
    assert_eq!(source.calls.load(Ordering::SeqCst), 1);
}

#[test]
fn a_cache_directory_replaced_by_a_deploy_is_noticed_within_a_second() {
    let w = World::new();
    let site = w.dir.path("site");
    std::fs::create_dir(&site).unwrap();
    let far = (w.now() + 7000).to_string();
    std::fs::write(site.join("token.txt"), "BEFORE_DEPLOY").unwrap();
    std::fs::write(site.join("expiry.txt"), &far).unwrap();
    let cache = w.cache_with(
        w.builder()
            .token_file(site.join("token.txt"))
            .expiry_file(site.join("expiry.txt")),
    );
    // Steady state: files older than the last whole second are trusted
    // from their open descriptors alone (until then they are re-read).
    std::thread::sleep(Duration::from_millis(2100));
    assert_eq!(cache.get_token().unwrap(), "BEFORE_DEPLOY");
    std::fs::rename(&site, w.dir.path("site.old")).unwrap();
    std::fs::create_dir(&site).unwrap();
    std::fs::write(site.join("token.txt"), "AFTER_DEPLOY").unwrap();
    std::fs::write(site.join("expiry.txt"), &far).unwrap();
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(cache.get_token().unwrap(), "AFTER_DEPLOY");
    assert_eq!(w.token_calls(), 0);
}

/// `mv dir dir.old; mkdir dir` while a process needs a refresh: in the gap
/// the directory is missing, and the process used to fetch without the lock
/// (keeping its token in memory) while the next process fetched again in
/// the new directory. It now waits for the directory like a busy lock.
#[test]
fn a_refresh_in_the_gap_of_a_directory_swap_waits_for_the_new_directory() {
    let w = World::new();
    let site = w.dir.path("site");
    std::fs::create_dir(&site).unwrap();
    let files = |b: wxtoken::ConfigBuilder| {
        b.token_file(site.join("token.txt"))
            .expiry_file(site.join("expiry.txt"))
    };
    let running = w.cache_with(files(w.builder()));
    running.get_token().unwrap();
    assert_eq!(w.token_calls(), 1);
    std::fs::rename(&site, w.dir.path("site.old")).unwrap();
    // The running process refreshes in the gap, then the new directory appears.
    let t = std::thread::spawn(move || running.force_refresh());
    std::fs::create_dir(&site).unwrap();
    let token = t.join().unwrap().unwrap();
    // The next process reads what the first one stored in the new directory.
    assert_eq!(w.cache_with(files(w.builder())).get_token().unwrap(), token);
    assert_eq!(
        w.token_calls(),
        2,
        "one fetch for the new directory, not two"
    );
}
