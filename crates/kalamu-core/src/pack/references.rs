//! The addresses a lesson page or a stylesheet names, found by a textual
//! scan (no HTML or CSS parser), for the builder to check against the pack's
//! files. The rules are those of FORMAT.md, section 8.4. Names are matched
//! whatever their case, as browsers do (`SRC=`, `URL(`, `@IMPORT`). This is
//! a publishing aid: the lesson sandbox, not this scan, is the defence.

/// Attributes whose value is one address (matched as suffixes, so
/// `formaction=` is `action=` and `xlink:href=` is `href=`).
const ADDRESS_ATTRIBUTES: [&str; 7] =
    ["src=", "href=", "poster=", "action=", "data=", "background=", "ping="];

/// The addresses `text` names: in HTML, the values of the attributes above
/// and every candidate of `srcset=` (and `imagesrcset=`) written inside a
/// tag, and the address of a `<meta http-equiv="refresh">`; in HTML and CSS,
/// every `url(...)`, `@import "..."` and the strings of `image-set(...)`.
pub(super) fn in_text(text: &str, html: bool) -> Vec<&str> {
    // ASCII case folding keeps every byte where it was, so positions found
    // in `lower` slice `text` itself.
    let lower = text.to_ascii_lowercase();
    let mut out = Vec::new();
    if html {
        for attr in ADDRESS_ATTRIBUTES.iter().chain(&["srcset="]) {
            for value in attribute_values(text, &lower, attr) {
                if *attr == "srcset=" {
                    out.extend(srcset_addresses(value));
                } else {
                    out.push(value);
                }
            }
        }
        out.extend(meta_refreshes(text, &lower));
    }
    for (at, _) in lower.match_indices("url(") {
        let rest = &text[at + 4..];
        if let Some(end) = rest.find(')') {
            out.push(rest[..end].trim_matches(['"', '\'', ' ']));
        }
    }
    for (at, _) in lower.match_indices("@import") {
        let rest = text[at + 7..].trim_start();
        if let Some(q @ ('"' | '\'')) = rest.chars().next()
            && let Some(end) = rest[1..].find(q)
        {
            out.push(&rest[1..1 + end]);
        }
    }
    for (at, _) in lower.match_indices("image-set(") {
        let inner = &text[at + 10..];
        let inner = &inner[..inner.find(')').unwrap_or(inner.len())];
        out.extend(quoted_strings(inner));
    }
    out
}

/// The strings in double or single quotes in `text`.
fn quoted_strings(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find(['"', '\'']) {
        let q = &rest[open..open + 1];
        let Some(len) = rest[open + 1..].find(q) else { break };
        out.push(&rest[open + 1..open + 1 + len]);
        rest = &rest[open + 2 + len..];
    }
    out
}

/// The address each `<meta http-equiv="refresh" content="0; url=…">` loads.
fn meta_refreshes<'a>(text: &'a str, lower: &str) -> Vec<&'a str> {
    let mut out = Vec::new();
    for (at, _) in lower.match_indices("<meta") {
        let tag = &lower[at..at + lower[at..].find('>').unwrap_or(lower.len() - at)];
        if !tag.contains("refresh") {
            continue;
        }
        let Some(url) = tag.find("url=") else { continue };
        let start = at + url + 4;
        let value = text[start..].trim_start_matches([' ', '"', '\'']);
        let end = value.find(['"', '\'', '>', ' ', ';']).unwrap_or(value.len());
        out.push(&value[..end]);
    }
    out
}

/// The values of attribute `attr` (`"src="`), quoted or not, where it stands
/// inside a tag: in text shown as code (`&lt;img src=…`) or in a script
/// (`img.src=…`) it is no reference.
fn attribute_values<'a>(text: &'a str, lower: &str, attr: &str) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(i) = lower[at..].find(attr) {
        let before = &text[..at + i];
        at += i + attr.len();
        let in_tag = match (before.rfind('<'), before.rfind('>')) {
            (Some(open), Some(close)) => open > close,
            (open, _) => open.is_some(),
        };
        if !in_tag {
            continue;
        }
        let rest = &text[at..];
        match rest.chars().next() {
            Some(q @ ('"' | '\'')) => {
                if let Some(end) = rest[1..].find(q) {
                    out.push(&rest[1..1 + end]);
                }
            }
            Some(c) if !c.is_whitespace() && c != '>' => {
                let end = rest.find(|c: char| c.is_whitespace() || c == '>').unwrap_or(rest.len());
                out.push(&rest[..end]);
            }
            _ => {}
        }
    }
    out
}

/// The address of each candidate of a `srcset` value (`a.png 1x, b.png 2x`).
/// As in HTML, an address runs to the next space, so the commas inside a
/// `data:` address do not split it; a comma right after it ends the candidate.
fn srcset_addresses(value: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = value;
    loop {
        rest = rest.trim_start_matches(|c: char| c.is_whitespace() || c == ',');
        if rest.is_empty() {
            return out;
        }
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let (address, tail) = rest.split_at(end);
        let bare = address.trim_end_matches(',');
        out.push(bare);
        rest = if bare.len() < address.len() {
            tail
        } else {
            // Skip the descriptor (`2x`, `640w`) up to the next candidate.
            tail.find(',').map_or("", |c| &tail[c + 1..])
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_count_only_inside_tags() {
        let page = r#"<img src="a.png" srcset="b.png 2x"><video poster=c.png src='d.webm'></video>
<pre><code>&lt;img src=&quot;shown.png&quot;&gt;</code></pre>
<script>img.src=other;</script><a href=#top>top</a>"#;
        assert_eq!(in_text(page, true), vec!["a.png", "d.webm", "#top", "c.png", "b.png"]);
    }

    #[test]
    fn every_case_and_every_attribute_that_loads_an_address_counts() {
        let page = r#"<IMG SRC="a.png"><form action="send.html"><button formaction=go.html>
<object data="b.swf"></object><body background='bg.gif'><meta http-equiv="Refresh" content="0; URL='next.html'">
<div style="BACKGROUND: URL(c.png)"></div><link rel=preload imagesrcset="d.png 2x">"#;
        let mut found = in_text(page, true);
        found.sort_unstable();
        let expected = ["a.png", "b.swf", "bg.gif", "c.png", "d.png", "go.html", "next.html", "send.html"];
        assert_eq!(found, expected);
        let css = "@IMPORT 'print.css';\nh1 { background: image-set(\"e.png\" 1x, 'f.png' 2x) }";
        assert_eq!(in_text(css, false), vec!["print.css", "e.png", "f.png"]);
    }

    #[test]
    fn srcset_candidates_are_split_as_html_does() {
        assert_eq!(srcset_addresses("pic.png 1x,  pic-2x.png 2x"), vec!["pic.png", "pic-2x.png"]);
        assert_eq!(
            srcset_addresses("data:image/png;base64,AAAA 1x, b.png 2x"),
            vec!["data:image/png;base64,AAAA", "b.png"]
        );
        assert_eq!(srcset_addresses("a.png, b.png 640w,c.png"), vec!["a.png", "b.png", "c.png"]);
    }

    #[test]
    fn stylesheets_name_files_by_url_and_import_only() {
        let css = "@import 'print.css' print;\n@import url(\"fonts.css\");\na[href=foo] { background: url(bg.png) }";
        assert_eq!(in_text(css, false), vec!["fonts.css", "bg.png", "print.css"]);
    }
}
