//! Lesson media over loopback HTTP. WebKitGTK's media backend cannot read
//! from custom URI schemes, so `<video>` and `<audio>` sources in lesson
//! pages are pointed here: `http://127.0.0.1:PORT/TOKEN/PACK_ID/path`.
//!
//! The token is the pack's own, derived from a secret only this process
//! knows, so a page that holds one pack's media URLs holds no key to any
//! other pack's media; the lesson's CSP allows only its own pack's prefix
//! too. Only GET and HEAD of installed pack files are
//! answered, by byte range. Anything on the laptop may connect to loopback,
//! so lines are bounded before they are read, connections are capped, the
//! token is compared in constant time, and no answer holds more than
//! [`MAX_BODY`] bytes in memory. When the server is full, the oldest
//! connection that has not shown the token makes room: a flood of idle or
//! foreign connections never keeps the lesson's own player out.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kalamu_core::pack::path::percent_decode;
use tauri::{AppHandle, Manager};

use crate::lesson::parse_range;
use crate::state::AppState;

/// Where media is served from in this run.
#[derive(Debug, Clone)]
pub struct MediaServer {
    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub origin: String,
    secret: Secret,
}

/// The secret each pack's token is derived from, drawn from the OS at start.
#[derive(Clone)]
struct Secret([u8; 32]);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

impl Secret {
    /// The token in the URLs of `pack`'s media (128 bits, hex).
    fn token(&self, pack: &str) -> String {
        hex_of(&blake3::keyed_hash(&self.0, pack.as_bytes()).as_bytes()[..16])
    }
}

impl MediaServer {
    /// Binds a loopback port and serves media on a background thread.
    pub fn start(app: AppHandle) -> std::io::Result<MediaServer> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        let mut raw = [0u8; 32];
        getrandom::fill(&mut raw).expect("the OS has randomness");
        let origin = format!("http://127.0.0.1:{}", listener.local_addr()?.port());
        let server = MediaServer { origin, secret: Secret(raw) };
        let token = server.secret.clone();
        let open = Arc::new(Mutex::new(Open::default()));
        std::thread::Builder::new().name("lesson-media".into()).spawn(move || {
            for (id, stream) in (0u64..).zip(listener.incoming().flatten()) {
                // A media player opens a few; a flood gets closed connections, not threads.
                let Ok(watch) = stream.try_clone() else { continue };
                if !lock(&open).admit(id, watch) {
                    continue;
                }
                let (app, token, open) = (app.clone(), token.clone(), open.clone());
                let spawned = std::thread::Builder::new().name("lesson-media-conn".into()).spawn({
                    let open = open.clone();
                    move || {
                        let proven = serve(&app, &token, stream, || lock(&open).prove(id));
                        lock(&open).close(id, proven);
                    }
                });
                if spawned.is_err() {
                    lock(&open).close(id, false);
                }
            }
        })?;
        Ok(server)
    }

    /// The URL prefix of a pack's files, with that pack's token.
    pub fn pack_prefix(&self, pack: &str) -> String {
        format!("{}/{}/{pack}/", self.origin, self.secret.token(pack))
    }
}

/// Connections served at once.
const MAX_CONNECTIONS: usize = 64;
/// How long a new connection has to send its first request.
const FIRST_REQUEST: Duration = Duration::from_secs(5);

/// The connections being served: how many have shown the token, and the
/// others, oldest first, each with a handle to close it by.
#[derive(Default)]
struct Open {
    proven: usize,
    unproven: VecDeque<(u64, TcpStream)>,
}

impl Open {
    /// Whether connection `id` may be served; when full, the oldest
    /// connection that has not shown the token is closed to make room.
    fn admit(&mut self, id: u64, watch: TcpStream) -> bool {
        if self.proven + self.unproven.len() >= MAX_CONNECTIONS {
            let Some((_, oldest)) = self.unproven.pop_front() else { return false };
            let _ = oldest.shutdown(Shutdown::Both);
        }
        self.unproven.push_back((id, watch));
        true
    }

