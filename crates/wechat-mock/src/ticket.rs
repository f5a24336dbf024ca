//! `GET /cgi-bin/ticket/getticket?access_token=T&type=jsapi|wx_card`: the
//! JS-SDK tickets, answered like WeChat: the access token is checked as a
//! business API checks it (42001 expired or retired, 40001 unknown or
//! revoked), and a ticket comes with `errcode` 0.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::params::Params;
use crate::shared::Shared;
use crate::state::{Fault, TokenStatus};
use crate::wechat::{error_response, fault_response};

/// The handler for `jsapi` and `wx_card`; an unknown token is 40001 here.
pub(crate) async fn getticket(shared: State<Arc<Shared>>, params: Query<Params>) -> Response {
    let kind = match params.get("type") {
        Some(k @ ("jsapi" | "wx_card")) => k.to_string(),
        _ => {
            shared.state().begin_ticket_call();
            return error_response(40097);
        }
    };
    answer(shared, params, &kind, 40001).await
}

/// Any ticket endpoint's answer: counts the call, applies the ticket fault
/// if any, checks the access token as a business API does (42001 expired or
/// retired, `unknown` for one never issued or revoked: 40001 at WeChat,
/// 40014 at WeCom), then issues a ticket of `kind`.
pub(crate) async fn answer(
    State(shared): State<Arc<Shared>>,
    Query(params): Query<Params>,
    kind: &str,
    unknown: i64,
) -> Response {
    let fault = shared.state().begin_ticket_call();
    match fault {
        Some(Fault::Slow(d)) if !shared.sleep(d).await => return error_response(-1),
        Some(Fault::Slow(_)) | None => {}
        Some(f) => return fault_response(&f, &shared),
    }
    let mut state = shared.state();
    let Some(token) = params.get("access_token").filter(|t| !t.is_empty()) else {
        return error_response(41001);
    };
    match state.check_token(token) {
        TokenStatus::Valid => {}
        TokenStatus::Expired => return error_response(42001),
        TokenStatus::Unknown => return error_response(unknown),
    }
    let grant = state.issue_ticket(kind);
    Json(json!({
        "errcode": 0,
        "errmsg": "ok",
        "ticket": grant.access_token,
        "expires_in": grant.expires_in,
    }))
    .into_response()
}
