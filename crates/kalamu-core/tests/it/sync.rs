//! The sync rules between two real stores: batches by version vector, the
//! wire format's checks, and USB bundles.

use std::collections::BTreeMap;
use std::io::Write;

use kalamu_core::progress::event::{Answer, EventBody};
use kalamu_core::sync::bundle::{BundleHeader, BundleSource, write_bundle};
use kalamu_core::sync::protocol::EnrollResponse;
use kalamu_core::sync::seal::{Opening, Sealing, SigningKey, VerifyingKey, bundle_key_hex};
use kalamu_core::sync::wire::{MAX_BATCH_EVENTS, MAX_PULL_BYTES, append_frame};
use kalamu_core::sync::{Batch, BundleProblem, HubAddress, VersionVector};
use kalamu_core::{Error, Store};

use crate::support::Env;

const PACK: &str = "org.example.test";
const CENTER: &str = "0196a0a0-0000-7000-8000-000000000001";

/// The test hub's bundle key.
fn hub_key() -> SigningKey {
    SigningKey::from_bytes(&[0x5a; 32])
}

/// The public key a store's bundles are encrypted to and signed with.
fn laptop_key(store: &Store) -> VerifyingKey {
    store.signing_key().unwrap().verifying_key()
}

/// Sends everything `from` has that `to` lacks, in batches of `size`; returns the batch count.
fn sync_into(from: &Store, to: &Store, size: usize) -> usize {
    for n in 0..10_000 {
        let batch = from.batch_after(&to.sync_vector().unwrap(), size).unwrap();
        if batch.events.is_empty() {
            return n;
        }
        let wire = batch.encode();
        to.apply_batch(&Batch::decode(&wire).unwrap()).unwrap();
    }
    panic!("sync did not finish");
}

fn studied(store: &Store, learner: &str, events: usize) {
    for i in 0..events {
        let body = match i % 4 {
            0 => EventBody::LessonOpened,
            1 => EventBody::Position { media: Some("media/intro.webm".into()), at: i as f64 * 1.5 },
            2 => EventBody::TimeSpent { seconds: 30 + (i % 7) as u32 },
            _ => EventBody::QuizAttempt {
                answers: BTreeMap::from([("q1".to_owned(), Answer::Choice(i % 3))]),
                score: (i % 2) as u32,
                max: 1,
            },
        };
        store.record(learner, PACK, &format!("lesson-{}", i % 7), body).unwrap();
    }
}

#[test]
fn a_learner_and_their_pin_travel_with_their_events() {
    let (a, b) = (Env::new(), Env::new());
    let (sa, sb) = (a.store(), b.store());
    let awa = sa.add_learner_with_pin("Awa", Some("2468")).unwrap();
    studied(&sa, &awa.id, 25);
    assert_eq!(sync_into(&sa, &sb, 10), 3);
    assert_eq!(sb.events_of(&awa.id).unwrap(), sa.events_of(&awa.id).unwrap());
    assert!(matches!(sb.sign_in(&awa.id, Some("1111")), Err(Error::WrongPin)));
    assert_eq!(sb.sign_in(&awa.id, Some("2468")).unwrap().name, "Awa");
    // Both ways, then nothing more to send either way.
    studied(&sb, &awa.id, 5);
    sync_into(&sb, &sa, 10);
    assert_eq!(sa.sync_vector().unwrap(), sb.sync_vector().unwrap());
    assert_eq!(sync_into(&sa, &sb, 10), 0);
    assert_eq!(sa.events_of(&awa.id).unwrap().len(), 31, "her addition, and 30 events of study");
}

