//! Importing honest packs: trust decisions, upgrades, deduplication,
//! byte-range reads, removal, and packs repacked by other zip tools.

use std::fs;
use std::process::Command;

use kalamu_core::Error;
use kalamu_core::pack::build::build;
use kalamu_core::pack::import::ImportOptions;
use kalamu_core::pack::sign::SecretKey;

use crate::rawzip;
use crate::support::{Env, small_source, webm};

#[test]
fn imported_pack_holds_every_file_byte_for_byte() {
    let env = Env::new();
    let src = env.source("src");
    let (pack, _) = env.build(&src, "test");
    let report = env.import(&pack).unwrap();
    assert_eq!(report.pack.title, "Test pack");
    assert_eq!(report.signer_name.as_deref(), Some("Test publisher"));
    let store = env.store();
    assert_eq!(store.packs().unwrap().len(), 1);
    for path in ["lessons/intro/index.html", "lessons/intro/pic.png", "media/clip.webm", "style.css"] {
        assert_eq!(
            store.read_file("org.example.test", path).unwrap(),
            fs::read(src.join(path)).unwrap(),
            "{path}"
        );
    }
    assert_eq!(store.file_info("org.example.test", "media/clip.webm").unwrap().media_type, "video/webm");
}

#[test]
fn byte_range_read_returns_exactly_the_bytes_asked_for() {
    let env = Env::new();
    let src = env.source("src");
    let (pack, _) = env.build(&src, "test");
    env.import(&pack).unwrap();
    let video = fs::read(src.join("media/clip.webm")).unwrap();
    let store = env.store();
    let mib = 1u64 << 20;
    for (a, b) in
        [(0, 10), (mib - 5, mib + 5), (2 * mib + 17, 3 * mib + 100), (0, video.len() as u64), (7, 7)]
    {
        let got = store.read_range("org.example.test", "media/clip.webm", a, b).unwrap();
        assert_eq!(got, &video[a as usize..b as usize], "range {a}..{b}");
    }
    let past_end = store.read_range("org.example.test", "media/clip.webm", 0, video.len() as u64 + 1);
    assert!(matches!(past_end, Err(Error::BadRange { .. })));
}

#[test]
fn unsigned_pack_is_refused_unless_the_person_accepts_it() {
    let env = Env::new();
    let src = env.source("src");
    let pack = env.path("unsigned.kpack");
    build(&src, &pack, None, &mut |_| {}).unwrap();
    let err = env.import(&pack).unwrap_err();
    assert!(matches!(err, Error::Unsigned { .. }), "{err}");
    assert!(env.store().packs().unwrap().is_empty());
    let report = env
        .store()
        .import_pack(&pack, ImportOptions { allow_unsigned: true, ..Default::default() }, &mut |_| {})
        .unwrap();
    assert_eq!(report.pack.signer, None);
}

#[test]
fn pack_from_an_unknown_publisher_is_refused_unless_trusted_or_accepted() {
    let env = Env::new();
    let src = env.source("src");
    let stranger = SecretKey::generate().unwrap();
    let pack = env.path("stranger.kpack");
    build(&src, &pack, Some(&stranger), &mut |_| {}).unwrap();
    let err = env.import(&pack).unwrap_err();
    assert!(matches!(&err, Error::UnknownPublisher { key, .. } if *key == stranger.public_hex()), "{err}");
    env.store().trust_add(&stranger.public_hex(), "Stranger Press").unwrap();
    assert_eq!(env.import(&pack).unwrap().signer_name.as_deref(), Some("Stranger Press"));
}

#[test]
fn newer_version_upgrades_and_writes_only_what_changed() {
    let env = Env::new();
    let v1 = env.path("v1");
    small_source(&v1, "1.0.0");
    let (p1, _) = env.build(&v1, "v1");
    let first = env.import(&p1).unwrap();

    let v2 = env.path("v2");
    small_source(&v2, "1.1.0");
    fs::write(v2.join("lessons/intro/pic.png"), crate::support::png(9, 5000)).unwrap();
    let (p2, _) = env.build(&v2, "v2");
    let second = env.import(&p2).unwrap();
    assert_eq!(second.upgraded_from.as_deref(), Some("1.0.0"));
    assert_eq!(second.pack.version, "1.1.0");
    assert!(second.bytes_written < first.bytes_written / 10, "upgrade wrote {} bytes", second.bytes_written);
    assert!(second.chunks_reused >= 4, "the unchanged video's chunks were reused");
    let store = env.store();
    assert_eq!(
        store.read_file("org.example.test", "lessons/intro/pic.png").unwrap(),
        crate::support::png(9, 5000)
    );
    let (_, bytes) = store.chunk_stats().unwrap();
    assert!(bytes < first.bytes + 10_000, "the old picture's chunk was collected");
}

