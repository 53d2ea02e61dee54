//! The `kalamu-lesson` scheme: serves installed pack files to the lesson
//! frame, by byte range for media, under a strict content security policy.
//!
//! Each pack is its own host (`kalamu-lesson://PACK_ID/path`), so a lesson
//! can name only its own pack's files; the policy forbids the lesson's own
//! scripts, the network, forms, popups and navigating the app's window. The
//! one script that runs is Kalamu's position tracker, allowed by a nonce.

use kalamu_core::Error;
use kalamu_core::pack::path::percent_decode;
use tauri::http::{Method, Request, Response, StatusCode, header};
use tauri::{AppHandle, Manager, UriSchemeContext, UriSchemeResponder};

use crate::media::MediaServer;
use crate::state::AppState;

/// The scheme's name.
pub const SCHEME: &str = "kalamu-lesson";

/// Largest body sent for a request without a Range header; media players ask by range.
const WHOLE_LIMIT: u64 = 32 << 20;
/// Bytes sent for an open-ended range request.
const OPEN_RANGE: u64 = 4 << 20;

/// Answers a request on a worker thread, so the window never waits on the store.
pub fn handle(
    ctx: UriSchemeContext<'_, tauri::Wry>,
    request: Request<Vec<u8>>,
    responder: UriSchemeResponder,
) {
    let app = ctx.app_handle().clone();
    std::thread::spawn(move || responder.respond(respond(&app, &request)));
}

fn respond(app: &AppHandle, request: &Request<Vec<u8>>) -> Response<Vec<u8>> {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return plain(StatusCode::METHOD_NOT_ALLOWED, "lessons are read-only");
    }
    let pack = request.uri().host().unwrap_or_default().to_owned();
    let Some(path) = percent_decode(request.uri().path().trim_start_matches('/')) else {
        return plain(StatusCode::BAD_REQUEST, "malformed path");
    };
    let state = app.state::<AppState>();
    let Ok(store) = state.store() else {
        return plain(StatusCode::SERVICE_UNAVAILABLE, "the store is not open");
    };
    let info = match store.file_info(&pack, &path) {
        Ok(info) => info,
        Err(Error::NoSuchFile { .. }) => return plain(StatusCode::NOT_FOUND, "no such file in this pack"),
        Err(e) => return plain(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    let range = request
        .headers()
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| parse_range(r, info.size));
    let (status, start, end) = match range {
        Some((a, b)) => (StatusCode::PARTIAL_CONTENT, a, b),
        None if info.size <= WHOLE_LIMIT => (StatusCode::OK, 0, info.size),
        None => (StatusCode::PARTIAL_CONTENT, 0, OPEN_RANGE.min(info.size)),
    };
    if request.headers().contains_key(header::RANGE) && range.is_none() {
        return Response::builder()
            .status(StatusCode::RANGE_NOT_SATISFIABLE)
            .header(header::CONTENT_RANGE, format!("bytes */{}", info.size))
            .body(Vec::new())
            .expect("valid response");
    }
    let media = app.try_state::<MediaServer>().map(|m| m.pack_prefix(&pack));
    let mut body = if request.method() == Method::HEAD {
        Vec::new()
    } else {
        match store.read_range(&pack, &path, start, end) {
            Ok(bytes) => bytes,
            Err(e) => return plain(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
        }
    };
    let mut end = end;
    let mut nonce = None;
    if info.media_type == "text/html"
        && status == StatusCode::OK
        && let (Some(prefix), Ok(html)) = (&media, std::str::from_utf8(&body))
    {
        let n = new_nonce();
        let mut page = point_media_at(html, &path, prefix);
        page.insert_str(tracker_at(&page), &format!("<script nonce=\"{n}\">{TRACKER}</script>"));
        body = page.into_bytes();
        end = start + body.len() as u64;
        nonce = Some(n);
    }
    let content_type = match info.media_type.as_str() {
        t @ ("text/html" | "text/css" | "text/plain" | "image/svg+xml") => format!("{t}; charset=utf-8"),
        t => t.to_owned(),
    };
    let mut response = Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CONTENT_LENGTH, end - start)
        .header(header::ACCEPT_RANGES, "bytes")
        .header(header::CONTENT_SECURITY_POLICY, policy(&pack, media.as_deref(), nonce.as_deref()))
        .header("X-Content-Type-Options", "nosniff")
        .header(header::CACHE_CONTROL, "no-store");
    if status == StatusCode::PARTIAL_CONTENT {
        response =
            response.header(header::CONTENT_RANGE, format!("bytes {start}-{}/{}", end.max(1) - 1, info.size));
    }
    response.body(body).expect("valid response")
}

/// The lesson's policy: its own pack's files only (media through its own
/// prefix of the loopback media server); no network, forms or popups. The
/// only script is Kalamu's position tracker, by a nonce no lesson can know.
fn policy(pack: &str, media: Option<&str>, nonce: Option<&str>) -> String {
    let own = format!("{SCHEME}://{pack}");
    let media = media.unwrap_or_default();
    let scripts = match nonce {
        Some(n) => format!("script-src 'nonce-{n}'; sandbox allow-scripts"),
        None => "sandbox".to_owned(),
    };
    format!(
        "default-src 'none'; img-src {own} data:; media-src {own} {media}; style-src {own} 'unsafe-inline'; \
         font-src {own}; frame-src 'none'; form-action 'none'; base-uri 'none'; {scripts}"
    )
}

/// Kalamu's script in every lesson page: reports positions, restores them.
const TRACKER: &str = include_str!("lesson_tracker.js");

