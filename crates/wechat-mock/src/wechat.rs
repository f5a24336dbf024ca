//! The WeChat endpoints: `/cgi-bin/token`, `/cgi-bin/stable_token` and the
//! business call `/cgi-bin/getcallbackip`, including how faults look on the
//! wire.
//!
//! Like WeChat, API errors are HTTP 200 with `{"errcode":N,"errmsg":"..."}`.
//! No answer ever contains the secret that was sent.

use std::io;
use std::sync::Arc;

use axum::body::{Body, Bytes, HttpBody as _};
use axum::extract::{DefaultBodyLimit, FromRequest, Query, Request, State};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::{Json, Router};
use futures_util::stream::{self, StreamExt};
use serde_json::{json, Value};

use crate::params::Params;
use crate::shared::Shared;
use crate::state::{Credentials, Fault, Grant, TokenStatus};

/// Size of the body sent by [`Fault::Oversized`]: 1 MiB.
pub const OVERSIZED_LEN: usize = 1024 * 1024;
/// `Content-Length` announced by [`Fault::Truncated`].
pub const TRUNCATED_DECLARED_LEN: usize = 200;
/// Cap on a request body; the only body the mock reads is a small JSON
/// object for `/cgi-bin/stable_token`.
const MAX_BODY_BYTES: usize = 64 * 1024;
/// What [`Fault::Truncated`] actually sends of its body.
const TRUNCATED_PART: &str = r#"{"access_token":"00000000000000000000_Trunc"#;

/// The routes of the three WeChat endpoints. Any method reaches them:
/// `/cgi-bin/token` and the business call ignore it, `/cgi-bin/stable_token`
/// counts the call and answers errcode 43002 to anything but POST.
pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/cgi-bin/token", any(token))
        .route("/cgi-bin/stable_token", any(stable_token))
        .route("/cgi-bin/getcallbackip", any(getcallbackip))
        .route("/cgi-bin/ticket/getticket", any(crate::ticket::getticket))
        .route("/cgi-bin/gettoken", any(crate::wecom::gettoken))
        .route("/cgi-bin/get_jsapi_ticket", any(crate::wecom::corp_ticket))
        .route("/cgi-bin/ticket/get", any(crate::wecom::agent_ticket))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
}

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
        40097 => "invalid args",
        40091 => "secret is invalid",
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
    Json(json!({"errcode": code, "errmsg": errmsg(code)})).into_response()
}

fn grant_response(g: &Grant) -> Response {
    Json(json!({"access_token": g.access_token, "expires_in": g.expires_in})).into_response()
}

/// A body sent as it is, labelled JSON: the faults' broken bodies.
fn raw_json(body: impl Into<Body>) -> Response {
    ([(CONTENT_TYPE, "application/json")], body.into()).into_response()
}

/// Counts a call to either token endpoint and applies the fault if one is
/// active: `Some(answer)` is the faulty answer, `None` means answer
/// normally (also after a `slow` fault's delay).
async fn begin(shared: &Shared, which: TokenEndpoint) -> Option<Response> {
    let fault = {
        let mut state = shared.state();
        match which {
            TokenEndpoint::Token => state.count_token_call(),
            TokenEndpoint::Stable => state.count_stable_call(),
        }
        state.take_fault()
    };
    match fault {
        // The lock is not held while sleeping, so other clients go on.
        // Cut short by a reset: abandoned, no token issued.
        Some(Fault::Slow(d)) if !shared.sleep(d).await => Some(error_response(-1)),
        Some(Fault::Slow(_)) | None => None,
        Some(f) => Some(fault_response(&f, shared)),
    }
}

/// `/cgi-bin/token?grant_type=client_credential&appid=..&secret=..`.
async fn token(State(shared): State<Arc<Shared>>, Query(params): Query<Params>) -> Response {
    if let Some(answer) = begin(&shared, TokenEndpoint::Token).await {
        return answer;
    }
    let creds = Credentials {
        grant_type: params.get("grant_type"),
        appid: params.get("appid"),
        secret: params.get("secret"),
    };
    let mut state = shared.state();
    match state.check_credentials(creds) {
        Ok(()) => grant_response(&state.issue_plain()),
        Err(code) => error_response(code),
    }
}

