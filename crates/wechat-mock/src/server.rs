//! The listener, one thread per connection, request routing and
//! [`MockServer`], the handle tests hold.

use std::collections::HashMap;
use std::fmt;
use std::io::{self, BufReader, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crate::control;
use crate::http::{self, ReadError, Request, Response};
use crate::shared::Shared;
use crate::state::{Fault, MockConfig, Stats};
use crate::wechat::{self, TokenEndpoint};

/// How long a connection may sit idle (or dribble a request) before it is
/// dropped; generous so keep-alive pools never see a surprise close in a
/// test, but a vanished client does not pin a thread forever.
const IDLE_TIMEOUT: Duration = Duration::from_secs(300);
/// How long a write may block on a client that stopped reading (e.g. the
/// 1 MiB `oversized` body).
const WRITE_TIMEOUT: Duration = Duration::from_secs(60);
/// After rejecting a request, how long to swallow what the client is still
/// sending so our error answer is not destroyed by a TCP reset.
const LINGER: Duration = Duration::from_millis(200);

/// A running mock WeChat server on 127.0.0.1.
///
/// Dropping it stops the server: the listener is closed, open connections
/// are shut down and all its threads are joined.
pub struct MockServer {
    shared: Arc<Shared>,
    conns: Arc<Connections>,
    addr: SocketAddr,
    accept: Option<JoinHandle<()>>,
}

/// Open connections, so `Drop` can shut them down and join their threads.
#[derive(Default)]
struct Connections {
    table: Mutex<ConnTable>,
}

#[derive(Default)]
struct ConnTable {
    next_id: u64,
    /// Clones of the open sockets, to shut them down on stop.
    streams: HashMap<u64, TcpStream>,
    threads: Vec<JoinHandle<()>>,
}

impl Connections {
    fn table(&self) -> MutexGuard<'_, ConnTable> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl MockServer {
    /// Starts a server on a free port of 127.0.0.1 with
    /// [`MockConfig::default`].
    pub fn start() -> io::Result<MockServer> {
        Self::start_with(0, MockConfig::default())
    }

    /// Starts a server on 127.0.0.1:`port` (0 picks a free port) accepting
    /// `config`'s credentials.
    pub fn start_with(port: u16, config: MockConfig) -> io::Result<MockServer> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port))?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::new(config));
        let conns = Arc::new(Connections::default());
        let accept = {
            let shared = Arc::clone(&shared);
            let conns = Arc::clone(&conns);
            thread::Builder::new()
                .name("wechat-mock-accept".into())
                .spawn(move || accept_loop(listener, shared, conns))?
        };
        Ok(MockServer {
            shared,
            conns,
            addr,
            accept: Some(accept),
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
        if let Some(accept) = self.accept.take() {
            // The accept loop only ends when the server is dropped, which
            // cannot happen while we hold `self`.
            let _ = accept.join();
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
        self.shared.stop();
        if let Some(accept) = self.accept.take() {
            // `accept()` cannot be interrupted with std alone; a connection
            // of our own wakes it so it sees the stop flag. If even that
            // fails the thread is left to end on its next accept.
            if TcpStream::connect_timeout(&self.addr, Duration::from_secs(1)).is_ok() {
                let _ = accept.join();
            }
        }
        // The accept loop is gone, so no connection can be added any more.
        let threads = {
            let mut table = self.conns.table();
            for stream in table.streams.values() {
                let _ = stream.shutdown(Shutdown::Both);
            }
            std::mem::take(&mut table.threads)
        };
        for t in threads {
            let _ = t.join();
        }
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>, conns: Arc<Connections>) {
    for incoming in listener.incoming() {
        if shared.is_stopping() {
            break;
        }
        match incoming {
            Ok(stream) => spawn_connection(stream, &shared, &conns),
            // Out of file descriptors and the like: back off briefly rather
            // than spin; the listener is still fine.
            Err(_) => thread::sleep(Duration::from_millis(10)),
        }
    }
}

fn spawn_connection(stream: TcpStream, shared: &Arc<Shared>, conns: &Arc<Connections>) {
    // Small answers on keep-alive connections must not wait for Nagle.
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(IDLE_TIMEOUT));
    let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
    let id = {
        let mut table = conns.table();
        table.threads.retain(|t| !t.is_finished());
        let id = table.next_id;
        table.next_id += 1;
        if let Ok(clone) = stream.try_clone() {
            table.streams.insert(id, clone);
        }
        id
    };
    let (shared2, conns2) = (Arc::clone(shared), Arc::clone(conns));
    let spawned = thread::Builder::new()
        .name("wechat-mock-conn".into())
        .spawn(move || {
            serve_connection(&stream, &shared2);
            conns2.table().streams.remove(&id);
        });
    let mut table = conns.table();
    match spawned {
        Ok(handle) => table.threads.push(handle),
        // Cannot serve it; dropping the stream closes it.
        Err(_) => {
            table.streams.remove(&id);
        }
    }
}

/// Serves requests on one connection until either side closes it.
fn serve_connection(stream: &TcpStream, shared: &Shared) {
    let mut reader = BufReader::new(stream);
    let mut writer = stream;
    loop {
        let read = http::read_request(&mut reader, || writer.write_all(http::CONTINUE));
        let req = match read {
            Ok(req) => req,
            Err(ReadError::Closed) | Err(ReadError::Io) => return,
            Err(ReadError::Reject { status, reason }) => {
                let body = format!("{{\"error\":{}}}", serde_json::Value::from(reason));
                let _ =
                    http::write_response(&mut writer, &Response::json(status, body), true, false);
                linger_close(stream);
                return;
            }
        };
        let resp = route(&req, shared);
        let close = !req.keep_alive || resp.must_close() || shared.is_stopping();
        if http::write_response(&mut writer, &resp, close, req.http10 && !close).is_err() {
            return;
        }
        if close {
            let _ = stream.shutdown(Shutdown::Write);
            return;
        }
    }
}

/// Half-closes and briefly reads whatever the client still sends, so that
/// closing with unread data (which makes the kernel send a reset) does not
/// throw away the error answer before the client has read it.
fn linger_close(stream: &TcpStream) {
    let _ = stream.shutdown(Shutdown::Write);
    let _ = stream.set_read_timeout(Some(LINGER));
    let mut sink = [0u8; 8192];
    let mut reader = stream;
    let mut budget: usize = 1024 * 1024;
    while budget > 0 {
        match reader.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(n) => budget = budget.saturating_sub(n),
        }
    }
}

fn route(req: &Request, shared: &Shared) -> Response {
    match req.path.as_str() {
        "/cgi-bin/token" => wechat::token_endpoint(req, shared, TokenEndpoint::Token),
        "/cgi-bin/stable_token" => wechat::token_endpoint(req, shared, TokenEndpoint::Stable),
        "/cgi-bin/getcallbackip" => wechat::getcallbackip(req, shared),
        p if p.starts_with("/mock/") => control::handle(req, shared),
        _ => Response::json(404, r#"{"error":"not found"}"#),
    }
}
