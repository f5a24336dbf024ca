//! One app being kept fresh: its refresher task and what it knows.
//!
//! The task sleeps until the token's (spread) refresh time, or until the
//! store watcher wakes it because readers would find no token, or another
//! one than the task last saw, or a published key went missing. Each round
//! then goes through the core's `TokenCache` (its lock, re-read and
//! back-off: one upstream call per expiry, however many refreshers), holding
//! one of a bounded number of fetch permits, reads back what readers will
//! read, republishes when that token changed, and schedules the next round.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{watch, Notify, Semaphore};
use tokio::time::Instant;
use wxtoken::{
    Config, Credential, Error, ErrorKind, Result, TicketKind, TokenCache, TokenSource, TokenStore,
};

use super::config::App;
use super::log;
use super::metrics::{self, AppMetrics, Counted};
use super::publish::Publish;
use super::redis_keys::Keys;
use super::redis_pool::{Pool, Pools};
use super::schedule::{self, RETRY};

/// The first wait after a store write failed (doubling, capped): each retry
/// is a fetch, so it is not made every second.
const STORE_BACKOFF: Duration = Duration::from_secs(5);
/// The first wait after a publish failed (doubling, capped at
/// [`PUBLISH_MAX_BACKOFF`]: the SDKs fetch on their own while it lasts).
const PUBLISH_BACKOFF: Duration = Duration::from_secs(1);
/// The longest wait after failed rounds: a store that comes back is
/// repaired within seconds.
const MAX_RETRY: Duration = Duration::from_secs(5);
/// How often an app with tickets looks at them between its token's rounds.
const TICKET_RECHECK: Duration = Duration::from_secs(5);
/// The longest wait between publish attempts.
const PUBLISH_MAX_BACKOFF: Duration = Duration::from_secs(30);

/// What readers of an app's store find: a valid token, when it expires, and
/// from when it is due for a refresh (the cache's capped margin).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct View {
    /// The token.
    pub token: String,
    /// Its Unix expiry.
    pub expires_at: u64,
    /// Unix time from which it is due for a refresh.
    pub refresh_at: u64,
}

/// Where an app's token lives, as the daemon reaches it.
pub enum Store {
    /// Redis (any form) through the server's shared pool; the watcher reads
    /// these in batches.
    Pooled {
        /// The server's pool.
        pool: Arc<Pool>,
        /// The app's keys there.
        keys: Keys,
        /// The cache on the pooled store, kept for the app's life.
        cache: Arc<TokenCache>,
        /// The same store, for reading back.
        store: Arc<dyn TokenStore>,
    },
    /// The core's own store, kept open (a database): read per app.
    Own {
        /// The refresher's cache.
        cache: Arc<TokenCache>,
        /// A passive cache on the same store, for reading back.
        reader: Arc<TokenCache>,
    },
    /// The token files: opened only while used, so a thousand apps do not
    /// hold two thousand descriptors.
    Files,
}

/// One app being kept fresh.
pub struct Running {
    /// Its app id.
    pub appid: String,
    /// Its settings and publishing, as loaded (a reload that leaves them
    /// equal leaves the app running).
    pub app: App,
    /// The same settings, passive, for reading what readers read.
    reader_config: Config,
    /// The counted WeChat source.
    source: Arc<dyn TokenSource>,
    /// Its store.
    pub store: Store,
    /// The publish server's pool, when publishing.
    pub publish_pool: Option<Arc<Pool>>,
    /// Counters and the last view, for metrics and health.
    pub metrics: Arc<AppMetrics>,
    /// Rung by the watcher when the task should look now.
    pub wake: Notify,
    /// The token the task last saw in the store (`None`: none yet).
    pub expected: Mutex<Option<String>>,
    /// The token last published (`None`: none, or a key went missing).
    pub published: Mutex<Option<String>>,
    /// The JS-SDK tickets kept fresh with the token, each with its own
    /// counters (`credential` label).
    pub tickets: Vec<Ticket>,
    /// Tells the task to stop.
    stop: watch::Sender<bool>,
}