/// `POST /cgi-bin/stable_token` with a JSON body.
async fn stable_token(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let method = request.method().clone();
    let body = match read_body(request).await {
        Ok(body) => body,
        Err(answer) => return answer,
    };
    if let Some(answer) = begin(&shared, TokenEndpoint::Stable).await {
        return answer;
    }
    if method != Method::POST {
        return error_response(43002);
    }
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(&body) else {
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

/// The request body, at most [`MAX_BODY_BYTES`]. A larger one is refused
/// (413, JSON) before the call counts, like a request that never reached
/// WeChat; a declared `Content-Length` over the cap is refused at once
/// rather than after waiting for a body that would be refused anyway.
async fn read_body(request: Request) -> Result<Bytes, Response> {
    let (status, reason) = if request.body().size_hint().lower() > MAX_BODY_BYTES as u64 {
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            "request body too large".into(),
        )
    } else {
        match Bytes::from_request(request, &()).await {
            Ok(body) => return Ok(body),
            Err(rejection) => (rejection.status(), rejection.body_text()),
        }
    };
    Err((status, Json(json!({ "error": reason }))).into_response())
}

/// The broken answer for `fault` (all but `Slow`, which answers normally).
pub(crate) fn fault_response(fault: &Fault, shared: &Shared) -> Response {
    match fault {
        Fault::Errcode(code) => error_response(*code),
        // Deliberately not errcode-shaped: a client must act on the status,
        // not mistake this for a WeChat API error.
        Fault::Http500 => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"error": "internal server error"})),
        )
            .into_response(),
        Fault::InvalidJson => raw_json(r#"{"access_token":"#),
        Fault::Truncated => truncated_response(),
        Fault::MissingField => {
            let expires_in = shared.state().expires_in();
            Json(json!({ "expires_in": expires_in })).into_response()
        }
        Fault::Oversized => raw_json(oversized_body()),
        // `begin` sleeps and answers normally instead; this arm only exists
        // to keep the match exhaustive.
        Fault::Slow(_) => error_response(-1),
    }
}

/// Announces [`TRUNCATED_DECLARED_LEN`] bytes, sends fewer, then closes the
/// connection.
///
/// hyper frames every answer honestly, so a lying `Content-Length` cannot be
/// built as a normal response. What hyper does offer is the wire-level
/// fault itself: a body that fails part-way makes it drop the connection
/// right there, after the head and whatever was sent. No raw socket is
/// needed. The yield before the failure makes hyper flush the head and the
/// partial body first (it flushes whenever the body is not ready), so the
/// client sees a short body and a close, not a bare close.
fn truncated_response() -> Response {
    let partial = stream::iter([Ok(Bytes::from_static(TRUNCATED_PART.as_bytes()))]);
    let failure = stream::once(async {
        tokio::task::yield_now().await;
        Err(io::Error::other("truncated on purpose"))
    });
    let mut answer = raw_json(Body::from_stream(partial.chain(failure)));
    answer
        .headers_mut()
        .insert(CONTENT_LENGTH, TRUNCATED_DECLARED_LEN.into());
    answer
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
async fn getcallbackip(
    State(shared): State<Arc<Shared>>,
    Query(params): Query<Params>,
) -> Response {
    let mut state = shared.state();
    state.count_business_call();
    let Some(token) = params.get("access_token").filter(|t| !t.is_empty()) else {
        return error_response(41001);
    };
    match state.check_token(token) {
        TokenStatus::Valid => Json(json!({"ip_list": ["127.0.0.1"]})).into_response(),
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

    #[tokio::test]
    async fn error_bodies_are_json() {
        let r = error_response(40013);
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()[CONTENT_TYPE], "application/json");
        let body = axum::body::to_bytes(r.into_body(), usize::MAX)
            .await
            .unwrap();
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["errcode"], 40013);
        assert_eq!(v["errmsg"], "invalid appid");
    }
}
