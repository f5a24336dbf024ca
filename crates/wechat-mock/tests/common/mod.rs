//! A tiny blocking HTTP/1.1 client over `std::net::TcpStream`, so the tests
//! see exactly what goes over the wire (keep-alive, truncated bodies, raw
//! malformed requests) without an HTTP library in between.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::Value;
use wechat_mock::{MockServer, DEFAULT_APPID, DEFAULT_SECRET};

/// One answer as read off the wire.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    /// The body parsed as JSON; panics with the body text if it is not.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One connection, possibly used for several requests.
pub struct Conn {
    reader: BufReader<TcpStream>,
    stream: TcpStream,
}

impl Conn {
    pub fn open(port: u16) -> Conn {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to mock");
        // A hung server must fail the test, not hang it.
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let reader = BufReader::new(stream.try_clone().unwrap());
        Conn { reader, stream }
    }

    /// Sends raw bytes as they are.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("send request");
    }

    /// Sends a request; `close` adds `Connection: close`.
    pub fn send(&mut self, method: &str, path: &str, body: Option<&str>, close: bool) {
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n");
        if let Some(b) = body {
            req.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                b.len()
            ));
        }
        if close {
            req.push_str("Connection: close\r\n");
        }
        req.push_str("\r\n");
        req.push_str(body.unwrap_or(""));
        self.send_raw(req.as_bytes());
    }

    /// Reads status line and headers only.
    pub fn read_head(&mut self) -> io::Result<(u16, Vec<(String, String)>)> {
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "no answer"));
        }
        let status: u16 = line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("bad status line {line:?}"));
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            self.reader.read_line(&mut h)?;
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            let (k, v) = h.split_once(':').expect("header with colon");
            headers.push((k.to_string(), v.trim().to_string()));
        }
        Ok((status, headers))
    }

    /// Reads one complete answer framed by Content-Length.
    pub fn read_reply(&mut self) -> io::Result<Reply> {
        let (status, headers) = self.read_head()?;
        let len: usize = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .map(|(_, v)| v.parse().expect("numeric content-length"))
            .expect("answer has Content-Length");
        let mut body = vec![0; len];
        self.reader.read_exact(&mut body)?;
        Ok(Reply {
            status,
            headers,
            body,
        })
    }

    /// Reads whatever is left until the server closes the connection.
    pub fn read_to_end(&mut self) -> io::Result<Vec<u8>> {
        let mut rest = Vec::new();
        self.reader.read_to_end(&mut rest)?;
        Ok(rest)
    }

    /// True if the server has closed the connection (EOF or reset).
    pub fn is_closed(&mut self) -> bool {
        let mut b = [0u8; 1];
        matches!(self.reader.read(&mut b), Ok(0) | Err(_))
    }

    pub fn request(&mut self, method: &str, path: &str, body: Option<&str>) -> Reply {
        self.send(method, path, body, false);
        self.read_reply().expect("read answer")
    }
}

/// One-shot GET on a fresh connection.
pub fn get(port: u16, path: &str) -> Reply {
    let mut c = Conn::open(port);
    c.send("GET", path, None, true);
    c.read_reply().expect("read answer")
}

/// One-shot POST with a JSON body on a fresh connection.
pub fn post(port: u16, path: &str, body: &str) -> Reply {
    let mut c = Conn::open(port);
    c.send("POST", path, Some(body), true);
    c.read_reply().expect("read answer")
}

pub fn token_path(appid: &str, secret: &str) -> String {
    format!("/cgi-bin/token?grant_type=client_credential&appid={appid}&secret={secret}")
}

/// `/cgi-bin/token` with the default credentials, as JSON.
pub fn token(mock: &MockServer) -> Value {
    let r = get(mock.port(), &token_path(DEFAULT_APPID, DEFAULT_SECRET));
    assert_eq!(r.status, 200);
    r.json()
}

pub fn stable_body(appid: &str, secret: &str, force: bool) -> String {
    format!(
        r#"{{"grant_type":"client_credential","appid":"{appid}","secret":"{secret}","force_refresh":{force}}}"#
    )
}

/// `/cgi-bin/stable_token` with the default credentials, as JSON.
pub fn stable(mock: &MockServer, force: bool) -> Value {
    let r = post(
        mock.port(),
        "/cgi-bin/stable_token",
        &stable_body(DEFAULT_APPID, DEFAULT_SECRET, force),
    );
    assert_eq!(r.status, 200);
    r.json()
}

/// `/cgi-bin/getcallbackip` with `token`, as JSON.
pub fn callback(mock: &MockServer, token: &str) -> Value {
    let r = get(
        mock.port(),
        &format!("/cgi-bin/getcallbackip?access_token={token}"),
    );
    assert_eq!(r.status, 200);
    r.json()
}

/// The access_token of a token answer; panics with the answer otherwise.
pub fn access_token(v: &Value) -> String {
    v["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no access_token in {v}"))
        .to_string()
}

/// A GET to a control endpoint that must answer 200.
pub fn control(mock: &MockServer, path: &str) -> Value {
    let r = get(mock.port(), path);
    assert_eq!(r.status, 200, "{path}: {}", r.text());
    r.json()
}
