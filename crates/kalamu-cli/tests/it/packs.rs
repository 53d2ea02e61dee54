//! The pack commands end to end, as a publisher and center staff use them.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::{kalamu, stderr, stdout};

/// The sample packs' sources.
pub(crate) fn course_packs() -> PathBuf {
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
    let pack = film_pack(dir.path(), "org.example.film", 256);
    let mut child = import_until(&data, &pack, 96);
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    let packs = kalamu(&data, &["packs", "--json"]);
    assert!(packs.status.success(), "the store opens after a kill: {}", stderr(&packs));
    assert_eq!(stdout(&packs).trim(), "[]", "a killed import must not show a half-installed pack");

    let retry = kalamu(&data, &["import", "--allow-unsigned", pack.to_str().unwrap()]);
    assert!(retry.status.success(), "{}", stderr(&retry));
    assert!(
        chunks_reused(&stdout(&retry)) >= 64,
        "the retry reuses the chunks stored before the kill: {}",
        stdout(&retry)
    );
    assert!(stdout(&kalamu(&data, &["packs", "--json"])).contains("org.example.film"));
}

/// A USB stick pulled mid-import: the pack file vanishes under the reader.
/// The import fails with a clear error, installs nothing, and once the stick
/// is back the retry picks up the chunks already stored.
#[test]
fn pulled_usb_stick_fails_cleanly_and_retry_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let pack = film_pack(dir.path(), "org.example.usb", 256);
    let original = fs::read(&pack).unwrap();
    let child = import_until(&data, &pack, 96);
    fs::File::options().write(true).open(&pack).unwrap().set_len(1 << 20).unwrap(); // the data is gone
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("truncated or damaged"), "{}", stderr(&out));
    assert_eq!(stdout(&kalamu(&data, &["packs", "--json"])).trim(), "[]");

    fs::write(&pack, &original).unwrap(); // the stick is back
    let retry = kalamu(&data, &["import", "--allow-unsigned", pack.to_str().unwrap()]);
    assert!(retry.status.success(), "{}", stderr(&retry));
    assert!(chunks_reused(&stdout(&retry)) >= 64, "{}", stdout(&retry));
}

/// On a nearly full disk the import refuses before writing anything.
/// The small disk is a 24 MiB tmpfs in a private mount namespace.
#[test]
fn import_checks_free_space_first_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let pack = film_pack(dir.path(), "org.example.big", 40);

    let small = dir.path().join("small-disk");
    fs::create_dir_all(&small).unwrap();
    let k = env!("CARGO_BIN_EXE_kalamu");
    let script = format!(
        "mount -t tmpfs -o size=24m tmpfs '{small}' || exit 99
         '{k}' --data '{small}/data' packs 2>/dev/null
         '{k}' --data '{small}/data' import --allow-unsigned '{pack}'; echo \"import exit $?\"
         '{k}' --data '{small}/data' packs --json; du -sk '{small}/data'",
        small = small.display(),
        pack = pack.display()
    );
    let out = Command::new("unshare").args(["-rm", "sh", "-c", &script]).output().expect("unshare runs");
    assert_ne!(out.status.code(), Some(99), "could not mount a small tmpfs: {}", stderr(&out));
    let (so, se) = (stdout(&out), stderr(&out));
    assert!(se.contains("not enough free space"), "stderr: {se}");
    assert!(so.contains("import exit 1"), "stdout: {so}");
    assert!(so.contains("[]"), "nothing installed: {so}");
    let used_kib: u64 = so.lines().last().unwrap().split_whitespace().next().unwrap().parse().unwrap();
    assert!(used_kib < 2048, "the refused import wrote {used_kib} KiB");
}

/// Builds an unsigned pack holding one lesson with a `mib` MiB video of
/// incompressible bytes.
fn film_pack(dir: &Path, id: &str, mib: usize) -> PathBuf {
    let src = dir.join(format!("src-{id}"));
    let lesson = src.join("lessons/film");
    fs::create_dir_all(&lesson).unwrap();
    fs::write(
        src.join("pack.toml"),
        format!(
            "format = 1\nid = \"{id}\"\nversion = \"1.0.0\"\ntitle = \"Film\"\nlanguage = \"en\"\npublisher = \"Test\"\n\
             [[modules]]\nid = \"m\"\ntitle = \"M\"\n[[modules.lessons]]\nid = \"film\"\ntitle = \"Film\"\n\
             entry = \"lessons/film/index.html\"\n"
        ),
    )
    .unwrap();
    fs::write(lesson.join("index.html"), "<!doctype html><video src=\"film.webm\"></video>").unwrap();
    let mut video = b"\x1a\x45\xdf\xa3".to_vec();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    while video.len() < mib << 20 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        video.extend_from_slice(&x.to_le_bytes());
    }
    fs::write(lesson.join("film.webm"), &video).unwrap();
    let pack = dir.join(format!("{id}.kpack"));
    let built = kalamu(dir, &["pack", "build", src.to_str().unwrap(), "--out", pack.to_str().unwrap()]);
    assert!(built.status.success(), "{}", stderr(&built));
    fs::remove_dir_all(&src).unwrap();
    pack
}

