//! The note of the last failed refresh, and the back-off it imposes on
//! everyone sharing the store, so that no front end, at any load, hammers the
//! token API while it fails.
//!
//! The note lives with the store's lock (inside `token.txt.lock`, or in a
//! Redis key), which every process takes before refreshing, so it is shared
//! across processes and hosts. One line:
//!
//! `v3 <unix µs> <streak> <appid> <scope> <kind> <errcode or -> <message>`
//!
//! (or `v2`, the same without the scope, for every note but a configuration
//! error's: the previous release reads those, so a mixed fleet still shares
//! its back-offs).
//!
//! `streak` counts failures in a row; a success clears the note. The appid
//! says whose failure it was: a note left by other credentials on the same
//! files (a site fixing its appid) does not hold back the new ones. The scope
//! is the source's fingerprint of the credentials (see
//! `Config::credential_scope`; `-` for none): a configuration error (a wrong
//! secret) holds back only callers with the same credentials, so a corrected
//! secret is tried at once. The message is an [`Error`]'s text, which never
//! holds the secret. Version 1 and 2 notes (without streak and appid, or
//! without scope) are still read.
//!
//! After a failure nobody asks upstream again for a window that doubles with
//! the streak, 1 s, 2 s, 4 s ... up to 60 s, with a jitter derived from the
//! note itself (so every process agrees on it). Quota errors (45009, 45011)
//! always wait WeChat's full minute. Transient failures (unreachable, HTTP
//! errors, bad answers, busy) stop doubling at 4 s: upstream calls stay at
//! one every few seconds for everyone together, and pages recover within
//! about five seconds of WeChat.

use std::time::Duration;

use crate::error::{Error, ErrorKind, QUOTA_ERRCODES};

/// After a quota error (45009, 45011) nobody asks again for this long:
/// WeChat says back off, and every call would count against the quota.
pub(crate) const QUOTA_BACKOFF: Duration = Duration::from_secs(60);
/// Inside the refresh margin the cached token still works, so after a failed
/// refresh-ahead the next attempt waits at least this long.
pub(crate) const AHEAD_BACKOFF: Duration = Duration::from_secs(10);
/// The first back-off window; doubles with each failure in a row.
const FIRST_WINDOW: Duration = Duration::from_secs(1);
/// The longest back-off window.
pub(crate) const MAX_WINDOW: Duration = Duration::from_secs(60);
/// The longest back-off window after transient failures (see the module
/// documentation).
pub(crate) const TRANSIENT_MAX_WINDOW: Duration = Duration::from_secs(4);
/// How far in the future a note may be dated and still be taken as it is:
/// the clocks of hosts sharing a Redis store differ, and a host that took a
/// peer's note as long past would clear every host's back-off. A note further
/// ahead (a clock stepped back) is taken as long past.
const FUTURE_TOLERANCE_US: u64 = 60_000_000;

/// A refresh that failed: when, how many times in a row, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FailureNote {
    at_us: u64,
    streak: u32,
    /// Empty in a version 1 note: then it counts for every app.
    appid: String,
    /// The credentials' fingerprint; empty when unknown (older notes).
    scope: String,
    kind: ErrorKind,
    errcode: Option<i64>,
    message: String,
}

/// Wall-clock microseconds, for the unit tests. The cache passes its own
/// clock's reading ([`Clock::now_micros`](crate::Clock::now_micros)) to every
/// method that needs the time, so a policy test steps past a back-off window
/// on a manual clock. Microseconds, because two calls in a row easily fall
/// into one millisecond.
#[cfg(test)]
pub(crate) fn now_us() -> u64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

impl FailureNote {
    /// A note for `appid`'s `error` with credentials of `scope`, failed at
    /// `now_us`, following `previous` failures in a row.
    pub(crate) fn of(
        error: &Error,
        previous: Option<&FailureNote>,
        appid: &str,
        scope: &str,
        now_us: u64,
    ) -> Self {
        FailureNote {
            at_us: now_us,
            streak: previous.map_or(1, |p| p.streak.saturating_add(1)),
            appid: appid.to_string(),
            scope: scope.to_string(),
            kind: error.kind(),
            errcode: error.errcode(),
            message: error.to_string().replace(['\n', '\r'], " "),
        }
    }