/// A ticket kept fresh: its kind and counters, and its cache (kept for the
/// app's life, except on files, where one is made per round).
pub struct Ticket {
    /// Which ticket.
    pub kind: TicketKind,
    /// Its counters and expiry as last seen.
    pub metrics: Arc<AppMetrics>,
    cache: Option<Arc<TokenCache>>,
    /// Its last round failed: the failure is logged once per run of them.
    failing: std::sync::atomic::AtomicBool,
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Running {
    /// Sets an app up (nothing is connected or fetched yet); `metrics`
    /// carries an earlier instance's counters over a reload.
    pub fn new(app: App, metrics: Arc<AppMetrics>, pools: &Pools) -> Result<Running> {
        // The app key: the app id, or for WeCom `corpid:agentid`.
        let appid = app.config.app_key();
        let source: Arc<dyn TokenSource> = Arc::new(Counted {
            appid: appid.clone(),
            inner: wxtoken::wechat_api_source(&app.config),
            metrics: metrics.clone(),
        });
        let reader_config = app.reader_config.clone();
        let store = match app.config.redis_url() {
            Some(url) => {
                let pool = pools.get(url, app.config.ca_file(), app.config.http_timeout());
                // The core's store: its connections are pooled per server
                // and process, so thousands of apps share a few.
                let store = app.config.store().open(
                    &appid,
                    Credential::AccessToken,
                    app.config.http_timeout(),
                );
                let cache = TokenCache::builder(app.config.clone())
                    .source(source.clone())
                    .store(store.clone())
                    .build();
                let spec = app.config.store().redis().expect("a Redis URL is set");
                Store::Pooled {
                    keys: Keys::new(spec, &appid),
                    pool,
                    cache: Arc::new(cache),
                    store,
                }
            }
            // A database: the core's store, read per app by the watcher
            // through a passive reader of its own.
            None if app.config.store().kind() != "files" => Store::Own {
                cache: Arc::new(
                    TokenCache::builder(app.config.clone())
                        .source(source.clone())
                        .build(),
                ),
                reader: Arc::new(TokenCache::new(reader_config.clone())),
            },
            None => Store::Files,
        };
        let publish_pool = app
            .publish
            .as_ref()
            .map(|p| pools.get(&p.url, app.config.ca_file(), app.config.http_timeout()));
        let token_cache = match &store {
            Store::Pooled { cache, .. } | Store::Own { cache, .. } => Some(cache.clone()),
            Store::Files => None,
        };
        let tickets = app
            .tickets
            .iter()
            .map(|&kind| {
                let metrics = Arc::new(AppMetrics::default());
                let cache = token_cache
                    .as_ref()
                    .map(|token| ticket_cache(&app.config, &appid, kind, token, &metrics));
                Ticket {
                    kind,
                    metrics,
                    cache,
                    failing: std::sync::atomic::AtomicBool::new(false),
                }
            })
            .collect();
        Ok(Running {
            appid,
            reader_config,
            source,
            store,
            publish_pool,
            metrics,
            wake: Notify::new(),
            expected: Mutex::new(None),
            published: Mutex::new(None),
            stop: watch::channel(false).0,
            tickets,
            app,
        })
    }

    /// The app's publishing, if any.
    pub fn publish(&self) -> Option<&Publish> {
        self.app.publish.as_ref()
    }

    /// Tells the task to stop.
    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }

    /// The cache a round goes through: the app's own, or for files one made
    /// for the round (its open files are closed when it is dropped).
    fn cache(&self) -> Arc<TokenCache> {
        match &self.store {
            Store::Pooled { cache, .. } | Store::Own { cache, .. } => cache.clone(),
            Store::Files => Arc::new(
                TokenCache::builder(self.app.config.clone())
                    .source(self.source.clone())
                    .build(),
            ),
        }
    }

    /// What readers find in the store now (blocking: a read of the files or
    /// one Redis round trip). `Ok(None)` when they find no valid token.
    pub fn read_view(&self) -> Result<Option<View>> {
        let margin = self.app.config.refresh_margin();
        let now = unix_now();
        match &self.store {
            Store::Pooled { store, .. } => {
                Ok(store.reload()?.filter(|c| c.is_valid(now)).map(|c| View {
                    refresh_at: c.refresh_at(margin),
                    expires_at: c.expires_at,
                    token: c.token,
                }))
            }
            Store::Own { reader, .. } => passive_view(reader),
            Store::Files => passive_view(&TokenCache::new(self.reader_config.clone())),
        }
    }

    /// The watcher's look: notes what readers find and wakes the task when
    /// it has something to do.
    pub fn observe(&self, view: Option<View>) {
        self.metrics
            .set_readable(view.as_ref().map_or(0, |v| v.expires_at));
        let expected = lock(&self.expected).clone();
        let changed = match (&view, &expected) {
            (None, _) => true,
            (Some(v), Some(e)) => &v.token != e,
            (Some(_), None) => true,
        };
        if changed || self.metrics.publish_failing() {
            self.wake.notify_one();
        }
    }

    /// A published key was found missing.
    pub fn publish_missing(&self) {
        if lock(&self.published).take().is_some() {
            self.metrics.publish_missing();
            log(&self.appid, "publish_missing", "(republishing)");
        }
        self.wake.notify_one();
    }
}

