//! The cache's policy on its own: an in-memory store, a scripted token
//! source and a manual clock, no HTTP and no files (the model is smithy-rs's
//! `test_cache` for its lazy identity cache). Each test scripts what the
//! source answers and checks when the cache asks it, what it serves and what
//! the store holds. Fast, and independent of the machine's speed.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use wxtoken::{
    BoxFuture, Cached, Config, Error, Fetched, LockOutcome, ManualClock, StoreInfo, StoreLock,
    TokenCache, TokenSource, TokenStore,
};

const T0: u64 = 1_700_000_000;

/// One answer of the scripted source.
enum Answer {
    Token(&'static str, u64),
    Fail(i64),
    /// The answer, after this long (on tokio's clock).
    After(Duration, Box<Answer>),
    /// No answer ever: a black-holed host.
    Hang,
}

/// Answers from a script, in order; counts the calls and records the
/// budget each was given.
#[derive(Default)]
struct Script {
    answers: Mutex<VecDeque<Answer>>,
    calls: Mutex<u32>,
    budgets: Mutex<Vec<Duration>>,
}

impl std::fmt::Debug for Script {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Script")
    }
}

impl Script {
    fn new(answers: Vec<Answer>) -> Arc<Script> {
        let s = Script::default();
        *s.answers.lock().unwrap() = answers.into();
        Arc::new(s)
    }
    fn calls(&self) -> u32 {
        *self.calls.lock().unwrap()
    }
}

async fn play(answer: Answer) -> wxtoken::Result<Fetched> {
    match answer {
        Answer::Token(t, expires_in) => Ok(Fetched {
            token: t.to_string(),
            expires_in,
        }),
        Answer::Fail(errcode) => Err(Error::WeChat {
            errcode,
            errmsg: "scripted".into(),
        }),
        Answer::After(delay, then) => {
            tokio::time::sleep(delay).await;
            Box::pin(play(*then)).await
        }
        Answer::Hang => std::future::pending().await,
    }
}

impl TokenSource for Script {
    fn fetch(&self, _force: bool, budget: Duration) -> BoxFuture<'_, wxtoken::Result<Fetched>> {
        *self.calls.lock().unwrap() += 1;
        self.budgets.lock().unwrap().push(budget);
        let next = self.answers.lock().unwrap().pop_front();
        Box::pin(play(
            next.expect("the source was asked more often than scripted"),
        ))
    }
}

/// A store in memory, with a lock and a failure note like the real ones.
#[derive(Debug, Default)]
struct Memory {
    pair: Mutex<Option<Cached>>,
    locked: Arc<Mutex<bool>>,
    note: Arc<Mutex<String>>,
    /// When set, whoever releases the lock takes it straight back (a process
    /// that wins the lock again ahead of the waiters), for good.
    retaken: Arc<AtomicBool>,
}