/// Where the tracker goes: right after the page's doctype, or at its very
/// start, before any byte of the lesson's markup, where no unclosed tag can
/// swallow it and the doctype still decides the page's mode.
fn tracker_at(page: &str) -> usize {
    let lead = page.len() - page.trim_start_matches(['\u{feff}', ' ', '\t', '\r', '\n']).len();
    let rest = &page[lead..];
    if rest.len() >= 9 && rest[..9].eq_ignore_ascii_case("<!doctype") {
        return rest.find('>').map_or(0, |end| lead + end + 1);
    }
    0
}

/// A fresh nonce for one page's script.
fn new_nonce() -> String {
    let mut raw = [0u8; 18];
    getrandom::fill(&mut raw).expect("the OS has randomness");
    raw.iter().map(|b| format!("{b:02x}")).collect()
}

/// Points the relative `src` of `<video>`, `<audio>`, `<source>` and `<track>`
/// tags at the media server; every other byte of the page is kept.
fn point_media_at(html: &str, page: &str, prefix: &str) -> String {
    let mut out = String::with_capacity(html.len() + 256);
    let mut rest = html;
    while let Some(open) = rest.find('<') {
        out.push_str(&rest[..open]);
        rest = &rest[open..];
        let close = rest.find('>').map_or(rest.len(), |i| i + 1);
        let tag = &rest[..close];
        let name: String = tag[1..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        if matches!(name.as_str(), "video" | "audio" | "source" | "track") {
            out.push_str(&rewrite_src(tag, page, prefix));
        } else {
            out.push_str(tag);
        }
        rest = &rest[close..];
    }
    out.push_str(rest);
    out
}

fn rewrite_src(tag: &str, page: &str, prefix: &str) -> String {
    let lower = tag.to_ascii_lowercase();
    let Some(at) = lower.find(" src=") else { return tag.to_owned() };
    let value_start = at + " src=".len();
    let Some(quote @ ('"' | '\'')) = tag[value_start..].chars().next() else { return tag.to_owned() };
    let Some(len) = tag[value_start + 1..].find(quote) else { return tag.to_owned() };
    let value = &tag[value_start + 1..value_start + 1 + len];
    if value.contains(':') || value.starts_with("//") {
        return tag.to_owned(); // absolute: left as is, and the policy decides
    }
    let Some(resolved) =
        kalamu_core::pack::path::resolve(page, value.split(['?', '#']).next().unwrap_or(value))
    else {
        return tag.to_owned();
    };
    let encoded: Vec<String> = resolved.split('/').map(percent_encode).collect();
    format!(
        "{}{quote}{prefix}{}{quote}{}",
        &tag[..value_start],
        encoded.join("/"),
        &tag[value_start + 2 + len..]
    )
}

fn percent_encode(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn plain(status: StatusCode, message: &str) -> Response<Vec<u8>> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .header(header::CONTENT_SECURITY_POLICY, "default-src 'none'; sandbox")
        .body(message.as_bytes().to_vec())
        .expect("valid response")
}

/// `bytes=a-b`, `bytes=a-` or `bytes=-n` as a half-open range within `size`.
pub(crate) fn parse_range(header: &str, size: u64) -> Option<(u64, u64)> {
    let spec = header.strip_prefix("bytes=")?.split(',').next()?.trim();
    let (a, b) = spec.split_once('-')?;
    let (start, end) = match (a.trim(), b.trim()) {
        ("", n) => {
            let n: u64 = n.parse().ok()?;
            (size.saturating_sub(n), size)
        }
        (a, "") => {
            let a: u64 = a.parse().ok()?;
            (a, size.min(a.saturating_add(OPEN_RANGE)))
        }
        (a, b) => (a.parse().ok()?, b.parse::<u64>().ok()?.saturating_add(1).min(size)),
    };
    (start < end && end <= size).then_some((start, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tracker_goes_before_the_lesson_markup_and_after_its_doctype() {
        let page = "\u{feff}\n<!DOCTYPE html>\n<html><body><img src=\"";
        assert_eq!(&page[tracker_at(page)..], "\n<html><body><img src=\"");
        assert_eq!(tracker_at("<html><p>no doctype"), 0);
        assert_eq!(tracker_at("<!doctype html"), 0, "an unclosed doctype: at the very start");
    }

    #[test]
    fn ranges_are_read_as_media_players_send_them() {
        assert_eq!(parse_range("bytes=0-99", 1000), Some((0, 100)));
        assert_eq!(parse_range("bytes=900-", 1000), Some((900, 1000)));
        assert_eq!(parse_range("bytes=-100", 1000), Some((900, 1000)));
        assert_eq!(parse_range("bytes=0-5000", 1000), Some((0, 1000)));
        assert_eq!(parse_range("bytes=1000-", 1000), None);
        assert_eq!(parse_range("items=0-1", 1000), None);
    }

    #[test]
    fn lesson_media_is_pointed_at_the_media_server() {
        let page = r#"<p src="x.png"><VIDEO controls src="../../media/clip 1.webm"></VIDEO><audio src='https://example.org/a.ogg'>"#;
        let out = point_media_at(page, "lessons/l1/index.html", "http://127.0.0.1:9/t/p/");
        assert!(out.contains(r#"src="http://127.0.0.1:9/t/p/media/clip%201.webm""#), "{out}");
        assert!(out.contains(r#"<p src="x.png">"#) && out.contains("https://example.org/a.ogg"), "{out}");
    }
}
