//! Hit, miss, refresh-ahead, expiry and invalidation, against the real mock
//! over HTTP, with time moved by a settable clock instead of sleeping.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::World;

#[test]
fn first_call_fetches_and_writes_the_legacy_layout() {
    let w = World::new();
    let cache = w.cache();
    let started = w.now();
    let token = cache.get_token().unwrap();

    assert_eq!(w.token_calls(), 1);
    assert_eq!(Some(token.clone()), w.mock.stats().last_token);
    // token.txt holds the token and nothing else; expiry.txt a bare decimal.
    assert_eq!(w.read(&w.token_file()), token.as_bytes());
    assert_eq!(
        String::from_utf8(w.read(&w.expiry_file())).unwrap(),
        (started + 7200).to_string()
    );
    for f in [w.token_file(), w.expiry_file()] {
        let mode = std::fs::metadata(&f).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", f.display());
    }
    // No temp files left behind.
    let names: Vec<_> = std::fs::read_dir(w.dir.0.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(
        names.iter().all(|n| !n.ends_with(".tmp")),
        "leftovers: {names:?}"
    );
}

#[test]
fn second_call_is_a_hit_without_upstream_call() {
    let w = World::new();
    let cache = w.cache();
    let a = cache.get_token().unwrap();
    let b = cache.get_token().unwrap();
    // A second cache on the same files (another process, in effect) hits too.
    let c = w.cache().get_token().unwrap();
    assert_eq!((a.as_str(), b.as_str()), (c.as_str(), c.as_str()));
    assert_eq!(w.token_calls(), 1);
}

#[test]
fn refresh_ahead_inside_the_margin_then_expiry() {
    let w = World::new();
    let cache = w.cache_with(w.builder().refresh_margin(300));
    let first = cache.get_token().unwrap();

    // 7200 - 301 s later: still outside the margin, a hit.
    w.clock.advance(7200 - 301);
    assert_eq!(cache.get_token().unwrap(), first);
    assert_eq!(w.token_calls(), 1);

    // One more second and it is inside the margin: refreshed ahead of expiry.
    w.clock.advance(1);
    let second = cache.get_token().unwrap();
    assert_ne!(second, first);
    assert_eq!(w.token_calls(), 2);

    // Past the new token's expiry: refreshed again.
    w.clock.advance(7200);
    let third = cache.get_token().unwrap();
    assert_ne!(third, second);
    assert_eq!(w.token_calls(), 3);
}

#[test]
fn a_lifetime_shorter_than_the_margin_does_not_refetch_every_call() {
    let w = World::new();
    w.mock.set_expires_in(60);
    let cache = w.cache_with(w.builder().refresh_margin(300));
    let first = cache.get_token().unwrap();
    assert_eq!(cache.get_token().unwrap(), first);
    assert_eq!(w.token_calls(), 1);
    // Half its life later it is refreshed ahead of expiry.
    w.clock.advance(31);
    assert_ne!(cache.get_token().unwrap(), first);
    assert_eq!(w.token_calls(), 2);
}

#[test]
fn refresh_ahead_failure_serves_the_still_valid_token() {
    let w = World::new();
    let cache = w.cache();
    let first = cache.get_token().unwrap();
    w.clock.advance(7200 - 100); // inside the margin, not expired
    w.mock
        .set_fault(Some(wechat_mock::Fault::Errcode(45009)), None);
    assert_eq!(cache.get_token().unwrap(), first);
    let warning = cache.last_warning().expect("a warning says why");
    assert!(warning.contains("45009"), "{warning}");

    // Once expired, the failure is the caller's error.
    w.clock.advance(100);
    let e = cache.get_token().unwrap_err();
    assert_eq!(e.errcode(), Some(45009));
}

#[test]
fn expired_files_from_elsewhere_are_refreshed_once() {
    let w = World::new();
    w.write_files("OLD_TOKEN", &(w.now() - 1).to_string());
    let cache = w.cache();
    let t = cache.get_token().unwrap();
    assert_ne!(t, "OLD_TOKEN");
    assert_eq!(cache.get_token().unwrap(), t);
    assert_eq!(w.token_calls(), 1);
}

#[test]
fn a_token_written_by_another_process_is_seen_by_the_next_call() {
    let w = World::new();
    let cache = w.cache();
    let _ = cache.get_token().unwrap();
    // Written in place, as PHP's file_put_contents does (same inode): the
    // size and mtime change gives it away.
    let expiry = (w.now() + 7000).to_string();
    w.write_files("EXTERNALLY_WRITTEN_TOKEN", &expiry);
    assert_eq!(cache.get_token().unwrap(), "EXTERNALLY_WRITTEN_TOKEN");
    w.write_files("EXTERNALLY_WRITTEN_TOKEN_2", &expiry);
    assert_eq!(cache.get_token().unwrap(), "EXTERNALLY_WRITTEN_TOKEN_2");
    assert_eq!(w.token_calls(), 1);
}

#[test]
fn an_expiry_rewritten_in_place_is_seen_by_the_next_call() {
    let w = World::new();
    let cache = w.cache();
    let first = cache.get_token().unwrap();
    // An operator (or the legacy script) marks the token expired by hand.
    std::fs::write(w.expiry_file(), "1").unwrap();
    let second = cache.get_token().unwrap();
    assert_ne!(second, first);
    assert_eq!(w.token_calls(), 2);
}

#[test]
fn invalidate_drops_only_the_stored_token() {
    let w = World::new();
    let cache = w.cache();
    let first = cache.get_token().unwrap();

    // A stale failure report about some older token keeps the current one.
    assert!(!cache.invalidate("SOME_OLDER_TOKEN").unwrap());
    assert_eq!(cache.get_token().unwrap(), first);
    assert_eq!(w.token_calls(), 1);

    // The business API says the token is invalid: it is dropped, once.
    assert!(cache.invalidate(&first).unwrap());
    assert_eq!(w.read(&w.token_file()), b"");
    assert_eq!(w.read(&w.expiry_file()), b"0");
    assert!(!cache.invalidate(&first).unwrap());

    let second = cache.get_token().unwrap();
    assert_ne!(second, first);
    assert_eq!(cache.get_token().unwrap(), second);
    assert_eq!(w.token_calls(), 2);
    assert!(!cache.invalidate("").unwrap());
}

#[test]
fn invalidation_after_a_business_api_rejection_round_trip() {
    let w = World::new();
    let cache = w.cache();
    let first = cache.get_token().unwrap();
    // Another caller refreshes: WeChat retires the first token five minutes later.
    let second = w.cache().force_refresh().unwrap();
    w.mock.advance(301);
    let answer = reqwest::blocking::get(format!(
        "{}/cgi-bin/getcallbackip?access_token={first}",
        w.mock.url()
    ))
    .unwrap()
    .text()
    .unwrap();
    assert!(answer.contains("42001"), "{answer}");
    // The caller hands back the failed token: the newer one is kept.
    assert!(!cache.invalidate(&first).unwrap());
    assert_eq!(cache.get_token().unwrap(), second);
    assert_eq!(w.token_calls(), 2);
}

#[test]
fn force_refresh_replaces_a_fresh_token() {
    let w = World::new();
    let cache = w.cache();
    let a = cache.get_token().unwrap();
    let b = cache.force_refresh().unwrap();
    assert_ne!(a, b);
    assert_eq!(cache.get_token().unwrap(), b);
    assert_eq!(w.token_calls(), 2);
}

#[test]
fn passive_mode_reads_but_never_fetches() {
    let w = World::new();
    let passive = w.cache_with(w.builder().passive(true));
    assert!(matches!(
        passive.get_token().unwrap_err(),
        wxtoken::Error::Passive
    ));
    let t = w.cache().get_token().unwrap();
    assert_eq!(passive.get_token().unwrap(), t);
    // Inside the margin a passive reader still returns the valid token.
    w.clock.advance(7200 - 10);
    assert_eq!(passive.get_token().unwrap(), t);
    w.clock.advance(10);
    assert!(passive.get_token().is_err());
    assert_eq!(w.token_calls(), 1);
}

#[test]
fn stable_mode_gets_the_same_token_while_valid() {
    let w = World::new();
    let a = w
        .cache_with(w.builder().mode(wxtoken::Mode::Stable))
        .get_token()
        .unwrap();
    std::fs::remove_file(w.token_file()).unwrap();
    let cache = w.cache_with(w.builder().mode(wxtoken::Mode::Stable));
    assert_eq!(cache.get_token().unwrap(), a);
    assert_eq!(w.mock.stats().stable_calls, 2);
    assert_eq!(w.token_calls(), 0);
    // force_refresh asks the stable endpoint for a new one.
    assert_ne!(cache.force_refresh().unwrap(), a);
}

#[test]
fn unwritable_directory_still_serves_one_token_per_process() {
    let w = World::new();
    // A directory that does not exist cannot be written, even by root.
    let missing = w.dir.path("no/such/dir");
    let cache = w.cache_with(
        w.builder()
            .token_file(missing.join("token.txt"))
            .expiry_file(missing.join("expiry.txt")),
    );
    let a = cache.get_token().unwrap();
    let warning = cache.last_warning().expect("the write failure is reported");
    assert!(warning.contains("not cached"), "{warning}");
    assert_eq!(cache.get_token().unwrap(), a);
    assert_eq!(w.token_calls(), 1);
    assert!(cache.status().unwrap().present);
    assert!(cache.invalidate(&a).unwrap());
    assert_ne!(cache.get_token().unwrap(), a);
    assert_eq!(w.token_calls(), 2);
}

#[test]
fn relative_paths_are_resolved_when_the_cache_is_made() {
    let w = World::new();
    // Tests share one process directory, so no chdir here: the resolved
    // paths themselves show the rule.
    let cache = w.cache_with(
        w.builder()
            .token_file("rel-token.txt")
            .expiry_file("rel-expiry.txt"),
    );
    let s = cache.status().unwrap();
    let cwd = std::env::current_dir().unwrap();
    assert_eq!(
        s.token_file,
        Some(cwd.join("rel-token.txt").display().to_string())
    );
    assert_eq!(
        s.expiry_file,
        Some(cwd.join("rel-expiry.txt").display().to_string())
    );
}

#[test]
fn status_survives_an_absurd_expiry() {
    let w = World::new();
    w.write_files("TOK", "18446744073709551615");
    let s = w.cache().status().unwrap();
    assert_eq!(s.seconds_left, Some(i64::MAX));
    assert!(!s.fresh && !s.present);
}

#[test]
fn status_reports_without_fetching() {
    let w = World::new();
    let cache = w.cache();
    let s = cache.status().unwrap();
    assert!(!s.present && !s.fresh && s.token_preview.is_none());
    let t = cache.get_token().unwrap();
    w.clock.advance(100);
    let s = cache.status().unwrap();
    assert!(s.present && s.fresh);
    assert_eq!(s.seconds_left, Some(7100));
    assert!(s.token_preview.unwrap().starts_with(&t[..8]));
    assert_eq!(w.token_calls(), 1);
}

#[test]
fn failover_to_the_second_base_when_the_first_is_unreachable() {
    let w = World::new();
    // Bind then drop a listener: nothing listens on that port any more.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    let cache = w.cache_with(w.builder().api_base(format!("{dead_url},{}", w.mock.url())));
    assert!(!cache.get_token().unwrap().is_empty());
    assert_eq!(w.token_calls(), 1);
}
