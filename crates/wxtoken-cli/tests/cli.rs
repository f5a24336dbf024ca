//! The `wxtoken` binary against the real mock: output, exit codes, and 64
//! processes racing on one expired cache.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use wechat_mock::{Fault, MockServer};

const SECRET: &str = "test_secret_0123456789";

struct Setup {
    mock: MockServer,
    dir: PathBuf,
    /// Removed when the test ends, even by a panic.
    _scratch: tempfile::TempDir,
}

impl Setup {
    fn new(tag: &str) -> Self {
        let scratch = tempfile::Builder::new()
            .prefix(&format!("wxtoken-cli-{tag}-"))
            .tempdir()
            .unwrap();
        Setup {
            mock: MockServer::start().unwrap(),
            dir: scratch.path().to_path_buf(),
            _scratch: scratch,
        }
    }

    fn token_file(&self) -> PathBuf {
        self.dir.join("token.txt")
    }

    /// `wxtoken` with settings in the environment, as a deployment would.
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_wxtoken"));
        c.args(args)
            .env_clear()
            .env("WX_APPID", "wx_test_appid")
            .env("WX_APPSECRET", SECRET)
            .env("WX_API_BASE", self.mock.url())
            // Generous: a loaded machine must not turn into a timeout.
            .env("WX_HTTP_TIMEOUT", "60")
            .current_dir(&self.dir);
        c
    }

    /// An expired cache, and a mock whose answers take 400 ms: the first
    /// fetch stays in flight while the other racers start, so they overlap.
    fn expired_and_slow(tag: &str) -> Self {
        let s = Setup::new(tag);
        std::fs::write(s.token_file(), "EXPIRED_TOKEN").unwrap();
        std::fs::write(s.dir.join("expiry.txt"), "1").unwrap();
        s.mock
            .set_fault(Some(Fault::Slow(Duration::from_millis(400))), None);
        s
    }

    /// `n` `wxtoken get` processes, started at once, output captured.
    fn spawn_gets(&self, n: usize) -> Vec<std::process::Child> {
        (0..n)
            .map(|_| {
                self.cmd(&["get"])
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect()
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap()
}

#[test]
fn get_prints_only_the_token_and_hits_the_second_time() {
    let s = Setup::new("get");
    let a = s.run(&["get"]);
    assert!(a.status.success(), "{}", stderr(&a));
    let token = stdout(&a);
    assert!(token.ends_with('\n') && !token.trim().contains(char::is_whitespace));
    assert_eq!(
        token.trim(),
        read(&s.token_file()),
        "relative default path, in cwd"
    );
    let b = s.run(&["get"]);
    assert_eq!(stdout(&b), token);
    assert_eq!(s.mock.stats().token_calls, 1);
}

#[test]
fn flags_override_the_environment() {
    let s = Setup::new("flags");
    let alt = s.dir.join("alt-token.txt");
    let o = s.run(&[
        "--token-file",
        alt.to_str().unwrap(),
        "--expiry-file=alt-expiry.txt",
        "get",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(read(&alt), stdout(&o).trim());
    assert!(s.dir.join("alt-expiry.txt").exists());
    assert!(!s.token_file().exists());
    // A wrong --secret beats the right one in the environment.
    let o = s.run(&["--secret", "wrong_secret_value", "refresh"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(!stderr(&o).contains("wrong_secret_value"));
}

#[test]
fn errors_are_one_line_with_distinct_exit_codes() {
    let s = Setup::new("errors");
    std::fs::write(s.token_file(), "OLD").unwrap();
    std::fs::write(s.dir.join("expiry.txt"), "1").unwrap();

    let o = s.cmd(&["get"]).env_remove("WX_APPID").output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("WX_APPID"));

    s.mock.set_fault(Some(Fault::Http500), None);
    assert_eq!(s.run(&["get"]).status.code(), Some(4));
    // The failure is shared: the next process, within the back-off, gets it
    // without asking upstream again, even though the API would now answer.
    s.mock.set_fault(None, None);
    let calls = s.mock.stats().token_calls;
    let o = s.run(&["get"]);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert!(stderr(&o).contains("not retried"), "{}", stderr(&o));
    assert_eq!(s.mock.stats().token_calls, calls);
    // Forget it (the note lives in the lock file) for the cases below.
    std::fs::remove_file(s.dir.join("token.txt.lock")).unwrap();

    let o = s.run(&["--passive", "get"]);
    assert_eq!(o.status.code(), Some(6));

    let o = s.run(&["frobnicate"]);
    assert_eq!(o.status.code(), Some(2));

    s.mock.set_fault(Some(Fault::Errcode(45009)), None);
    let o = s.run(&["get"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(stderr(&o).contains("45009"));
    // Quota used up: the next process backs off instead of asking again,
    // even though the API would now answer.
    s.mock.set_fault(None, None);
    let calls = s.mock.stats().token_calls;
    let o = s.run(&["get"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(stderr(&o).contains("45009") && stderr(&o).contains("not retried"));
    assert_eq!(s.mock.stats().token_calls, calls);

    for o in [s.run(&["get"]), s.run(&["--mode", "nope", "get"])] {
        let err = stderr(&o);
        assert!(err.lines().count() <= 1, "{err}");
        assert!(!err.contains(SECRET), "{err}");
        assert!(stdout(&o).is_empty());
    }
    assert_eq!(read(&s.token_file()), "OLD", "errors never touch the files");
}

#[test]
fn status_refresh_and_invalidate() {
    let s = Setup::new("status");
    let o = s.run(&["status", "--json"]);
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["present"], false);

    let token = stdout(&s.run(&["get"])).trim().to_string();
    let v: serde_json::Value =
        serde_json::from_slice(&s.run(&["status", "--json"]).stdout).unwrap();
    assert_eq!(v["present"], true);
    assert_eq!(v["fresh"], true);
    let left = v["seconds_left"].as_i64().unwrap();
    assert!((7100..=7200).contains(&left), "{left}");
    let text = stdout(&s.run(&["status"]));
    assert!(text.contains("fresh") && !text.contains(&token), "{text}");

    let refreshed = stdout(&s.run(&["refresh"])).trim().to_string();
    assert_ne!(refreshed, token);
    assert_eq!(
        stdout(&s.run(&["invalidate", &token])).trim(),
        "kept: not the cached token"
    );
    assert_eq!(
        stdout(&s.run(&["invalidate", &refreshed])).trim(),
        "dropped"
    );
    let again = stdout(&s.run(&["get"])).trim().to_string();
    assert!(again != refreshed && again != token);
    assert_eq!(s.mock.stats().token_calls, 3);
}

#[test]
fn sixty_four_processes_on_an_expired_cache_make_one_upstream_call() {
    let s = Setup::expired_and_slow("race");
    let children = s.spawn_gets(64);
    let outputs: Vec<Output> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    for o in &outputs {
        assert!(o.status.success(), "{}", stderr(o));
    }
    let tokens: HashSet<String> = outputs
        .iter()
        .map(|o| stdout(o).trim().to_string())
        .collect();
    assert_eq!(tokens.len(), 1, "one distinct token");
    assert!(!tokens.contains("") && !tokens.contains("EXPIRED_TOKEN"));
    assert_eq!(s.mock.stats().token_calls, 1);
}

/// Async tasks in this process and `wxtoken get` processes on the same
/// expired files: one upstream call for all of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_tasks_and_cli_processes_share_one_refresh() {
    let s = Setup::expired_and_slow("mixed");
    let config = wxtoken::Config::builder()
        .appid("wx_test_appid")
        .secret(SECRET)
        .api_base(s.mock.url())
        .token_file(s.token_file())
        .expiry_file(s.dir.join("expiry.txt"))
        .http_timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let cache = std::sync::Arc::new(wxtoken::TokenCache::new(config));
    let children = s.spawn_gets(8);
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let cache = cache.clone();
            tokio::spawn(async move { cache.get_token_async().await })
        })
        .collect();
    let mut tokens = HashSet::new();
    for t in tasks {
        tokens.insert(t.await.unwrap().unwrap());
    }
    for c in children {
        let o = tokio::task::spawn_blocking(move || c.wait_with_output().unwrap())
            .await
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        tokens.insert(stdout(&o).trim().to_string());
    }
    assert_eq!(tokens.len(), 1, "{tokens:?}");
    assert!(!tokens.contains("EXPIRED_TOKEN"));
    assert_eq!(s.mock.stats().token_calls, 1);
}

#[test]
fn help_version_completions_and_a_token_starting_with_a_dash() {
    let s = Setup::new("clap");
    let o = s.run(&["--help"]);
    assert!(o.status.success());
    for word in [
        "get",
        "status",
        "refresh",
        "invalidate",
        "daemon",
        "Exit status",
    ] {
        assert!(stdout(&o).contains(word), "{word} in {}", stdout(&o));
    }
    let o = s.run(&["get", "--help"]);
    assert!(
        o.status.success() && stdout(&o).contains("--token-file"),
        "{}",
        stdout(&o)
    );
    let o = s.run(&["--version"]);
    assert_eq!(
        stdout(&o).trim(),
        format!("wxtoken {}", env!("CARGO_PKG_VERSION"))
    );
    let o = s.run(&["completions", "bash"]);
    assert!(
        o.status.success() && stdout(&o).contains("complete -F"),
        "{}",
        stderr(&o)
    );
    // Usage errors: clap's message, exit 2.
    let o = s.run(&["frobnicate"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("frobnicate"), "{}", stderr(&o));
    // A cached token that starts with '-' can be invalidated after `--`.
    std::fs::write(s.token_file(), "-abc").unwrap();
    std::fs::write(
        s.dir.join("expiry.txt"),
        (std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 3600)
            .to_string(),
    )
    .unwrap();
    let o = s.run(&["invalidate", "--", "-abc"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).trim(), "dropped");
    assert_eq!(std::fs::read_to_string(s.token_file()).unwrap(), "");
}

/// A process that holds `token.txt.lock` for good (`flock(1)`, taking it as
/// soon as it is free), like a worker that wins the lock again and again.
/// Killed when dropped.
struct LockHog {
    child: std::process::Child,
    held: PathBuf,
}

impl LockHog {
    fn start(s: &Setup) -> LockHog {
        let held = s.dir.join("hog-holds-the-lock");
        // `--no-fork`: the shell and then `sleep` replace flock in one
        // process, so killing it releases the lock and leaves nothing behind.
        let child = Command::new("flock")
            .args(["--no-fork", "-x"])
            .arg(s.dir.join("token.txt.lock"))
            .args(["sh", "-c"])
            .arg(format!("touch '{}'; exec sleep 600", held.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("flock(1) from util-linux");
        LockHog { child, held }
    }

    fn wait_until_held(&self) {
        wait_until(|| self.held.exists(), "the hog to take the lock");
    }
}

impl Drop for LockHog {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `done` for up to two minutes (generous: a loaded machine).
fn wait_until(done: impl Fn() -> bool, what: &str) {
    let until = std::time::Instant::now() + Duration::from_secs(120);
    while !done() {
        assert!(
            std::time::Instant::now() < until,
            "gave up waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waiters take the answer when the store shows it: they need not win the
/// lock, so a process that keeps it cannot hold them up.
#[test]
fn waiters_take_a_token_written_while_another_process_keeps_the_lock() {
    let s = Setup::new("kept-lock");
    std::fs::write(s.token_file(), "EXPIRED_TOKEN").unwrap();
    std::fs::write(s.dir.join("expiry.txt"), "1").unwrap();
    let hog = LockHog::start(&s);
    hog.wait_until_held();
    let waiters = s.spawn_gets(8);
    // Let them reach the lock (correct either way: a waiter that starts after
    // the write below finds a hit).
    std::thread::sleep(Duration::from_millis(500));
    // A legacy writer, which never takes token.txt.lock, stores a token.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    std::fs::write(s.token_file(), "WRITTEN_BY_LEGACY").unwrap();
    std::fs::write(s.dir.join("expiry.txt"), (now + 7200).to_string()).unwrap();
    for c in waiters {
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(stdout(&o).trim(), "WRITTEN_BY_LEGACY");
    }
    let st = s.mock.stats();
    assert_eq!(st.token_calls + st.stable_calls, 0);
}

/// A holder's fetch fails (its HTTP timeout, against a black hole); the lock
/// is then taken straight back by another process. The processes that waited
/// get the holder's failure: one upstream call in all, nobody times out on
/// the lock.
#[test]
fn a_failure_reaches_the_waiters_while_another_process_takes_the_lock_back() {
    let s = Setup::new("lock-back");
    std::fs::write(s.token_file(), "EXPIRED_TOKEN").unwrap();
    std::fs::write(s.dir.join("expiry.txt"), "1").unwrap();
    s.mock
        .set_fault(Some(Fault::Slow(Duration::from_secs(3600))), None);
    // The holder gives up after 10 s: time enough for the others to start
    // waiting, even on a loaded machine.
    let holder = s
        .cmd(&["get"])
        .env("WX_HTTP_TIMEOUT", "10")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until(
        || {
            let st = s.mock.stats();
            st.token_calls + st.stable_calls == 1
        },
        "the holder's request",
    );
    // Queued in the kernel for the lock: takes it as the holder lets go.
    let hog = LockHog::start(&s);
    let waiters = s.spawn_gets(8);
    let o = holder.wait_with_output().unwrap();
    assert!(!o.status.success());
    assert!(stderr(&o).contains("timed out"), "{}", stderr(&o));
    for c in waiters {
        let o = c.wait_with_output().unwrap();
        let err = stderr(&o);
        assert!(!o.status.success(), "{}", stdout(&o));
        assert!(err.contains("timed out"), "{err}");
        assert!(!err.contains("cache lock"), "{err}");
    }
    hog.wait_until_held();
    let st = s.mock.stats();
    assert_eq!(st.token_calls + st.stable_calls, 1);
    s.mock.reset();
}

/// Failure notes that must hold nobody back: a wrong secret's (the right
/// secret is tried at once), one dated an hour ahead (the clock was stepped
/// back since: it used to block every automatic refresh for good), and a
/// long outage of HTTP 500s that ended seconds ago (pages recover within
/// about five seconds, not the minute of a configuration error).
#[test]
fn old_wrong_or_future_failure_notes_do_not_hold_back_a_working_refresh() {
    let s = Setup::new("notes");
    let lock = s.dir.join("token.txt.lock");
    let o = s
        .cmd(&["get"])
        .env("WX_APPSECRET", "a_wrong_secret")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(!stderr(&o).contains("a_wrong_secret"));
    let calls = s.mock.stats().token_calls;
    let o = s.run(&["get"]);
    assert!(
        o.status.success(),
        "the right secret is held back: {}",
        stderr(&o)
    );
    assert_eq!(s.mock.stats().token_calls, calls + 1);

    let now_us = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64;
    for (what, note) in [
        (
            "a note an hour ahead",
            format!(
                "v2 {} 1 wx_test_appid network - HTTP 500\n",
                now_us + 3_600_000_000
            ),
        ),
        (
            "twelve HTTP 500s in a row, the last 6 s ago",
            format!(
                "v2 {} 12 wx_test_appid network - HTTP 500\n",
                now_us - 6_000_000
            ),
        ),
    ] {
        std::fs::remove_file(s.token_file()).unwrap();
        std::fs::write(&lock, &note).unwrap();
        let calls = s.mock.stats().token_calls;
        let o = s.run(&["get"]);
        assert!(o.status.success(), "{what}: {}", stderr(&o));
        assert_eq!(s.mock.stats().token_calls, calls + 1, "{what}");
        let again = s.run(&["get"]);
        assert_eq!(stdout(&again), stdout(&o), "{what}: then a hit");
    }
}
