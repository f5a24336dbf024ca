//! `wxtoken daemon`: the central refresher.
//!
//! Keeps one or many apps' tokens fresh in their stores (files or Redis)
//! ahead of expiry, so that passive readers (`WX_PASSIVE=1`) in PHP, C and
//! Rust never fetch and no request ever waits on WeChat. Each app runs as its
//! own task on one tokio runtime, so a failing or slow app never delays
//! another. It refreshes through the same `TokenCache` as every other front
//! end, so it shares the store's lock and back-off with other daemons and
//! with active workers: one upstream call per expiry, however many
//! refreshers.
//!
//! Signals: SIGTERM or SIGINT stop it within a second, even mid-fetch (the
//! fetch is dropped; a store is only ever replaced whole); SIGHUP reloads
//! the config file. It logs one line per event to stderr, `key=value`
//! style (journald adds the time): never a token, never a secret.

mod config;
mod metrics;
mod publish;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;
use wxtoken::{ConfigBuilder, Error, ErrorKind, Result, TokenCache};

use config::App;
use metrics::{AppMetrics, Counted, Sample};

/// One line on stderr: `wxtoken daemon: app=X event=Y details`.
pub fn log(appid: &str, event: &str, details: &str) {
    eprintln!("wxtoken daemon: app={appid} event={event} {details}");
}

/// After a failed or skipped refresh, look again this soon; the cache's
/// shared back-off decides whether that look asks WeChat.
const RETRY: Duration = Duration::from_secs(1);

/// One app being kept fresh.
struct Running {
    appid: String,
    cache: Arc<TokenCache>,
    metrics: Arc<AppMetrics>,
    publish: Option<Arc<publish::Publish>>,
}

/// Runs the daemon until SIGTERM or SIGINT.
pub fn run(
    config_file: Option<&Path>,
    metrics_addr: Option<SocketAddr>,
    from_env: impl FnOnce() -> Result<ConfigBuilder>,
) -> Result<()> {
    if let Some(addr) = metrics_addr {
        if !addr.ip().is_loopback() {
            return Err(Error::Config(format!(
                "--metrics {addr}: the metrics listener serves loopback addresses only \
                 (put a proxy in front to expose it)"
            )));
        }
    }
    let source = match config_file {
        Some(f) => Source::File(f.to_path_buf()),
        None => Source::Env(Box::new(from_env()?)),
    };
    let apps = source.load()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::Config(format!("cannot start the daemon's runtime: {e}")))?;
    rt.block_on(serve(source, apps, metrics_addr))
}

/// Where the apps come from, for the start and for each SIGHUP.
enum Source {
    File(PathBuf),
    Env(Box<ConfigBuilder>),
}

impl Source {
    fn load(&self) -> Result<Vec<App>> {
        match self {
            Source::File(f) => config::load(f),
            Source::Env(b) => Ok(vec![App {
                config: (**b).clone().build()?,
                publish: None,
            }]),
        }
    }
}

async fn serve(source: Source, apps: Vec<App>, metrics_addr: Option<SocketAddr>) -> Result<()> {
    let signal_err = |e: std::io::Error| Error::Config(format!("cannot listen for signals: {e}"));
    let mut term = signal(SignalKind::terminate()).map_err(signal_err)?;
    let mut int = signal(SignalKind::interrupt()).map_err(signal_err)?;
    let mut hup = signal(SignalKind::hangup()).map_err(signal_err)?;
    let running: Arc<RwLock<Vec<Arc<Running>>>> = Arc::default();
    if let Some(addr) = metrics_addr {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| Error::Config(format!("--metrics {addr}: cannot listen: {e}")))?;
        log("-", "metrics", &format!("listen=http://{addr}/metrics"));
        tokio::spawn(metrics_server(listener, running.clone()));
    }
    let (mut stop, mut tasks) = start(apps, &running);
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = hup.recv() => match source.load() {
                Ok(apps) => {
                    halt(stop, tasks).await;
                    (stop, tasks) = start(apps, &running);
                    log("-", "reloaded", &format!("apps={}", running.read().map_or(0, |r| r.len())));
                }
                Err(e) => log("-", "reload_failed", &format!("error={:?} (the old config stays)", e.to_string())),
            },
        }
    }
    halt(stop, tasks).await;
    log("-", "stopped", "");
    Ok(())
}

/// Starts one task per app; returns the stop switch and the tasks.
fn start(
    apps: Vec<App>,
    running: &RwLock<Vec<Arc<Running>>>,
) -> (watch::Sender<bool>, Vec<tokio::task::JoinHandle<()>>) {
    let (stop, stopped) = watch::channel(false);
    let mut all = Vec::new();
    let mut tasks = Vec::new();
    for app in apps {
        let appid = app.config.appid().to_string();
        let metrics = Arc::new(AppMetrics::default());
        let source = Arc::new(Counted {
            appid: appid.clone(),
            inner: wxtoken::wechat_api_source(&app.config),
            metrics: metrics.clone(),
        });
        let store = app.config.redis_url().map_or_else(
            || format!("files {}", app.config.token_file().display()),
            |_| "redis".to_string(),
        );
        let r = Arc::new(Running {
            appid: appid.clone(),
            cache: Arc::new(TokenCache::builder(app.config).source(source).build()),
            metrics,
            publish: app.publish.map(Arc::new),
        });
        log(&appid, "started", &format!("store={store:?}"));
        all.push(r.clone());
        tasks.push(tokio::spawn(keep_fresh(r, stopped.clone())));
    }
    *running.write().unwrap_or_else(|p| p.into_inner()) = all;
    (stop, tasks)
}

