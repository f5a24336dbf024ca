//! WeCom's endpoints: `/cgi-bin/gettoken?corpid=..&corpsecret=..` (one token
//! per app of the corp, each retiring only its own app's earlier tokens),
//! the corp's JS-SDK ticket `/cgi-bin/get_jsapi_ticket?access_token=..` and
//! the app's `/cgi-bin/ticket/get?access_token=..&type=agent_config`.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::params::Params;
use crate::shared::Shared;
use crate::state::Fault;
use crate::wechat::{error_response, fault_response};

/// `GET /cgi-bin/gettoken`: counted, then the token endpoints' fault if one
/// is set, then WeCom's checks (41002, 41004, 40013, 40001).
pub(crate) async fn gettoken(
    State(shared): State<Arc<Shared>>,
    Query(params): Query<Params>,
) -> Response {
    let fault = {
        let mut state = shared.state();
        state.count_gettoken_call();
        state.take_fault()
    };
    match fault {
        Some(Fault::Slow(d)) if !shared.sleep(d).await => return error_response(-1),
        Some(Fault::Slow(_)) | None => {}
        Some(f) => return fault_response(&f, &shared),
    }
    let mut state = shared.state();
    match state.check_corp(params.get("corpid"), params.get("corpsecret")) {
        Ok(agent) => {
            let g = state.issue_wecom(&agent);
            Json(json!({
                "errcode": 0,
                "errmsg": "ok",
                "access_token": g.access_token,
                "expires_in": g.expires_in,
            }))
            .into_response()
        }
        Err(code) => error_response(code),
    }
}

/// `GET /cgi-bin/get_jsapi_ticket`: the corp's JS-SDK ticket.
pub(crate) async fn corp_ticket(shared: State<Arc<Shared>>, params: Query<Params>) -> Response {
    crate::ticket::answer(shared, params, "corp", 40014).await
}

/// `GET /cgi-bin/ticket/get?type=agent_config`: the app's ticket.
pub(crate) async fn agent_ticket(shared: State<Arc<Shared>>, params: Query<Params>) -> Response {
    if params.get("type") != Some("agent_config") {
        shared.state().begin_ticket_call();
        return error_response(40097);
    }
    crate::ticket::answer(shared, params, "agent", 40014).await
}