#[test]
fn a_repeated_batch_changes_nothing() {
    let (a, b) = (Env::new(), Env::new());
    let (sa, sb) = (a.store(), b.store());
    let learner = sa.add_learner("Mariama").unwrap();
    studied(&sa, &learner.id, 12);
    let batch = sa.batch_after(&VersionVector::default(), 100).unwrap();
    let first = sb.apply_batch(&batch).unwrap();
    let before = b.snapshot();
    let again = sb.apply_batch(&batch).unwrap();
    assert_eq!((first.new, again.new, again.received), (13, 0, 13), "her addition and 12 events");
    assert_eq!(b.snapshot(), before);
}

#[test]
fn a_batch_that_skips_events_is_refused_and_changes_nothing() {
    let (a, b) = (Env::new(), Env::new());
    let (sa, sb) = (a.store(), b.store());
    let learner = sa.add_learner("Fodé").unwrap();
    studied(&sa, &learner.id, 10);
    let mut batch = sa.batch_after(&VersionVector::default(), 100).unwrap();
    batch.events.drain(0..3);
    let before = b.snapshot();
    let err = sb.apply_batch(&batch).unwrap_err();
    assert!(matches!(err, Error::SyncGap { have: 0, got: 4, .. }), "{err}");
    assert_eq!(b.snapshot(), before);
}

#[test]
fn two_different_events_with_one_sequence_number_are_refused() {
    let (a, b) = (Env::new(), Env::new());
    let (sa, sb) = (a.store(), b.store());
    let learner = sa.add_learner("Kadiatou").unwrap();
    studied(&sa, &learner.id, 3);
    let batch = sa.batch_after(&VersionVector::default(), 100).unwrap();
    sb.apply_batch(&batch).unwrap();
    let mut forged = batch.clone();
    forged.events[1].id = uuid::Uuid::now_v7().to_string();
    let before = b.snapshot();
    let err = sb.apply_batch(&forged).unwrap_err();
    assert!(matches!(err, Error::SyncConflict { seq: 2, .. }), "{err}");
    assert_eq!(b.snapshot(), before);
}

#[test]
fn a_progress_event_costs_under_48_bytes_on_the_wire() {
    let a = Env::new();
    let sa = a.store();
    let learners: Vec<_> = (0..20).map(|i| sa.add_learner(&format!("Learner {i}")).unwrap().id).collect();
    for l in &learners {
        studied(&sa, l, 250);
    }
    let batch = sa.batch_after(&VersionVector::default(), 5_000).unwrap();
    assert_eq!(batch.events.len(), 5_000);
    let per_event = batch.encode().len() as f64 / 5_000.0;
    println!("{per_event:.1} bytes per event");
    assert!(per_event <= 48.0, "{per_event:.1} bytes per event");
}

fn zstd(bytes: &[u8]) -> Vec<u8> {
    zstd::bulk::compress(bytes, 3).unwrap()
}

