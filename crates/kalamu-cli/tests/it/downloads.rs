//! Courses from the hub, between a real hub process and a laptop, through
//! the fault-injecting proxy: a download cut again and again finishes with
//! the right pack and sends little twice; tampered bytes, an unknown signer
//! and a pack the hub does not offer install nothing.

use std::path::{Path, PathBuf};

use crate::fleet::{Hub, Laptop, ok};
use crate::proxy::{Fault, Proxy};
use crate::{kalamu, stderr, stdout};

const BIG: &str = "org.kalamu.test.networks-with-video";

/// A 5 MB pack (the networks course with a video), built and signed; its file and key.
fn big_pack(dir: &Path) -> (PathBuf, String) {
    let key = dir.join("publisher.key");
    let public = ok(kalamu(dir, &["pack", "keygen", "--out", key.to_str().unwrap()])).trim().to_owned();
    let pack = version(dir, "1.0.0", &[]);
    (pack, public)
}

/// Random-looking video bytes, the same for the same seed.
fn video(seed: u64, len: usize) -> Vec<u8> {
    let mut out = b"\x1a\x45\xdf\xa3".to_vec();
    let mut x = 0x2545_f491_4f6c_dd1d ^ seed;
    out.extend((0..len).map(|_| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x as u8
    }));
    out
}

/// Version `v` of the big pack, signed with `dir`'s key: a 5 MB video in
/// twenty parts, those in `changed` made anew.
fn version(dir: &Path, v: &str, changed: &[usize]) -> PathBuf {
    let src = dir.join(format!("src-{v}"));
    copy_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../course-packs/networks-intro"), &src);
    let toml = std::fs::read_to_string(src.join("pack.toml")).unwrap();
    let toml = toml.replacen("org.kalamu.samples.networks-intro", BIG, 1).replacen(
        "version = \"1.0.0\"",
        &format!("version = \"{v}\""),
        1,
    );
    std::fs::write(src.join("pack.toml"), toml).unwrap();
    for part in 0..20 {
        let seed = if changed.contains(&part) { 1000 + part as u64 } else { part as u64 };
        std::fs::write(src.join(format!("media/part-{part:02}.webm")), video(seed, 256 << 10)).unwrap();
    }
    let key = dir.join("publisher.key");
    let pack = dir.join(format!("big-{v}.kpack"));
    let (src, out, key) = (src.to_str().unwrap(), pack.to_str().unwrap(), key.to_str().unwrap());
    ok(kalamu(dir, &["pack", "build", src, "--out", out, "--key", key]));
    pack
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// A hub offering the big pack, and a laptop of its center, through a proxy.
struct Setup {
    hub: Hub,
    laptop: Laptop,
    proxy: Proxy,
    pack: PathBuf,
    key: String,
    dir: tempfile::TempDir,
}

fn setup(laptop_trusts: bool) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let (pack, key) = big_pack(dir.path());
    let hub = Hub::start();
    hub.add_center("Centre de Mamou");
    ok(hub.run(&["trust", "add", &key, "--name", "Ministère"]));
    ok(hub.run(&["publish", pack.to_str().unwrap()]));
    let proxy = Proxy::start(hub.addr);
    let laptop = Laptop::new();
    laptop.enroll(&proxy.url(), &hub.code("Centre de Mamou"), "poste 1");
    if laptop_trusts {
        ok(laptop.run(&["trust", "add", &key, "--name", "Ministère"]));
    }
    Setup { hub, laptop, proxy, pack, key, dir }
}

fn installed(laptop: &Laptop) -> bool {
    stdout(&laptop.run(&["packs"])).contains(BIG)
}

fn partial_bytes(laptop: &Laptop) -> u64 {
    std::fs::read_dir(laptop.data.join("downloads"))
        .map(|d| d.flatten().filter_map(|e| e.metadata().ok()).map(|m| m.len()).sum())
        .unwrap_or(0)
}

