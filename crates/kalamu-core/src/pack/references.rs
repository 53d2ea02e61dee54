//! The addresses a lesson page or a stylesheet names, found by a textual
//! scan (no HTML or CSS parser), for the builder to check against the pack's
//! files. The rules are those of FORMAT.md, section 8.4.

/// The addresses `text` names: in HTML, the values of `src=`, `href=`,
/// `poster=` and every candidate of `srcset=` written inside a tag; in HTML
/// and CSS, every `url(...)` and `@import "..."`.
pub(super) fn in_text(text: &str, html: bool) -> Vec<&str> {
    let mut out = Vec::new();
    if html {
        for attr in ["src=", "href=", "poster=", "srcset="] {
            for value in attribute_values(text, attr) {
                if attr == "srcset=" {
                    out.extend(srcset_addresses(value));
                } else {
                    out.push(value);
                }
            }
        }
    }
    let mut rest = text;
    while let Some(i) = rest.find("url(") {
        rest = &rest[i + 4..];
        if let Some(end) = rest.find(')') {
            out.push(rest[..end].trim_matches(['"', '\'', ' ']));
        }
    }
    let mut rest = text;
    while let Some(i) = rest.find("@import") {
        rest = rest[i + 7..].trim_start();
        if let Some(q @ ('"' | '\'')) = rest.chars().next()
            && let Some(end) = rest[1..].find(q)
        {
            out.push(&rest[1..1 + end]);
        }
    }
    out
}

/// The values of attribute `attr` (`"src="`), quoted or not, where it stands
/// inside a tag: in text shown as code (`&lt;img src=…`) or in a script
/// (`img.src=…`) it is no reference.
fn attribute_values<'a>(text: &'a str, attr: &str) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(i) = text[at..].find(attr) {
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
