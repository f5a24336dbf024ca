//! The Redis store against a real redis-server and the mock over HTTP:
//! several "hosts" (caches with nothing but Redis in common) share one
//! token, the keys are what the README documents, and Redis going away,
//! stalling or coming back never turns into a hang or a fetch per call.

mod common;
#[path = "common/redis_server.rs"]
mod redis_server;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{World, APPID, SECRET};
use redis::Commands;
use redis_server::RedisServer;
use wxtoken::{ConfigBuilder, ErrorKind, TokenCache};

/// A cache on `url` (a "host": nothing in common with the others but Redis).
fn host(w: &World, url: &str) -> TokenCache {
    w.cache_with(redis_builder(w, url))
}

fn redis_builder(w: &World, url: &str) -> ConfigBuilder {
    w.builder().redis_url(url)
}

const TOKEN_KEY: &str = "wxtoken:{wx_test_appid}:access_token";
const EXPIRY_KEY: &str = "wxtoken:{wx_test_appid}:access_token:expires_at";

#[test]
fn a_fetch_lands_in_documented_plain_keys_with_a_ttl_and_no_secret() {
    let w = World::new();
    let r = RedisServer::start();
    let started = w.now();
    let token = host(&w, &r.url()).get_token().unwrap();
    let mut c = r.client();
    let stored: String = c.get(TOKEN_KEY).unwrap();
    let expiry: String = c.get(EXPIRY_KEY).unwrap();
    assert_eq!(stored, token);
    assert_eq!(expiry, (started + 7200).to_string());
    for key in [TOKEN_KEY, EXPIRY_KEY] {
        let ttl: i64 = c.ttl(key).unwrap();
        assert!(ttl > 7000 && ttl <= 7200, "{key}: TTL {ttl}");
    }
    // Nothing anywhere in Redis mentions the secret; no file was written.
    let keys: Vec<String> = c.keys("*").unwrap();
    for key in &keys {
        assert!(
            !key.contains(SECRET) && key.contains(&format!("{{{APPID}}}")),
            "{key}"
        );
        let v: Option<String> = c.get(key).unwrap();
        assert!(!v.unwrap_or_default().contains(SECRET), "{key}");
    }
    assert!(!w.token_file().exists());
}

#[test]
fn four_hosts_times_sixteen_threads_on_an_expired_token_make_one_call() {
    let w = World::new();
    let r = RedisServer::start();
    // An expired pair, as another writer might leave it.
    let mut c = r.client();
    let _: () = c.set(TOKEN_KEY, "EXPIRED_TOKEN").unwrap();
    let _: () = c.set(EXPIRY_KEY, "1").unwrap();
    w.mock.set_fault(
        Some(wechat_mock::Fault::Slow(Duration::from_millis(300))),
        None,
    );
    let hosts: Vec<Arc<TokenCache>> = (0..4).map(|_| Arc::new(host(&w, &r.url()))).collect();
    let barrier = Arc::new(std::sync::Barrier::new(64));
    let threads: Vec<_> = (0..64)
        .map(|i| {
            let cache = hosts[i % 4].clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                cache.get_token()
            })
        })
        .collect();
    let tokens: std::collections::HashSet<String> = threads
        .into_iter()
        .map(|t| t.join().unwrap().unwrap())
        .collect();
    assert_eq!(tokens.len(), 1, "{tokens:?}");
    assert!(!tokens.contains("EXPIRED_TOKEN"));
    assert_eq!(w.token_calls(), 1);
}

#[test]
fn a_hit_makes_no_round_trip_and_other_hosts_converge_within_the_interval() {
    let w = World::new();
    let r = RedisServer::start();
    let a = host(&w, &r.url());
    let b = host(&w, &r.url());
    let first = a.get_token().unwrap();
    assert_eq!(b.get_token().unwrap(), first);
    // Another host replaces the token behind b's back: b keeps serving what
    // it read (no round trip) until the interval has passed...
    let mut c = r.client();
    let _: () = c.set(TOKEN_KEY, "REPLACED_BY_ANOTHER_HOST").unwrap();
    assert_eq!(b.get_token().unwrap(), first);
    // ...then sees it.
    std::thread::sleep(wxtoken::REDIS_RECHECK_INTERVAL + Duration::from_millis(100));
    assert_eq!(b.get_token().unwrap(), "REPLACED_BY_ANOTHER_HOST");
    // Invalidate on one host: compare-and-delete in Redis, so the other
    // host refreshes after the interval, once.
    assert!(b.invalidate("REPLACED_BY_ANOTHER_HOST").unwrap());
    assert!(!a.invalidate("REPLACED_BY_ANOTHER_HOST").unwrap());
    let exists: bool = c.exists(TOKEN_KEY).unwrap();
    assert!(!exists);
    std::thread::sleep(wxtoken::REDIS_RECHECK_INTERVAL + Duration::from_millis(100));
    let second = a.get_token().unwrap();
    assert_ne!(second, first);
    assert_eq!(b.get_token().unwrap(), second);
    assert_eq!(w.token_calls(), 2);
}

