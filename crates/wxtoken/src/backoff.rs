//! Remembering a failed refresh, so that neither the callers who waited for
//! it nor the next ones hammer the token API.
//!
//! The note lives in the lock file, which every process takes before
//! refreshing, so it is shared across processes; the legacy script ignores
//! that file. One line: `v1 <unix µs> <kind> <errcode or -> <message>`. The
//! message is an [`Error`]'s text, which never holds the secret.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::{Error, ErrorKind, QUOTA_ERRCODES};

/// After a quota error (45009, 45011) nobody asks again for this long:
/// WeChat says back off, and every call would count against the quota.
pub(crate) const QUOTA_BACKOFF: Duration = Duration::from_secs(60);
/// Inside the refresh margin the cached token still works, so after a failed
/// refresh-ahead the next attempt waits this long.
pub(crate) const AHEAD_BACKOFF: Duration = Duration::from_secs(10);

/// A refresh that failed: when, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FailureNote {
    at_us: u64,
    kind: ErrorKind,
    errcode: Option<i64>,
    message: String,
}

/// Wall-clock microseconds. Deliberately not the cache's injected clock:
/// this orders events between processes (did it fail while I waited?), it
/// does not decide expiry. Microseconds, because two calls in a row easily
/// fall into one millisecond.
pub(crate) fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

impl FailureNote {
    /// A note for `error`, failed now.
    pub(crate) fn of(error: &Error) -> Self {
        FailureNote {
            at_us: now_us(),
            kind: error.kind(),
            errcode: error.errcode(),
            message: error.to_string().replace(['\n', '\r'], " "),
        }
    }

    /// The line written to the lock file.
    pub(crate) fn encode(&self) -> String {
        let code = self.errcode.map_or("-".to_string(), |c| c.to_string());
        format!(
            "v1 {} {} {code} {}\n",
            self.at_us,
            self.kind.as_str(),
            self.message
        )
    }

    /// Reads a line written by [`encode`](Self::encode); anything else is no note.
    pub(crate) fn decode(text: &str) -> Option<Self> {
        let mut parts = text.trim_end().splitn(5, ' ');
        if parts.next()? != "v1" {
            return None;
        }
        let at_us = parts.next()?.parse().ok()?;
        let kind = ErrorKind::from_name(parts.next()?)?;
        let errcode = match parts.next()? {
            "-" => None,
            c => Some(c.parse().ok()?),
        };
        let message = parts.next().unwrap_or("").to_string();
        Some(FailureNote {
            at_us,
            kind,
            errcode,
            message,
        })
    }

    /// Whether it failed after `since_us`.
    pub(crate) fn since(&self, since_us: u64) -> bool {
        self.at_us > since_us
    }

    /// Whether it failed less than `window` ago.
    pub(crate) fn within(&self, window: Duration) -> bool {
        now_us().saturating_sub(self.at_us) < window.as_micros() as u64
    }

    /// A quota error still inside its back-off.
    pub(crate) fn quota_backoff(&self) -> bool {
        self.errcode.is_some_and(|c| QUOTA_ERRCODES.contains(&c)) && self.within(QUOTA_BACKOFF)
    }

    /// The error a caller gets instead of a new attempt.
    pub(crate) fn to_error(&self) -> Error {
        Error::RecentFailure {
            kind: self.kind,
            errcode: self.errcode,
            message: self.message.clone(),
            secs_ago: now_us().saturating_sub(self.at_us) / 1_000_000,
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
        let note = FailureNote::of(&e);
        assert_eq!(FailureNote::decode(&note.encode()), Some(note.clone()));
        assert!(note.quota_backoff() && note.within(AHEAD_BACKOFF));
        let again = note.to_error();
        assert_eq!(
            (again.kind(), again.errcode()),
            (ErrorKind::WeChat, Some(45009))
        );
        assert!(again.to_string().contains("45009"), "{again}");

        let net = FailureNote::of(&Error::Passive);
        assert!(!net.quota_backoff());
        for junk in [
            "",
            "v2 1 network - x",
            "v1 x network - m",
            "v1 1 nonsense - m",
            "\u{0}",
        ] {
            assert_eq!(FailureNote::decode(junk), None, "{junk:?}");
        }
    }
}

/// Properties of the failure note's encoding (proptest).
#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn notes_round_trip(at_us in any::<u64>(), code in proptest::option::of(any::<i64>()),
                            kind in 0usize..5, message in "[^\r\n]{0,200}") {
            let kinds = [ErrorKind::Config, ErrorKind::WeChat, ErrorKind::Network, ErrorKind::Store, ErrorKind::Passive];
            let note = FailureNote { at_us, kind: kinds[kind], errcode: code, message: message.trim_end().to_string() };
            prop_assert_eq!(FailureNote::decode(&note.encode()), Some(note));
        }

        #[test]
        fn any_text_decodes_without_panic(text in "\\PC{0,300}") {
            let _ = FailureNote::decode(&text);
        }
    }
}