    /// The line written to the store.
    pub(crate) fn encode(&self) -> String {
        let code = self.errcode.map_or("-".to_string(), |c| c.to_string());
        // Version 2 whenever the scope does not matter, so that processes of
        // the previous release sharing the store still read (and respect)
        // every back-off but a configuration error's.
        let head = match (self.kind, self.scope.as_str()) {
            (ErrorKind::Config, scope) if !scope.is_empty() => {
                format!("v3 {} {} {} {scope}", self.at_us, self.streak, self.appid)
            }
            _ => format!("v2 {} {} {}", self.at_us, self.streak, self.appid),
        };
        format!("{head} {} {code} {}\n", self.kind.as_str(), self.message)
    }

    /// Reads a line written by [`encode`](Self::encode) (or a version 1 or
    /// 2 line); anything else is no note.
    pub(crate) fn decode(text: &str) -> Option<Self> {
        let mut parts = text.trim_end().splitn(8, ' ');
        let version = parts.next()?;
        let at_us = parts.next()?.parse().ok()?;
        let (streak, appid, scope) = match version {
            "v1" => (1, String::new(), String::new()),
            "v2" => (
                parts.next()?.parse().ok()?,
                parts.next()?.to_string(),
                String::new(),
            ),
            "v3" => (
                parts.next()?.parse().ok()?,
                parts.next()?.to_string(),
                match parts.next()? {
                    "-" => String::new(),
                    s => s.to_string(),
                },
            ),
            _ => return None,
        };
        let rest: Vec<&str> = parts.collect();
        let (kind, code, message) = match rest.as_slice() {
            [kind, code, message @ ..] => (*kind, *code, message.join(" ")),
            _ => return None,
        };
        let kind = ErrorKind::from_name(kind)?;
        let errcode = match code {
            "-" => None,
            c => Some(c.parse().ok()?),
        };
        Some(FailureNote {
            at_us,
            streak,
            appid,
            scope,
            kind,
            errcode,
            message,
        })
    }

    /// A note dated further in the future than clocks differ (the clock was
    /// stepped back since) counts as long past: otherwise its window would
    /// last until the clock caught up, and re-dating it to "now" at each read
    /// would restart the window at every read, for good. Returns whether it
    /// was re-dated, so the holder can store it again.
    pub(crate) fn clamp_to_now(&mut self, now_us: u64) -> bool {
        if self.at_us > now_us.saturating_add(FUTURE_TOLERANCE_US) {
            self.at_us = 0;
            return true;
        }
        false
    }

    /// Whether it holds back a caller for `appid` with credentials of
    /// `scope`: it must be that app's (a version 1 note is everyone's), and a
    /// configuration error only the same credentials'.
    /// `scope` is asked only for such a note (it may read the secret file).
    pub(crate) fn is_for(&self, appid: &str, scope: impl FnOnce() -> String) -> bool {
        let app = self.appid.is_empty() || self.appid == appid;
        app && (self.kind != ErrorKind::Config || self.scope.is_empty() || self.scope == scope())
    }

    /// Whether it failed after `since_us`.
    pub(crate) fn since(&self, since_us: u64) -> bool {
        self.at_us > since_us
    }

    /// Whether it failed less than `window` ago.
    pub(crate) fn within(&self, window: Duration, now_us: u64) -> bool {
        now_us.saturating_sub(self.at_us) < window.as_micros() as u64
    }