/// The cache of `kind` tickets fetched with `token`'s access token, its
/// fetches counted in `metrics`.
fn ticket_cache(
    config: &Config,
    appid: &str,
    kind: TicketKind,
    token: &Arc<TokenCache>,
    metrics: &Arc<AppMetrics>,
) -> Arc<TokenCache> {
    let source = Arc::new(Counted {
        // The log line reads `app=APPID credential=KIND event=...`.
        appid: format!("{appid} credential={}", Credential::Ticket(kind)),
        inner: wxtoken::ticket_source(config, kind, token.clone()),
        metrics: metrics.clone(),
    });
    Arc::new(
        TokenCache::builder(config.clone())
            .ticket(kind)
            .access_token(token.clone())
            .source(source)
            .build(),
    )
}

/// Keeps the app's tickets fresh after a round of its token (`token`: the
/// round's cache): each is a hit until its refresh-ahead time, then fetched
/// once. Returns when the next of them is due.
async fn keep_tickets_fresh(
    app: &Arc<Running>,
    token: &Arc<TokenCache>,
    fetches: &Arc<Semaphore>,
) -> Option<Instant> {
    let mut due: Option<Instant> = None;
    for t in &app.tickets {
        // A ticket fetch (and the token refresh it may need) counts against
        // the daemon's bound on fetches in flight, as the token's does.
        let Ok(_permit) = fetches.clone().acquire_owned().await else {
            return due;
        };
        let cache = match &t.cache {
            Some(c) => c.clone(),
            None => ticket_cache(&app.app.config, &app.appid, t.kind, token, &t.metrics),
        };
        let next = match cache.get_token_async().await {
            Ok(_) => {
                if t.failing.swap(false, std::sync::atomic::Ordering::Relaxed) {
                    log(
                        &app.appid,
                        "ticket_recovered",
                        &format!("credential={}", Credential::Ticket(t.kind)),
                    );
                }
                let status = cache.status().ok();
                t.metrics
                    .set_readable(status.as_ref().and_then(|s| s.expires_at).unwrap_or(0));
                let at = status.and_then(|s| s.refresh_at).unwrap_or(0);
                let now = unix_now();
                Instant::now() + Duration::from_secs(at.saturating_sub(now)).max(RETRY)
            }
            Err(e) => {
                t.metrics.set_readable(0);
                // Once per run of failures: a ticket is looked at every few
                // seconds, and a broken endpoint must not flood the log.
                if !t.failing.swap(true, std::sync::atomic::Ordering::Relaxed) {
                    log(
                        &app.appid,
                        "ticket_failed",
                        &format!(
                            "credential={} kind={} error={:?}",
                            Credential::Ticket(t.kind),
                            e.kind().as_str(),
                            e.to_string()
                        ),
                    );
                }
                Instant::now() + MAX_RETRY
            }
        };
        due = Some(due.map_or(next, |d| d.min(next)));
    }
    due
}

/// What a passive cache on the store finds.
fn passive_view(reader: &TokenCache) -> Result<Option<View>> {
    let token = match reader.get_token() {
        Ok(t) => t,
        Err(e) if e.kind() == ErrorKind::Passive => return Ok(None),
        Err(e) => return Err(e),
    };
    let s = reader.status()?;
    Ok(match (s.expires_at, s.refresh_at) {
        (Some(expires_at), Some(refresh_at)) if s.present => Some(View {
            token,
            expires_at,
            refresh_at,
        }),
        _ => None,
    })
}

/// Runs a blocking step off the runtime's workers.
async fn off_runtime<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    tokio::task::spawn_blocking(f).await.ok()
}

