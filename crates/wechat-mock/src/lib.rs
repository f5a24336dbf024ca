//! A local stand-in for the WeChat `access_token` API, for wxtoken's tests
//! (Rust, shell, C, PHP), the demo and the benchmarks.
//!
//! It serves, on 127.0.0.1 over plain HTTP/1.1 with keep-alive (axum on
//! hyper, on a runtime and thread of its own, so it works the same from
//! synchronous tests and from inside any tokio runtime):
//!
//! - `GET /cgi-bin/token?grant_type=client_credential&appid=..&secret=..`:
//!   a new unique token per call; earlier ones are retired five minutes
//!   later, as WeChat does.
//! - `POST /cgi-bin/stable_token` with a JSON body: the current stable token
//!   and its remaining lifetime, or a new one (`force_refresh: true`, or none
//!   valid). Stable tokens are a separate set.
//! - `GET /cgi-bin/getcallbackip?access_token=..`: a business call that tells
//!   valid (`ip_list`), expired/retired (42001) and unknown (40001) tokens
//!   apart.
//! - `GET /cgi-bin/ticket/getticket?access_token=..&type=jsapi|wx_card`: a
//!   new JS-SDK ticket, the access token checked like a business call's.
//! - WeCom: `GET /cgi-bin/gettoken?corpid=..&corpsecret=..` for several apps
//!   of one corp (each secret its own app, each app's token retiring only
//!   that app's), `GET /cgi-bin/get_jsapi_ticket` and
//!   `GET /cgi-bin/ticket/get?type=agent_config`.
//! - `/mock/stats`, `/mock/fault` (`&endpoint=ticket` for the ticket
//!   endpoint's own fault), `/mock/expires_in`, `/mock/advance`,
//!   `/mock/revoke`, `/mock/reset`: control endpoints mirroring the
//!   [`MockServer`] methods.
//!
//! The clock is wall time plus an offset that [`MockServer::advance`] moves,
//! so tests can let tokens expire without sleeping.
//!
//! ```
//! use wechat_mock::{Fault, MockServer};
//!
//! let mock = MockServer::start().unwrap();
//! assert!(mock.url().starts_with("http://127.0.0.1:"));
//! // The next two token calls answer {"errcode":45009,...}.
//! mock.set_fault(Some(Fault::Errcode(45009)), Some(2));
//! assert_eq!(mock.stats().token_calls, 0);
//! ```

#![warn(missing_docs)]

mod control;
mod params;
mod server;
mod shared;
mod state;
mod ticket;
mod token;
mod wechat;
mod wecom;

pub use server::MockServer;
pub use state::{
    Fault, MockConfig, Stats, ANY_APPID, DEFAULT_APPID, DEFAULT_CORPID, DEFAULT_CORP_APPS,
    DEFAULT_EXPIRES_IN, DEFAULT_SECRET, RETIRE_GRACE_SECS,
};