#[test]
fn hostile_batches_get_specific_errors() {
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("not zstd", b"{\"format\":1}".to_vec(), "not zstd data"),
        ("a bomb", zstd(&vec![b' '; 80 << 20]), "expand"),
        ("not json", zstd(b"hello"), "not a batch"),
        (
            "ragged columns",
            zstd(br#"{"format":1,"learners":[],"strings":[],"id":["x"],"learner":[],"device":[],"seq":[],"hlc":[],"pack":[],"lesson":[],"body":[]}"#),
            "different lengths",
        ),
        (
            "unknown learner",
            zstd(br#"{"format":1,"learners":[],"strings":["0196a0a0-0000-7000-8000-000000000002","p","l"],"id":["0196a0a0-0000-7000-8000-000000000003"],"learner":[0],"device":[0],"seq":[1],"hlc":[5],"pack":[1],"lesson":[2],"body":[{"kind":"lesson_opened"}]}"#),
            "learner the batch does not describe",
        ),
        (
            "bad event id",
            zstd(br#"{"format":1,"learners":[{"id":"0196a0a0-0000-7000-8000-000000000004","name":"A","created_at":1}],"strings":["0196a0a0-0000-7000-8000-000000000002","p","l"],"id":["../../etc"],"learner":[0],"device":[0],"seq":[1],"hlc":[5],"pack":[1],"lesson":[2],"body":[{"kind":"lesson_opened"}]}"#),
            "event id \"../../etc\" is not a UUID",
        ),
        (
            "sequence zero",
            zstd(br#"{"format":1,"learners":[{"id":"0196a0a0-0000-7000-8000-000000000004","name":"A","created_at":1}],"strings":["0196a0a0-0000-7000-8000-000000000002","p","l"],"id":["0196a0a0-0000-7000-8000-000000000003"],"learner":[0],"device":[0],"seq":[0],"hlc":[5],"pack":[1],"lesson":[2],"body":[{"kind":"lesson_opened"}]}"#),
            "has sequence 0",
        ),
        (
            "future format",
            zstd(br#"{"format":9,"learners":[],"strings":[],"id":[],"learner":[],"device":[],"seq":[],"hlc":[],"pack":[],"lesson":[],"body":[]}"#),
            "format 9",
        ),
    ];
    for (name, bytes, expected) in cases {
        match Batch::decode(&bytes) {
            Err(Error::BadBatch(why)) => assert!(why.contains(expected), "{name}: {why}"),
            other => panic!("{name}: {other:?}"),
        }
    }
}

#[test]
fn a_pull_answer_cut_short_or_overfull_is_refused_and_a_whole_one_reads_as_one_batch() {
    let env = Env::new();
    let a = env.store();
    let (awa, binta) = (a.add_learner("Awa").unwrap(), a.add_learner("Binta").unwrap());
    studied(&a, &awa.id, 12);
    studied(&a, &binta.id, 9);
    let all = a.batch_after(&VersionVector::default(), 100).unwrap();
    let (first, second) = all.events.split_at(12);
    let mut answer = Vec::new();
    for part in [first, second] {
        let learners = a.learner_records(part).unwrap();
        append_frame(&mut answer, &Batch { learners, events: part.to_vec(), proofs: Vec::new() }.encode());
    }
    let read = Batch::decode_frames(&answer).unwrap();
    assert_eq!(read.events, all.events);
    assert_eq!(read.learners.len(), 2, "each learner once");

    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("cut inside a length", answer[..2].to_vec(), "ends inside a length"),
        ("cut inside a batch", answer[..answer.len() - 3].to_vec(), "ends inside a batch"),
        ("too large", vec![0; MAX_PULL_BYTES + 1], "a pull may send"),
        ("a damaged batch", [&7u32.to_le_bytes()[..], b"garbage"].concat(), "not zstd data"),
    ];
    for (name, bytes, expected) in cases {
        match Batch::decode_frames(&bytes) {
            Err(Error::BadBatch(why)) => assert!(why.contains(expected), "{name}: {why}"),
            other => panic!("{name}: {other:?}"),
        }
    }
    let many = a.batch_after(&VersionVector::default(), 100).unwrap().encode();
    let mut overfull = Vec::new();
    for _ in 0..=MAX_BATCH_EVENTS / 21 {
        append_frame(&mut overfull, &many);
    }
    match Batch::decode_frames(&overfull) {
        Err(Error::BadBatch(why)) => assert!(why.contains("more than the"), "{why}"),
        other => panic!("overfull: {other:?}"),
    }
}

/// A store enrolled with the test center, with the hub's link set.
fn enrolled(env: &Env) -> Store {
    let store = env.store();
    let hub = HubAddress { url: "http://127.0.0.1:9".into(), key: None };
    let answer = EnrollResponse {
        center_id: CENTER.into(),
        center_name: "Centre de Kindia".into(),
        device_token: "kd1.token".into(),
        hub_bundle_key: bundle_key_hex(&hub_key().verifying_key()),
        hub_proof: String::new(),
    };
    store.set_hub_link(&hub, &answer).unwrap();
    store
}

/// Writes a bundle as a hub with `maker`'s key would, with every event of
/// `from`, for `readers`.
fn hub_bundle(
    from: &Store,
    path: &std::path::Path,
    center: &str,
    maker: &SigningKey,
    readers: &[VerifyingKey],
) {
    let header = BundleHeader {
        format: kalamu_core::sync::bundle::FORMAT,
        center_id: center.into(),
        from: BundleSource::Hub,
        created_at: 0,
        events: 0,
    };
    let mut batches = vec![from.batch_after(&VersionVector::default(), 100_000).unwrap()].into_iter();
    write_bundle(path, &header, &Sealing { maker, readers }, || Ok(batches.next())).unwrap();
}

#[test]
fn a_hub_bundle_imported_twice_adds_its_events_once() {
    let (hub, laptop) = (Env::new(), Env::new());
    let source = hub.store();
    let learner = source.add_learner("Ibrahima").unwrap();
    studied(&source, &learner.id, 40);
    let file = hub.path("center.kbundle");
    let store = enrolled(&laptop);
    hub_bundle(&source, &file, CENTER, &hub_key(), &[laptop_key(&store)]);
    let bytes = std::fs::read(&file).unwrap();
    assert!(!bytes.windows(8).any(|w| w == b"Ibrahima"), "a lost stick shows no learner's name");
    let first = store.import_bundle(&file).unwrap();
    assert_eq!((first.received, first.new), (41, 41), "his addition and 40 events");
    let before = laptop.snapshot();
    let again = store.import_bundle(&file).unwrap();
    assert_eq!((again.received, again.new), (41, 0));
    assert_eq!(laptop.snapshot(), before);
    assert_eq!(store.events_of(&learner.id).unwrap().len(), 41);
    assert_eq!(store.pending().unwrap(), 0, "the hub made it, so it holds all of it");
}

#[test]
fn foreign_tampered_and_truncated_bundles_are_refused_and_change_nothing() {
    let (hub, laptop) = (Env::new(), Env::new());
    let source = hub.store();
    let learner = source.add_learner("Ibrahima").unwrap();
    studied(&source, &learner.id, 40);
    let store = enrolled(&laptop);
    let me = [laptop_key(&store)];
    let good = hub.path("center.kbundle");
    hub_bundle(&source, &good, CENTER, &hub_key(), &me);
    let bytes = std::fs::read(&good).unwrap();

    let other = hub.path("other.kbundle");
    hub_bundle(&source, &other, "0196a0a0-0000-7000-8000-0000000000ff", &hub_key(), &me);
    // Made by someone who knows this laptop's public key, but not with the hub's key.
    let forged_key = hub.path("forged.kbundle");
    hub_bundle(&source, &forged_key, CENTER, &SigningKey::from_bytes(&[0x11; 32]), &me);
    // The hub's, but for other laptops only.
    let not_for_us = hub.path("not-for-us.kbundle");
    hub_bundle(
        &source,
        &not_for_us,
        CENTER,
        &hub_key(),
        &[SigningKey::from_bytes(&[0x22; 32]).verifying_key()],
    );
    let tampered = hub.path("tampered.kbundle");
    let mut t = bytes.clone();
    let mid = t.len() / 2;
    t[mid] ^= 0x40;
    std::fs::write(&tampered, t).unwrap();
    let truncated = hub.path("truncated.kbundle");
    std::fs::write(&truncated, &bytes[..bytes.len() - 100]).unwrap();
    let appended = hub.path("appended.kbundle");
    let mut a = bytes.clone();
    a.write_all(b"extra").unwrap();
    std::fs::write(&appended, a).unwrap();
    let garbage = hub.path("photo.jpg");
    std::fs::write(&garbage, b"\xff\xd8\xff\xe0 not a bundle").unwrap();

    let before = laptop.snapshot();
    for (file, code) in [
        (&other, "bundle_other_center"),
        (&forged_key, "bundle_tampered"),
        (&not_for_us, "bundle_not_for_us"),
        (&tampered, "bundle_tampered"),
        (&truncated, "bundle_truncated"),
        (&appended, "bundle_tampered"),
        (&garbage, "not_a_bundle"),
    ] {
        let err = store.import_bundle(file).unwrap_err();
        assert_eq!(err.code(), code, "{}: {err}", file.display());
        assert_eq!(laptop.snapshot(), before, "{}", file.display());
    }
    assert!(matches!(
        store.import_bundle(&other).unwrap_err(),
        Error::Bundle { problem: BundleProblem::OtherCenter { .. }, .. }
    ));
}

#[test]
fn a_laptop_bundle_opens_only_for_the_hub_and_names_its_device() {
    let laptop = Env::new();
    let store = enrolled(&laptop);
    let learner = store.add_learner("Oumou").unwrap();
    studied(&store, &learner.id, 6_000);
    let file = laptop.path("out.kbundle");
    assert_eq!(store.export_bundle(&file).unwrap(), 6_001, "her addition and 6,000 events");
    let bytes = std::fs::read(&file).unwrap();
    assert!(!bytes.windows(5).any(|w| w == b"Oumou"), "a lost stick shows no learner's name");
    let reader = kalamu_core::sync::BundleReader::open(&file).unwrap();
    assert_eq!(reader.header.from, BundleSource::Device(store.device().unwrap().id));
    // Another laptop cannot read it, even knowing whose it is.
    let stranger = SigningKey::from_bytes(&[0x33; 32]);
    let refused =
        reader.read_sealed(&Opening { reader: &stranger, maker: &laptop_key(&store) }, |_, _| Ok(()));
    assert_eq!(refused.unwrap_err().code(), "bundle_not_for_us");
    let reader = kalamu_core::sync::BundleReader::open(&file).unwrap();
    let mut n = 0;
    reader
        .read_sealed(&Opening { reader: &hub_key(), maker: &laptop_key(&store) }, |batch, _| {
            n += batch.events.len();
            Ok(())
        })
        .unwrap();
    assert_eq!(n, 6_001);
    // A laptop does not take another laptop's bundle: only the hub vouches for events.
    assert_eq!(store.import_bundle(&file).unwrap_err().code(), "bundle_from_laptop");
}

#[test]
fn a_hub_bundle_that_conflicts_half_way_changes_nothing() {
    let (one, two, laptop) = (Env::new(), Env::new(), Env::new());
    let (first, second) = (one.store(), two.store());
    let learner = first.add_learner("Ibrahima").unwrap();
    studied(&first, &learner.id, 20);
    let other = second.add_learner("Mariama").unwrap();
    studied(&second, &other.id, 20);
    let store = enrolled(&laptop);
    let me = [laptop_key(&store)];
    // The laptop already holds the second device's first 10 events, the 10th with other content.
    let mut held = second.batch_after(&VersionVector::default(), 10).unwrap();
    held.events[9].body = EventBody::LessonCompleted;
    store.apply_batch(&held).unwrap();
    let before = laptop.snapshot();
    // A bundle of two batches: the first device's 20 events (new here), then
    // the second device's 20, which conflict at the 10th.
    let header = BundleHeader {
        format: kalamu_core::sync::bundle::FORMAT,
        center_id: CENTER.into(),
        from: BundleSource::Hub,
        created_at: 0,
        events: 40,
    };
    let mut batches =
        [&first, &second].map(|s| s.batch_after(&VersionVector::default(), 100).unwrap()).into_iter();
    let file = one.path("two.kbundle");
    let sealing = Sealing { maker: &hub_key(), readers: &me };
    write_bundle(&file, &header, &sealing, || Ok(batches.next())).unwrap();
    assert_eq!(store.import_bundle(&file).unwrap_err().code(), "sync_conflict");
    assert_eq!(laptop.snapshot(), before, "not even the first batch was kept");
    assert!(store.events_of(&learner.id).unwrap().is_empty());
}
