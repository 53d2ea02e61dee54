//! Hostile packs: each attack gets its specific error, and the store and
//! the disk outside the data dir are left exactly as they were.

use std::fs;

use kalamu_core::Error;
use kalamu_core::pack::manifest::{FileEntry, Manifest};
use kalamu_core::pack::{MANIFEST_NAME, SIGNATURE_NAME};

use crate::rawzip::{self, Entry};
use crate::support::{Env, png};

/// A valid pack's manifest and content entries, to be tampered with.
fn parts(env: &Env) -> (Manifest, Vec<(String, Vec<u8>)>) {
    let src = env.source("src");
    let (pack, report) = env.build(&src, "valid");
    let files = rawzip::read(&fs::read(pack).unwrap())
        .into_iter()
        .filter(|(n, _)| n != MANIFEST_NAME && n != SIGNATURE_NAME)
        .collect();
    (report.manifest, files)
}

/// Manifest and signature entries, signed by the trusted key.
fn signed(env: &Env, manifest: &Manifest) -> Vec<Entry> {
    let bytes = manifest.to_bytes();
    let sig = serde_json::to_vec(&env.key.sign(&bytes)).unwrap();
    vec![Entry::new(MANIFEST_NAME, &bytes), Entry::new(SIGNATURE_NAME, &sig)]
}

fn entries(files: &[(String, Vec<u8>)]) -> Vec<Entry> {
    files.iter().map(|(n, d)| Entry::new(n, d)).collect()
}

fn listed(path: &str, data: &[u8]) -> FileEntry {
    FileEntry {
        path: path.into(),
        size: data.len() as u64,
        blake3: blake3::hash(data).to_hex().to_string(),
        media_type: kalamu_core::pack::manifest::media_type_for(path).into(),
    }
}

/// Imports `bytes` as a pack and checks the refusal and that nothing changed.
fn assert_refused(env: &Env, bytes: &[u8], code: &str) -> String {
    // A pack already installed, so "unchanged" means more than "empty".
    if env.store().packs().unwrap().is_empty() {
        let other = env.path("other");
        crate::support::small_source(&other, "1.0.0");
        let toml = fs::read_to_string(other.join("pack.toml"))
            .unwrap()
            .replace("org.example.test", "org.example.installed");
        fs::write(other.join("pack.toml"), toml).unwrap();
        let (pack, _) = env.build(&other, "installed");
        env.import(&pack).unwrap();
    }
    let pack = env.path("hostile.kpack");
    fs::write(&pack, bytes).unwrap();
    let before = env.snapshot();
    let outside = env.outside_listing();
    let err = env.import(&pack).expect_err("a hostile pack was imported");
    let message = err.to_string();
    match &err {
        Error::Pack { problem, .. } => assert_eq!(problem.code(), code, "wrong problem: {message}"),
        other => panic!("expected {code}, got {other}"),
    }
    assert_eq!(env.snapshot(), before, "the store changed after refusing: {message}");
    assert_eq!(env.outside_listing(), outside, "files appeared outside the data dir: {message}");
    message
}

#[test]
fn import_rejects_path_escape() {
    let env = Env::new();
    let (mut m, files) = parts(&env);
    for evil in
        ["../evil.html", "lessons/../../evil.html", "/tmp/evil.html", "C:/evil.html", "lessons\\evil.html"]
    {
        let data = b"<p>gotcha</p>";
        m.files.push(listed(evil, data));
        let mut zip = signed(&env, &m);
        zip.extend(entries(&files));
        zip.push(Entry::new(evil, data));
        let msg = assert_refused(&env, &rawzip::write(&zip), "unsafe_path");
        assert!(msg.contains("unsafe"), "{msg}");
        m.files.pop();
    }
}

#[test]
fn import_rejects_symbolic_links() {
    let env = Env::new();
    let (m, files) = parts(&env);
    let mut zip = signed(&env, &m);
    zip.extend(entries(&files));
    zip.push(Entry { unix_mode: Some(0o120777), ..Entry::new("media/link.txt", b"/etc/passwd") });
    assert_refused(&env, &rawzip::write(&zip), "link");
}

