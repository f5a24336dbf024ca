//! Reading a WeChat answer: `{"errcode":N,...}` or the credential with its
//! `expires_in`, checked before anything is stored.

use crate::cached::{MAX_LIFETIME, MAX_TOKEN_LEN};
use crate::error::{Error, Result};
use crate::source::Fetched;

/// Turns a token endpoint's answer into a token, or a typed error.
///
/// WeChat's own `errmsg` is never passed on: an upstream that echoes the
/// secret could do so in any spelling (upper case, base64, cut short,
/// spaced out), and no scrubbing catches every one. The error carries the
/// `errcode` and this crate's own description of it instead.
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn parse_answer(body: &[u8], host: &str) -> Result<Fetched> {
    parse_credential(body, host, "access_token")
}

/// Turns an answer carrying the credential in `field` (`access_token`,
/// `ticket`) and `expires_in` into it, or a typed error. An `errcode` of 0
/// (the ticket endpoint always sends one) is a success.
pub(crate) fn parse_credential(body: &[u8], host: &str, field: &str) -> Result<Fetched> {
    let bad = |reason: &str| Error::BadAnswer {
        host: host.to_string(),
        reason: reason.to_string(),
    };
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|_| bad("the answer is not valid JSON"))?;
    let obj = value
        .as_object()
        .ok_or_else(|| bad("the answer is not a JSON object"))?;
    if let Some(code) = obj.get("errcode") {
        let errcode = code
            .as_i64()
            .ok_or_else(|| bad("errcode is not an integer"))?;
        if errcode != 0 {
            let errmsg = crate::error::describe_errcode(errcode).to_string();
            return Err(Error::WeChat { errcode, errmsg });
        }
    }
    let token = match obj.get(field) {
        None => return Err(bad(&format!("{field} is missing"))),
        Some(t) => t
            .as_str()
            .ok_or_else(|| bad(&format!("{field} is not a string")))?,
    };
    if token.is_empty()
        || token.len() > MAX_TOKEN_LEN
        || !token.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(bad(&format!("{field} is empty, too long or not printable")));
    }
    let expires_in = obj
        .get("expires_in")
        .ok_or_else(|| bad("expires_in is missing"))?
        .as_i64()
        .ok_or_else(|| bad("expires_in is not an integer"))?;
    if !(1..=MAX_LIFETIME as i64).contains(&expires_in) {
        return Err(bad(&format!(
            "expires_in {expires_in} is outside 1..={MAX_LIFETIME}"
        )));
    }
    Ok(Fetched {
        token: token.to_string(),
        expires_in: expires_in as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_success_and_errors() {
        let ok = parse_answer(br#"{"access_token":"AT_1","expires_in":7200}"#, "h").unwrap();
        assert_eq!(ok.token, "AT_1");
        assert_eq!(ok.expires_in, 7200);
        let e = parse_answer(
            br#"{"errcode":40125,"errmsg":"invalid appsecret SECRETX"}"#,
            "h",
        )
        .unwrap_err();
        assert_eq!(e.errcode(), Some(40125));
        assert!(!e.to_string().contains("SECRETX"));
        assert!(e.to_string().contains("invalid appsecret"), "{e}");
        // Echoes of the secret in any spelling: none reaches the error,
        // because no part of the upstream's errmsg does.
        let secret = "3f1a9c0b7d2e4f6a8b0c1d2e3f4a5b6c";
        for echo in [
            secret.to_uppercase(),
            "M2YxYTljMGI3ZDJlNGY2YThiMGMxZDJlM2Y0YTViNmM=".to_string(),
            secret[..12].to_string(),
            secret.chars().map(|c| format!("{c} ")).collect(),
        ] {
            let body = serde_json::json!({"errcode": 40125, "errmsg": format!("bad {echo}")});
            let e = parse_answer(body.to_string().as_bytes(), "h").unwrap_err();
            assert!(!e.to_string().contains(echo.trim()), "{e}");
            assert!(!e.to_string().contains(&secret[..6]), "{e}");
        }
        for body in [
            &br#"{"access_token":"#[..],
            br#"{"expires_in":7200}"#,
            br#"{"access_token":"A","expires_in":0}"#,
            br#"{"access_token":"A","expires_in":86401}"#,
            br#"{"access_token":"A","expires_in":"7200"}"#,
            br#"{"access_token":"","expires_in":7200}"#,
            br#"{"access_token":"a b","expires_in":7200}"#,
            br#"[1]"#,
        ] {
            let e = parse_answer(body, "h").unwrap_err();
            assert!(matches!(e, Error::BadAnswer { .. }), "{e}");
        }
        // errcode 0 with a token is a success (some proxies add it).
        assert!(parse_answer(br#"{"errcode":0,"access_token":"A","expires_in":5}"#, "h",).is_ok());
    }

    #[test]
    fn tickets_parse_from_their_own_field() {
        let body = br#"{"errcode":0,"errmsg":"ok","ticket":"TK_1","expires_in":7200}"#;
        let f = parse_credential(body, "h", "ticket").unwrap();
        assert_eq!((f.token.as_str(), f.expires_in), ("TK_1", 7200));
        let e = parse_credential(br#"{"errcode":0,"expires_in":7200}"#, "h", "ticket").unwrap_err();
        assert!(e.to_string().contains("ticket is missing"), "{e}");
        let e = parse_credential(br#"{"errcode":40001,"errmsg":"x"}"#, "h", "ticket").unwrap_err();
        assert_eq!(e.errcode(), Some(40001));
    }
}

/// Properties of the answer parser over arbitrary input (proptest).
#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    const SECRET: &str = "SeCrEt_value_42";

    proptest! {
        #[test]
        fn any_body_gives_a_token_or_an_error_without_the_secret(body in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Err(e) = parse_answer(&body, "h") {
                prop_assert!(!e.to_string().contains(SECRET));
            }
        }

        #[test]
        fn errmsgs_echoing_the_secret_are_masked(code in 1i64..100_000, pre in "[a-z ]{0,20}") {
            let body = serde_json::json!({"errcode": code, "errmsg": format!("{pre}{SECRET}")}).to_string();
            let e = parse_answer(body.as_bytes(), "h").unwrap_err();
            prop_assert!(!e.to_string().contains(SECRET));
            prop_assert_eq!(e.errcode(), Some(code));
        }

        #[test]
        fn good_answers_parse(token in "[!-~]{1,512}", expires_in in 1u64..=MAX_LIFETIME) {
            let body = serde_json::json!({"access_token": token, "expires_in": expires_in}).to_string();
            let f = parse_answer(body.as_bytes(), "h").unwrap();
            prop_assert_eq!((f.token, f.expires_in), (token, expires_in));
        }
    }
}