#[test]
fn redis_down_serves_a_valid_token_errs_without_one_and_recovers() {
    let w = World::new();
    let mut r = RedisServer::start();
    let a = host(&w, &r.url());
    let token = a.get_token().unwrap();
    r.kill();
    // A token read before keeps being served, past the interval too.
    std::thread::sleep(wxtoken::REDIS_RECHECK_INTERVAL + Duration::from_millis(100));
    for _ in 0..3 {
        assert_eq!(a.get_token().unwrap(), token);
    }
    // A host with nothing read yet gets a clear, bounded error, and nobody
    // fetches without the shared lock.
    let b = host(&w, &r.url());
    for _ in 0..5 {
        let started = Instant::now();
        let e = b.get_token().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Store, "{e}");
        assert!(e.to_string().contains("Redis"), "{e}");
        assert!(started.elapsed() < Duration::from_secs(60));
    }
    assert_eq!(w.token_calls(), 1);
    // Back: both work again, on the token Redis had (nothing persisted, so
    // a new one after the restart).
    r.restart();
    let fresh = b.get_token().unwrap();
    assert_eq!(w.token_calls(), 2);
    std::thread::sleep(wxtoken::REDIS_RECHECK_INTERVAL + Duration::from_millis(100));
    assert_eq!(a.get_token().unwrap(), fresh);
}

#[test]
fn a_paused_redis_gives_bounded_answers() {
    let w = World::new();
    let r = RedisServer::start();
    let a = host(&w, &r.url());
    let token = a.get_token().unwrap();
    let b = host(&w, &r.url());
    let mut c = r.client();
    // Paused for longer than the store's Redis timeout (3 s at most).
    let _: () = redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(8000)
        .query(&mut c)
        .unwrap();
    std::thread::sleep(wxtoken::REDIS_RECHECK_INTERVAL + Duration::from_millis(100));
    let started = Instant::now();
    assert_eq!(a.get_token().unwrap(), token);
    let e = b.get_token().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Store, "{e}");
    // Wide bound: the store's timeout is 3 s; the pause 8 s.
    assert!(started.elapsed() < Duration::from_secs(60));
    assert_eq!(w.token_calls(), 1);
}

#[test]
fn a_stale_lock_of_a_crashed_holder_expires() {
    let w = World::new();
    let r = RedisServer::start();
    let mut c = r.client();
    // A holder that died mid-fetch left its lock, with the TTL it set.
    let _: () = redis::cmd("SET")
        .arg("wxtoken:{wx_test_appid}:access_token:lock")
        .arg("dead-holder")
        .arg("PX")
        .arg(1500)
        .query(&mut c)
        .unwrap();
    let token = host(&w, &r.url()).get_token().unwrap();
    assert!(!token.is_empty());
    assert_eq!(w.token_calls(), 1);
    let lock: Option<String> = c.get("wxtoken:{wx_test_appid}:access_token:lock").unwrap();
    assert_eq!(lock, None, "our lock was released");
}

#[test]
fn acl_user_password_and_a_database_other_than_zero() {
    let w = World::new();
    let r = RedisServer::start_with("user default off\nuser app on >app-pass-9 ~* &* +@all\n");
    let url = format!("redis://app:app-pass-9@127.0.0.1:{}/3", r.port);
    let cache = host(&w, &url);
    let token = cache.get_token().unwrap();
    let mut c = redis::Client::open(url.as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    let stored: String = c.get(TOKEN_KEY).unwrap();
    assert_eq!(stored, token);
    let status = cache.status().unwrap();
    assert_eq!(status.store.kind, "redis");
    assert!(
        status.store.location.contains("app:***@") && !status.store.location.contains("app-pass-9"),
        "{}",
        status.store.location
    );
    // A wrong password: a clear error without the password.
    let bad = format!("redis://app:wrong-pass-7@127.0.0.1:{}/3", r.port);
    let e = TokenCache::new(redis_builder(&w, &bad).build().unwrap())
        .get_token()
        .unwrap_err();
    assert!(!e.to_string().contains("wrong-pass-7"), "{e}");
    assert_eq!(w.token_calls(), 1);
}

/// The margin is capped at half a token's lifetime on Redis too (the fetch
/// time is kept beside the token): a 40 s token with the default 300 s
/// margin is a hit for its first half, not refetched on every call.
#[test]
fn a_token_shorter_than_the_margin_is_not_refetched_on_every_call() {
    let w = World::new();
    let r = RedisServer::start();
    w.mock.set_expires_in(40);
    let cache = host(&w, &r.url());
    let first = cache.get_token().unwrap();
    for _ in 0..20 {
        assert_eq!(cache.get_token().unwrap(), first);
    }
    // Another host reads the same key, the same fetch time, the same rule.
    assert_eq!(host(&w, &r.url()).get_token().unwrap(), first);
    assert_eq!(w.token_calls(), 1);
    let mut c = r.client();
    let fetched: String = c.get(format!("{TOKEN_KEY}:fetched_at")).unwrap();
    assert!(fetched.parse::<u64>().unwrap() >= w.now() - 5, "{fetched}");
}

/// An ACL user without the scripts or `SET`: a configuration
/// error naming the command at the first refresh, no upstream call, and no
/// lock left behind for everyone else to wait out.
#[test]
fn an_acl_user_without_scripts_or_set_is_told_at_once() {
    let w = World::new();
    let r = RedisServer::start_with(
        "user default on nopass ~* &* +@all\n\
         user noscript on >pass-1 ~* &* +@all -evalsha -eval -script\n\
         user noset on >pass-2 ~* &* +@all -set\n",
    );
    for (user, pass, command) in [("noscript", "pass-1", "eval"), ("noset", "pass-2", "'set'")] {
        let url = format!("redis://{user}:{pass}@127.0.0.1:{}", r.port);
        let e = host(&w, &url).get_token().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config, "{user}: {e}");
        let text = e.to_string().to_lowercase();
        assert!(
            text.contains(command) && text.contains("wx_redis_url") && !text.contains(pass),
            "{user}: {e}"
        );
        let mut c = r.client();
        let lock: Option<String> = c.get(format!("{TOKEN_KEY}:lock")).unwrap();
        assert_eq!(lock, None, "{user}: no lock left behind");
    }
    assert_eq!(w.token_calls(), 0);
}