    /// Connection `id` showed the token: nothing closes it to make room.
    fn prove(&mut self, id: u64) {
        if let Some(at) = self.unproven.iter().position(|(i, _)| *i == id) {
            self.unproven.remove(at);
            self.proven += 1;
        }
    }

    /// Connection `id` ended.
    fn close(&mut self, id: u64, proven: bool) {
        if proven {
            self.proven -= 1;
        } else if let Some(at) = self.unproven.iter().position(|(i, _)| *i == id) {
            self.unproven.remove(at);
        }
    }
}

fn lock(open: &Mutex<Open>) -> std::sync::MutexGuard<'_, Open> {
    open.lock().unwrap_or_else(|p| p.into_inner())
}
/// Longest request line or header line read.
const MAX_LINE: u64 = 8 << 10;
/// Most bytes one answer carries: a longer range is answered in part, as HTTP allows.
const MAX_BODY: u64 = 4 << 20;

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `a` and `b` are equal, in a time that depends on their lengths only.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A request as far as the media server reads one.
#[derive(Debug, PartialEq, Eq)]
struct Request {
    method: String,
    target: String,
    range: Option<String>,
}

/// Reads one request's line and headers, each line bounded before it is
/// read; `None` at the end of the connection or on anything oversized.
fn read_request(reader: &mut impl BufRead) -> Option<Request> {
    let mut line = String::new();
    let mut read_line = |line: &mut String| -> Option<()> {
        line.clear();
        let n = reader.by_ref().take(MAX_LINE + 1).read_line(line).ok()?;
        (n > 0 && n as u64 <= MAX_LINE && line.ends_with('\n')).then_some(())
    };
    read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next()?.to_owned(), parts.next()?.to_owned());
    let mut range = None;
    for _ in 0..100 {
        read_line(&mut line)?;
        let header = line.trim_end();
        if header.is_empty() {
            return Some(Request { method, target, range });
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("range")
        {
            range = Some(value.trim().to_owned());
        }
    }
    None
}

/// Serves one connection's requests; whether it showed the token (and
/// `proven` was called once it did).
fn serve(app: &AppHandle, token: &Secret, stream: TcpStream, proven: impl FnOnce()) -> bool {
    let _ = stream.set_read_timeout(Some(FIRST_REQUEST));
    let Ok(write_half) = stream.try_clone() else { return false };
    let timeouts = write_half.try_clone().ok();
    let mut reader = BufReader::new(stream);
    let mut out = write_half;
    let mut proven = Some(proven);
    // Keep-alive: media players ask for many ranges on one connection.
    for _ in 0..10_000 {
        let Some(request) = read_request(&mut reader) else { break };
        if shows_token(&request.target, token)
            && let Some(proven) = proven.take()
        {
            proven();
            if let Some(s) = &timeouts {
                let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
            }
        }
        let response = respond(app, token, &request.method, &request.target, request.range.as_deref());
        if out.write_all(&response).is_err() {
            break;
        }
    }
    proven.is_none()
}

/// Whether a request's target is `/TOKEN/PACK/…` with that pack's own token.
fn shows_token(target: &str, secret: &Secret) -> bool {
    let mut parts = target.strip_prefix('/').unwrap_or_default().splitn(3, '/');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(given), Some(pack), Some(_)) => same_secret(given.as_bytes(), secret.token(pack).as_bytes()),
        _ => false,
    }
}

