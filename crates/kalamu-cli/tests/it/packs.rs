//! The pack commands end to end, as a publisher and center staff use them.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::{kalamu, stderr, stdout};

fn course_packs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../course-packs")
}

/// A publisher key and both sample packs built and signed with it.
fn publisher(dir: &Path) -> (String, PathBuf, PathBuf) {
    let key = dir.join("publisher.key");
    let out = kalamu(dir, &["pack", "keygen", "--out", key.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let public = stdout(&out).trim().to_owned();
    assert_eq!(public.len(), 64);
    let mut packs = Vec::new();
    for name in ["networks-intro", "bases-informatique"] {
        let pack = dir.join(format!("{name}.kpack"));
        let src = course_packs().join(name);
        let out = kalamu(
            dir,
            &[
                "pack",
                "build",
                src.to_str().unwrap(),
                "--out",
                pack.to_str().unwrap(),
                "--key",
                key.to_str().unwrap(),
            ],
        );
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(stdout(&out).contains(&public), "build names the signer");
        packs.push(pack);
    }
    (public, packs.remove(0), packs.remove(0))
}

#[test]
fn staff_trusts_a_publisher_then_imports_lists_and_removes_packs() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (public, networks, bases) = publisher(dir.path());

    let refused = kalamu(&data, &["import", networks.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(stderr(&refused).contains("unknown publisher") && stderr(&refused).contains(&public));

    let trusted = kalamu(&data, &["trust", "add", &public, "--name", "Kalamu samples"]);
    assert!(trusted.status.success(), "{}", stderr(&trusted));
    let list = kalamu(&data, &["trust", "list", "--json"]);
    assert!(stdout(&list).contains("Kalamu samples"));

    for pack in [&networks, &bases] {
        let out = kalamu(&data, &["import", pack.to_str().unwrap()]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(stdout(&out).contains("signed by Kalamu samples"), "{}", stdout(&out));
    }
    let packs: serde_json::Value =
        serde_json::from_str(&stdout(&kalamu(&data, &["packs", "--json"]))).unwrap();
    let titles: Vec<_> = packs.as_array().unwrap().iter().map(|p| p["title"].as_str().unwrap()).collect();
    assert_eq!(titles, ["Introduction to computer networks", "Les bases de l'informatique"]);

    let again = kalamu(&data, &["import", bases.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(1));
    assert!(stderr(&again).contains("1.0.0 is already installed"), "{}", stderr(&again));

    let removed = kalamu(&data, &["remove", "org.kalamu.samples.networks-intro"]);
    assert!(removed.status.success(), "{}", stderr(&removed));
    let packs: serde_json::Value =
        serde_json::from_str(&stdout(&kalamu(&data, &["packs", "--json"]))).unwrap();
    assert_eq!(packs.as_array().unwrap().len(), 1);
}

#[test]
fn verify_and_inspect_describe_a_pack_and_catch_tampering() {
    let dir = tempfile::tempdir().unwrap();
    let (public, networks, _) = publisher(dir.path());
    let ok = kalamu(dir.path(), &["pack", "verify", networks.to_str().unwrap()]);
    assert!(ok.status.success(), "{}", stderr(&ok));

    let inspect = kalamu(dir.path(), &["pack", "inspect", networks.to_str().unwrap(), "--json"]);
    let info: serde_json::Value = serde_json::from_str(&stdout(&inspect)).unwrap();
    assert_eq!(info["signer"], public.as_str());
    assert_eq!(info["manifest"]["id"], "org.kalamu.samples.networks-intro");
    assert!(info["total_bytes"].as_u64().unwrap() > 50_000);

    // Flip one byte inside the stored (uncompressed) video.
    let mut bytes = fs::read(&networks).unwrap();
    let at = bytes.windows(4).position(|w| w == b"\x1a\x45\xdf\xa3").unwrap() + 5000;
    bytes[at] ^= 0x55;
    let tampered = dir.path().join("tampered.kpack");
    fs::write(&tampered, bytes).unwrap();
    let bad = kalamu(dir.path(), &["pack", "verify", tampered.to_str().unwrap()]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(stderr(&bad).contains("packet-hop.webm"), "{}", stderr(&bad));
}

#[test]
fn unsigned_pack_verifies_only_when_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let pack = dir.path().join("u.kpack");
    let src = course_packs().join("networks-intro");
    let out = kalamu(dir.path(), &["pack", "build", src.to_str().unwrap(), "--out", pack.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let strict = kalamu(dir.path(), &["pack", "verify", pack.to_str().unwrap()]);
    assert_eq!(strict.status.code(), Some(1));
    assert!(stderr(&strict).contains("not signed"));
    let lenient = kalamu(dir.path(), &["pack", "verify", pack.to_str().unwrap(), "--allow-unsigned"]);
    assert!(lenient.status.success());
}

/// An import killed with SIGKILL half-way leaves the library as it was, and
/// the retried import does not write again the chunks already stored.
#[test]
fn killed_import_leaves_library_unchanged_and_retry_reuses_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let src = dir.path().join("src");
    let lesson = src.join("lessons/film");
    fs::create_dir_all(&lesson).unwrap();
    fs::write(
        src.join("pack.toml"),
        "format = 1\nid = \"org.example.film\"\nversion = \"1.0.0\"\ntitle = \"Film\"\nlanguage = \"en\"\npublisher = \"Test\"\n\
         [[modules]]\nid = \"m\"\ntitle = \"M\"\n[[modules.lessons]]\nid = \"film\"\ntitle = \"Film\"\nentry = \"lessons/film/index.html\"\n",
    )
    .unwrap();
    fs::write(lesson.join("index.html"), "<!doctype html><video src=\"film.webm\"></video>").unwrap();
    let mut video = b"\x1a\x45\xdf\xa3".to_vec();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    while video.len() < 256 << 20 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        video.extend_from_slice(&x.to_le_bytes());
    }
    fs::write(lesson.join("film.webm"), &video).unwrap();
    drop(video);
    let pack = dir.path().join("film.kpack");
    let built =
        kalamu(dir.path(), &["pack", "build", src.to_str().unwrap(), "--out", pack.to_str().unwrap()]);
    assert!(built.status.success(), "{}", stderr(&built));
    // Create the store first so the kill lands in the middle of the content.
    assert!(kalamu(&data, &["packs"]).status.success());

    let mut child = Command::new(env!("CARGO_BIN_EXE_kalamu"))
        .arg("--data")
        .arg(&data)
        .args(["import", "--allow-unsigned"])
        .arg(&pack)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let chunks = data.join("chunks.db");
    let deadline = Instant::now() + Duration::from_secs(60);
    while fs::metadata(&chunks).map(|m| m.len()).unwrap_or(0) < 96 << 20 {
        assert!(Instant::now() < deadline, "the import never got going");
        assert!(child.try_wait().unwrap().is_none(), "the import finished before it could be killed");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    let packs = kalamu(&data, &["packs", "--json"]);
    assert!(packs.status.success(), "the store opens after a kill: {}", stderr(&packs));
    assert_eq!(stdout(&packs).trim(), "[]", "a killed import must not show a half-installed pack");

    let retry = kalamu(&data, &["import", "--allow-unsigned", pack.to_str().unwrap()]);
    assert!(retry.status.success(), "{}", stderr(&retry));
    let report = stdout(&retry);
    let reused: u64 = report
        .split(" chunks already stored")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(reused >= 64, "the retry should reuse the chunks stored before the kill: {report}");
    let packs = stdout(&kalamu(&data, &["packs", "--json"]));
    assert!(packs.contains("org.example.film"));
}
