//! The WeChat endpoints: `/cgi-bin/token`, `/cgi-bin/stable_token` and the
//! business call `/cgi-bin/getcallbackip`, including how faults look on the
//! wire.
//!
//! Like WeChat, API errors are HTTP 200 with `{"errcode":N,"errmsg":"..."}`.
//! No answer ever contains the secret that was sent.

use serde_json::{json, Value};

use crate::http::{Request, Response};
use crate::shared::Shared;
use crate::state::{Credentials, Fault, Grant, TokenStatus};

/// Size of the body sent by [`Fault::Oversized`]: 1 MiB.
pub const OVERSIZED_LEN: usize = 1024 * 1024;
/// `Content-Length` announced by [`Fault::Truncated`].
pub const TRUNCATED_DECLARED_LEN: usize = 200;

/// Which token endpoint is being called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenEndpoint {
    /// `GET /cgi-bin/token`.
    Token,
    /// `POST /cgi-bin/stable_token`.
    Stable,
}

/// A plausible `errmsg` for `code`, worded like WeChat's.
pub fn errmsg(code: i64) -> &'static str {
    match code {
        -1 => "system error",
        0 => "ok",
        40001 => "invalid credential, access_token is invalid or not latest",
        40002 => "invalid grant_type",
        40013 => "invalid appid",
        40125 => "invalid appsecret",
        40164 => "invalid ip 127.0.0.1, not in whitelist",
        40243 => "AppSecret has been frozen, please unfreeze it",
        41001 => "access_token missing",
        41002 => "appid missing",
        41004 => "appsecret missing",
        42001 => "access_token expired",
        43002 => "require POST method",
        45009 => "reach max api daily quota limit",
        45011 => "api minute-quota reach limit, mustslower, retry next minute",
        47001 => "data format error",
        61004 => "access clientip is not registered",
        _ => "mock error",
    }
}

/// `{"errcode":N,"errmsg":"..."}` with HTTP 200.
pub fn error_response(code: i64) -> Response {
    Response::json(
        200,
        json!({"errcode": code, "errmsg": errmsg(code)}).to_string(),
    )
}

fn grant_response(g: &Grant) -> Response {
    Response::json(
        200,
        json!({"access_token": g.access_token, "expires_in": g.expires_in}).to_string(),
    )
}

/// Handles a call to either token endpoint: counts it, applies the fault if
/// one is active, otherwise validates and answers.
pub fn token_endpoint(req: &Request, shared: &Shared, which: TokenEndpoint) -> Response {
    let fault = {
        let mut state = shared.state();
        match which {
            TokenEndpoint::Token => state.count_token_call(),
            TokenEndpoint::Stable => state.count_stable_call(),
        }
        state.take_fault()
    };
    match fault {
        // Sleep without holding the lock so other clients are not held up.
        // Cut short by a reset or a stop: abandoned, no token issued.
        Some(Fault::Slow(d)) if !shared.sleep(d) => return error_response(-1),
        Some(Fault::Slow(_)) => {}
        Some(f) => return fault_response(&f, shared),
        None => {}
    }
    match which {
        TokenEndpoint::Token => plain_token(req, shared),
        TokenEndpoint::Stable => stable_token(req, shared),
    }
}

fn plain_token(req: &Request, shared: &Shared) -> Response {
    let creds = Credentials {
        grant_type: req.param("grant_type"),
        appid: req.param("appid"),
        secret: req.param("secret"),
    };
    let mut state = shared.state();
    match state.check_credentials(creds) {
        Ok(()) => grant_response(&state.issue_plain()),
        Err(code) => error_response(code),
    }
}

fn stable_token(req: &Request, shared: &Shared) -> Response {
    if !req.method.eq_ignore_ascii_case("POST") {
        return error_response(43002);
    }
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(&req.body) else {
        return error_response(47001);
    };
    // A field of the wrong JSON type is a format error, not "missing".
    let text = |name: &str| -> Result<Option<&str>, i64> {
        match body.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(47001),
        }
    };
    let fields = (|| {
        let creds = Credentials {
            grant_type: text("grant_type")?,
            appid: text("appid")?,
            secret: text("secret")?,
        };
        let force = match body.get("force_refresh") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(47001),
        };
        Ok((creds, force))
    })();
    let (creds, force) = match fields {
        Ok(f) => f,
        Err(code) => return error_response(code),
    };
    let mut state = shared.state();
    match state.check_credentials(creds) {
        Ok(()) => grant_response(&state.stable(force)),
        Err(code) => error_response(code),
    }
}

/// The broken answer for `fault` (all but `Slow`, which answers normally).
fn fault_response(fault: &Fault, shared: &Shared) -> Response {
    match fault {
        Fault::Errcode(code) => error_response(*code),
        // Deliberately not errcode-shaped: a client must act on the status,
        // not mistake this for a WeChat API error.
        Fault::Http500 => Response::json(500, r#"{"error":"internal server error"}"#),
        Fault::InvalidJson => Response::json(200, r#"{"access_token":"#),
        Fault::Truncated => Response::truncated(
            r#"{"access_token":"00000000000000000000_Trunc"#,
            TRUNCATED_DECLARED_LEN,
        ),
        Fault::MissingField => {
            let expires_in = shared.state().expires_in();
            Response::json(200, json!({ "expires_in": expires_in }).to_string())
        }
        Fault::Oversized => Response::json(200, oversized_body()),
        // `token_endpoint` sleeps and answers normally instead; this arm
        // only exists to keep the match exhaustive.
        Fault::Slow(_) => error_response(-1),
    }
}

/// Exactly [`OVERSIZED_LEN`] bytes of well-formed token JSON whose token is
/// nearly all of it: only a client that caps the body size rejects it.
fn oversized_body() -> Vec<u8> {
    let head = br#"{"access_token":""#;
    let tail = br#"","expires_in":7200}"#;
    let mut body = Vec::with_capacity(OVERSIZED_LEN);
    body.extend_from_slice(head);
    body.resize(OVERSIZED_LEN - tail.len(), b'A');
    body.extend_from_slice(tail);
    body
}

/// `GET /cgi-bin/getcallbackip?access_token=T`: the one business call,
/// answering according to whether `T` is valid, expired or unknown.
pub fn getcallbackip(req: &Request, shared: &Shared) -> Response {
    let mut state = shared.state();
    state.count_business_call();
    let token = req.param("access_token").filter(|t| !t.is_empty());
    let Some(token) = token else {
        return error_response(41001);
    };
    match state.check_token(token) {
        TokenStatus::Valid => Response::json(200, r#"{"ip_list":["127.0.0.1"]}"#),
        TokenStatus::Expired => error_response(42001),
        TokenStatus::Unknown => error_response(40001),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oversized_is_one_mib_of_valid_json() {
        let body = oversized_body();
        assert_eq!(body.len(), OVERSIZED_LEN);
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["expires_in"], 7200);
    }

    #[test]
    fn error_bodies_are_json() {
        let r = error_response(40013);
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["errcode"], 40013);
        assert_eq!(v["errmsg"], "invalid appid");
    }
}
