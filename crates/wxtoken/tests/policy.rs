//! The cache's policy on its own: an in-memory store, a scripted token
//! source and a manual clock, no HTTP and no files (the model is smithy-rs's
//! `test_cache` for its lazy identity cache). Each test scripts what the
//! source answers and checks when the cache asks it, what it serves and what
//! the store holds. Fast, and independent of the machine's speed.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use wxtoken::{
    BoxFuture, Cached, Config, Error, Fetched, LockOutcome, ManualClock, StoreInfo, StoreLock,
    TokenCache, TokenSource, TokenStore,
};

const T0: u64 = 1_700_000_000;

/// One answer of the scripted source.
enum Answer {
    Token(&'static str, u64),
    Fail(i64),
}

/// Answers from a script, in order; counts the calls.
#[derive(Debug, Default)]
struct Script {
    answers: Mutex<VecDeque<(String, Result<u64, i64>)>>,
    calls: Mutex<u32>,
}

impl Script {
    fn new(answers: Vec<Answer>) -> Arc<Script> {
        let s = Script::default();
        *s.answers.lock().unwrap() = answers
            .into_iter()
            .map(|a| match a {
                Answer::Token(t, secs) => (t.to_string(), Ok(secs)),
                Answer::Fail(code) => (String::new(), Err(code)),
            })
            .collect();
        Arc::new(s)
    }
    fn calls(&self) -> u32 {
        *self.calls.lock().unwrap()
    }
}

impl TokenSource for Script {
    fn fetch(&self, _force: bool) -> BoxFuture<'_, wxtoken::Result<Fetched>> {
        *self.calls.lock().unwrap() += 1;
        let next = self.answers.lock().unwrap().pop_front();
        Box::pin(async move {
            match next.expect("the source was asked more often than scripted") {
                (token, Ok(expires_in)) => Ok(Fetched { token, expires_in }),
                (_, Err(errcode)) => Err(Error::WeChat {
                    errcode,
                    errmsg: "scripted".into(),
                }),
            }
        })
    }
}

/// A store in memory, with a lock and a failure note like the real ones.
#[derive(Debug, Default)]
struct Memory {
    pair: Mutex<Option<Cached>>,
    locked: Arc<Mutex<bool>>,
    note: Arc<Mutex<String>>,
}

struct Held(Arc<Mutex<bool>>, Arc<Mutex<String>>);

impl StoreLock for Held {
    fn read_note(&self) -> Option<String> {
        let n = self.1.lock().unwrap().clone();
        (!n.is_empty()).then_some(n)
    }
    fn write_note(&self, note: &str) {
        *self.1.lock().unwrap() = note.to_string();
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        *self.0.lock().unwrap() = false;
    }
}

impl TokenStore for Memory {
    fn load(&self) -> wxtoken::Result<Option<Cached>> {
        Ok(self.pair.lock().unwrap().clone())
    }
    fn try_lock(&self) -> wxtoken::Result<LockOutcome> {
        let mut locked = self.locked.lock().unwrap();
        if *locked {
            return Ok(LockOutcome::Busy);
        }
        *locked = true;
        Ok(LockOutcome::Held(Box::new(Held(
            self.locked.clone(),
            self.note.clone(),
        ))))
    }
    fn save(&self, cached: &Cached, _: bool) -> wxtoken::Result<()> {
        *self.pair.lock().unwrap() = Some(cached.clone());
        Ok(())
    }
    fn invalidate(&self, failed: &str) -> wxtoken::Result<bool> {
        let mut pair = self.pair.lock().unwrap();
        let hit = pair.as_ref().is_some_and(|c| c.token == failed);
        if hit {
            *pair = None;
        }
        Ok(hit)
    }
    fn describe(&self) -> StoreInfo {
        StoreInfo {
            kind: "memory".into(),
            location: "test".into(),
            lock: "flag".into(),
        }
    }
}

struct Rig {
    cache: TokenCache,
    clock: ManualClock,
    store: Arc<Memory>,
    source: Arc<Script>,
}

fn rig(answers: Vec<Answer>) -> Rig {
    let config = Config::builder()
        .appid("wx_policy")
        .secret("policy_secret")
        .refresh_margin(300)
        .build()
        .unwrap();
    let clock = ManualClock::new(T0);
    let store = Arc::new(Memory::default());
    let source = Script::new(answers);
    let cache = TokenCache::builder(config)
        .clock(Arc::new(clock.clone()))
        .store(store.clone())
        .source(source.clone())
        .build();
    Rig {
        cache,
        clock,
        store,
        source,
    }
}

