//! The legacy script's file format: `token.txt` holds the token and nothing
//! else, `expiry.txt` the Unix expiry as decimal ASCII. Both sides trim with
//! PHP's `trim()` set, so either side's files, with or without trailing
//! newlines, read the same.

use crate::cached::MAX_TOKEN_LEN;

/// PHP's `trim()` set: the legacy script trims both files.
fn php_trim(b: &[u8]) -> &[u8] {
    let ws = |c: &u8| matches!(c, b' ' | b'\t' | b'\n' | b'\r' | b'\0' | b'\x0B');
    let start = b.iter().position(|c| !ws(c)).unwrap_or(b.len());
    let end = b.iter().rposition(|c| !ws(c)).map_or(start, |i| i + 1);
    &b[start..end]
}

/// A token is 1..=512 printable ASCII characters; anything else is corrupt.
pub(crate) fn parse_token(raw: &[u8]) -> Option<String> {
    let t = php_trim(raw);
    let ok = !t.is_empty() && t.len() <= MAX_TOKEN_LEN && t.iter().all(u8::is_ascii_graphic);
    ok.then(|| String::from_utf8_lossy(t).into_owned())
}

/// The expiry as written by either side; anything but a plain non-negative
/// decimal is 0 (expired).
pub(crate) fn parse_expiry(raw: &[u8]) -> u64 {
    let t = php_trim(raw);
    if t.is_empty() || !t.iter().all(u8::is_ascii_digit) {
        return 0;
    }
    std::str::from_utf8(t)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trim_matches_php() {
        assert_eq!(php_trim(b" \t\r\n\0\x0Babc \n"), b"abc");
        assert_eq!(php_trim(b"   "), b"");
        assert_eq!(php_trim(b""), b"");
    }

    #[test]
    fn token_parsing_rejects_junk() {
        assert_eq!(
            parse_token(b"ACCESS_tok-1\n").as_deref(),
            Some("ACCESS_tok-1")
        );
        assert_eq!(parse_token(b"  "), None);
        assert_eq!(parse_token(b"two words"), None);
        assert_eq!(parse_token(&[0xff, 0xfe, 0x00, 0x41]), None);
        assert_eq!(parse_token(&vec![b'a'; 513]), None);
        assert!(parse_token(&vec![b'a'; 512]).is_some());
    }

    #[test]
    fn expiry_parsing_is_strict_decimal() {
        assert_eq!(parse_expiry(b"1700000000"), 1_700_000_000);
        assert_eq!(parse_expiry(b" 1700000000\n"), 1_700_000_000);
        assert_eq!(parse_expiry(b"-5"), 0);
        assert_eq!(parse_expiry(b"12abc"), 0);
        assert_eq!(parse_expiry(b"99999999999999999999999"), 0);
        assert_eq!(parse_expiry(b""), 0);
    }
}

/// Properties of the file parsers over arbitrary input (proptest).
#[cfg(test)]
mod properties {
    use super::*;
    use crate::cached::{Cached, MAX_LIFETIME};
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn any_bytes_parse_without_panic_to_a_valid_token_or_none(raw in proptest::collection::vec(any::<u8>(), 0..700)) {
            if let Some(t) = parse_token(&raw) {
                prop_assert!(!t.is_empty() && t.len() <= MAX_TOKEN_LEN);
                prop_assert!(t.bytes().all(|b| b.is_ascii_graphic()));
            }
            let _ = parse_expiry(&raw);
        }

        #[test]
        fn tokens_round_trip_through_the_legacy_layout(t in "[!-~]{1,512}", ws in "[ \t\r\n]{0,3}") {
            prop_assert_eq!(parse_token(format!("{ws}{t}{ws}").as_bytes()), Some(t));
        }

        #[test]
        fn expiries_round_trip_and_junk_is_expired(n in any::<u64>(), junk in "[^0-9 \t\r\n\u{0}\u{b}]{1,5}") {
            prop_assert_eq!(parse_expiry(format!(" {n}\n").as_bytes()), n);
            prop_assert_eq!(parse_expiry(format!("{n}{junk}").as_bytes()), 0);
        }

        #[test]
        fn freshness_implies_validity_and_shrinks_with_the_margin(
            now in any::<u64>(), expires_at in any::<u64>(), written in proptest::option::of(any::<u64>()),
            margin in 0u64..100_000, smaller in 0u64..100_000,
        ) {
            let c = Cached { token: "t".into(), expires_at, written_at: written };
            if c.is_fresh(now, margin) {
                prop_assert!(c.is_valid(now));
                prop_assert!(c.is_fresh(now, margin.min(smaller)));
            }
            if c.is_valid(now) {
                prop_assert!(expires_at > now && expires_at - now <= MAX_LIFETIME);
            }
        }
    }
}
