//! [`MockServer`], the handle tests hold, and the thread that serves the
//! routes with axum.
//!
//! The server never runs on the caller's runtime. Tests use the mock both
//! from plain synchronous code (no runtime at all) and from inside
//! `#[tokio::test]` runtimes of either flavour, where blocking calls or a
//! second runtime would panic or starve the caller. So each server owns a
//! thread with its own current-thread runtime (one thread is plenty: the
//! handlers never block, and a `slow` fault is an async sleep). Stopping it
//! means waking that thread and joining it; the runtime is dropped there,
//! outside any async context, which closes the listener and every
//! connection, pending `slow` answers included.

use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::sync::{mpsc, Arc};
use std::thread::{self, JoinHandle};

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::serve::ListenerExt;
use axum::{Json, Router};
use serde_json::json;
use tokio::sync::oneshot;

use crate::shared::Shared;
use crate::state::{Fault, MockConfig, Stats};
use crate::{control, wechat};

/// A running mock WeChat server on 127.0.0.1.
///
/// Dropping it stops the server promptly, even while a `slow` answer is
/// pending: the listener and all open connections are closed and its thread
/// is joined. It is safe to drop inside an async context.
pub struct MockServer {
    shared: Arc<Shared>,
    addr: SocketAddr,
    /// Dropping it tells the server thread to stop.
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl MockServer {
    /// Starts a server on a free port of 127.0.0.1 with
    /// [`MockConfig::default`].
    pub fn start() -> io::Result<MockServer> {
        Self::start_with(0, MockConfig::default())
    }

    /// Starts a server on 127.0.0.1:`port` (0 picks a free port) accepting
    /// `config`'s credentials. It is serving when this returns.
    pub fn start_with(port: u16, config: MockConfig) -> io::Result<MockServer> {
        // Bound here so a taken port is an error of this call, not of the
        // server thread.
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::new(config));
        let app = router(Arc::clone(&shared));
        let (stop, stopped) = oneshot::channel();
        let (ready_tx, ready_rx) = mpsc::sync_channel(1);
        let thread = thread::Builder::new()
            .name("wechat-mock".into())
            .spawn(move || serve(listener, app, stopped, ready_tx))?;
        let ready = ready_rx
            .recv()
            .unwrap_or_else(|_| Err(io::Error::other("wechat-mock server thread ended early")));
        if let Err(e) = ready {
            let _ = thread.join();
            return Err(e);
        }
        Ok(MockServer {
            shared,
            addr,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Base URL, `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// A snapshot of the counters and the last token handed out.
    pub fn stats(&self) -> Stats {
        self.shared.state().stats()
    }

    /// Makes the token endpoints misbehave as `fault` (`None`: behave), for
    /// the next `times` calls to either of them, or until changed if `times`
    /// is `None`.
    pub fn set_fault(&self, fault: Option<Fault>, times: Option<u32>) {
        self.shared.state().set_fault(fault, times);
    }

    /// Makes the ticket endpoint misbehave as `fault`, apart from the token
    /// endpoints, for the next `times` calls or until changed.
    pub fn set_ticket_fault(&self, fault: Option<Fault>, times: Option<u32>) {
        self.shared.state().set_ticket_fault(fault, times);
    }

    /// Revokes every access token issued so far (they answer 40001), as a
    /// secret reset does, keeping the counters.
    pub fn revoke_tokens(&self) {
        self.shared.state().revoke_tokens();
    }

    /// Sets the `expires_in` of tokens issued from now on (any value, even
    /// 0 or negative, is passed through to clients).
    pub fn set_expires_in(&self, secs: i64) {
        self.shared.state().set_expires_in(secs);
    }

    /// Moves the mock's clock forward by `secs` (backward if negative), so
    /// tokens expire without the test sleeping.
    pub fn advance(&self, secs: i64) {
        self.shared.state().advance(secs);
    }

    /// Resets counters, tokens (all earlier tokens become unknown), fault,
    /// clock offset and `expires_in` to how they were at start; answers a
    /// `slow` fault still owes are abandoned (busy, no token).
    pub fn reset(&self) {
        self.shared.reset();
    }

    /// Serves until the process is killed (for the binary).
    pub fn wait(mut self) {
        if let Some(thread) = self.thread.take() {
            // The server only stops when `stop` is dropped, which cannot
            // happen while we hold `self`.
            let _ = thread.join();
        }
    }
}

impl fmt::Debug for MockServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MockServer")
            .field("url", &self.url())
            .finish_non_exhaustive()
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            // Quick: the thread only has to drop its runtime.
            let _ = thread.join();
        }
    }
}

/// All endpoints, with a JSON 404 for anything else.
fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .merge(wechat::routes())
        .merge(control::routes())
        .fallback(not_found)
        .with_state(shared)
}

async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, Json(json!({"error": "not found"}))).into_response()
}

/// The server thread: serves `app` on `listener` until `stopped` fires,
/// reporting through `ready` whether it got going.
fn serve(
    listener: TcpListener,
    app: Router,
    stopped: oneshot::Receiver<()>,
    ready: mpsc::SyncSender<io::Result<()>>,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    runtime.block_on(async move {
        let listener = match tokio::net::TcpListener::from_std(listener) {
            Ok(l) => l,
            Err(e) => {
                let _ = ready.send(Err(e));
                return;
            }
        };
        let _ = ready.send(Ok(()));
        // Small answers on keep-alive connections must not wait for Nagle.
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        // Not a graceful shutdown: a stop must not wait for a `slow` answer
        // or an idle keep-alive connection.
        tokio::select! {
            _ = axum::serve(listener, app) => {}
            _ = stopped => {}
        }
    });
    // Dropping the runtime here cancels the connection tasks, which closes
    // their sockets; the listener went with the serve future above.
    drop(runtime);
}
