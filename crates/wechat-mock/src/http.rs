//! Just enough HTTP/1.1 to serve the mock: read one request (request line,
//! headers, a body framed by `Content-Length` or chunked encoding) and write
//! one response that always carries `Content-Length` and
//! `Content-Type: application/json`.
//!
//! Everything read from the network is untrusted: sizes are capped and every
//! problem becomes a [`ReadError`], never a panic.

use std::io::{self, BufRead, Write};

/// Cap on request line plus headers; real clients send well under 1 KiB.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;
/// Cap on the number of header fields.
pub const MAX_HEADERS: usize = 100;
/// Cap on a request body; the only body the mock reads is a small JSON
/// object for `/cgi-bin/stable_token`.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// One parsed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Method as sent, e.g. `GET`.
    pub method: String,
    /// Path without query string, e.g. `/cgi-bin/token`.
    pub path: String,
    /// Decoded query parameters in order.
    pub query: Vec<(String, String)>,
    /// Header fields in order, names as sent.
    pub headers: Vec<(String, String)>,
    /// The body (de-chunked if it was chunked).
    pub body: Vec<u8>,
    /// Whether the client wants the connection kept open afterwards.
    pub keep_alive: bool,
    /// The request was HTTP/1.0 (keep-alive must then be confirmed).
    pub http10: bool,
}

impl Request {
    /// First value of query parameter `name` (exact match).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Why no request could be read.
#[derive(Debug)]
pub enum ReadError {
    /// The client closed the connection between requests: not an error.
    Closed,
    /// Socket error or read timeout: nothing sensible can be answered, and
    /// the cause does not matter since the connection is simply dropped.
    Io,
    /// The request is unacceptable: answer with this status and close.
    Reject {
        /// HTTP status to answer with (400, 413, 431, 501).
        status: u16,
        /// Short explanation for the JSON error body.
        reason: &'static str,
    },
}

fn reject(status: u16, reason: &'static str) -> ReadError {
    ReadError::Reject { status, reason }
}

fn bad(reason: &'static str) -> ReadError {
    reject(400, reason)
}

impl From<io::Error> for ReadError {
    fn from(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            bad("request ended early")
        } else {
            ReadError::Io
        }
    }
}

/// How the body of a request is delimited.
enum Framing {
    None,
    Length(usize),
    Chunked,
}

/// Reads one request from `r`. `on_expect_continue` is called before the
/// body is read if the client sent `Expect: 100-continue` (curl does for
/// larger POSTs and would otherwise wait a second before sending it).
pub fn read_request<R: BufRead>(
    r: &mut R,
    mut on_expect_continue: impl FnMut() -> io::Result<()>,
) -> Result<Request, ReadError> {
    let mut budget = MAX_HEAD_BYTES;

    // RFC 9112 2.2: ignore empty lines before the request line (some
    // clients send a stray CRLF after a POST body).
    let line = loop {
        match read_line(r, &mut budget)? {
            None => return Err(ReadError::Closed),
            Some(l) if l.is_empty() => continue,
            Some(l) => break l,
        }
    };
    let line = String::from_utf8(line).map_err(|_| bad("request line is not UTF-8"))?;
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad("malformed request line"));
    };
    if method.is_empty() || !method.bytes().all(is_tchar) {
        return Err(bad("malformed method"));
    }
    let http10 = match version {
        "HTTP/1.1" => false,
        "HTTP/1.0" => true,
        _ => return Err(bad("unsupported HTTP version")),
    };
    let (path, query) = split_target(target).ok_or_else(|| bad("malformed request target"))?;

    let mut headers = Vec::new();
    loop {
        let Some(l) = read_line(r, &mut budget)? else {
            return Err(bad("request ended inside the headers"));
        };
        if l.is_empty() {
            break;
        }
        if headers.len() == MAX_HEADERS {
            return Err(reject(431, "too many header fields"));
        }
        headers.push(parse_header(&l)?);
    }

    let framing = framing(&headers, http10)?;
    let connection = header_tokens(&headers, "connection");
    let keep_alive = if http10 {
        connection.iter().any(|t| t == "keep-alive") && !connection.iter().any(|t| t == "close")
    } else {
        !connection.iter().any(|t| t == "close")
    };

    let wants_body = !matches!(framing, Framing::None | Framing::Length(0));
    if wants_body
        && header_tokens(&headers, "expect")
            .iter()
            .any(|t| t == "100-continue")
    {
        on_expect_continue()?;
    }
    let body = match framing {
        Framing::None => Vec::new(),
        Framing::Length(n) => {
            let mut body = vec![0; n];
            r.read_exact(&mut body)?;
            body
        }
        Framing::Chunked => read_chunked(r)?,
    };

    Ok(Request {
        method: method.to_string(),
        path,
        query,
        headers,
        body,
        keep_alive,
        http10,
    })
}

