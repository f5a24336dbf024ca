//! The metrics listener: `GET /metrics` (Prometheus text) and `GET
//! /healthz`, one request per connection, from memory.
//!
//! Bounded on purpose: at most [`MAX_CONNECTIONS`] connections are held at
//! once (past that the oldest silent one is closed, see [`serve`], so idle
//! clients can neither take the descriptors the refreshes need nor keep a
//! scraper out), a request must arrive within
//! [`REQUEST_TIMEOUT`] and fit in [`MAX_REQUEST`] bytes, and the answer is
//! built from what the daemon keeps in memory, so a slow store never slows
//! a scrape.

use std::collections::VecDeque;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, Semaphore};

use super::app::Running;
use super::metrics::{self, Sample};

/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 32;
/// How long a client has to send its request, and to take the answer.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest request head read.
const MAX_REQUEST: usize = 8192;
/// Apps named in a 503's body, at most.
const MAX_NAMED: usize = 50;

/// The apps being kept fresh, as the listener sees them.
pub type Apps = Arc<RwLock<Vec<Arc<Running>>>>;

/// Serves until the runtime stops.
///
/// When all [`MAX_CONNECTIONS`] are taken, the oldest connection that has
/// not sent its request yet is closed to make room: a client that connects
/// and says nothing cannot keep a scraper out, however many of them there
/// are. Only when every slot is busy answering is a new connection closed.
pub async fn serve(listener: TcpListener, apps: Apps) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    // Connections still waiting for their request, oldest first; each
    // sender closes its connection.
    let mut waiting: VecDeque<oneshot::Sender<()>> = VecDeque::new();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // Out of descriptors, say: pause rather than spin.
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        waiting.retain(|w| !w.is_closed());
        let slot = loop {
            if let Ok(slot) = slots.clone().try_acquire_owned() {
                break Some(slot);
            }
            let Some(oldest) = waiting.pop_front() else {
                break None;
            };
            if oldest.send(()).is_ok() {
                // Its task ends at once and gives its slot back.
                break tokio::time::timeout(Duration::from_secs(1), slots.clone().acquire_owned())
                    .await
                    .ok()
                    .and_then(Result::ok);
            }
        };
        let Some(slot) = slot else {
            drop(stream);
            continue;
        };
        let (evict, evicted) = oneshot::channel();
        waiting.push_back(evict);
        let apps = apps.clone();
        tokio::spawn(async move {
            let _ = tokio::time::timeout(REQUEST_TIMEOUT * 2, answer(stream, &apps, evicted)).await;
            drop(slot);
        });
    }
}

async fn answer(
    mut stream: TcpStream,
    apps: &Apps,
    evicted: oneshot::Receiver<()>,
) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    let reading = tokio::time::timeout(REQUEST_TIMEOUT, async {
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_REQUEST {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            head.extend_from_slice(&buf[..n]);
        }
        Ok::<(), std::io::Error>(())
    });
    let read = tokio::select! {
        r = reading => r,
        _ = evicted => return Ok(()),
    };
    if !matches!(read, Ok(Ok(()))) {
        return Ok(());
    }
    let line = head.split(|&b| b == b'\r').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.split(' ');
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = path.split('?').next().unwrap_or("");
    let snapshot = || apps.read().map(|a| a.clone()).unwrap_or_default();
    let (status, ctype, body) = match (method, path) {
        ("GET", "/metrics") => {
            let samples: Vec<Sample> = snapshot()
                .iter()
                .flat_map(|r| {
                    let token = Sample {
                        appid: r.appid.clone(),
                        credential: "access_token",
                        metrics: r.metrics.clone(),
                    };
                    let tickets = r.tickets.iter().map(|t| Sample {
                        appid: r.appid.clone(),
                        credential: wxtoken::Credential::Ticket(t.kind).key(),
                        metrics: t.metrics.clone(),
                    });
                    std::iter::once(token).chain(tickets)
                })
                .collect();
            (
                "200 OK",
                "text/plain; version=0.0.4",
                metrics::render(&samples),
            )
        }
        ("GET", "/healthz") => match health(&snapshot()) {
            Ok(()) => ("200 OK", "text/plain", "ok\n".to_string()),
            Err(why) => ("503 Service Unavailable", "text/plain", why),
        },
        ("GET", _) => ("404 Not Found", "text/plain", "not found\n".into()),
        _ => ("405 Method Not Allowed", "text/plain", "GET only\n".into()),
    };
    let reply = format!(
        "HTTP/1.1 {status}\r\ncontent-type: {ctype}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    tokio::time::timeout(REQUEST_TIMEOUT, stream.write_all(reply.as_bytes()))
        .await
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
    let _ = stream.shutdown().await;
    Ok(())
}

/// Healthy when readers of every app find a valid token and every app's
/// published keys are in place; else the apps that fail, by reason.
pub fn health(apps: &[Arc<Running>]) -> Result<(), String> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut unreadable = Vec::new();
    let mut unpublished = Vec::new();
    for a in apps {
        if a.metrics.readable_until() <= now {
            unreadable.push(a.appid.as_str());
        }
        if a.metrics.publish_failing() {
            unpublished.push(a.appid.as_str());
        }
    }
    if unreadable.is_empty() && unpublished.is_empty() {
        return Ok(());
    }
    let name = |v: &[&str]| {
        let mut s = v
            .iter()
            .take(MAX_NAMED)
            .copied()
            .collect::<Vec<_>>()
            .join(" ");
        if v.len() > MAX_NAMED {
            s.push_str(&format!(" (and {} more)", v.len() - MAX_NAMED));
        }
        s
    };
    let mut out = String::new();
    if !unreadable.is_empty() {
        out.push_str(&format!(
            "no valid token readers can read: {}\n",
            name(&unreadable)
        ));
    }
    if !unpublished.is_empty() {
        out.push_str(&format!(
            "published keys missing or failing: {}\n",
            name(&unpublished)
        ));
    }
    Err(out)
}