#[test]
fn same_or_older_version_is_refused_naming_the_installed_one() {
    let env = Env::new();
    let v2 = env.path("v2");
    small_source(&v2, "2.0.0");
    let (p2, _) = env.build(&v2, "v2");
    env.import(&p2).unwrap();
    let before = env.snapshot();
    let v1 = env.path("v1");
    small_source(&v1, "1.9.9");
    let (p1, _) = env.build(&v1, "v1");
    for pack in [&p2, &p1] {
        let err = env.import(pack).unwrap_err();
        assert!(matches!(err, Error::NotNewer { .. }), "{err}");
        assert!(err.to_string().contains("2.0.0 is already installed"), "{err}");
    }
    assert_eq!(env.snapshot(), before);
}

#[test]
fn identical_content_in_two_packs_is_stored_once() {
    let env = Env::new();
    let a = env.source("a");
    let b = env.path("b");
    small_source(&b, "1.0.0");
    let toml =
        fs::read_to_string(b.join("pack.toml")).unwrap().replace("org.example.test", "org.example.other");
    fs::write(b.join("pack.toml"), toml).unwrap();
    let (pa, _) = env.build(&a, "a");
    let (pb, _) = env.build(&b, "b");
    let first = env.import(&pa).unwrap();
    let second = env.import(&pb).unwrap();
    assert_eq!(second.bytes_written, 0, "every chunk of the second pack was already stored");
    assert_eq!(env.store().chunk_stats().unwrap().1, first.bytes_written);
}

#[test]
fn removing_a_pack_collects_its_chunks_but_keeps_shared_ones() {
    let env = Env::new();
    let a = env.source("a");
    let (pa, _) = env.build(&a, "a");
    env.import(&pa).unwrap();
    let store = env.store();
    store.remove_pack("org.example.test").unwrap();
    assert!(store.packs().unwrap().is_empty());
    assert_eq!(store.chunk_stats().unwrap(), (0, 0));
    assert!(matches!(store.remove_pack("org.example.test"), Err(Error::NoSuchPack(_))));
}

/// Unzips a pack into a folder and zips it again with Info-ZIP, both to a
/// file and as a stream (which writes data descriptors).
#[test]
fn pack_repacked_by_info_zip_still_imports() {
    let env = Env::new();
    let src = env.source("src");
    let (pack, _) = env.build(&src, "test");
    let unpacked = env.path("unpacked");
    let ok = Command::new("unzip").arg("-q").arg(&pack).arg("-d").arg(&unpacked).status().unwrap();
    assert!(ok.success());
    let rezipped = env.path("rezipped.kpack");
    let ok =
        Command::new("zip").args(["-q", "-r", "-9"]).arg(&rezipped).arg(".").current_dir(&unpacked).status();
    assert!(ok.unwrap().success());
    let streamed = env.path("streamed.kpack");
    let out = fs::File::create(&streamed).unwrap();
    let ok =
        Command::new("zip").args(["-q", "-r", "-", "."]).current_dir(&unpacked).stdout(out).status().unwrap();
    assert!(ok.success());
    assert_ne!(fs::read(&rezipped).unwrap(), fs::read(&pack).unwrap());

    env.import(&rezipped).unwrap();
    env.store().remove_pack("org.example.test").unwrap();
    env.import(&streamed).unwrap();
    assert_eq!(
        env.store().read_file("org.example.test", "media/clip.webm").unwrap(),
        fs::read(src.join("media/clip.webm")).unwrap()
    );
}

#[test]
fn pack_rewritten_with_data_descriptors_still_imports() {
    let env = Env::new();
    let src = env.source("src");
    let (pack, _) = env.build(&src, "test");
    let entries: Vec<_> = rawzip::read(&fs::read(&pack).unwrap())
        .into_iter()
        .rev() // another tool, another order
        .map(|(name, data)| rawzip::Entry { descriptor: true, ..rawzip::Entry::new(&name, &data) })
        .collect();
    let repacked = env.path("descriptors.kpack");
    fs::write(&repacked, rawzip::write(&entries)).unwrap();
    env.import(&repacked).unwrap();
}

#[test]
fn large_file_is_read_by_range_without_reading_the_rest() {
    let env = Env::new();
    let src = env.source("src");
    fs::write(src.join("media/clip.webm"), webm(3, 40 << 20)).unwrap();
    let (pack, _) = env.build(&src, "big");
    env.import(&pack).unwrap();
    let store = env.store();
    let video = fs::read(src.join("media/clip.webm")).unwrap();
    let at = (37 << 20) + 4321;
    assert_eq!(
        store.read_range("org.example.test", "media/clip.webm", at, at + 65536).unwrap(),
        &video[at as usize..at as usize + 65536]
    );
}