    /// How long nobody asks upstream after this failure: WeChat's minute for
    /// quota errors, else 1 s doubling with the streak up to 60 s, stretched
    /// by up to a quarter by a jitter that every reader of the note computes
    /// alike (so the processes sharing it do not all retry at one instant).
    pub(crate) fn window(&self) -> Duration {
        if self.errcode.is_some_and(|c| QUOTA_ERRCODES.contains(&c)) {
            return QUOTA_BACKOFF;
        }
        let cap = if self.transient() {
            TRANSIENT_MAX_WINDOW
        } else {
            MAX_WINDOW
        };
        let doublings = self.streak.saturating_sub(1).min(16);
        let base = FIRST_WINDOW.saturating_mul(1u32 << doublings).min(cap);
        let jitter_permille = (self.at_us % 251) as u32; // 0..=250
        (base + base * jitter_permille / 1000).min(MAX_WINDOW + MAX_WINDOW / 4)
    }

    /// A failure that says nothing about the credentials or the quota:
    /// WeChat unreachable, an HTTP error, a bad answer, or busy (-1).
    fn transient(&self) -> bool {
        self.kind == ErrorKind::Network || self.errcode == Some(-1)
    }

    /// Still inside its back-off window.
    pub(crate) fn backing_off(&self, now_us: u64) -> bool {
        self.within(self.window(), now_us)
    }

