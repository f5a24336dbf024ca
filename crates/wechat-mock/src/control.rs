//! The `/mock/*` control endpoints, so tests in any language can steer the
//! mock over HTTP: read counters, switch faults, set `expires_in`, move the
//! clock and reset.
//!
//! Bad parameters get HTTP 400 with `{"error":"..."}`; success answers
//! `{"ok":true}` (or the stats).

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::{Json, Router};
use serde::Serialize;
use serde_json::json;

use crate::params::Params;
use crate::shared::Shared;
use crate::state::{Fault, Stats};

/// The `/mock/*` routes. Any method reaches them, so `curl -X POST` works as
/// well as a plain GET.
pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/mock/stats", any(stats))
        .route("/mock/fault", any(fault))
        .route("/mock/expires_in", any(expires_in))
        .route("/mock/advance", any(advance))
        .route("/mock/reset", any(reset))
        .route("/mock/revoke", any(revoke))
}

/// The `/mock/stats` answer. A struct rather than `json!` because
/// `serde_json` (without `preserve_order`) would sort the keys; this keeps
/// them in the documented order.
#[derive(Debug, Serialize)]
struct StatsBody<'a> {
    token_calls: u64,
    stable_calls: u64,
    business_calls: u64,
    tokens_issued: u64,
    last_token: Option<&'a str>,
    ticket_calls: u64,
    tickets_issued: u64,
    last_ticket: Option<&'a str>,
    gettoken_calls: u64,
}

impl<'a> From<&'a Stats> for StatsBody<'a> {
    fn from(s: &'a Stats) -> Self {
        Self {
            token_calls: s.token_calls,
            stable_calls: s.stable_calls,
            business_calls: s.business_calls,
            tokens_issued: s.tokens_issued,
            last_token: s.last_token.as_deref(),
            ticket_calls: s.ticket_calls,
            tickets_issued: s.tickets_issued,
            last_ticket: s.last_ticket.as_deref(),
            gettoken_calls: s.gettoken_calls,
        }
    }
}

/// A bad parameter, answered 400 with `{"error":"..."}`.
#[derive(Debug)]
struct BadRequest(String);

impl IntoResponse for BadRequest {
    fn into_response(self) -> Response {
        (StatusCode::BAD_REQUEST, Json(json!({ "error": self.0 }))).into_response()
    }
}

type Answer = Result<Response, BadRequest>;

async fn stats(State(shared): State<Arc<Shared>>) -> Response {
    let stats = shared.state().stats();
    Json(StatsBody::from(&stats)).into_response()
}

async fn expires_in(State(shared): State<Arc<Shared>>, Query(params): Query<Params>) -> Answer {
    shared.state().set_expires_in(number(&params, "secs")?);
    Ok(ok())
}

async fn advance(State(shared): State<Arc<Shared>>, Query(params): Query<Params>) -> Answer {
    shared.state().advance(number(&params, "secs")?);
    Ok(ok())
}

async fn revoke(State(shared): State<Arc<Shared>>) -> Response {
    shared.state().revoke_tokens();
    ok()
}

async fn reset(State(shared): State<Arc<Shared>>) -> Response {
    shared.reset();
    ok()
}

fn ok() -> Response {
    Json(json!({ "ok": true })).into_response()
}

/// Required numeric query parameter `name`.
fn number<T: FromStr>(params: &Params, name: &str) -> Result<T, BadRequest> {
    let raw = params
        .get(name)
        .ok_or_else(|| BadRequest(format!("missing parameter '{name}'")))?;
    raw.trim()
        .parse()
        .map_err(|_| BadRequest(format!("parameter '{name}' is not a valid number")))
}

/// `/mock/fault?kind=...[&errcode=N][&ms=N][&times=N][&endpoint=ticket]`.
async fn fault(State(shared): State<Arc<Shared>>, Query(params): Query<Params>) -> Answer {
    let kind = params
        .get("kind")
        .ok_or_else(|| BadRequest("missing parameter 'kind'".into()))?;
    let fault = match kind {
        "none" => None,
        "errcode" => Some(Fault::Errcode(number(&params, "errcode")?)),
        "http500" => Some(Fault::Http500),
        "invalid_json" => Some(Fault::InvalidJson),
        "truncated" => Some(Fault::Truncated),
        "missing_field" => Some(Fault::MissingField),
        "oversized" => Some(Fault::Oversized),
        "slow" => Some(Fault::Slow(Duration::from_millis(number(&params, "ms")?))),
        _ => {
            return Err(BadRequest(
                "unknown kind (errcode, http500, invalid_json, truncated, missing_field, oversized, slow, none)".into(),
            ))
        }
    };
    let times = match params.get("times") {
        None => None,
        Some(_) => Some(number::<u32>(&params, "times")?),
    };
    match params.get("endpoint") {
        None | Some("token") => shared.state().set_fault(fault, times),
        Some("ticket") => shared.state().set_ticket_fault(fault, times),
        Some(_) => return Err(BadRequest("endpoint must be token or ticket".into())),
    }
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
            serde_json::to_string(&StatsBody::from(&s)).unwrap(),
            r#"{"token_calls":1,"stable_calls":0,"business_calls":0,"tokens_issued":1,"last_token":"T","ticket_calls":0,"tickets_issued":0,"last_ticket":null,"gettoken_calls":0}"#
        );
        let empty = serde_json::to_string(&StatsBody::from(&Stats::default())).unwrap();
        assert!(empty.ends_with(
            r#""last_token":null,"ticket_calls":0,"tickets_issued":0,"last_ticket":null,"gettoken_calls":0}"#
        ));
    }
}
