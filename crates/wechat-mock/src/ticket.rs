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

/// The handler; counts every call, then applies the ticket fault if any.
pub(crate) async fn getticket(
    State(shared): State<Arc<Shared>>,
    Query(params): Query<Params>,
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
        TokenStatus::Unknown => return error_response(40001),
    }
    let kind = match params.get("type") {
        Some(k @ ("jsapi" | "wx_card")) => k,
        _ => return error_response(40097),
    };
    let grant = state.issue_ticket(kind);
    Json(json!({
        "errcode": 0,
        "errmsg": "ok",
        "ticket": grant.access_token,
        "expires_in": grant.expires_in,
    }))
    .into_response()
}
