//! `wxtoken daemon`: the central refresher.
//!
//! Keeps one or many apps' tokens fresh in their stores (files or Redis)
//! ahead of expiry, so that passive readers (`WX_PASSIVE=1`, which need only
//! the app id) in PHP, C and Rust never fetch and no request ever waits on
//! WeChat. Each app runs as its own task (`app`) on one tokio runtime, so a
//! failing or slow app never delays another. It refreshes through the same
//! `TokenCache` as every other front end, so it shares the store's lock and
//! back-off with other daemons and with active workers: one upstream call
//! per expiry, however many refreshers.
//!
//! It repairs: a watcher (`watch`) reads every app's store each second and
//! wakes the app whose token readers would not find (invalidated, flushed,
//! emptied) or find changed (someone else refreshed), which refreshes or
//! observes, and republishes to the other SDKs' keys (`publish`) when the
//! token changed or a key went missing.
//!
//! It scales: one Redis connection pool per server (`redis_pool`), token
//! files opened only while used, at most [`MAX_CONCURRENT_FETCHES`] rounds
//! at once, refreshes spread over the margin (`schedule`), a bounded metrics
//! listener serving from memory (`http`), and a reload that leaves unchanged
//! apps running.
//!
//! Signals: SIGTERM or SIGINT stop it within a second, even mid-fetch or
//! with a store that does not answer (a fetch is dropped; a store is only
//! ever replaced whole); SIGHUP reloads the config file. It logs one line
//! per event to stderr, `key=value` style after a UTC timestamp: never a
//! token, never a secret. It is not dumpable: no core file holds the secret.

mod app;
mod config;
mod http;
mod metrics;
mod publish;
mod redis_keys;
mod redis_pool;
mod schedule;
mod watch;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::Semaphore;
use wxtoken::{ConfigBuilder, Error, Result};

use app::Running;
use config::App;
use metrics::AppMetrics;
use redis_pool::Pools;

/// Rounds (each at most one fetch) in flight at once, over all apps: bounds
/// upstream calls, sockets and Redis connections at start-up and whenever
/// many apps come due together.
pub const MAX_CONCURRENT_FETCHES: usize = 16;
/// How long a stop waits for the apps' tasks before it goes anyway.
const STOP_WAIT: Duration = Duration::from_millis(600);

/// One line on stderr: `TIME wxtoken daemon: app=X event=Y details`.
pub fn log(appid: &str, event: &str, details: &str) {
    eprintln!(
        "{} wxtoken daemon: app={appid} event={event} {details}",
        utc_now()
    );
}

/// The time as `2026-01-31T12:34:56Z`, for log lines read outside journald.
fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Keeps the kernel from writing this process's memory (which holds the
/// secrets) to a core file, and other processes of the user from reading it
/// through ptrace or /proc.
fn not_dumpable() -> Result<()> {
    // SAFETY: prctl with PR_SET_DUMPABLE takes plain integers.
    if unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) } != 0 {
        return Err(Error::Config(format!(
            "cannot make the daemon non-dumpable: {}",
            std::io::Error::last_os_error()
        )));
    }
    Ok(())
}

/// `WX_PASSIVE` as the environment sets it: on for "1", "true", "yes", "on".
fn passive_in_env() -> bool {
    std::env::var("WX_PASSIVE").is_ok_and(|v| {
        matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "1" | "true" | "yes" | "on"
        )
    })
}

/// Runs the daemon until SIGTERM or SIGINT.
pub fn run(
    config_file: Option<&Path>,
    metrics_addr: Option<SocketAddr>,
    from_env: impl FnOnce() -> Result<ConfigBuilder>,
) -> Result<()> {
    not_dumpable()?;
    if let Some(addr) = metrics_addr {
        if !addr.ip().is_loopback() {
            return Err(Error::Config(format!(
                "--metrics {addr}: the metrics listener serves loopback addresses only \
                 (put a proxy in front to expose it)"
            )));
        }
    }
    if passive_in_env() {
        return Err(Error::Config(
            "WX_PASSIVE=1: the daemon is the refresher that passive readers rely on, and a \
             passive one would never fetch (unset WX_PASSIVE for the daemon)"
                .into(),
        ));
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
    let result = rt.block_on(serve(source, apps, metrics_addr));
    // A store round trip still blocked on a thread (a paused Redis) ends by
    // its own timeout; the process does not wait for it.
    rt.shutdown_timeout(Duration::from_millis(100));
    result
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
            Source::Env(b) => {
                let config = (**b).clone().build()?;
                if config.passive() {
                    return Err(Error::Config(
                        "passive: the daemon is the refresher, it cannot be passive".into(),
                    ));
                }
                Ok(vec![App {
                    reader_config: (**b).clone().passive(true).build()?,
                    config,
                    publish: None,
                    // Tickets are named in a config file (`tickets = [...]`).
                    tickets: Vec::new(),
                }])
            }
        }
    }
}

/// The running apps by app id, and their tasks.
#[derive(Default)]
struct Fleet {
    apps: HashMap<String, (Arc<Running>, tokio::task::JoinHandle<()>)>,
}