fn respond(app: &AppHandle, token: &Secret, method: &str, target: &str, range: Option<&str>) -> Vec<u8> {
    if method != "GET" && method != "HEAD" {
        return plain(405, "Method Not Allowed");
    }
    if !shows_token(target, token) {
        return plain(404, "Not Found");
    }
    let Some((_, rest)) = target.strip_prefix('/').and_then(|t| t.split_once('/')) else {
        return plain(404, "Not Found");
    };
    let Some((pack, path)) = rest.split_once('/') else { return plain(404, "Not Found") };
    let Some(path) = percent_decode(path.split('?').next().unwrap_or(path)) else {
        return plain(400, "Bad Request");
    };
    let state = app.state::<AppState>();
    let Ok(store) = state.store() else { return plain(503, "Service Unavailable") };
    let Ok(info) = store.file_info(pack, &path) else { return plain(404, "Not Found") };
    if !(info.media_type.starts_with("video/")
        || info.media_type.starts_with("audio/")
        || info.media_type == "text/vtt")
    {
        return plain(404, "Not Found");
    }
    let (status, start, end) = match range.map(|r| parse_range(r, info.size)) {
        Some(Some((a, b))) => ("206 Partial Content", a, b),
        Some(None) => return plain(416, "Range Not Satisfiable"),
        None => ("200 OK", 0, info.size),
    };
    // A whole large file, or a long range, is never read at once: its first part is answered.
    let (status, end) =
        if end - start > MAX_BODY { ("206 Partial Content", start + MAX_BODY) } else { (status, end) };
    let body = if method == "HEAD" {
        Vec::new()
    } else {
        match store.read_range(pack, &path, start, end) {
            Ok(b) => b,
            Err(_) => return plain(500, "Internal Server Error"),
        }
    };
    let mut head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {}\r\nContent-Length: {}\r\nAccept-Ranges: bytes\r\n\
         Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n",
        info.media_type,
        end - start
    );
    if status.starts_with("206") {
        head.push_str(&format!("Content-Range: bytes {start}-{}/{}\r\n", end.max(1) - 1, info.size));
    }
    head.push_str("\r\n");
    let mut out = head.into_bytes();
    out.extend_from_slice(&body);
    out
}

fn plain(code: u16, reason: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Length: {}\r\nContent-Type: text/plain\r\n\r\n{reason}",
        reason.len()
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pack_token_opens_that_pack_alone() {
        let secret = Secret([9; 32]);
        let (a, b) = (secret.token("org.example.a"), secret.token("org.example.b"));
        assert_ne!(a, b);
        assert!(shows_token(&format!("/{a}/org.example.a/media/v.webm"), &secret));
        assert!(!shows_token(&format!("/{a}/org.example.b/media/v.webm"), &secret), "a's token for b's file");
        assert!(!shows_token(&format!("/{a}/org.example.a"), &secret), "no file named");
        assert_ne!(Secret([8; 32]).token("org.example.a"), a, "another run's tokens differ");
    }

    #[test]
    fn a_request_is_read_with_its_range() {
        let raw = b"GET /t/p/media/v.webm HTTP/1.1\r\nHost: x\r\nRange: bytes=10-\r\n\r\nGET /next";
        let mut reader = std::io::Cursor::new(&raw[..]);
        let r = read_request(&mut reader).unwrap();
        assert_eq!((r.method.as_str(), r.target.as_str()), ("GET", "/t/p/media/v.webm"));
        assert_eq!(r.range.as_deref(), Some("bytes=10-"));
    }

    #[test]
    fn an_oversized_line_is_refused_after_reading_no_more_than_the_limit() {
        // A request line of 64 MiB with no end: reading stops at the limit.
        let endless = std::io::repeat(b'a').take(64 << 20);
        let mut reader = BufReader::new(endless);
        assert_eq!(read_request(&mut reader), None);
        let mut rest = [0u8; 1];
        assert_eq!(reader.read(&mut rest).unwrap(), 1, "the rest was left unread");
        let header = [b"GET / HTTP/1.1\r\nX: ".as_slice(), &[b'b'; 9000], b"\r\n\r\n"].concat();
        assert_eq!(read_request(&mut std::io::Cursor::new(header)), None, "so is an oversized header");
    }

    #[test]
    fn tokens_are_compared_whole() {
        let (a, b) = (Secret([1; 32]).token("p"), Secret([2; 32]).token("p"));
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
        assert!(same_secret(a.as_bytes(), a.as_bytes()));
        assert!(!same_secret(a.as_bytes(), b.as_bytes()));
        assert!(!same_secret(&a.as_bytes()[..31], a.as_bytes()), "a prefix is not the token");
    }
}