#[test]
fn a_ticket_is_a_plain_string_key_beside_the_token_in_its_slot() {
    let w = World::new();
    let r = RedisServer::start();
    let app = wxtoken::AppCache::with_clock(
        redis_builder(&w, &r.url()).build().unwrap(),
        Arc::new(w.clock.clone()),
    );
    let started = w.now();
    let ticket = app.ticket(wxtoken::TicketKind::Jsapi).get_token().unwrap();
    let mut c = r.client();
    let key = "wxtoken:{wx_test_appid}:jsapi_ticket";
    let stored: String = c.get(key).unwrap();
    let expiry: String = c.get(format!("{key}:expires_at")).unwrap();
    assert_eq!(stored, ticket);
    assert_eq!(expiry, (started + 7200).to_string());
    let ttl: i64 = c.ttl(key).unwrap();
    assert!(ttl > 7000 && ttl <= 7200, "TTL {ttl}");
    // The same hash tag as the token's keys, so the same cluster slot.
    assert!(key.contains("{wx_test_appid}") && TOKEN_KEY.contains("{wx_test_appid}"));
    // A second host reads it without a call.
    let other = wxtoken::AppCache::new(redis_builder(&w, &r.url()).build().unwrap());
    assert_eq!(
        other
            .ticket(wxtoken::TicketKind::Jsapi)
            .get_token()
            .unwrap(),
        ticket
    );
    assert_eq!(w.mock.stats().ticket_calls, 1);
    assert!(!w
        .token_file()
        .parent()
        .unwrap()
        .join("jsapi_ticket.txt")
        .exists());
}

#[test]
fn two_wecom_apps_times_two_hosts_make_one_call_per_app() {
    let w = World::new();
    let r = RedisServer::start();
    let builder = |agent: usize| {
        let (agentid, secret) = wechat_mock::DEFAULT_CORP_APPS[agent];
        wxtoken::Config::builder()
            .appid(wechat_mock::DEFAULT_CORPID)
            .secret(secret)
            .platform(wxtoken::Platform::WeCom)
            .agentid(agentid)
            .api_base(w.mock.url())
            .redis_url(r.url())
            .http_timeout(Duration::from_secs(60))
    };
    // 2 apps x 2 hosts (caches with nothing but Redis in common) x 8 threads.
    let tokens: Vec<(usize, String)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..2)
            .flat_map(|agent| (0..2).map(move |_host| agent))
            .map(|agent| {
                let cache = Arc::new(TokenCache::new(builder(agent).build().unwrap()));
                (0..8)
                    .map(|_| {
                        let cache = cache.clone();
                        s.spawn(move || (agent, cache.get_token().unwrap()))
                    })
                    .collect::<Vec<_>>()
            })
            .collect::<Vec<_>>()
            .into_iter()
            .flatten()
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(w.mock.stats().gettoken_calls, 2, "one call per app");
    for agent in 0..2 {
        let mine: std::collections::HashSet<_> = tokens
            .iter()
            .filter(|(a, _)| *a == agent)
            .map(|(_, t)| t)
            .collect();
        assert_eq!(mine.len(), 1, "one token for app {agent}");
    }
    let mut c = r.client();
    let a: String = c
        .get("wxtoken:{ww_test_corpid:1000002}:access_token")
        .unwrap();
    let b: String = c
        .get("wxtoken:{ww_test_corpid:1000003}:access_token")
        .unwrap();
    assert_ne!(a, b);
    let keys: Vec<String> = c.keys("*").unwrap();
    for (_, secret) in wechat_mock::DEFAULT_CORP_APPS {
        assert!(keys.iter().all(|k| !k.contains(secret)));
    }
}