#[test]
fn import_rejects_zip_bomb_before_inflating_it() {
    let env = Env::new();
    let (mut m, files) = parts(&env);
    // 256 MiB of zeros deflates to a quarter of a megabyte; the manifest claims 1 KiB.
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .compression_level(Some(1));
    let bomb_manifest_entry = listed("media/notes.txt", &[b'a'; 1024]);
    m.files.push(bomb_manifest_entry);
    for e in signed(&env, &m).into_iter().chain(entries(&files)) {
        w.start_file(String::from_utf8(e.name).unwrap(), opts).unwrap();
        std::io::Write::write_all(&mut w, &e.data).unwrap();
    }
    w.start_file("media/notes.txt", opts.large_file(false)).unwrap();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..256 {
        std::io::Write::write_all(&mut w, &zeros).unwrap();
    }
    let bytes = w.finish().unwrap().into_inner();
    assert!(bytes.len() < 8 << 20);
    let msg = assert_refused(&env, &bytes, "size_mismatch");
    assert!(msg.contains("1024 bytes"), "{msg}");
}

#[test]
fn import_rejects_header_that_lies_about_size() {
    let env = Env::new();
    let (m, files) = parts(&env);
    let mut zip = signed(&env, &m);
    for (n, d) in &files {
        let mut e = Entry::new(n, d);
        if n == "style.css" {
            e.declared_size = Some(d.len() as u32 - 3); // headers say less than the data holds
        }
        zip.push(e);
    }
    assert_refused(&env, &rawzip::write(&zip), "size_mismatch");
}

#[test]
fn import_rejects_duplicate_entries() {
    let env = Env::new();
    let (m, files) = parts(&env);
    let mut zip = signed(&env, &m);
    zip.extend(entries(&files));
    zip.push(Entry::new("style.css", b"body { background: url(evil) }"));
    let msg = assert_refused(&env, &rawzip::write(&zip), "duplicate_entry");
    assert!(msg.contains("style.css"), "{msg}");
}

#[test]
fn import_rejects_names_that_differ_only_by_case() {
    let env = Env::new();
    let (mut m, files) = parts(&env);
    let data = b"body {}";
    m.files.push(listed("STYLE.css", data));
    let mut zip = signed(&env, &m);
    zip.extend(entries(&files));
    zip.push(Entry::new("STYLE.css", data));
    assert_refused(&env, &rawzip::write(&zip), "case_collision");
}

#[test]
fn import_rejects_missing_listed_file() {
    let env = Env::new();
    let (m, files) = parts(&env);
    let mut zip = signed(&env, &m);
    zip.extend(entries(&files).into_iter().filter(|e| e.name != b"lessons/intro/pic.png"));
    let msg = assert_refused(&env, &rawzip::write(&zip), "missing_file");
    assert!(msg.contains("lessons/intro/pic.png"), "{msg}");
}

#[test]
fn import_rejects_unlisted_entry() {
    let env = Env::new();
    let (m, files) = parts(&env);
    let mut zip = signed(&env, &m);
    zip.extend(entries(&files));
    zip.push(Entry::new("lessons/intro/extra.html", b"<p>smuggled</p>"));
    assert_refused(&env, &rawzip::write(&zip), "unlisted_entry");
}

#[test]
fn import_rejects_content_that_does_not_match_its_hash() {
    let env = Env::new();
    let (m, mut files) = parts(&env);
    for (n, d) in files.iter_mut() {
        if n == "media/clip.webm" {
            let last = d.len() - 1;
            d[last] ^= 0xff; // same size, CRC recomputed by the zip writer
        }
    }
    let mut zip = signed(&env, &m);
    zip.extend(entries(&files));
    let msg = assert_refused(&env, &rawzip::write(&zip), "hash_mismatch");
    assert!(msg.contains("media/clip.webm"), "{msg}");
}

#[test]
fn import_rejects_manifest_altered_after_signing() {
    let env = Env::new();
    let (m, files) = parts(&env);
    let mut zip = signed(&env, &m);
    let mut altered = m.clone();
    altered.title = "Totally legitimate pack".into();
    zip[0] = Entry::new(MANIFEST_NAME, &altered.to_bytes());
    zip.extend(entries(&files));
    assert_refused(&env, &rawzip::write(&zip), "bad_signature");
}