struct Held(Arc<Mutex<bool>>, Arc<Mutex<String>>, Arc<AtomicBool>);

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
        if !self.2.load(Ordering::SeqCst) {
            *self.0.lock().unwrap() = false;
        }
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
            self.retaken.clone(),
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
    fn peek_note(&self) -> Option<String> {
        let n = self.note.lock().unwrap().clone();
        (!n.is_empty()).then_some(n)
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
    let r = rig(vec![Answer::Fail(45009), Answer::Token("A", 7200)]);
    assert_eq!(r.cache.get_token().unwrap_err().errcode(), Some(45009));
    // The back-off runs on the cache's clock: 59 s on, still held back...
    r.clock.advance(59);
    assert_eq!(r.cache.get_token().unwrap_err().errcode(), Some(45009));
    assert_eq!(r.source.calls(), 1);
    // ...and past WeChat's minute (plus the jitter of up to a quarter for
    // ordinary failures, which a quota note does not get), asked once more.
    r.clock.advance(2);
    assert_eq!(r.cache.get_token().unwrap(), "A");
    assert_eq!(r.source.calls(), 2);
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

/// `n` caches on one store and one source: `n` processes sharing the files,
/// each with its own in-process lock and memory. The HTTP timeout is 10 s.
fn processes(n: usize, answers: Vec<Answer>) -> (Vec<Arc<TokenCache>>, Arc<Memory>, Arc<Script>) {
    let config = Config::builder()
        .appid("wx_policy")
        .secret("policy_secret")
        .http_timeout(HTTP_TIMEOUT)
        .build()
        .unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let store = Arc::new(Memory::default());
    let source = Script::new(answers);
    let caches = (0..n)
        .map(|_| {
            Arc::new(
                TokenCache::builder(config.clone())
                    .clock(clock.clone())
                    .store(store.clone())
                    .source(source.clone())
                    .build(),
            )
        })
        .collect();
    (caches, store, source)
}

const HTTP_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs `get_token_async` on every cache, the first one a moment ahead (so
/// it takes the lock), and returns each result with how long that call took
/// on tokio's clock.
async fn race(caches: &[Arc<TokenCache>]) -> Vec<(wxtoken::Result<String>, Duration)> {
    let mut tasks = Vec::new();
    for (i, cache) in caches.iter().enumerate() {
        let cache = cache.clone();
        tasks.push(tokio::spawn(async move {
            let start = Instant::now();
            let r = cache.get_token_async().await;
            (r, start.elapsed())
        }));
        if i == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

// The waits below run on tokio's paused clock: time moves only when every
// task waits, so the bounds are exact and the machine's speed plays no part.

#[tokio::test(start_paused = true)]
async fn a_hung_fetch_ends_everyone_within_the_http_timeout_with_one_call() {
    let (caches, store, source) = processes(8, vec![Answer::Hang]);
    let results = race(&caches).await;
    assert_eq!(source.calls(), 1);
    // The fetch was given the timeout less the reserve (a tenth, here 1 s).
    assert_eq!(
        *source.budgets.lock().unwrap(),
        vec![Duration::from_secs(9)]
    );
    let (first, took) = &results[0];
    assert!(matches!(first, Err(Error::Timeout { .. })), "{first:?}");
    assert!(*took <= HTTP_TIMEOUT, "{took:?}");
    for (r, took) in &results[1..] {
        // The waiters got the holder's failure, not a lock timeout of their own.
        let e = r.as_ref().unwrap_err();
        assert!(matches!(e, Error::RecentFailure { .. }), "{e:?}");
        assert!(*took <= HTTP_TIMEOUT, "{took:?}");
    }
    assert!(store.note.lock().unwrap().contains("timed out"));
}

#[tokio::test(start_paused = true)]
async fn waiters_get_the_answer_even_when_the_releaser_takes_the_lock_again() {
    let (caches, store, source) = processes(
        8,
        vec![Answer::After(
            Duration::from_secs(3),
            Box::new(Answer::Token("FETCHED", 7200)),
        )],
    );
    store.retaken.store(true, Ordering::SeqCst);
    let results = race(&caches).await;
    assert!(
        *store.locked.lock().unwrap(),
        "the lock was taken straight back"
    );
    for (r, took) in results {
        assert_eq!(r.unwrap(), "FETCHED");
        assert!(took < HTTP_TIMEOUT, "{took:?}");
    }
    assert_eq!(source.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_failure_reaches_the_waiters_even_when_the_releaser_takes_the_lock_again() {
    let (caches, store, source) = processes(
        8,
        vec![Answer::After(
            Duration::from_secs(3),
            Box::new(Answer::Fail(40013)),
        )],
    );
    store.retaken.store(true, Ordering::SeqCst);
    let results = race(&caches).await;
    for (r, took) in results {
        assert_eq!(r.unwrap_err().errcode(), Some(40013));
        assert!(took < HTTP_TIMEOUT, "{took:?}");
    }
    assert_eq!(source.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_token_stored_while_the_lock_stays_taken_answers_the_waiters() {
    let (caches, store, source) = processes(4, vec![]);
    let _someone_else = store.try_lock().unwrap();
    let writer = {
        let store = store.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(4)).await;
            store
                .save(
                    &Cached {
                        token: "WRITTEN_ELSEWHERE".into(),
                        expires_at: T0 + 7200,
                        written_at: Some(T0),
                    },
                    false,
                )
                .unwrap();
        })
    };
    for (r, took) in race(&caches).await {
        assert_eq!(r.unwrap(), "WRITTEN_ELSEWHERE");
        assert!(
            took >= Duration::from_secs(3) && took < HTTP_TIMEOUT,
            "{took:?}"
        );
    }
    writer.await.unwrap();
    assert_eq!(source.calls(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_lock_that_never_frees_ends_the_wait_at_the_http_timeout() {
    let (caches, store, source) = processes(3, vec![]);
    let _someone_else = store.try_lock().unwrap();
    for (r, took) in race(&caches).await {
        let e = r.unwrap_err();
        assert!(matches!(e, Error::LockTimeout { .. }), "{e:?}");
        assert!(took <= HTTP_TIMEOUT, "{took:?}");
        assert!(
            took >= HTTP_TIMEOUT - Duration::from_millis(100),
            "{took:?}"
        );
    }
    assert_eq!(source.calls(), 0);
}

#[tokio::test(start_paused = true)]
async fn in_a_back_off_callers_answer_without_queueing_for_the_lock() {
    let (caches, _store, source) = processes(2, vec![Answer::Fail(40013), Answer::Hang]);
    assert!(caches[0].get_token_async().await.is_err());
    // A forced refresh in the second process holds both locks, stuck on a
    // black-holed host: a caller there in the back-off does not wait for it.
    let forced = {
        let cache = caches[1].clone();
        tokio::spawn(async move { cache.force_refresh_async().await })
    };
    tokio::time::sleep(Duration::from_millis(5)).await;
    let start = Instant::now();
    let e = caches[1].get_token_async().await.unwrap_err();
    assert_eq!(e.errcode(), Some(40013));
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert_eq!(source.calls(), 2);
    assert!(forced.await.unwrap().is_err());
}

#[tokio::test(start_paused = true)]
async fn a_failure_kept_by_the_store_is_not_kept_by_the_process_too() {
    let (caches, store, source) = processes(
        2,
        vec![
            Answer::Fail(45009),
            Answer::Token("LATER", 7200),
            Answer::Token("AGAIN", 7200),
        ],
    );
    // A quota error: a minute's back-off, noted in the store.
    assert!(caches[0].get_token_async().await.is_err());
    // Another process's forced refresh succeeds and clears the note; then
    // its token is rejected and dropped.
    assert_eq!(caches[1].force_refresh_async().await.unwrap(), "LATER");
    assert!(store.note.lock().unwrap().is_empty());
    assert!(store.invalidate("LATER").unwrap());
    // The first process holds no copy of the cleared failure: it fetches.
    assert_eq!(caches[0].get_token_async().await.unwrap(), "AGAIN");
    assert_eq!(source.calls(), 3);
}
