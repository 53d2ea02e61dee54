//! Shared fixtures: small source folders, a data dir with a trusted key,
//! and snapshots of everything the store holds.

use std::fs;
use std::path::{Path, PathBuf};

use kalamu_core::Store;
use kalamu_core::pack::build::{self, BuildReport};
use kalamu_core::pack::import::ImportOptions;
use kalamu_core::pack::sign::SecretKey;

/// A scratch folder with a data dir whose store trusts `key`.
pub struct Env {
    pub root: tempfile::TempDir,
    pub data: PathBuf,
    pub key: SecretKey,
}

impl Env {
    pub fn new() -> Env {
        let root = tempfile::tempdir().unwrap();
        let data = root.path().join("data");
        let key = SecretKey::generate().unwrap();
        Store::open_dir(&data).unwrap().trust_add(&key.public_hex(), "Test publisher").unwrap();
        Env { root, data, key }
    }

    pub fn store(&self) -> Store {
        Store::open_dir(&self.data).unwrap()
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.root.path().join(name)
    }

    /// Writes the small source folder `name` and returns its path.
    pub fn source(&self, name: &str) -> PathBuf {
        let src = self.path(name);
        small_source(&src, "1.0.0");
        src
    }

    /// Builds `src` into `name`.kpack, signed.
    pub fn build(&self, src: &Path, name: &str) -> (PathBuf, BuildReport) {
        let out = self.path(&format!("{name}.kpack"));
        let report = build::build(src, &out, Some(&self.key), &mut |_| {}).unwrap();
        (out, report)
    }

    pub fn import(&self, pack: &Path) -> kalamu_core::Result<kalamu_core::pack::import::ImportReport> {
        self.store().import_pack(pack, ImportOptions::default(), &mut |_| {})
    }

    /// Every row of every table of both store files, as text.
    pub fn snapshot(&self) -> String {
        let mut out = String::new();
        for file in ["kalamu.db", "chunks.db"] {
            let conn = rusqlite::Connection::open(self.data.join(file)).unwrap();
            let tables: Vec<String> = conn
                .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name <> 'schema_migrations' ORDER BY name")
                .unwrap()
                .query_map([], |r| r.get(0))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            for t in tables {
                let mut stmt = conn.prepare(&format!("SELECT * FROM {t} ORDER BY 1, 2")).unwrap();
                let cols = stmt.column_count();
                let rows = stmt
                    .query_map([], |r| {
                        Ok((0..cols)
                            .map(|i| format!("{:?}", r.get_ref(i).unwrap()))
                            .collect::<Vec<_>>()
                            .join("|"))
                    })
                    .unwrap();
                for row in rows {
                    out.push_str(&format!("{file}.{t}: {}\n", row.unwrap()));
                }
            }
        }
        out
    }

    /// Every path under the scratch root outside the data dir.
    pub fn outside_listing(&self) -> Vec<PathBuf> {
        fn walk(dir: &Path, skip: &Path, out: &mut Vec<PathBuf>) {
            for e in fs::read_dir(dir).unwrap() {
                let p = e.unwrap().path();
                if p == skip {
                    continue;
                }
                out.push(p.clone());
                if p.is_dir() {
                    walk(&p, skip, out);
                }
            }
        }
        let mut out = Vec::new();
        walk(self.root.path(), &self.data, &mut out);
        out.sort();
        out
    }
}

/// A PNG's signature followed by filler: enough for the type check.
pub fn png(fill: u8, len: usize) -> Vec<u8> {
    let mut v = b"\x89PNG\r\n\x1a\n".to_vec();
    v.resize(len, fill);
    v
}

/// A WebM's signature followed by pseudo-random bytes (incompressible, like real video).
pub fn webm(seed: u64, len: usize) -> Vec<u8> {
    let mut v = b"\x1a\x45\xdf\xa3".to_vec();
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407) | 1;
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(len);
    v
}

/// Writes a small but complete source folder: a lesson with an image and a
/// 3 MiB video, a stylesheet, and a quiz with every item type.
pub fn small_source(src: &Path, version: &str) {
    fs::create_dir_all(src.join("lessons/intro")).unwrap();
    fs::create_dir_all(src.join("media")).unwrap();
    fs::create_dir_all(src.join("quizzes")).unwrap();
    fs::write(
        src.join("pack.toml"),
        format!(
            r#"format = 1
id = "org.example.test"
version = "{version}"
title = "Test pack"
description = "A pack for tests."
language = "en"
publisher = "Test publisher"
licence = "CC0-1.0"

[[modules]]
id = "m1"
title = "Module one"

[[modules.lessons]]
id = "intro"
title = "Introduction"
entry = "lessons/intro/index.html"

[[modules.lessons]]
id = "check"
title = "Check"
quiz = "quizzes/m1.toml"
"#
        ),
    )
    .unwrap();
    fs::write(
        src.join("lessons/intro/index.html"),
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Intro</title>
<link rel="stylesheet" href="../../style.css"></head><body><h1>Intro</h1>
<img src="pic.png" alt="A picture"><video controls src="../../media/clip.webm"></video></body></html>"#,
    )
    .unwrap();
    fs::write(src.join("style.css"), "body { font-family: sans-serif; }\n").unwrap();
    fs::write(src.join("lessons/intro/pic.png"), png(7, 5000)).unwrap();
    fs::write(src.join("media/clip.webm"), webm(1, 3 * 1024 * 1024 + 123)).unwrap();
    fs::write(
        src.join("quizzes/m1.toml"),
        r#"[[items]]
id = "q1"
type = "single"
prompt = "Pick B"
choices = ["A", "B"]
answer = 1

[[items]]
id = "q2"
type = "multiple"
prompt = "Pick A and C"
choices = ["A", "B", "C"]
answers = [0, 2]

[[items]]
id = "q3"
type = "numeric"
prompt = "How many bits in a byte?"
answer = 8

[[items]]
id = "q4"
type = "text"
prompt = "Name the device that links networks"
answers = ["router"]
"#,
    )
    .unwrap();
}
