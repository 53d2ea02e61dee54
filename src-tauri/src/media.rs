//! Lesson media over loopback HTTP. WebKitGTK's media backend cannot read
//! from custom URI schemes, so `<video>` and `<audio>` sources in lesson
//! pages are pointed here: `http://127.0.0.1:PORT/TOKEN/PACK_ID/path`.
//!
//! Only this process knows the random token, the lesson's CSP allows only
//! its own pack's prefix, and only GET and HEAD of installed pack files are
//! answered, by byte range.

use std::hash::{BuildHasher, Hasher};
use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};

use kalamu_core::pack::path::percent_decode;
use tauri::{AppHandle, Manager};

use crate::lesson::parse_range;
use crate::state::AppState;

/// Where media is served from in this run.
#[derive(Debug, Clone)]
pub struct MediaServer {
    /// `http://127.0.0.1:PORT/TOKEN`, without a trailing slash.
    pub base: String,
    token: String,
}

impl MediaServer {
    /// Binds a loopback port and serves media on a background thread.
    pub fn start(app: AppHandle) -> std::io::Result<MediaServer> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        let token = random_token();
        let base = format!("http://127.0.0.1:{}/{token}", listener.local_addr()?.port());
        let server = MediaServer { base, token };
        let token = server.token.clone();
        std::thread::Builder::new().name("lesson-media".into()).spawn(move || {
            for stream in listener.incoming().flatten() {
                let (app, token) = (app.clone(), token.clone());
                std::thread::spawn(move || serve(&app, &token, stream));
            }
        })?;
        Ok(server)
    }

    /// The URL prefix of a pack's files.
    pub fn pack_prefix(&self, pack: &str) -> String {
        format!("{}/{pack}/", self.base)
    }
}

/// 128 random bits from the standard library's per-process hash keys.
fn random_token() -> String {
    let half = || std::collections::hash_map::RandomState::new().build_hasher().finish();
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(half());
    format!("{:016x}{:016x}", half(), h.finish())
}

fn serve(app: &AppHandle, token: &str, stream: TcpStream) {
    let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(30)));
    let Ok(write_half) = stream.try_clone() else { return };
    let mut reader = BufReader::new(stream);
    let mut out = write_half;
    // Keep-alive: media players ask for many ranges on one connection.
    for _ in 0..10_000 {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 || request_line.len() > 8192 {
            return;
        }
        let mut range = None;
        let mut header = String::new();
        for _ in 0..100 {
            header.clear();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            let line = header.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("range")
            {
                range = Some(value.trim().to_owned());
            }
        }
        let mut parts = request_line.split_whitespace();
        let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        let response = respond(app, token, method, target, range.as_deref());
        if out.write_all(&response).is_err() {
            return;
        }
    }
}

fn respond(app: &AppHandle, token: &str, method: &str, target: &str, range: Option<&str>) -> Vec<u8> {
    if method != "GET" && method != "HEAD" {
        return plain(405, "Method Not Allowed");
    }
    let Some(rest) =
        target.strip_prefix('/').and_then(|t| t.strip_prefix(token)).and_then(|t| t.strip_prefix('/'))
    else {
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
    // A whole large file is never read at once: answer its first part as a range.
    let (status, end) = if status == "200 OK" && info.size > 32 << 20 {
        ("206 Partial Content", 4 << 20)
    } else {
        (status, end)
    };
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