#[test]
fn a_download_cut_again_and_again_finishes_with_the_right_pack_and_sends_little_twice() {
    let s = setup(true);
    let size = std::fs::metadata(&s.pack).unwrap().len();
    let catalog = stdout(&ok_out(s.laptop.run(&["catalog"])));
    assert!(catalog.contains(BIG) && catalog.contains("not installed"), "{catalog}");

    let mut held = 0;
    for _ in 0..3 {
        s.proxy.set(Fault::CutResponse(1_500_000));
        let cut = s.laptop.run(&["download", BIG]);
        assert!(!cut.status.success(), "the link was cut");
        assert!(stderr(&cut).contains("cannot be reached"), "{}", stderr(&cut));
        assert!(!installed(&s.laptop), "nothing is installed from part of a pack");
        let now = partial_bytes(&s.laptop);
        assert!(now > held, "each try keeps what came: {held} then {now}");
        held = now;
    }
    s.proxy.set(Fault::None);
    let done = ok(s.laptop.run(&["download", BIG]));
    assert!(done.contains("Installed") && done.contains("signed by Ministère"), "{done}");
    assert!(installed(&s.laptop));
    assert_eq!(partial_bytes(&s.laptop), 0, "the downloaded file goes once installed");
    // The pack's bytes, once, and the small catalog answers of four tries.
    let delivered = s.proxy.delivered();
    assert!(delivered < size + (1 << 20), "{delivered} bytes delivered for a {size}-byte pack");

    let again = stdout(&ok_out(s.laptop.run(&["catalog", "--json"])));
    let offers: serde_json::Value = serde_json::from_str(&again).unwrap();
    assert_eq!(offers[0]["status"], "installed");
    // The installed course reads as the one published: its video is there, byte for byte.
    let store = s.laptop.store();
    let part = store.read_file(BIG, "media/part-07.webm").unwrap();
    assert_eq!(part, video(7, 256 << 10));
}

fn ok_out(out: std::process::Output) -> std::process::Output {
    assert!(out.status.success(), "{}", stderr(&out));
    out
}

#[test]
fn tampered_bytes_on_the_hub_install_nothing() {
    let s = setup(true);
    // One byte of the stored pack changed behind the hub's back (a damaged disk, a meddler).
    let db = rusqlite::Connection::open(s.hub.dir.path().join("hub.db")).unwrap();
    let mut piece: Vec<u8> = db
        .query_row("SELECT bytes FROM pack_pieces WHERE pack_id = ?1 AND n = 3", [BIG], |r| r.get(0))
        .unwrap();
    piece[1000] ^= 0x55;
    db.execute("UPDATE pack_pieces SET bytes = ?2 WHERE pack_id = ?1 AND n = 3", (BIG, &piece)).unwrap();
    drop(db);
    let refused = s.laptop.run(&["download", BIG]);
    assert!(!refused.status.success());
    let why = stderr(&refused);
    assert!(why.contains("media/part-"), "the damaged file is named: {why}");
    assert!(!installed(&s.laptop));
    assert_eq!(partial_bytes(&s.laptop), 0, "bytes that do not check out are not kept to resume from");
}

/// `pack`'s entries written again by another zip tool, in reverse order: the manifest last.
fn repacked_manifest_last(pack: &Path, out: &Path) {
    use std::io::{Read, Write};
    let mut archive = zip::ZipArchive::new(std::fs::File::open(pack).unwrap()).unwrap();
    let mut zip = zip::ZipWriter::new(std::fs::File::create(out).unwrap());
    for i in (0..archive.len()).rev() {
        let mut entry = archive.by_index(i).unwrap();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).unwrap();
        let options =
            zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        zip.start_file(entry.name().unwrap().into_owned(), options).unwrap();
        zip.write_all(&bytes).unwrap();
    }
    zip.finish().unwrap();
}

#[test]
fn a_pack_repacked_by_another_zip_tool_downloads_and_installs_all_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let (pack, key) = big_pack(dir.path());
    let repacked = dir.path().join("repacked.kpack");
    repacked_manifest_last(&pack, &repacked);
    let hub = Hub::start();
    hub.add_center("Centre de Mamou");
    ok(hub.run(&["trust", "add", &key, "--name", "Ministère"]));
    ok(hub.run(&["publish", repacked.to_str().unwrap()]));
    let proxy = Proxy::start(hub.addr);
    let laptop = Laptop::new();
    laptop.enroll(&proxy.url(), &hub.code("Centre de Mamou"), "poste 1");
    ok(laptop.run(&["trust", "add", &key, "--name", "Ministère"]));
    // Cut once mid-way: the whole file is resumed, then imported as any pack.
    proxy.set(Fault::CutResponse(2 << 20));
    assert!(!laptop.run(&["download", BIG]).status.success(), "the cut download stops");
    assert!(!installed(&laptop));
    proxy.set(Fault::None);
    let done = ok(laptop.run(&["download", BIG]));
    assert!(done.contains("Installed"), "{done}");
    assert_eq!(partial_bytes(&laptop), 0, "nothing is left in downloads");
    let part = laptop.store().read_file(BIG, "media/part-07.webm").unwrap();
    assert_eq!(part, video(7, 256 << 10), "the course reads as published, byte for byte");
}