/// Stops every app task, within a second even if one is mid-fetch.
async fn halt(stop: watch::Sender<bool>, tasks: Vec<tokio::task::JoinHandle<()>>) {
    let _ = stop.send(true);
    for t in tasks {
        // Every await in a task watches `stop`, so this is quick; the bound
        // only guards the promise to stop within a second.
        let _ = tokio::time::timeout(Duration::from_millis(900), t).await;
    }
}

/// One app's loop: refresh at the margin (with jitter), look again soon
/// after a failure, stop when told.
async fn keep_fresh(app: Arc<Running>, mut stop: watch::Receiver<bool>) {
    let mut last: Option<String> = None;
    loop {
        let before = app.metrics_refreshes();
        let wait = tokio::select! {
            biased;
            _ = stop.changed() => return,
            r = app.cache.get_token_async() => app.after(r, before, &mut last).await,
        };
        tokio::select! {
            biased;
            _ = stop.changed() => return,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

impl Running {
    fn metrics_refreshes(&self) -> u64 {
        metrics::refreshes(&self.metrics)
    }

    /// Logs and publishes what a round brought; returns when to look again.
    async fn after(
        &self,
        result: Result<String>,
        refreshes_before: u64,
        last: &mut Option<String>,
    ) -> Duration {
        let token = match result {
            Ok(t) => t,
            Err(e) => {
                // Fetch failures were logged as they happened; the back-off's
                // refusals are not events. Anything else (the store) is.
                if e.errcode().is_none()
                    && e.kind() == ErrorKind::Store
                    && !matches!(e, Error::RecentFailure { .. })
                {
                    log(
                        &self.appid,
                        "store_error",
                        &format!("error={:?}", e.to_string()),
                    );
                }
                return RETRY;
            }
        };
        let status = match self.cache.status() {
            Ok(s) => s,
            Err(_) => return RETRY,
        };
        let now = unix_now();
        let next = status
            .refresh_at
            .filter(|_| status.fresh)
            .map(|at| at.saturating_sub(now))
            .map(|secs| Duration::from_secs(secs) + jitter(self.cache.policy().refresh_margin));
        if last.as_deref() != Some(token.as_str()) {
            let event = if metrics::refreshes(&self.metrics) > refreshes_before {
                "refreshed"
            } else {
                "observed"
            };
            let expires_at = status.expires_at.unwrap_or(0);
            log(
                &self.appid,
                event,
                &format!(
                    "expires_at={expires_at} next_refresh_at={}",
                    next.map_or(now, |d| now + d.as_secs())
                ),
            );
            if let Some(p) = &self.publish {
                let (p, t) = (p.clone(), token.clone());
                let published = tokio::task::spawn_blocking(move || p.write(&t, expires_at)).await;
                match published {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => log(
                        &self.appid,
                        "publish_failed",
                        &format!("error={:?}", e.to_string()),
                    ),
                    Err(_) => log(&self.appid, "publish_failed", "error=\"panic\""),
                }
            }
            *last = Some(token);
        }
        // Inside the margin (a refresh-ahead that failed or was someone
        // else's): look again soon; the back-off keeps that from calling.
        next.unwrap_or(RETRY)
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Up to a quarter of the margin (at most 30 s), so that many daemons and
/// apps do not all call WeChat in the same second.
fn jitter(margin: u64) -> Duration {
    use std::io::Read;
    let max_ms = (margin * 1000 / 4).min(30_000);
    let mut b = [0u8; 4];
    let r = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut b));
    let n = if r.is_ok() {
        u32::from_ne_bytes(b) as u64
    } else {
        u64::from(std::process::id()) * 7919
    };
    Duration::from_millis(if max_ms == 0 { 0 } else { n % max_ms })
}

/// `/metrics` (Prometheus text) and `/healthz` (200 when every app has a
/// valid token, else 503 naming those that do not).
async fn metrics_server(
    listener: tokio::net::TcpListener,
    running: Arc<RwLock<Vec<Arc<Running>>>>,
) {
    use axum::http::{header, StatusCode};
    use axum::routing::get;
    let apps = move || running.read().map(|r| r.clone()).unwrap_or_default();
    let for_metrics = apps.clone();
    let app = axum::Router::new()
        .route(
            "/metrics",
            get(move || async move {
                let samples: Vec<Sample> = for_metrics()
                    .iter()
                    .map(|r| Sample {
                        appid: r.appid.clone(),
                        seconds_left: r.cache.status().ok().and_then(|s| s.seconds_left),
                        metrics: r.metrics.clone(),
                    })
                    .collect();
                (
                    [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                    metrics::render(&samples),
                )
            }),
        )
        .route(
            "/healthz",
            get(move || async move {
                let bad: Vec<String> = apps()
                    .iter()
                    .filter(|r| !r.cache.status().is_ok_and(|s| s.present))
                    .map(|r| r.appid.clone())
                    .collect();
                if bad.is_empty() {
                    (StatusCode::OK, "ok\n".to_string())
                } else {
                    (
                        StatusCode::SERVICE_UNAVAILABLE,
                        format!("no valid token: {}\n", bad.join(" ")),
                    )
                }
            }),
        );
    let _ = axum::serve(listener, app).await;
}
