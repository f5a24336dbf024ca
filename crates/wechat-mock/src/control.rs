//! The `/mock/*` control endpoints, so tests in any language can steer the
//! mock over HTTP: read counters, switch faults, set `expires_in`, move the
//! clock and reset.
//!
//! Bad parameters get HTTP 400 with `{"error":"..."}`; success answers
//! `{"ok":true}` (or the stats).

use std::str::FromStr;
use std::time::Duration;

use serde::Serialize;
use serde_json::json;

use crate::http::{Request, Response};
use crate::shared::Shared;
use crate::state::{Fault, Stats};

/// Handles a request whose path starts with `/mock/`.
pub fn handle(req: &Request, shared: &Shared) -> Response {
    let result = match req.path.as_str() {
        "/mock/stats" => Ok(stats_response(&shared.state().stats())),
        "/mock/fault" => fault(req, shared),
        "/mock/expires_in" => number(req, "secs").map(|secs| {
            shared.state().set_expires_in(secs);
            ok()
        }),
        "/mock/advance" => number(req, "secs").map(|secs| {
            shared.state().advance(secs);
            ok()
        }),
        "/mock/reset" => {
            shared.reset();
            Ok(ok())
        }
        _ => Err(Response::json(404, r#"{"error":"not found"}"#)),
    };
    result.unwrap_or_else(|e| e)
}

/// The `/mock/stats` answer. A struct rather than `json!` because
/// `serde_json` (without `preserve_order`) would sort the keys; this keeps
/// them in the documented order.
#[derive(Serialize)]
struct StatsBody<'a> {
    token_calls: u64,
    stable_calls: u64,
    business_calls: u64,
    tokens_issued: u64,
    last_token: Option<&'a str>,
}

/// The stats as JSON, fields in a fixed order.
pub fn stats_json(s: &Stats) -> String {
    let body = StatsBody {
        token_calls: s.token_calls,
        stable_calls: s.stable_calls,
        business_calls: s.business_calls,
        tokens_issued: s.tokens_issued,
        last_token: s.last_token.as_deref(),
    };
    // Plain integers and strings cannot fail to serialise.
    serde_json::to_string(&body).unwrap_or_default()
}

fn stats_response(s: &Stats) -> Response {
    Response::json(200, stats_json(s))
}

fn ok() -> Response {
    Response::json(200, r#"{"ok":true}"#)
}

fn bad_request(msg: &str) -> Response {
    Response::json(400, json!({ "error": msg }).to_string())
}

/// Required numeric query parameter `name`.
fn number<T: FromStr>(req: &Request, name: &str) -> Result<T, Response> {
    let raw = req
        .param(name)
        .ok_or_else(|| bad_request(&format!("missing parameter '{name}'")))?;
    raw.trim()
        .parse()
        .map_err(|_| bad_request(&format!("parameter '{name}' is not a valid number")))
}

/// `/mock/fault?kind=...[&errcode=N][&ms=N][&times=N]`.
fn fault(req: &Request, shared: &Shared) -> Result<Response, Response> {
    let kind = req
        .param("kind")
        .ok_or_else(|| bad_request("missing parameter 'kind'"))?;
    let fault = match kind {
        "none" => None,
        "errcode" => Some(Fault::Errcode(number(req, "errcode")?)),
        "http500" => Some(Fault::Http500),
        "invalid_json" => Some(Fault::InvalidJson),
        "truncated" => Some(Fault::Truncated),
        "missing_field" => Some(Fault::MissingField),
        "oversized" => Some(Fault::Oversized),
        "slow" => Some(Fault::Slow(Duration::from_millis(number(req, "ms")?))),
        _ => {
            return Err(bad_request(
                "unknown kind (errcode, http500, invalid_json, truncated, missing_field, oversized, slow, none)",
            ))
        }
    };
    let times = match req.param("times") {
        None => None,
        Some(_) => Some(number::<u32>(req, "times")?),
    };
    shared.state().set_fault(fault, times);
    Ok(ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_json_matches_the_documented_shape() {
        let s = Stats {
            token_calls: 1,
            tokens_issued: 1,
            last_token: Some("T".into()),
            ..Stats::default()
        };
        assert_eq!(
            stats_json(&s),
            r#"{"token_calls":1,"stable_calls":0,"business_calls":0,"tokens_issued":1,"last_token":"T"}"#
        );
        assert!(stats_json(&Stats::default()).ends_with(r#""last_token":null}"#));
    }
}