#[test]
fn a_pack_by_a_publisher_the_laptop_does_not_trust_waits_for_a_person() {
    let s = setup(false);
    let refused = s.laptop.run(&["download", BIG]);
    assert!(!refused.status.success());
    let why = stderr(&refused);
    assert!(
        why.contains(&s.key) && why.contains("kalamu trust add"),
        "the signer is named, and what to do: {why}"
    );
    assert!(!installed(&s.laptop));
    // A person trusts the publisher; the bytes already fetched are used.
    ok(s.laptop.run(&["trust", "add", &s.key, "--name", "Ministère"]));
    let before = s.proxy.delivered();
    ok(s.laptop.run(&["download", BIG]));
    assert!(installed(&s.laptop));
    assert!(s.proxy.delivered() - before < 64 << 10, "the pack was not fetched again");
}

#[test]
fn a_laptop_gets_no_pack_the_hub_does_not_offer() {
    let s = setup(true);
    ok(s.hub.run(&["unpublish", BIG]));
    let refused = s.laptop.run(&["download", BIG]);
    assert!(!refused.status.success());
    assert!(stderr(&refused).contains("does not offer"), "{}", stderr(&refused));
    // Asked for directly: with the laptop's credential, and with none.
    let token = s.laptop.token();
    let (status, _) = s.hub.request(
        "GET",
        &format!("/v1/packs/{BIG}"),
        &[("authorization", &format!("Bearer {token}"))],
        b"",
    );
    assert_eq!(status, 404);
    ok(s.hub.run(&["publish", s.pack.to_str().unwrap()]));
    let (status, _) = s.hub.request("GET", &format!("/v1/packs/{BIG}"), &[], b"");
    assert_eq!(status, 401, "only enrolled laptops download");
    let (status, body) = s.hub.request(
        "GET",
        &format!("/v1/packs/{BIG}"),
        &[("authorization", &format!("Bearer {token}"))],
        b"",
    );
    assert_eq!(status, 200);
    assert_eq!(body, std::fs::read(&s.pack).unwrap(), "the very file published");
}

#[test]
fn an_upgrade_in_which_one_part_in_twenty_changed_fetches_only_that_part() {
    let s = setup(true);
    ok(s.laptop.run(&["download", BIG]));
    let v2 = version(s.dir.path(), "1.1.0", &[3]);
    ok(s.hub.run(&["publish", v2.to_str().unwrap()]));
    let catalog = stdout(&ok_out(s.laptop.run(&["catalog"])));
    assert!(catalog.contains("1.1.0") && catalog.contains("newer than the installed 1.0.0"), "{catalog}");
    let before = s.proxy.delivered();
    let done = ok(s.laptop.run(&["download", BIG]));
    assert!(done.contains("Upgraded") && done.contains("from 1.0.0 to 1.1.0"), "{done}");
    let fetched = s.proxy.delivered() - before;
    let size = std::fs::metadata(&v2).unwrap().len();
    assert!(fetched * 10 <= size, "the upgrade fetched {fetched} bytes of a {size}-byte pack");
    let store = s.laptop.store();
    assert_eq!(
        store.read_file(BIG, "media/part-03.webm").unwrap(),
        video(1003, 256 << 10),
        "the changed part is new"
    );
    assert_eq!(
        store.read_file(BIG, "media/part-04.webm").unwrap(),
        video(4, 256 << 10),
        "the others are as they were"
    );
}

