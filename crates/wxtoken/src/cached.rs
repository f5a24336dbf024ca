//! A cached credential and the freshness rule, shared by every store.
//!
//! Kept apart from any store so that the rule "is this token still good, and
//! for how long" is written once, whether the pair came from the legacy files,
//! from Redis or from a store a user plugged in.

/// WeChat reserves up to 512 characters for a token.
pub const MAX_TOKEN_LEN: usize = 512;
/// No WeChat token lives longer than a day; an expiry further out is corrupt.
pub const MAX_LIFETIME: u64 = 86_400;

/// A token and the Unix time it expires at, as a store keeps them.
#[derive(Clone, PartialEq, Eq)]
pub struct Cached {
    /// The access token.
    pub token: String,
    /// Unix time (seconds) of expiry; 0 when unknown, which makes it stale.
    pub expires_at: u64,
    /// Unix time the token was written or fetched, when known; it bounds the
    /// refresh margin, see [`Cached::is_fresh`].
    pub written_at: Option<u64>,
}

impl std::fmt::Debug for Cached {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cached")
            .field("token", &preview(&self.token))
            .field("expires_at", &self.expires_at)
            .field("written_at", &self.written_at)
            .finish()
    }
}

impl Cached {
    /// Still usable at WeChat at `now`, and not an absurd far-future expiry.
    pub fn is_valid(&self, now: u64) -> bool {
        now < self.expires_at && self.expires_at <= now.saturating_add(MAX_LIFETIME)
    }

    /// A cache hit: valid for more than `margin` seconds yet.
    ///
    /// The margin is capped at half the token's lifetime (expiry minus write
    /// time): were WeChat to hand out a token that lives no longer than the
    /// margin, every call would otherwise fetch a new one.
    pub fn is_fresh(&self, now: u64, margin: u64) -> bool {
        self.is_valid(now.saturating_add(self.margin(margin))) && self.is_valid(now)
    }

    /// The Unix time from which this token is due for a refresh.
    pub fn refresh_at(&self, margin: u64) -> u64 {
        self.expires_at.saturating_sub(self.margin(margin))
    }

    fn margin(&self, margin: u64) -> u64 {
        match self.written_at {
            Some(w) if self.expires_at > w => margin.min((self.expires_at - w) / 2),
            _ => margin,
        }
    }
}

/// A short, safe-to-print form of a token: its first characters only.
pub fn preview(token: &str) -> String {
    let head: String = token.chars().take(8).collect();
    format!("{head}… ({} chars)", token.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freshness_respects_margin_and_absurd_expiry() {
        let c = |e| Cached {
            token: "t".into(),
            expires_at: e,
            written_at: None,
        };
        assert!(c(1000).is_fresh(600, 300));
        assert!(!c(1000).is_fresh(700, 300));
        assert!(c(1000).is_valid(700));
        assert!(!c(1000).is_valid(1000));
        assert!(!c(1000 + MAX_LIFETIME + 1).is_valid(1000));
        // A 60 s token with a 300 s margin: fresh for its first half only.
        let short = Cached {
            written_at: Some(1000),
            ..c(1060)
        };
        assert!(short.is_fresh(1029, 300));
        assert!(!short.is_fresh(1030, 300));
        assert_eq!(short.refresh_at(300), 1030);
        // A normal lifetime keeps the full margin.
        let long = Cached {
            written_at: Some(1000),
            ..c(8200)
        };
        assert!(long.is_fresh(7899, 300) && !long.is_fresh(7900, 300));
    }
}