/// Reads one line ending in LF (CR before it is dropped), charging its
/// length to `budget`. `Ok(None)` means clean end of input before the line.
fn read_line<R: BufRead>(r: &mut R, budget: &mut usize) -> Result<Option<Vec<u8>>, ReadError> {
    let mut line = Vec::new();
    loop {
        let buf = match r.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return Err(ReadError::Io),
        };
        if buf.is_empty() {
            return if line.is_empty() {
                Ok(None)
            } else {
                Err(bad("request ended inside a line"))
            };
        }
        let (take, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        if take > *budget {
            return Err(reject(431, "request head too large"));
        }
        *budget -= take;
        line.extend_from_slice(&buf[..take]);
        r.consume(take);
        if done {
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            return Ok(Some(line));
        }
    }
}

/// RFC 9110 token characters (methods, header names).
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn parse_header(line: &[u8]) -> Result<(String, String), ReadError> {
    if line.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
        // Obsolete line folding: RFC 9112 lets servers reject it.
        return Err(bad("folded header line"));
    }
    let colon = line
        .iter()
        .position(|&b| b == b':')
        .ok_or_else(|| bad("header line without colon"))?;
    let name = &line[..colon];
    if name.is_empty() || !name.iter().copied().all(is_tchar) {
        return Err(bad("malformed header name"));
    }
    let value = String::from_utf8_lossy(&line[colon + 1..])
        .trim_matches([' ', '\t'])
        .to_string();
    // `name` is all tchar, hence ASCII.
    Ok((String::from_utf8_lossy(name).into_owned(), value))
}

/// Lower-cased comma-separated tokens of all `name` headers.
fn header_tokens(headers: &[(String, String)], name: &str) -> Vec<String> {
    headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(name))
        .flat_map(|(_, v)| v.split(','))
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty())
        .collect()
}

fn framing(headers: &[(String, String)], http10: bool) -> Result<Framing, ReadError> {
    let codings = header_tokens(headers, "transfer-encoding");
    let has_length = headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("content-length"));
    if !codings.is_empty() {
        // Both headers at once is the classic request-smuggling shape.
        if has_length || http10 {
            return Err(bad("conflicting body framing"));
        }
        if codings != ["chunked"] {
            return Err(reject(501, "unsupported transfer-encoding"));
        }
        return Ok(Framing::Chunked);
    }
    if !has_length {
        return Ok(Framing::None);
    }
    let mut length = None;
    for v in headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .flat_map(|(_, v)| v.split(','))
    {
        let v = v.trim();
        if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("malformed content-length"));
        }
        // Too many digits to parse is certainly too large.
        let n: usize = v
            .parse()
            .map_err(|_| reject(413, "request body too large"))?;
        if length.is_some_and(|l| l != n) {
            return Err(bad("conflicting content-length values"));
        }
        length = Some(n);
    }
    match length {
        Some(n) if n > MAX_BODY_BYTES => Err(reject(413, "request body too large")),
        Some(n) => Ok(Framing::Length(n)),
        None => Err(bad("malformed content-length")),
    }
}

