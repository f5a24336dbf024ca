//! When each app looks at its store and when it refreshes.
//!
//! Refreshes land inside the first half of the token's refresh margin, at a
//! random point, so that thousands of apps fetched together at start-up do
//! not all come due in the same second again, and so that the other half of
//! the margin is left for retries before readers would see an expired token.
//! The margin is the one the cache applies: the configured margin capped at
//! half the token's lifetime. Sizing the spread from the configured margin
//! instead put refreshes of short-lived tokens after their expiry.

use std::time::Duration;

/// How often each app's store is read, to notice a token that was
/// invalidated, flushed or replaced by someone else, and a published key
/// that went missing: the promise is "within seconds".
pub const RECHECK: Duration = Duration::from_secs(1);
/// After a failed round, look again this soon; the cache's shared back-off
/// decides whether that look asks WeChat.
pub const RETRY: Duration = Duration::from_secs(1);
/// The longest wait after a failure the daemon keeps to itself (a store it
/// cannot write, a publish server that is down).
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// `N` bytes from the kernel's random source (or, should that fail, from
/// the time and pid: spreading needs no secrecy).
pub fn random_bytes<const N: usize>() -> [u8; N] {
    use std::io::Read;
    let mut b = [0u8; N];
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .is_err()
    {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
            ^ u64::from(std::process::id()).rotate_left(32);
        for (i, v) in b.iter_mut().enumerate() {
            *v = (seed.rotate_left(i as u32 * 8) & 0xff) as u8;
        }
    }
    b
}

/// A random number for spreading.
pub fn random() -> u64 {
    u64::from_ne_bytes(random_bytes::<8>())
}

/// The Unix time, in milliseconds, at which a token expiring at
/// `expires_at` and due from `refresh_at` (expiry less the capped margin, as
/// `Status::refresh_at` and `Cached::refresh_at` give it) is to be
/// refreshed: its refresh point plus `rand` spread over half that margin.
pub fn refresh_at_ms(expires_at: u64, refresh_at: u64, rand: u64) -> u64 {
    let capped = expires_at.saturating_sub(refresh_at);
    let spread_ms = capped * 1000 / 2;
    refresh_at * 1000 + if spread_ms == 0 { 0 } else { rand % spread_ms }
}

/// A randomised share of `interval`, so that apps' looks are spread over it
/// instead of landing together.
pub fn spread(interval: Duration, rand: u64) -> Duration {
    let ms = interval.as_millis().max(1) as u64;
    Duration::from_millis(rand % ms)
}

/// Doubling back-off from `first`, capped at [`MAX_BACKOFF`].
pub fn backoff(first: Duration, failures: u32) -> Duration {
    first
        .saturating_mul(1u32 << failures.saturating_sub(1).min(16))
        .min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;
    use wxtoken::Cached;

    fn token(expires_at: u64, written_at: u64) -> Cached {
        Cached {
            token: "t".into(),
            expires_at,
            written_at: Some(written_at),
        }
    }

    #[test]
    fn short_tokens_are_refreshed_before_expiry_whatever_the_configured_margin() {
        // A 16 s token and a 300 s margin: the cache caps the margin at 8 s,
        // so every refresh lands in [8 s, 12 s) of the token's life.
        let t = token(1_000_016, 1_000_000);
        for i in 0..10_000u64 {
            let at = refresh_at_ms(t.expires_at, t.refresh_at(300), random().wrapping_add(i));
            assert!((1_000_008_000..1_000_012_000).contains(&at), "{at}");
        }
    }

    #[test]
    fn long_tokens_spread_over_half_the_margin() {
        let t = token(1_007_200, 1_000_000);
        let (mut lo, mut hi) = (u64::MAX, 0);
        for _ in 0..10_000 {
            let at = refresh_at_ms(t.expires_at, t.refresh_at(300), random());
            lo = lo.min(at);
            hi = hi.max(at);
        }
        assert!(lo >= 1_006_900_000 && hi < 1_007_050_000, "{lo} {hi}");
        // Spread, not all in the same second.
        assert!(hi - lo > 100_000, "{lo} {hi}");
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let s = Duration::from_secs;
        assert_eq!(backoff(s(5), 1), s(5));
        assert_eq!(backoff(s(5), 3), s(20));
        assert_eq!(backoff(s(5), 40), MAX_BACKOFF);
        assert!(spread(s(1), random()) < s(1));
    }
}
