//! Token strings: how they are made and how an issued one is recognised.
//!
//! A token is `SERIAL` (20 decimal digits) + `_` + 115 characters of
//! `[A-Za-z0-9_-]` derived from the serial and a per-server nonce, 136
//! characters in all (real ones are about that long). Because the filler is a
//! pure function of `(nonce, serial)`, the state can forget tokens once they
//! have expired and still tell "issued by us, now expired" (42001) from
//! "never issued" (40001) by rebuilding the string from its serial. That keeps
//! memory bounded when a benchmark asks for thousands of tokens.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::{SystemTime, UNIX_EPOCH};

/// Digits used for the serial at the start of every token.
const SERIAL_DIGITS: usize = 20;
/// Total token length.
pub const TOKEN_LEN: usize = 136;
/// Characters a token may contain after the serial (URL-safe base64).
const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Makes and checks the token strings of one server instance.
#[derive(Debug, Clone)]
pub struct TokenMint {
    nonce: u64,
}

impl TokenMint {
    /// A mint with a fresh random nonce, so two mock servers never hand out
    /// the same token even though both count serials from zero.
    pub fn new() -> Self {
        // std has no RNG, but RandomState is randomly keyed per process and
        // per call; mixing in the time and pid separates servers further.
        let mut h = RandomState::new().build_hasher();
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        h.write_u128(nanos);
        h.write_u32(std::process::id());
        Self { nonce: h.finish() }
    }

    /// A mint with a fixed nonce (deterministic tokens, for unit tests).
    #[cfg(test)]
    pub fn with_nonce(nonce: u64) -> Self {
        Self { nonce }
    }

    /// The token string for `serial`.
    pub fn make(&self, serial: u64) -> String {
        let mut s = String::with_capacity(TOKEN_LEN);
        s.push_str(&format!("{serial:0width$}", width = SERIAL_DIGITS));
        s.push('_');
        let mut seed = self.nonce ^ serial.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        while s.len() < TOKEN_LEN {
            let mut bits = splitmix64(&mut seed);
            // 10 characters of 6 bits each per 64-bit word.
            for _ in 0..10 {
                if s.len() == TOKEN_LEN {
                    break;
                }
                s.push(ALPHABET[(bits & 63) as usize] as char);
                bits >>= 6;
            }
        }
        s
    }

    /// The serial of `token` if this mint made it, else `None`.
    pub fn serial_of(&self, token: &str) -> Option<u64> {
        if token.len() != TOKEN_LEN {
            return None;
        }
        let digits = token.get(..SERIAL_DIGITS)?;
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let serial: u64 = digits.parse().ok()?;
        (self.make(serial) == token).then_some(serial)
    }
}

impl Default for TokenMint {
    fn default() -> Self {
        Self::new()
    }
}

/// One step of the SplitMix64 generator: cheap, well mixed, no dependencies.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_have_the_right_shape_and_differ() {
        let mint = TokenMint::with_nonce(42);
        let a = mint.make(0);
        let b = mint.make(1);
        assert_eq!(a.len(), TOKEN_LEN);
        assert_ne!(a, b);
        assert!(a
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-'));
    }

    #[test]
    fn serial_round_trips_and_foreign_tokens_are_rejected() {
        let mint = TokenMint::with_nonce(7);
        let t = mint.make(12345);
        assert_eq!(mint.serial_of(&t), Some(12345));
        // Same serial from another server instance is not ours.
        assert_eq!(TokenMint::with_nonce(8).serial_of(&t), None);
        // A tampered character is not ours either.
        let mut bad = t.clone().into_bytes();
        bad[TOKEN_LEN - 1] = if bad[TOKEN_LEN - 1] == b'A' {
            b'B'
        } else {
            b'A'
        };
        assert_eq!(mint.serial_of(&String::from_utf8(bad).unwrap()), None);
        assert_eq!(mint.serial_of("short"), None);
        // 136 bytes whose 20th byte falls inside a multi-byte character.
        assert_eq!(mint.serial_of(&format!("{}a", "aé".repeat(45))), None);
    }
}