fn read_chunked<R: BufRead>(r: &mut R) -> Result<Vec<u8>, ReadError> {
    let mut body = Vec::new();
    // Chunk-size lines and trailers get their own head-sized budget.
    let mut budget = MAX_HEAD_BYTES;
    loop {
        let line = read_line(r, &mut budget)?.ok_or_else(|| bad("request ended early"))?;
        let size_text = line.split(|&b| b == b';').next().unwrap_or_default();
        let size_text = std::str::from_utf8(size_text)
            .map_err(|_| bad("malformed chunk size"))?
            .trim();
        if size_text.is_empty() || !size_text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad("malformed chunk size"));
        }
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| reject(413, "request body too large"))?;
        if size == 0 {
            // Trailer fields, ignored, up to the empty line.
            loop {
                match read_line(r, &mut budget)? {
                    Some(l) if l.is_empty() => return Ok(body),
                    Some(_) => continue,
                    None => return Err(bad("request ended early")),
                }
            }
        }
        if size > MAX_BODY_BYTES - body.len() {
            return Err(reject(413, "request body too large"));
        }
        let start = body.len();
        body.resize(start + size, 0);
        r.read_exact(&mut body[start..])?;
        match read_line(r, &mut budget)? {
            Some(l) if l.is_empty() => {}
            _ => return Err(bad("chunk not followed by CRLF")),
        }
    }
}

/// Splits an origin-form (`/p?q`) or absolute-form (`http://h/p?q`) target
/// into path and decoded query. `None` if it is neither.
fn split_target(target: &str) -> Option<(String, Vec<(String, String)>)> {
    let target = target.split('#').next().unwrap_or_default();
    let origin = if let Some(rest) = target
        .strip_prefix("http://")
        .or_else(|| target.strip_prefix("https://"))
    {
        rest.find(['/', '?']).map_or("/", |i| &rest[i..])
    } else {
        target
    };
    let (path, query) = origin.split_once('?').unwrap_or((origin, ""));
    let path = if path.is_empty() { "/" } else { path };
    if !path.starts_with('/') {
        return None;
    }
    Some((path.to_string(), parse_query(query)))
}

/// Parses `a=1&b=x%20y` (also `+` as space), keeping order.
pub fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

/// Decodes `%XX` and `+`; malformed escapes are kept as they are.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = |b: u8| (b as char).to_digit(16);
                match (
                    bytes.get(i + 1).copied().and_then(hex),
                    bytes.get(i + 2).copied().and_then(hex),
                ) {
                    (Some(h), Some(l)) => {
                        // Two hex digits are at most 255.
                        out.push((h * 16 + l) as u8);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One response to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// HTTP status code.
    pub status: u16,
    /// The body (JSON, or deliberately broken JSON for faults).
    pub body: Vec<u8>,
    /// If set, announce this `Content-Length` instead of the real one and
    /// close after the body: the `truncated` fault.
    pub declared_length: Option<usize>,
}

impl Response {
    /// A response whose `Content-Length` is the body's length.
    pub fn json(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Self {
            status,
            body: body.into(),
            declared_length: None,
        }
    }

    /// A response that promises `declared` bytes but carries fewer.
    pub fn truncated(body: impl Into<Vec<u8>>, declared: usize) -> Self {
        Self {
            status: 200,
            body: body.into(),
            declared_length: Some(declared),
        }
    }

    /// Whether the connection must be closed after this response: a body
    /// shorter than announced leaves the stream unusable.
    pub fn must_close(&self) -> bool {
        self.declared_length.is_some()
    }
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        _ => "Unknown",
    }
}

