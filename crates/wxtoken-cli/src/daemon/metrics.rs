//! What the daemon counts, per app, and its Prometheus text form.
//!
//! Labels are the app id (for WeCom `corpid:agentid`), the credential
//! (`access_token`, or a ticket kept fresh with it) and the WeChat errcode (or the error's kind when
//! WeChat gave none): never the secret, never the token. Everything here is
//! in memory: a scrape reads no store, so a slow Redis never slows it. The
//! counters of an app outlive a reload (SIGHUP) that keeps the app.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use wxtoken::{BoxFuture, Error, Fetched, TokenSource};

/// Counters of one app, and what its readers can read as last seen.
#[derive(Debug, Default)]
pub struct AppMetrics {
    inner: Mutex<Counts>,
    /// Expiry of the token readers find in the store (0: none), as the
    /// store was last read.
    readable_until: AtomicU64,
    /// The last publish to the other SDKs' keys failed, or a key was missing.
    publish_failing: AtomicBool,
    /// The last store write failed (the token lives in this process only).
    store_failing: AtomicBool,
}

#[derive(Debug, Default, Clone)]
struct Counts {
    refreshes: u64,
    failures: BTreeMap<String, u64>,
    consecutive_failures: u64,
    last_success: Option<f64>,
    last_failure: Option<f64>,
    publish_failures: BTreeMap<String, u64>,
    publishes: u64,
    repairs: u64,
}

fn unix_now_f64() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

impl AppMetrics {
    fn counts(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn success(&self) {
        let mut c = self.counts();
        c.refreshes += 1;
        c.consecutive_failures = 0;
        c.last_success = Some(unix_now_f64());
    }

    fn failure(&self, e: &Error) {
        let mut c = self.counts();
        let label = e
            .errcode()
            .map_or_else(|| e.kind().as_str().to_string(), |code| code.to_string());
        *c.failures.entry(label).or_default() += 1;
        c.consecutive_failures += 1;
        c.last_failure = Some(unix_now_f64());
    }

    /// Failures in a row since the last success (the back-off grows with it).
    pub fn consecutive_failures(&self) -> u64 {
        self.counts().consecutive_failures
    }

    /// The store was read: readers find a token valid until `expires_at`
    /// (0: none).
    pub fn set_readable(&self, expires_at: u64) {
        self.readable_until.store(expires_at, Ordering::Relaxed);
    }

    /// Expiry of the token readers find (0: none).
    pub fn readable_until(&self) -> u64 {
        self.readable_until.load(Ordering::Relaxed)
    }

    /// A publish succeeded.
    pub fn published(&self) {
        self.publish_failing.store(false, Ordering::Relaxed);
        self.counts().publishes += 1;
    }

    /// A publish failed, for the reason `e` (labelled by its kind).
    pub fn publish_failed(&self, e: &Error) {
        self.publish_failing.store(true, Ordering::Relaxed);
        *self
            .counts()
            .publish_failures
            .entry(e.kind().as_str().to_string())
            .or_default() += 1;
    }

    /// A published key was found missing (the publish server was flushed
    /// or restarted): counted with the failures, as `missing`.
    pub fn publish_missing(&self) {
        self.publish_failing.store(true, Ordering::Relaxed);
        *self
            .counts()
            .publish_failures
            .entry("missing".into())
            .or_default() += 1;
    }

    /// The published keys could not be checked (the server is down).
    pub fn set_publish_failing(&self) {
        self.publish_failing.store(true, Ordering::Relaxed);
    }

    /// Whether the other SDKs' keys are known to be wrong or missing.
    pub fn publish_failing(&self) -> bool {
        self.publish_failing.load(Ordering::Relaxed)
    }

    /// Whether the last store write failed.
    pub fn set_store_failing(&self, failing: bool) {
        self.store_failing.store(failing, Ordering::Relaxed);
    }

    /// The store lost the token (emptied, invalidated, flushed) and the
    /// daemon put one back.
    pub fn repaired(&self) {
        self.counts().repairs += 1;
    }
}

/// The WeChat source, counted and logged: one line per real upstream call's
/// failure, so the log shows attempts, never the back-off's silent refusals.
pub struct Counted {
    /// The app, for the log.
    pub appid: String,
    /// The real source.
    pub inner: Arc<dyn TokenSource>,
    /// Where its outcomes are counted.
    pub metrics: Arc<AppMetrics>,
}

impl std::fmt::Debug for Counted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Counted")
            .field("appid", &self.appid)
            .finish()
    }
}

