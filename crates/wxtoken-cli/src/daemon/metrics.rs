//! What the daemon counts, per app, and its Prometheus text form.
//!
//! Labels are the app id and the WeChat errcode (or the error's kind when
//! WeChat gave none): never the secret, never the token.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use wxtoken::{BoxFuture, Error, Fetched, TokenSource};

/// Counters of one app.
#[derive(Debug, Default)]
pub struct AppMetrics {
    inner: Mutex<Counts>,
}

#[derive(Debug, Default, Clone)]
struct Counts {
    refreshes: u64,
    failures: BTreeMap<String, u64>,
    consecutive_failures: u64,
    last_success: Option<f64>,
    last_failure: Option<f64>,
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
}

/// The WeChat source, counted and logged: one line per real upstream call's
/// failure, so the log shows attempts, never the back-off's silent refusals.
pub struct Counted {
    pub appid: String,
    pub inner: Arc<dyn TokenSource>,
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

/// One app's figures at scrape time.
pub struct Sample {
    pub appid: String,
    pub seconds_left: Option<i64>,
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
    let app = |s: &Sample| format!("appid=\"{}\"", label(&s.appid));
    family(
        "wxtoken_token_seconds_left",
        "gauge",
        "Seconds until the cached token expires (negative once expired).",
        samples
            .iter()
            .filter_map(|s| s.seconds_left.map(|v| (app(s), v.to_string())))
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