/// Starts `kalamu import` of `pack` and waits until it has stored at least
/// `mib` MiB of chunks, failing if it finishes first.
fn import_until(data: &Path, pack: &Path, mib: u64) -> std::process::Child {
    assert!(kalamu(data, &["packs"]).status.success()); // the store exists before the clock starts
    let mut child = Command::new(env!("CARGO_BIN_EXE_kalamu"))
        .arg("--data")
        .arg(data)
        .args(["import", "--allow-unsigned"])
        .arg(pack)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let chunks = data.join("chunks.db");
    let deadline = Instant::now() + Duration::from_secs(60);
    while fs::metadata(&chunks).map(|m| m.len()).unwrap_or(0) < mib << 20 {
        assert!(Instant::now() < deadline, "the import never got going");
        assert!(child.try_wait().unwrap().is_none(), "the import finished before it could be interrupted");
        std::thread::sleep(Duration::from_millis(2));
    }
    child
}

/// The number in "N chunks already stored" of an import's report.
fn chunks_reused(report: &str) -> u64 {
    report
        .split(" chunks already stored")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// The networks sample at `version`, built by `dir` and signed with `key`
/// (none: unsigned).
fn networks_version(dir: &Path, version: &str, key: Option<&Path>) -> PathBuf {
    let src = dir.join(format!("networks-{version}"));
    copy_tree(&course_packs().join("networks-intro"), &src);
    let toml = fs::read_to_string(src.join("pack.toml")).unwrap();
    fs::write(
        src.join("pack.toml"),
        toml.replacen("version = \"1.0.0\"", &format!("version = \"{version}\""), 1),
    )
    .unwrap();
    let pack = dir.join(format!("networks-{version}.kpack"));
    let mut args = vec!["pack", "build", src.to_str().unwrap(), "--out", pack.to_str().unwrap()];
    if let Some(key) = key {
        args.extend(["--key", key.to_str().unwrap()]);
    }
    let out = kalamu(dir, &args);
    assert!(out.status.success(), "{}", stderr(&out));
    pack
}

fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap().flatten() {
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &to.join(e.file_name()));
        } else {
            fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

#[test]
fn an_upgrade_by_another_publisher_is_refused_until_a_person_accepts_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (ministry, original, _) = publisher(dir.path());
    let rival_key = dir.path().join("rival.key");
    let rival = stdout(&kalamu(dir.path(), &["pack", "keygen", "--out", rival_key.to_str().unwrap()]))
        .trim()
        .to_owned();
    // The laptop trusts both: trust in a publisher is not trust in any of them replacing another's course.
    for (key, name) in [(&ministry, "Ministère"), (&rival, "Éditions Rivales")] {
        assert!(kalamu(&data, &["trust", "add", key, "--name", name]).status.success());
    }
    assert!(kalamu(&data, &["import", original.to_str().unwrap()]).status.success());
    let learner = stdout(&kalamu(&data, &["learner", "add", "Kadiatou"])).trim().to_owned();
    let recorded = kalamu(
        &data,
        &[
            "progress",
            "record",
            "--learner",
            &learner,
            "--pack",
            "org.kalamu.samples.networks-intro",
            "--lesson",
            "what-is-a-network",
            "completed",
        ],
    );
    assert!(recorded.status.success(), "{}", stderr(&recorded));

    let by_rival = networks_version(dir.path(), "1.1.0", Some(&rival_key));
    let refused = kalamu(&data, &["import", by_rival.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(1));
    let why = stderr(&refused);
    assert!(
        why.contains("Ministère") && why.contains("Éditions Rivales"),
        "both publishers are named: {why}"
    );
    assert!(why.contains("--accept-new-publisher"), "{why}");
    let unsigned = networks_version(dir.path(), "1.2.0", None);
    let refused = kalamu(&data, &["import", unsigned.to_str().unwrap(), "--allow-unsigned"]);
    assert_eq!(
        refused.status.code(),
        Some(1),
        "an unsigned upgrade of a signed course is a change of publisher too"
    );
    assert!(stderr(&refused).contains("unsigned"), "{}", stderr(&refused));
    let packs = stdout(&kalamu(&data, &["packs", "--json"]));
    assert!(packs.contains("\"1.0.0\""), "the ministry's version is still installed: {packs}");

    let accepted = kalamu(&data, &["import", by_rival.to_str().unwrap(), "--accept-new-publisher"]);
    assert!(accepted.status.success(), "{}", stderr(&accepted));
    assert!(stdout(&accepted).contains("Éditions Rivales"), "{}", stdout(&accepted));
    let shown = stdout(&kalamu(&data, &["progress", "show", "--learner", &learner]));
    assert!(shown.contains("What is a network?") || shown.contains("1/"), "progress is kept: {shown}");
}
