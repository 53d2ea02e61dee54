//! Which paths a pack may hold: relative, inside the pack, and storable on
//! Windows, macOS and Linux alike. The same rules serve the builder (to
//! warn a publisher early) and the importer (to refuse hostile packs).

use std::collections::HashMap;

use super::Problem;

/// Longest path accepted, in bytes.
pub const MAX_PATH_BYTES: usize = 240;

/// Device names Windows opens instead of a file, whatever the extension
/// (`nul.txt`, `COM¹.html`); the superscript digits and `CONIN$`/`CONOUT$`
/// count too, and `CLOCK$` on older systems.
const WINDOWS_RESERVED: &[&str] = &[
    "con", "prn", "aux", "nul", "conin$", "conout$", "clock$", "com0", "com1", "com2", "com3", "com4",
    "com5", "com6", "com7", "com8", "com9", "com¹", "com²", "com³", "lpt0", "lpt1", "lpt2", "lpt3", "lpt4",
    "lpt5", "lpt6", "lpt7", "lpt8", "lpt9", "lpt¹", "lpt²", "lpt³",
];

/// Checks that `path` is a safe, portable, relative path inside a pack.
pub fn check(path: &str) -> Result<(), Problem> {
    let bad = |why| Err(Problem::UnsafePath { path: path.to_owned(), why });
    if path.is_empty() {
        return bad("it is empty");
    }
    if path.len() > MAX_PATH_BYTES {
        return bad("it is longer than 240 bytes");
    }
    if path.contains('\\') {
        return bad("it contains a backslash");
    }
    if path.starts_with('/') {
        return bad("it is absolute");
    }
    let bytes = path.as_bytes();
    if bytes.len() >= 2 && bytes[1] == b':' && bytes[0].is_ascii_alphabetic() {
        return bad("it starts with a drive letter");
    }
    if path.chars().any(|c| c.is_control()) {
        return bad("it contains a control character");
    }
    if path.chars().any(|c| matches!(c, '<' | '>' | ':' | '"' | '|' | '?' | '*')) {
        return bad("it contains a character Windows cannot store (< > : \" | ? *)");
    }
    for segment in path.split('/') {
        match segment {
            "" => return bad("it has an empty segment (// or a trailing /)"),
            "." | ".." => return bad("it has a . or .. segment that could leave the pack"),
            _ => {}
        }
        if segment.ends_with('.') || segment.ends_with(' ') {
            return bad("a segment ends with a dot or a space, which Windows drops");
        }
        // Windows also drops the spaces before the extension: `NUL .txt` is NUL.
        let stem = segment.split('.').next().unwrap_or(segment).trim_end_matches(' ').to_ascii_lowercase();
        if WINDOWS_RESERVED.contains(&stem.as_str()) {
            return bad("a segment is a name Windows reserves (CON, NUL, COM1, …)");
        }
    }
    Ok(())
}

/// Finds the first two paths that differ only by case.
pub fn case_collision<'a>(paths: impl IntoIterator<Item = &'a str>) -> Result<(), Problem> {
    let mut seen: HashMap<String, &str> = HashMap::new();
    for p in paths {
        if let Some(other) = seen.insert(p.to_lowercase(), p)
            && other != p
        {
            return Err(Problem::CaseCollision { a: other.to_owned(), b: p.to_owned() });
        }
    }
    Ok(())
}

/// Resolves a reference found in a lesson (`../img/a.png`) against the
/// lesson's own path, or `None` when it would leave the pack.
pub fn resolve(base_file: &str, reference: &str) -> Option<String> {
    let mut parts: Vec<&str> = base_file.split('/').collect();
    parts.pop();
    for seg in reference.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            s => parts.push(s),
        }
    }
    Some(parts.join("/"))
}

/// Decodes `%XX` escapes; `None` for malformed escapes or text that is not UTF-8.
pub fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_paths_pass() {
        for p in [
            "index.html",
            "lessons/a-b/index.html",
            "media/Vidéo 1.webm",
            "a/b/c/d.e.f",
            "lessons/console.html",
            "com10.txt",
            "auxiliary/null.png",
        ] {
            check(p).unwrap();
        }
    }

    #[test]
    fn escaping_and_unportable_paths_are_refused() {
        for p in [
            "../etc/passwd",
            "a/../../b",
            "/etc/passwd",
            "C:/Windows/x",
            "c:evil",
            "a\\b",
            "a//b",
            "a/",
            "./a",
            "con.txt",
            "lessons/NUL",
            "Com¹.html",
            "lpt³",
            "media/CONIN$.js",
            "conout$",
            "NUL .txt",
            "lpt0.png",
            "file.",
            "a/b ",
            "what?.html",
            "tab\there",
            "",
        ] {
            assert!(matches!(check(p), Err(Problem::UnsafePath { .. })), "{p:?} was accepted");
        }
        assert!(check(&"a/".repeat(121)).is_err());
    }

    #[test]
    fn paths_are_percent_decoded() {
        assert_eq!(percent_decode("media/Vid%C3%A9o%201.webm").as_deref(), Some("media/Vidéo 1.webm"));
        assert_eq!(percent_decode("bad%zz"), None);
        assert_eq!(percent_decode("%ff"), None, "not UTF-8");
    }

    #[test]
    fn names_differing_by_case_collide() {
        assert!(case_collision(["a/Index.html", "a/b.html", "a/index.html"]).is_err());
        assert!(case_collision(["a/index.html", "b/index.html"]).is_ok());
    }

    #[test]
    fn references_resolve_relative_to_the_lesson() {
        assert_eq!(resolve("lessons/x/index.html", "pic.svg").unwrap(), "lessons/x/pic.svg");
        assert_eq!(resolve("lessons/x/index.html", "../../media/v.webm").unwrap(), "media/v.webm");
        assert_eq!(resolve("index.html", "../../etc/passwd"), None);
    }
}