#[test]
fn miss_then_hits_until_the_margin_then_one_refresh() {
    let r = rig(vec![Answer::Token("A", 7200), Answer::Token("B", 7200)]);
    assert_eq!(r.cache.get_token().unwrap(), "A");
    let stored = r.store.load().unwrap().unwrap();
    assert_eq!((stored.token.as_str(), stored.expires_at), ("A", T0 + 7200));
    r.clock.advance(7200 - 301);
    assert_eq!(r.cache.get_token().unwrap(), "A");
    assert_eq!(r.source.calls(), 1);
    r.clock.advance(1); // inside the margin
    assert_eq!(r.cache.get_token().unwrap(), "B");
    assert_eq!(r.source.calls(), 2);
}

#[test]
fn a_failed_refresh_ahead_serves_the_valid_token_and_backs_off() {
    let r = rig(vec![
        Answer::Token("A", 7200),
        Answer::Fail(-1),
        Answer::Token("B", 7200),
    ]);
    r.cache.get_token().unwrap();
    r.clock.advance(7000); // 200 s left: inside the margin
    assert_eq!(r.cache.get_token().unwrap(), "A");
    assert!(r.cache.last_warning().unwrap().contains("refresh ahead"));
    // Within the back-off nobody asks again, however often they call.
    for _ in 0..10 {
        assert_eq!(r.cache.get_token().unwrap(), "A");
    }
    assert_eq!(r.source.calls(), 2);
}

#[test]
fn failures_are_shared_and_not_repeated_within_the_back_off() {
    let r = rig(vec![Answer::Fail(40013)]);
    let e = r.cache.get_token().unwrap_err();
    assert_eq!(e.errcode(), Some(40013));
    // The next callers get the same failure without asking the source.
    for _ in 0..5 {
        let again = r.cache.get_token().unwrap_err();
        assert_eq!(again.errcode(), Some(40013));
        assert!(again.to_string().contains("not retried"), "{again}");
    }
    assert_eq!(r.source.calls(), 1);
    // The note is in the store, for every process sharing it.
    assert!(r.store.note.lock().unwrap().contains("40013"));
}

#[test]
fn a_quota_error_backs_off_for_wechats_minute() {
    let r = rig(vec![Answer::Fail(45009)]);
    assert_eq!(r.cache.get_token().unwrap_err().errcode(), Some(45009));
    assert_eq!(r.cache.get_token().unwrap_err().errcode(), Some(45009));
    assert_eq!(r.source.calls(), 1);
}

#[test]
fn invalidate_drops_only_the_current_token_and_the_next_call_refreshes_once() {
    let r = rig(vec![Answer::Token("A", 7200), Answer::Token("B", 7200)]);
    assert_eq!(r.cache.get_token().unwrap(), "A");
    assert!(!r.cache.invalidate("OLDER").unwrap());
    assert!(r.cache.invalidate("A").unwrap());
    assert!(r.store.load().unwrap().is_none());
    assert_eq!(r.cache.get_token().unwrap(), "B");
    assert_eq!(r.cache.get_token().unwrap(), "B");
    assert_eq!(r.source.calls(), 2);
}

#[test]
fn another_writer_seen_under_the_lock_saves_a_fetch() {
    let r = rig(vec![]);
    // Someone else stored a fresh token: a hit, the source is never asked.
    r.store
        .save(
            &Cached {
                token: "FROM_ELSEWHERE".into(),
                expires_at: T0 + 7200,
                written_at: Some(T0),
            },
            false,
        )
        .unwrap();
    assert_eq!(r.cache.get_token().unwrap(), "FROM_ELSEWHERE");
    assert_eq!(r.source.calls(), 0);
}

#[test]
fn a_short_lifetime_caps_the_margin_instead_of_refetching_every_call() {
    let r = rig(vec![Answer::Token("SHORT", 60)]);
    assert_eq!(r.cache.get_token().unwrap(), "SHORT");
    r.clock.advance(29);
    assert_eq!(r.cache.get_token().unwrap(), "SHORT");
    assert_eq!(r.source.calls(), 1);
}

#[test]
fn a_held_lock_means_waiting_then_a_clear_error_not_a_fetch() {
    let config = Config::builder()
        .appid("wx_policy")
        .secret("policy_secret")
        .http_timeout(std::time::Duration::from_millis(50))
        .build()
        .unwrap();
    let store = Arc::new(Memory::default());
    let source = Script::new(vec![]);
    let cache = TokenCache::builder(config)
        .store(store.clone())
        .source(source.clone())
        .build();
    let _someone_else = store.try_lock().unwrap();
    let e = cache.get_token().unwrap_err();
    assert!(matches!(e, Error::LockTimeout { .. }), "{e}");
    assert_eq!(source.calls(), 0);
}