impl TokenSource for Counted {
    fn fetch(&self, force: bool, budget: Duration) -> BoxFuture<'_, wxtoken::Result<Fetched>> {
        Box::pin(async move {
            let result = self.inner.fetch(force, budget).await;
            match &result {
                Ok(_) => self.metrics.success(),
                Err(e) => {
                    self.metrics.failure(e);
                    let code = e.errcode().map_or("-".to_string(), |c| c.to_string());
                    super::log(
                        &self.appid,
                        "refresh_failed",
                        &format!(
                            "kind={} errcode={code} consecutive={} error={:?}",
                            e.kind().as_str(),
                            self.metrics.consecutive_failures(),
                            e.to_string()
                        ),
                    );
                }
            }
            result
        })
    }
}

/// How many tokens this daemon fetched for the app so far.
pub fn refreshes(m: &AppMetrics) -> u64 {
    m.counts().refreshes
}

/// One credential's figures at scrape time.
pub struct Sample {
    /// The app.
    pub appid: String,
    /// Which of its credentials: `access_token`, `jsapi_ticket`, ...
    pub credential: &'static str,
    /// Its counters and last view of the store.
    pub metrics: Arc<AppMetrics>,
}

/// Escapes a label value for the Prometheus text format.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The Prometheus text exposition (format 0.0.4) of every app.
pub fn render(samples: &[Sample]) -> String {
    let mut out = String::new();
    let mut family = |name: &str, kind: &str, help: &str, rows: Vec<(String, String)>| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for (labels, value) in rows {
            let _ = writeln!(out, "{name}{{{labels}}} {value}");
        }
    };
    let app = |s: &Sample| {
        format!(
            "appid=\"{}\",credential=\"{}\"",
            label(&s.appid),
            s.credential
        )
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    family(
        "wxtoken_token_seconds_left",
        "gauge",
        "Seconds until the token readers find in the store expires (0 when they find none).",
        samples
            .iter()
            .map(|s| {
                let left = s.metrics.readable_until().saturating_sub(now);
                (app(s), left.to_string())
            })
            .collect(),
    );
    family(
        "wxtoken_publish_failing",
        "gauge",
        "1 while the other SDKs' keys are missing or could not be written.",
        samples
            .iter()
            .map(|s| (app(s), u8::from(s.metrics.publish_failing()).to_string()))
            .collect(),
    );
    family(
        "wxtoken_store_write_failing",
        "gauge",
        "1 while the last store write failed (readers cannot see the token).",
        samples
            .iter()
            .map(|s| {
                let failing = s.metrics.store_failing.load(Ordering::Relaxed);
                (app(s), u8::from(failing).to_string())
            })
            .collect(),
    );
    let counts: Vec<(String, Counts)> = samples
        .iter()
        .map(|s| (app(s), s.metrics.counts().clone()))
        .collect();
    family(
        "wxtoken_refreshes_total",
        "counter",
        "Tokens this daemon fetched.",
        counts
            .iter()
            .map(|(a, c)| (a.clone(), c.refreshes.to_string()))
            .collect(),
    );
    family(
        "wxtoken_refresh_failures_total",
        "counter",
        "Failed fetches by WeChat errcode (or error kind).",
        counts
            .iter()
            .flat_map(|(a, c)| {
                c.failures.iter().map(move |(code, n)| {
                    (format!("{a},errcode=\"{}\"", label(code)), n.to_string())
                })
            })
            .collect(),
    );
    family(
        "wxtoken_publishes_total",
        "counter",
        "Successful writes of the other SDKs' keys.",
        counts
            .iter()
            .map(|(a, c)| (a.clone(), c.publishes.to_string()))
            .collect(),
    );
    family(
        "wxtoken_publish_failures_total",
        "counter",
        "Failed writes of the other SDKs' keys by error kind, and keys found missing (missing).",
        counts
            .iter()
            .flat_map(|(a, c)| {
                c.publish_failures
                    .iter()
                    .map(move |(kind, n)| (format!("{a},kind=\"{}\"", label(kind)), n.to_string()))
            })
            .collect(),
    );
    family(
        "wxtoken_store_repairs_total",
        "counter",
        "Times the store had lost the token (emptied, invalidated, flushed) and the daemon put one back.",
        counts
            .iter()
            .map(|(a, c)| (a.clone(), c.repairs.to_string()))
            .collect(),
    );
    family(
        "wxtoken_consecutive_failures",
        "gauge",
        "Failed fetches in a row; the back-off doubles with each (1 s to 60 s).",
        counts
            .iter()
            .map(|(a, c)| (a.clone(), c.consecutive_failures.to_string()))
            .collect(),
    );
    family(
        "wxtoken_last_success_timestamp_seconds",
        "gauge",
        "Unix time of the last successful fetch.",
        counts
            .iter()
            .filter_map(|(a, c)| c.last_success.map(|t| (a.clone(), format!("{t:.3}"))))
            .collect(),
    );
    family(
        "wxtoken_last_failure_timestamp_seconds",
        "gauge",
        "Unix time of the last failed fetch.",
        counts
            .iter()
            .filter_map(|(a, c)| c.last_failure.map(|t| (a.clone(), format!("{t:.3}"))))
            .collect(),
    );
    out
}