    /// The error a caller gets instead of a new attempt.
    pub(crate) fn to_error(&self, now_us: u64) -> Error {
        Error::RecentFailure {
            kind: self.kind,
            errcode: self.errcode,
            message: self.message.clone(),
            secs_ago: now_us.saturating_sub(self.at_us) / 1_000_000,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_junk() {
        let e = Error::WeChat {
            errcode: 45009,
            errmsg: "reach max api daily quota limit".into(),
        };
        let note = FailureNote::of(&e, None, "wx1", "0123abcd", now_us());
        // Not a configuration error: written as version 2, which the
        // previous release reads too; its scope does not matter.
        assert!(note.encode().starts_with("v2 "));
        let read = FailureNote::decode(&note.encode()).unwrap();
        assert_eq!(
            read,
            FailureNote {
                scope: String::new(),
                ..note.clone()
            }
        );
        assert!(
            note.is_for("wx1", || "0123abcd".into()) && !note.is_for("wx2", || "0123abcd".into())
        );
        // Not about the credentials: it holds back other credentials too.
        assert!(note.is_for("wx1", || "ffff0000".into()));
        assert!(note.backing_off(now_us()) && note.window() == QUOTA_BACKOFF);
        let again = note.to_error(now_us());
        assert_eq!(
            (again.kind(), again.errcode()),
            (ErrorKind::WeChat, Some(45009))
        );
        assert!(again.to_string().contains("45009"), "{again}");
        // Version 1 notes from an older build still count.
        let v1 = FailureNote::decode("v1 5 network - timed out").unwrap();
        assert_eq!((v1.streak, v1.message.as_str()), (1, "timed out"));
        assert!(v1.is_for("any", || "any".into()));
        let v2 = FailureNote::decode("v2 5 3 wx1 config 40125 invalid appsecret").unwrap();
        assert_eq!((v2.streak, v2.errcode), (3, Some(40125)));
        assert!(v2.is_for("wx1", || "any".into()) && !v2.is_for("wx2", || "any".into()));
        for junk in [
            "",
            "v3 1 1 network - x",
            "v1 x network - m",
            "v2 1 x wx network - m",
            "v3 1 1 wx",
            "v2 1 1 wx nonsense - m",
            "v1 1 nonsense - m",
            "\u{0}",
        ] {
            assert_eq!(FailureNote::decode(junk), None, "{junk:?}");
        }
    }

    #[test]
    fn a_configuration_error_holds_back_only_the_same_credentials() {
        let wrong = Error::WeChat {
            errcode: 40125,
            errmsg: String::new(),
        };
        let note =
            FailureNote::decode(&FailureNote::of(&wrong, None, "wx1", "aaaa", now_us()).encode())
                .unwrap();
        assert!(note.is_for("wx1", || "aaaa".into()));
        assert!(
            !note.is_for("wx1", || "bbbb".into()),
            "a corrected secret is tried at once"
        );
    }

    #[test]
    fn transient_failures_back_off_a_few_seconds_at_most() {
        let http = Error::HttpStatus {
            status: 500,
            host: "h".into(),
        };
        let busy = Error::WeChat {
            errcode: -1,
            errmsg: String::new(),
        };
        for e in [http, busy] {
            let mut note = FailureNote::of(&e, None, "wx1", "", now_us());
            note.streak = 30;
            let w = note.window();
            assert!(
                w >= TRANSIENT_MAX_WINDOW && w <= TRANSIENT_MAX_WINDOW + TRANSIENT_MAX_WINDOW / 4,
                "{e}: {w:?}"
            );
        }
        let mut config = FailureNote::of(&Error::Config("x".into()), None, "wx1", "", now_us());
        config.streak = 30;
        assert!(config.window() >= MAX_WINDOW);
    }

    #[test]
    fn the_window_doubles_with_the_streak_up_to_a_minute() {
        let mut note = FailureNote::of(&Error::Passive, None, "wx1", "", now_us());
        let mut last = Duration::ZERO;
        for streak in 1..=12 {
            note.streak = streak;
            let w = note.window();
            assert!(w >= last, "streak {streak}: {w:?} < {last:?}");
            let base = Duration::from_secs(1 << (streak - 1).min(6)).min(MAX_WINDOW);
            assert!(w >= base && w <= base + base / 4, "streak {streak}: {w:?}");
            last = w;
        }
        let next = FailureNote::of(&Error::Passive, Some(&note), "wx1", "", now_us());
        assert_eq!(next.streak, 13);
    }

    #[test]
    fn a_note_from_the_future_counts_as_long_past() {
        let mut note = FailureNote::of(&Error::Passive, None, "wx1", "", now_us());
        note.at_us += 3_600_000_000; // the clock was stepped back an hour
        assert!(
            note.backing_off(now_us()),
            "as dated, it would hold back for an hour"
        );
        assert!(note.clamp_to_now(now_us()));
        assert!(!note.backing_off(now_us()) && !note.since(1));
        assert!(!note.clamp_to_now(now_us()));
        // Another host's clock a second ahead: taken as it is.
        let mut skewed = FailureNote::of(&Error::Passive, None, "wx1", "", now_us());
        skewed.at_us += 1_000_000;
        assert!(!skewed.clamp_to_now(now_us()) && skewed.backing_off(now_us()));
    }
}

/// Properties of the failure note's encoding (proptest).
#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn notes_round_trip(at_us in any::<u64>(), streak in 1u32.., code in proptest::option::of(any::<i64>()),
                            appid in "[!-~]{1,32}", scope in "[0-9a-f]{0,16}", kind in 0usize..5, message in "[^\r\n]{0,200}") {
            let kinds = [ErrorKind::Config, ErrorKind::WeChat, ErrorKind::Network, ErrorKind::Store, ErrorKind::Passive];
            let message = message.trim_end().to_string();
            let note = FailureNote { at_us, streak, appid, scope, kind: kinds[kind], errcode: code, message };
            // The scope is kept where it matters: a configuration error's.
            let scope = if note.kind == ErrorKind::Config { note.scope.clone() } else { String::new() };
            prop_assert_eq!(FailureNote::decode(&note.encode()), Some(FailureNote { scope, ..note }));
        }

        #[test]
        fn any_text_decodes_without_panic(text in "\\PC{0,300}") {
            let _ = FailureNote::decode(&text);
        }

        #[test]
        fn windows_are_bounded(at_us in any::<u64>(), streak in any::<u32>()) {
            let note = FailureNote { at_us, streak, appid: String::new(), scope: String::new(), kind: ErrorKind::Network, errcode: None, message: String::new() };
            prop_assert!(note.window() <= MAX_WINDOW + MAX_WINDOW / 4);
        }
    }
}