/// The app's task: one round whenever it is due or woken, until stopped.
pub async fn keep_fresh(app: Arc<Running>, fetches: Arc<Semaphore>) {
    let mut stop = app.stop.subscribe();
    if *stop.borrow() {
        return;
    }
    let mut due = Instant::now();
    // Failures the daemon keeps to itself: each doubles its own wait.
    let (mut store_failures, mut publish_failures, mut round_failures) = (0u32, 0u32, 0u32);
    let mut not_before = Instant::now();
    loop {
        tokio::select! {
            biased;
            _ = stop.changed() => return,
            _ = app.wake.notified() => {},
            _ = tokio::time::sleep_until(due) => {},
        }
        if Instant::now() < not_before {
            tokio::select! {
                biased;
                _ = stop.changed() => return,
                _ = tokio::time::sleep_until(not_before) => {},
            }
        }
        let permit = tokio::select! {
            biased;
            _ = stop.changed() => return,
            p = fetches.clone().acquire_owned() => p,
        };
        let cache = app.cache();
        let before = metrics::refreshes(&app.metrics);
        let result = tokio::select! {
            biased;
            _ = stop.changed() => return,
            r = cache.get_token_async() => r,
        };
        drop(permit);
        let token = match result {
            Ok(t) => {
                round_failures = 0;
                t
            }
            Err(e) => {
                // Logged once per run of failures (a store that is down
                // would otherwise log every app every second), and looked
                // at again within a few seconds, never in a tight loop.
                round_failures += 1;
                if round_failures == 1 {
                    log_failure(&app.appid, &e);
                }
                let wait = schedule::backoff(RETRY, round_failures).min(MAX_RETRY);
                not_before = Instant::now() + wait;
                due = not_before;
                continue;
            }
        };
        // What readers will read: the token is only theirs once stored.
        let reader = app.clone();
        let view = off_runtime(move || reader.read_view())
            .await
            .unwrap_or_else(|| Err(Error::Config("the store read panicked".into())));
        let lost = app.metrics.readable_until() == 0 && lock(&app.expected).is_some();
        let view = match view {
            Ok(Some(v)) if v.token == token => {
                store_failures = 0;
                app.metrics.set_store_failing(false);
                v
            }
            other => {
                store_failures += 1;
                app.metrics.set_store_failing(true);
                let wait = schedule::backoff(STORE_BACKOFF, store_failures);
                let why = match (&other, cache.last_warning()) {
                    (Err(e), _) => e.to_string(),
                    (_, Some(w)) => w,
                    _ => "the store does not show the token just stored".into(),
                };
                log(
                    &app.appid,
                    "store_failed",
                    &format!("error={why:?} retry_in={}s", wait.as_secs()),
                );
                not_before = Instant::now() + wait;
                due = not_before;
                app.metrics.set_readable(0);
                continue;
            }
        };
        app.metrics.set_readable(view.expires_at);
        let tickets_due = keep_tickets_fresh(&app, &cache, &fetches).await;
        drop(cache);
        let at_ms = schedule::refresh_at_ms(view.expires_at, view.refresh_at, schedule::random());
        let now_ms = unix_now() * 1000;
        due = if at_ms > now_ms {
            Instant::now() + Duration::from_millis(at_ms - now_ms)
        } else {
            // Inside the margin (a refresh-ahead that failed or was someone
            // else's): look again soon; the back-off keeps that from calling.
            Instant::now() + RETRY
        };
        if let Some(t) = tickets_due {
            // Tickets are not in the store watcher's batches: a round every
            // few seconds (hits, unless one is missing or due) repairs a
            // ticket that readers lost.
            due = due.min(t).min(Instant::now() + TICKET_RECHECK);
        }
        let changed = lock(&app.expected).as_deref() != Some(view.token.as_str());
        if changed {
            let event = if metrics::refreshes(&app.metrics) > before {
                "refreshed"
            } else {
                "observed"
            };
            if lost {
                app.metrics.repaired();
            }
            log(
                &app.appid,
                if lost { "repaired" } else { event },
                &format!(
                    "how={event} expires_at={} next_refresh_at={}",
                    view.expires_at,
                    at_ms.max(now_ms) / 1000
                ),
            );
            *lock(&app.expected) = Some(view.token.clone());
        }
        if let Some(wait) = publish(&app, &view).await {
            publish_failures += 1;
            let wait = schedule::backoff(wait, publish_failures).min(PUBLISH_MAX_BACKOFF);
            due = due.min(Instant::now() + wait);
            not_before = Instant::now() + wait;
        } else {
            publish_failures = 0;
        }
    }
}

/// Publishes `view`'s token if it is not what was last published; `Some`
/// (the first wait) when that failed.
async fn publish(app: &Arc<Running>, view: &View) -> Option<Duration> {
    let pool = app.publish_pool.clone()?;
    let same = lock(&app.published).as_deref() == Some(view.token.as_str());
    if same && !app.metrics.publish_failing() {
        return None;
    }
    let (a, v) = (app.clone(), view.clone());
    let written = off_runtime(move || {
        let p = a.publish().expect("checked above");
        p.write(&pool, &v.token, v.expires_at)
    })
    .await
    .unwrap_or_else(|| Err(Error::Config("the publish panicked".into())));
    match written {
        Ok(()) => {
            app.metrics.published();
            *lock(&app.published) = Some(view.token.clone());
            None
        }
        Err(e) => {
            app.metrics.publish_failed(&e);
            log(
                &app.appid,
                "publish_failed",
                &format!("kind={} error={:?}", e.kind().as_str(), e.to_string()),
            );
            Some(PUBLISH_BACKOFF)
        }
    }
}

/// Logs what a failed round says, unless the source logged it already.
fn log_failure(appid: &str, e: &Error) {
    // Fetch failures were logged as they happened; the back-off's refusals
    // are not events. Anything else (the store, the configuration) is.
    if e.errcode().is_none() && !matches!(e, Error::RecentFailure { .. }) {
        let event = match e.kind() {
            ErrorKind::Store => "store_error",
            ErrorKind::Config => "config_error",
            _ => return,
        };
        log(appid, event, &format!("error={:?}", e.to_string()));
    }
}