#[test]
fn import_rejects_malformed_signature() {
    let env = Env::new();
    let (m, files) = parts(&env);
    let mut zip = signed(&env, &m);
    zip[1] = Entry::new(SIGNATURE_NAME, br#"{"algorithm":"ed25519","public_key":"00","signature":"zz"}"#);
    zip.extend(entries(&files));
    assert_refused(&env, &rawzip::write(&zip), "malformed_signature");
}

#[test]
fn import_rejects_truncated_archive() {
    let env = Env::new();
    let src = env.source("src");
    let (pack, _) = env.build(&src, "valid");
    let bytes = fs::read(pack).unwrap();
    for cut in [bytes.len() / 2, bytes.len() - 10, 100] {
        assert_refused(&env, &bytes[..cut], "truncated");
    }
}

#[test]
fn import_rejects_file_that_is_not_a_zip() {
    let env = Env::new();
    assert_refused(&env, b"this is a letter, not a course pack", "not_a_zip");
    assert_refused(&env, b"", "not_a_zip");
}

#[test]
fn import_rejects_invalid_manifest() {
    let env = Env::new();
    let (_, files) = parts(&env);
    for (manifest, code) in [
        (&b"{ not json"[..], "invalid_manifest"),
        (br#"{"format": 1, "id": "x"}"#, "invalid_manifest"),
        (br#"{"format": 99}"#, "unsupported_format"),
    ] {
        let mut zip = vec![Entry::new(MANIFEST_NAME, manifest)];
        zip.extend(entries(&files));
        assert_refused(&env, &rawzip::write(&zip), code);
    }
    let mut zip = entries(&files);
    zip.retain(|e| e.name != MANIFEST_NAME.as_bytes());
    assert_refused(&env, &rawzip::write(&zip), "missing_manifest");
}

#[test]
fn import_rejects_manifest_with_a_bad_version_or_quiz() {
    let env = Env::new();
    let (m, files) = parts(&env);
    let mut bad_version = m.clone();
    bad_version.version = "one point oh".into();
    let mut no_answer = m.clone();
    if let Some(quiz) = no_answer.modules[0].lessons[1].quiz.as_mut() {
        quiz.items[3].kind = kalamu_core::pack::manifest::QuizKind::Text { answers: vec![" ".into()] };
    }
    for bad in [bad_version, no_answer] {
        let mut zip = signed(&env, &bad);
        zip.extend(entries(&files));
        assert_refused(&env, &rawzip::write(&zip), "invalid_manifest");
    }
}

#[test]
fn import_rejects_a_quiz_item_with_a_field_its_type_does_not_have() {
    let env = Env::new();
    let (m, files) = parts(&env);
    let mut json: serde_json::Value = serde_json::from_slice(&m.to_bytes()).unwrap();
    let item = &mut json["modules"][0]["lessons"][1]["quiz"]["items"][0];
    assert_eq!(item["type"], "single");
    // Several right answers on a one-answer item: refused, not silently dropped.
    item["answers"] = serde_json::json!([0, 1]);
    let bytes = serde_json::to_vec(&json).unwrap();
    let sig = serde_json::to_vec(&env.key.sign(&bytes)).unwrap();
    let mut zip = vec![Entry::new(MANIFEST_NAME, &bytes), Entry::new(SIGNATURE_NAME, &sig)];
    zip.extend(entries(&files));
    let msg = assert_refused(&env, &rawzip::write(&zip), "invalid_manifest");
    assert!(msg.contains("unknown field `answers`"), "{msg}");
}

#[test]
fn import_rejects_lesson_file_that_is_not_what_it_claims() {
    let env = Env::new();
    let (mut m, mut files) = parts(&env);
    let disguised = b"<html><script>parent.postMessage('pwned','*')</script></html>".to_vec();
    for (n, d) in files.iter_mut() {
        if n == "lessons/intro/pic.png" {
            *d = disguised.clone();
        }
    }
    let i = m.files.iter().position(|f| f.path == "lessons/intro/pic.png").unwrap();
    m.files[i] = listed("lessons/intro/pic.png", &disguised);
    let mut zip = signed(&env, &m);
    zip.extend(entries(&files));
    let msg = assert_refused(&env, &rawzip::write(&zip), "not_what_it_claims");
    assert!(msg.contains("image/png"), "{msg}");
    let _ = png(0, 0);
}

#[test]
fn import_rejects_oversized_manifest() {
    let env = Env::new();
    let (_, files) = parts(&env);
    let mut zip = vec![Entry::new(MANIFEST_NAME, &vec![b' '; 9 << 20])];
    zip.extend(entries(&files));
    assert_refused(&env, &rawzip::write(&zip), "too_large");
}