async fn serve(source: Source, apps: Vec<App>, metrics_addr: Option<SocketAddr>) -> Result<()> {
    let signal_err = |e: std::io::Error| Error::Config(format!("cannot listen for signals: {e}"));
    let mut term = signal(SignalKind::terminate()).map_err(signal_err)?;
    let mut int = signal(SignalKind::interrupt()).map_err(signal_err)?;
    let mut hup = signal(SignalKind::hangup()).map_err(signal_err)?;
    let listed: http::Apps = Arc::default();
    if let Some(addr) = metrics_addr {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| Error::Config(format!("--metrics {addr}: cannot listen: {e}")))?;
        log("-", "metrics", &format!("listen=http://{addr}/metrics"));
        tokio::spawn(http::serve(listener, listed.clone()));
    }
    let pools = Arc::new(Pools);
    let fetches = Arc::new(Semaphore::new(MAX_CONCURRENT_FETCHES));
    let mut fleet = Fleet::default();
    apply(&mut fleet, apps, &pools, &fetches, &listed).await;
    tokio::spawn(watcher(listed.clone()));
    let source = Arc::new(source);
    let mut reload: Option<tokio::task::JoinHandle<Result<Vec<App>>>> = None;
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = hup.recv(), if reload.is_none() => {
                // Parsed off the runtime: a large config takes a while, and
                // signals are still heard meanwhile.
                let s = source.clone();
                reload = Some(tokio::task::spawn_blocking(move || s.load()));
            }
            loaded = async { reload.as_mut().expect("guarded").await }, if reload.is_some() => {
                reload = None;
                match loaded {
                    Ok(Ok(apps)) => {
                        let (kept, started) = apply(&mut fleet, apps, &pools, &fetches, &listed).await;
                        log("-", "reloaded", &format!("apps={} kept={kept} started={started}", fleet.apps.len()));
                    }
                    Ok(Err(e)) => log("-", "reload_failed", &format!("error={:?} (the old config stays)", e.to_string())),
                    Err(_) => log("-", "reload_failed", "error=\"panic\" (the old config stays)"),
                }
            }
        }
    }
    let all: Vec<_> = fleet.apps.drain().map(|(_, v)| v).collect();
    stop_all(all).await;
    log("-", "stopped", "");
    Ok(())
}

/// Makes the fleet run `apps`: an app whose settings did not change keeps
/// running (no refetch, counters kept); a changed one restarts with its
/// counters; a removed one stops. Returns (kept, started).
async fn apply(
    fleet: &mut Fleet,
    apps: Vec<App>,
    pools: &Pools,
    fetches: &Arc<Semaphore>,
    listed: &http::Apps,
) -> (usize, usize) {
    let mut old = std::mem::take(&mut fleet.apps);
    let (mut kept, mut started) = (0, 0);
    let mut stopping = Vec::new();
    for app in apps {
        // The app key: the app id, or for WeCom `corpid:agentid`.
        let appid = app.config.app_key();
        let metrics = match old.remove(&appid) {
            Some((running, task)) if running.app == app => {
                fleet.apps.insert(appid, (running, task));
                kept += 1;
                continue;
            }
            Some((running, task)) => {
                let m = running.metrics.clone();
                stopping.push((running, task));
                m
            }
            None => Arc::new(AppMetrics::default()),
        };
        match Running::new(app, metrics, pools) {
            Ok(r) => {
                let r = Arc::new(r);
                let store = match (r.app.config.redis_url(), r.app.config.store().database()) {
                    (Some(_), _) => "redis".to_string(),
                    (None, Some(db)) => format!("{} {}", db.dialect().as_str(), db.table()),
                    (None, None) => format!("files {}", r.app.config.token_file().display()),
                };
                log(&appid, "started", &format!("store={store:?}"));
                let task = tokio::spawn(app::keep_fresh(r.clone(), fetches.clone()));
                fleet.apps.insert(appid, (r, task));
                started += 1;
            }
            Err(e) => log(
                &appid,
                "start_failed",
                &format!("error={:?}", e.to_string()),
            ),
        }
    }
    stopping.extend(old.into_values());
    stop_all(stopping).await;
    *listed.write().unwrap_or_else(|p| p.into_inner()) =
        fleet.apps.values().map(|(r, _)| r.clone()).collect();
    (kept, started)
}

/// Stops apps' tasks, all at once, waiting at most [`STOP_WAIT`] in all:
/// every await in a task watches its stop switch, so this is quick.
async fn stop_all(apps: Vec<(Arc<Running>, tokio::task::JoinHandle<()>)>) {
    for (r, _) in &apps {
        r.stop();
    }
    let _ = tokio::time::timeout(STOP_WAIT, async {
        for (_, t) in apps {
            let _ = t.await;
        }
    })
    .await;
}

/// Looks at every app's store each [`schedule::RECHECK`], spread: the look
/// itself runs on a blocking thread.
async fn watcher(listed: http::Apps) {
    loop {
        let started = tokio::time::Instant::now();
        let apps = listed.read().map(|a| a.clone()).unwrap_or_default();
        let _ = tokio::task::spawn_blocking(move || watch::look(&apps)).await;
        // At least a tenth of the interval between looks, so a slow store
        // (or a huge fleet) never makes this a busy loop.
        let rest = schedule::RECHECK
            .saturating_sub(started.elapsed())
            .max(schedule::RECHECK / 10);
        tokio::time::sleep(rest + schedule::spread(schedule::RECHECK / 10, schedule::random()))
            .await;
    }
}