#[test]
fn a_patch_pack_upgrades_the_version_it_was_made_from_and_explains_itself_elsewhere() {
    let s = setup(true);
    let dir = s.dir.path();
    ok(s.laptop.run(&["download", BIG]));
    let v2 = version(dir, "1.1.0", &[3, 11]);
    let patch = dir.join("big-1.1.0.kpatch");
    let made = ok(kalamu(
        dir,
        &["pack", "diff", s.pack.to_str().unwrap(), v2.to_str().unwrap(), "--out", patch.to_str().unwrap()],
    ));
    assert!(made.contains("2 of 34 files changed"), "{made}");
    let patch_size = std::fs::metadata(&patch).unwrap().len();
    assert!(
        patch_size * 5 < std::fs::metadata(&v2).unwrap().len(),
        "a patch of two parts is small: {patch_size}"
    );

    let done = ok(s.laptop.run(&["import", patch.to_str().unwrap()]));
    assert!(done.contains("from 1.0.0 to 1.1.0"), "{done}");
    assert_eq!(s.laptop.store().read_file(BIG, "media/part-11.webm").unwrap(), video(1011, 256 << 10));

    // A laptop without 1.0.0 is told what is missing, and keeps what it had.
    let other = Laptop::new();
    ok(other.run(&["trust", "add", &s.key, "--name", "Ministère"]));
    let refused = other.run(&["import", patch.to_str().unwrap()]);
    assert!(!refused.status.success());
    let why = stderr(&refused);
    assert!(
        why.contains("from version 1.0.0")
            && why.contains("no version of it")
            && why.contains("import the whole pack"),
        "{why}"
    );
    assert!(!installed(&other));
}

#[test]
fn a_required_course_reaches_the_laptop_by_itself_across_a_cut_and_a_hub_restart() {
    let Setup { hub, laptop, proxy, dir: _dir, .. } = setup(true);
    ok(hub.run(&["require", BIG, "--center", "Centre de Mamou"]));
    let offers: serde_json::Value =
        serde_json::from_str(&stdout(&ok_out(laptop.run(&["catalog", "--json"])))).unwrap();
    assert_eq!(offers[0]["required"], true);

    // The link drops mid-course: progress still syncs, the course waits.
    proxy.set(Fault::CutResponse(2_000_000));
    let first = laptop.run(&["sync"]);
    assert!(first.status.success(), "progress synced: {}", stderr(&first));
    assert!(stderr(&first).contains("not installed yet"), "{}", stderr(&first));
    assert!(!installed(&laptop));
    let held = partial_bytes(&laptop);
    assert!(held > 0, "what came is kept");

    // The hub goes down and comes back (on another port); the next sync finishes the course.
    let hub = hub.restart(|_| {});
    let done = ok(laptop.run(&["sync", "--hub", &hub.url()]));
    assert!(done.contains("Fetched the required course"), "{done}");
    assert!(installed(&laptop));
    assert_eq!(partial_bytes(&laptop), 0);

    // Staff see which laptop holds which version.
    let devices: serde_json::Value =
        serde_json::from_str(&ok(hub.run(&["devices", "--center", "Centre de Mamou", "--json"]))).unwrap();
    let packs = devices[0]["packs"].as_array().unwrap();
    assert!(packs.iter().any(|p| p.as_str() == Some(&format!("{BIG}@1.0.0"))), "{devices}");
    // Once it holds the course, a sync fetches nothing more.
    let again = ok(laptop.run(&["sync"]));
    assert!(!again.contains("Fetched"), "{again}");
}

#[test]
fn a_patch_by_a_publisher_the_laptop_does_not_trust_is_refused_before_anything_is_rebuilt() {
    let s = setup(true);
    let dir = s.dir.path();
    let v2 = version(dir, "1.1.0", &[5]);
    let patch = dir.join("big-1.1.0.kpatch");
    ok(kalamu(
        dir,
        &["pack", "diff", s.pack.to_str().unwrap(), v2.to_str().unwrap(), "--out", patch.to_str().unwrap()],
    ));
    let stranger = Laptop::new();
    let refused = stranger.run(&["import", patch.to_str().unwrap()]);
    assert!(!refused.status.success());
    assert!(stderr(&refused).contains("unknown publisher"), "{}", stderr(&refused));
    assert_eq!(partial_bytes(&stranger), 0, "nothing was rebuilt");
    assert!(!installed(&stranger));
}

#[test]
fn a_pack_other_than_the_one_offered_is_not_installed() {
    let s = setup(true);
    // The catalog now names another signer than the file's (a meddled hub database).
    let db = rusqlite::Connection::open(s.hub.dir.path().join("hub.db")).unwrap();
    db.execute("UPDATE packs SET signer = ?2 WHERE id = ?1", (BIG, "ab".repeat(32))).unwrap();
    drop(db);
    let refused = s.laptop.run(&["download", BIG, "--allow-unsigned"]);
    assert!(!refused.status.success());
    assert!(stderr(&refused).contains("offered"), "{}", stderr(&refused));
    assert!(!installed(&s.laptop));
    assert_eq!(partial_bytes(&s.laptop), 0);
}
