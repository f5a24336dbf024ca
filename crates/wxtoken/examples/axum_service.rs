//! A small axum service that calls a WeChat business API with the cached
//! token: the shape of most Rust services that use wxtoken.
//!
//! `GET /callback-ip` asks WeChat's `/cgi-bin/getcallbackip` with the cached
//! access token. When WeChat says the token is no longer good (40001, 40014,
//! 42001: another server refreshed it, or it was revoked), the handler hands
//! it back to the cache with `invalidate_async` and retries once with a fresh
//! one. Everything runs on the service's own tokio runtime.
//!
//! Run it against the local mock:
//!
//! ```sh
//! cargo run -p wechat-mock -- --port 8099 &
//! WX_APPID=wx_test_appid WX_APPSECRET=test_secret_0123456789 \
//!   WX_API_BASE=http://127.0.0.1:8099 cargo run -p wxtoken --example axum_service
//! curl http://127.0.0.1:3000/callback-ip
//! ```

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::Value;
use wxtoken::{Config, TokenCache, INVALID_TOKEN_ERRCODES};

/// What every request shares: one cache per process, one HTTP client.
#[derive(Clone)]
pub struct AppState {
    /// The token cache (files or Redis, as configured).
    pub cache: Arc<TokenCache>,
    /// Where the business API lives (WeChat's API host, or the mock).
    pub api_base: String,
    /// The client for business calls.
    pub http: reqwest::Client,
}

/// The service's routes.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/callback-ip", get(callback_ip))
        .with_state(state)
}

/// Errors a handler can return with `?`: a `wxtoken::Error` (no token to
/// be had) or a failed business call.
pub enum AppError {
    /// The cache could not give a token; its message never holds the secret.
    Token(wxtoken::Error),
    /// The business API could not be reached or answered nonsense.
    Upstream(String),
}

impl From<wxtoken::Error> for AppError {
    fn from(e: wxtoken::Error) -> Self {
        AppError::Token(e)
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let text = match self {
            AppError::Token(e) => format!("no access token: {e}"),
            AppError::Upstream(e) => format!("WeChat API: {e}"),
        };
        (StatusCode::BAD_GATEWAY, text).into_response()
    }
}

/// One business call with `token`; the JSON answer as WeChat gave it.
async fn call(state: &AppState, token: &str) -> Result<Value, AppError> {
    let url = format!("{}/cgi-bin/getcallbackip", state.api_base);
    let answer = state
        .http
        .get(url)
        .query(&[("access_token", token)])
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(|e| AppError::Upstream(e.without_url().to_string()))?;
    answer
        .json()
        .await
        .map_err(|e| AppError::Upstream(e.without_url().to_string()))
}

fn rejects_token(answer: &Value) -> bool {
    answer["errcode"]
        .as_i64()
        .is_some_and(|c| INVALID_TOKEN_ERRCODES.contains(&c))
}

async fn callback_ip(State(state): State<AppState>) -> Result<Json<Value>, AppError> {
    let token = state.cache.get_token_async().await?;
    let mut answer = call(&state, &token).await?;
    if rejects_token(&answer) {
        // Dropped only if it is still the cached token; then one retry.
        state.cache.invalidate_async(&token).await?;
        let fresh = state.cache.get_token_async().await?;
        answer = call(&state, &fresh).await?;
    }
    Ok(Json(answer))
}

#[tokio::main]
#[allow(dead_code)] // the test suite includes this file for `app`
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let config = Config::from_env()?;
    let state = AppState {
        api_base: config.api_base()[0].clone(),
        cache: Arc::new(TokenCache::new(config)),
        http: reqwest::Client::new(),
    };
    let addr = std::env::var("LISTEN").unwrap_or_else(|_| "127.0.0.1:3000".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    eprintln!("listening on http://{addr}");
    axum::serve(listener, app(state)).await?;
    Ok(())
}