/// The interim response that tells a client to go on sending its body.
pub const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// Writes `resp` in one `write_all` (headers and body together, so a
/// keep-alive client is not held up by Nagle + delayed ACK).
/// `close` adds `Connection: close`; `http10_keep_alive` confirms
/// keep-alive to an HTTP/1.0 client that asked for it.
pub fn write_response<W: Write>(
    w: &mut W,
    resp: &Response,
    close: bool,
    http10_keep_alive: bool,
) -> io::Result<()> {
    let length = resp.declared_length.unwrap_or(resp.body.len());
    let connection = if close {
        "Connection: close\r\n"
    } else if http10_keep_alive {
        "Connection: keep-alive\r\n"
    } else {
        ""
    };
    let head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{}\r\n",
        resp.status,
        reason_phrase(resp.status),
        length,
        connection
    );
    let mut out = Vec::with_capacity(head.len() + resp.body.len());
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice(&resp.body);
    w.write_all(&out)?;
    w.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn parse(raw: &str) -> Result<Request, ReadError> {
        read_request(&mut Cursor::new(raw.as_bytes().to_vec()), || Ok(()))
    }

    fn status_of(raw: &str) -> u16 {
        match parse(raw) {
            Err(ReadError::Reject { status, .. }) => status,
            other => panic!("expected a rejection, got {other:?}"),
        }
    }

    #[test]
    fn parses_get_with_query() {
        let r = parse("GET /cgi-bin/token?grant_type=client_credential&appid=a%20b&secret=x+y HTTP/1.1\r\nHost: h\r\n\r\n").unwrap();
        assert_eq!(r.method, "GET");
        assert_eq!(r.path, "/cgi-bin/token");
        assert_eq!(r.param("appid"), Some("a b"));
        assert_eq!(r.param("secret"), Some("x y"));
        assert_eq!(r.headers, vec![("Host".to_string(), "h".to_string())]);
        assert!(r.keep_alive);
    }

    #[test]
    fn parses_bodies_by_length_and_chunked() {
        let r = parse("POST /x HTTP/1.1\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello")
            .unwrap();
        assert_eq!(r.body, b"hello");
        assert!(!r.keep_alive);
        let r = parse(
            "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nhel\r\n2\r\nlo\r\n0\r\nTrailer: x\r\n\r\n",
        )
        .unwrap();
        assert_eq!(r.body, b"hello");
    }

    #[test]
    fn http10_needs_explicit_keep_alive() {
        assert!(!parse("GET / HTTP/1.0\r\n\r\n").unwrap().keep_alive);
        assert!(
            parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n")
                .unwrap()
                .keep_alive
        );
    }

    #[test]
    fn absolute_form_target() {
        let r = parse("GET http://127.0.0.1:1/mock/stats?a=1 HTTP/1.1\r\n\r\n").unwrap();
        assert_eq!(r.path, "/mock/stats");
        assert_eq!(r.param("a"), Some("1"));
    }

    #[test]
    fn rejects_malformed_input() {
        assert_eq!(status_of("garbage\r\n\r\n"), 400);
        assert_eq!(status_of("GET / HTTP/2\r\n\r\n"), 400);
        assert_eq!(status_of("GET nopath HTTP/1.1\r\n\r\n"), 400);
        assert_eq!(status_of("GET / HTTP/1.1\r\nNoColon\r\n\r\n"), 400);
        assert_eq!(
            status_of("GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n"),
            400
        );
        assert_eq!(
            status_of("GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
            400
        );
        assert_eq!(
            status_of("POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n"),
            413
        );
        assert_eq!(
            status_of("POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nshort"),
            400
        );
        assert_eq!(
            status_of("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
            400
        );
        assert_eq!(
            status_of("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n"),
            501
        );
        let huge = format!(
            "GET / HTTP/1.1\r\nX: {}\r\n\r\n",
            "a".repeat(MAX_HEAD_BYTES)
        );
        assert_eq!(status_of(&huge), 431);
        assert_eq!(status_of("GET / HTTP/1.1\r\nHost: x"), 400);
    }

    #[test]
    fn clean_eof_is_closed() {
        assert!(matches!(parse(""), Err(ReadError::Closed)));
        assert!(matches!(parse("\r\n"), Err(ReadError::Closed)));
    }

    #[test]
    fn percent_decoding_keeps_bad_escapes() {
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode("%41%62"), "Ab");
    }

    #[test]
    fn writes_length_and_type() {
        let mut out = Vec::new();
        write_response(&mut out, &Response::json(200, "{}"), false, false).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(text.contains("Content-Type: application/json\r\n"));
        assert!(text.contains("Content-Length: 2\r\n"));
        assert!(text.ends_with("\r\n\r\n{}"));
        let mut out = Vec::new();
        write_response(&mut out, &Response::truncated("{\"a", 200), true, false).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("Content-Length: 200\r\n"));
        assert!(text.contains("Connection: close\r\n"));
    }
}
