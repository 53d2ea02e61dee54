//! One enrolled laptop turned against its center, as an attacker would use
//! it: hand-written batches and requests against a real hub process on
//! loopback, beside honest laptops. Each refusal names the problem, the
//! attacker's events are nowhere, and the honest laptops go on recording
//! and syncing.

use std::collections::{BTreeMap, BTreeSet};

use kalamu_core::progress::event::{Answer, EventBody};
use kalamu_core::progress::hlc::Hlc;
use kalamu_core::sync::{Batch, VersionVector};

use crate::fleet::{Engine, Hub, Laptop, PACK, ok};
use crate::stderr;

/// A center with an attacker (A) and two honest laptops (B, C), each with a learner who studied and synced.
fn center(engine: Engine) -> (Hub, Laptop, Laptop, Laptop, String) {
    let hub = Hub::start_on(engine);
    hub.add_center("Centre de Mamou");
    let laptops: Vec<Laptop> = (0..3).map(|_| Laptop::new()).collect();
    for (i, l) in laptops.iter().enumerate() {
        l.enroll(&hub.url(), &hub.code("Centre de Mamou"), &format!("laptop-{i}"));
    }
    let mut it = laptops.into_iter();
    let (a, b, c) = (it.next().unwrap(), it.next().unwrap(), it.next().unwrap());
    let hawa = b.add_learner("Hawa");
    b.study(&hawa, 5);
    for l in [&a, &b, &c] {
        ok(l.sync(None));
    }
    (hub, a, b, c, hawa)
}

/// Pushes `batch` with laptop `from`'s credential; the status and the error code.
fn push_as(hub: &Hub, from: &Laptop, batch: &Batch) -> (u16, String) {
    let auth = format!("Bearer {}", from.token());
    let (status, body) = hub.request("POST", "/v1/sync/push", &[("Authorization", &auth)], &batch.encode());
    let code = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["code"].as_str().map(str::to_owned))
        .unwrap_or_default();
    (status, code)
}

/// The honest laptops still record and sync, and agree with the hub.
fn honest_laptops_go_on(hub: &Hub, learner: &str, honest: &[&Laptop]) {
    for l in honest {
        l.study(learner, 2);
        ok(l.sync(None));
    }
    for l in honest {
        ok(l.sync(None));
    }
    let on_hub = hub.event_ids().0;
    for l in honest {
        assert_eq!(l.event_ids(), on_hub, "every honest laptop holds what the hub holds");
    }
}

fn a_laptop_cannot_speak_for_another(engine: Engine) {
    let (hub, a, b, c, hawa) = center(engine);
    let before = hub.event_ids();
    // A forges B's next event: a completed lesson and a quiz score for a learner who never studied.
    let mut forged = b.store().batch_after(&VersionVector::default(), 2).unwrap();
    forged.events.remove(0);
    let e = &mut forged.events[0];
    e.seq = 6;
    e.id = uuid::Uuid::now_v7().to_string();
    e.body = EventBody::QuizAttempt { answers: BTreeMap::new(), score: 5, max: 5 };
    assert_eq!(push_as(&hub, &a, &forged), (403, "not_your_event".to_owned()));
    assert_eq!(hub.event_ids(), before, "the forged event is nowhere");
    // Nor can A squat B's next event id with an event of its own (ids are derived from device and number).
    let mine = a.add_learner("Fanta");
    a.study(&mine, 1);
    let mut squat = a.store().own_batch_after(&VersionVector::default(), 1).unwrap();
    squat.events[0].id = kalamu_core::progress::event::derived_id(&b.device_id(), 6);
    assert_eq!(push_as(&hub, &a, &squat), (422, "bad_batch".to_owned()));
    assert_eq!(hub.event_ids(), before);
    honest_laptops_go_on(&hub, &hawa, &[&b, &c]);
    assert!(!b.event_ids().contains(&forged.events[0].id));
}

fn no_stamp_can_poison_a_clock(engine: Engine) {
    let (hub, a, b, c, hawa) = center(engine);
    let learner = a.add_learner("Fanta");
    a.study(&learner, 1);
    let mut batch = a.store().own_batch_after(&VersionVector::default(), 10).unwrap();
    batch.events[0].hlc = Hlc(i64::MAX as u64);
    let before = hub.event_ids();
    assert_eq!(push_as(&hub, &a, &batch), (422, "bad_stamp".to_owned()));
    assert_eq!(hub.event_ids(), before);
    // A stamp a century ahead, but inside the sane range, is kept as the
    // laptop's own event, yet moves no other clock more than a day.
    batch.events[0].hlc = Hlc::at_millis(kalamu_core::store::now_millis() as u64 + 100 * 365 * 86_400_000);
    assert_eq!(push_as(&hub, &a, &batch), (422, "bad_proof".to_owned()), "changed after signing");
    a.store().sign(&mut batch).unwrap();
    assert_eq!(push_as(&hub, &a, &batch).0, 200);
    honest_laptops_go_on(&hub, &hawa, &[&b, &c]);
    let day = 86_400_000;
    for l in [&b, &c] {
        let clock = l.store().device().unwrap().last_hlc;
        assert!(clock.millis() as i64 <= kalamu_core::store::now_millis() + day, "{clock:?}");
    }
}

fn enrolment_never_takes_an_identity_nor_lifts_a_revocation(engine: Engine) {
    let (hub, _a, b, c, hawa) = center(engine);
    // D claims B's device id (visible to every laptop in pulls) with a fresh code.
    let d = Laptop::new();
    let store = d.store();
    store.device().unwrap();
    drop(store);
    let db = rusqlite::Connection::open(d.data.join("kalamu.db")).unwrap();
    db.execute("UPDATE device SET id = ?1", [b.device_id()]).unwrap();
    drop(db);
    let taken = d.run(&["enroll", "--hub", &hub.url(), "--code", &hub.code("Centre de Mamou")]);
    assert_eq!(taken.status.code(), Some(1));
    assert!(stderr(&taken).contains("enrolled already"), "{}", stderr(&taken));
    honest_laptops_go_on(&hub, &hawa, &[&b, &c]);

    // Staff give B a new credential with a code made for it; the old one stops working.
    let old = b.token();
    let code = ok(hub.run(&["enroll-code", "Centre de Mamou", "--device", &b.device_id()])).trim().to_owned();
    let e = Laptop::new();
    let other = e.run(&["enroll", "--hub", &hub.url(), "--code", &code]);
    assert!(stderr(&other).contains("made for another laptop"), "{}", stderr(&other));
    b.enroll(&hub.url(), &code, "laptop-1");
    assert_ne!(b.token(), old);
    let (status, _) =
        hub.request("GET", "/v1/sync/vector", &[("Authorization", &format!("Bearer {old}"))], b"");
    assert_eq!(status, 401);
    honest_laptops_go_on(&hub, &hawa, &[&b, &c]);

    // A revoked laptop does not lift its own revocation with a new code.
    ok(hub.run(&["revoke", &c.device_id()]));
    let back = c.run(&["enroll", "--hub", &hub.url(), "--code", &hub.code("Centre de Mamou")]);
    assert!(stderr(&back).contains("only as a new laptop"), "{}", stderr(&back));
    assert!(stderr(&back).contains("--as-new-laptop"), "{}", stderr(&back));
    let for_c = hub.run(&["enroll-code", "Centre de Mamou", "--device", &c.device_id()]);
    assert_eq!(for_c.status.code(), Some(1));
    // What C recorded after its revocation waits on it, and is refused.
    c.study(&hawa, 2);
    assert!(stderr(&c.sync(None)).contains("removed from the center"));
    // Staff take C back: it joins as a new laptop, and what the hub never had goes with it.
    let (revoked_id, on_hub) = (c.device_id(), hub.event_ids().1);
    let said = ok(c.run(&[
        "enroll",
        "--hub",
        &hub.url(),
        "--code",
        &hub.code("Centre de Mamou"),
        "--as-new-laptop",
    ]));
    assert!(said.contains("the 2 events only it recorded go with it"), "{said}");
    assert_ne!(c.device_id(), revoked_id);
    let report = serde_json::from_str::<serde_json::Value>(&ok(c.run(&["sync", "--json"]))).unwrap();
    assert_eq!((report["pushed"].as_u64(), report["pending"].as_u64()), (Some(2), Some(0)), "{report}");
    assert_eq!(hub.event_ids().1, on_hub + 2, "each of them once");
    honest_laptops_go_on(&hub, &hawa, &[&b, &c]);
}

fn one_event_cannot_fill_the_centers_disks(engine: Engine) {
    let (hub, a, b, c, hawa) = center(engine);
    let learner = a.add_learner("Kadiatou");
    a.study(&learner, 1);
    let before = hub.event_ids();
    let mut batch = a.store().own_batch_after(&VersionVector::default(), 10).unwrap();
    let answer = |text: String| {
        let answers = BTreeMap::from([("q1".to_owned(), Answer::Text(text))]);
        EventBody::QuizAttempt { answers, score: 0, max: 5 }
    };
    // One quiz answer of 30 MiB of repeated text: a 1.3 KB push.
    batch.events[0].body = answer("a".repeat(30 << 20));
    assert_eq!(push_as(&hub, &a, &batch), (422, "bad_batch".to_owned()));
    // An answer past the 4 KiB any learner may type, that compresses as text does.
    let mut x = 7u64;
    let long: String = (0..5_000)
        .map(|_| {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (b'a' + (x >> 59) as u8 % 26) as char
        })
        .collect();
    batch.events[0].body = answer(long);
    assert_eq!(push_as(&hub, &a, &batch), (422, "bad_event".to_owned()));
    // A small frame that expands far beyond what progress compresses to.
    let bomb = zstd::bulk::compress(&vec![b' '; 60 << 20], 19).unwrap();
    assert!(bomb.len() < 16 << 10);
    let auth = format!("Bearer {}", a.token());
    let (status, body) = hub.request("POST", "/v1/sync/push", &[("Authorization", &auth)], &bomb);
    assert_eq!(status, 422);
    assert!(String::from_utf8_lossy(&body).contains("more than real progress ever compresses"));
    assert_eq!(hub.event_ids(), before);
    honest_laptops_go_on(&hub, &hawa, &[&b, &c]);
    // The laptop itself cannot record such an answer either: its sync would be refused forever.
    let huge = format!(r#"{{"q1": "{}"}}"#, "a".repeat(5000));
    let args = [
        "progress",
        "record",
        "--learner",
        &learner,
        "--pack",
        PACK,
        "--lesson",
        "basics-quiz",
        "quiz",
        &huge,
    ];
    let refused = a.run(&args);
    assert_eq!(refused.status.code(), Some(1));
    assert!(stderr(&refused).contains("at most 4096"), "{}", stderr(&refused));
}

fn a_batch_that_leaves_out_its_learners_is_refused_and_stops_no_one(engine: Engine) {
    let (hub, a, b, c, hawa) = center(engine);
    // A learns of Hawa, records for her, and pushes without describing her.
    ok(a.sync(None));
    a.study(&hawa, 3);
    let held = a.store().hub_vector().unwrap();
    let mut batch = a.store().own_batch_after(&held, 100).unwrap();
    assert!(!batch.learners.is_empty());
    batch.learners.clear();
    // Refused whole: stored as it came, it would be pulled undescribed, and refused by every laptop.
    let before = hub.event_ids();
    assert_eq!(push_as(&hub, &a, &batch), (422, "bad_batch".into()));
    assert_eq!(hub.event_ids(), before);
    honest_laptops_go_on(&hub, &hawa, &[&b, &c]);
}

fn a_copy_that_differs_from_the_stored_event_is_refused(engine: Engine) {
    let (hub, a, b, c, hawa) = center(engine);
    let learner = a.add_learner("Oumou");
    a.study(&learner, 3);
    ok(a.sync(None));
    let before = hub.event_ids();
    let mut copy = a.store().own_batch_after(&VersionVector::default(), 10).unwrap();
    copy.events[1].body = EventBody::LessonCompleted;
    assert_eq!(push_as(&hub, &a, &copy), (409, "sync_conflict".to_owned()));
    // The same copy, unchanged, is a repeat and changes nothing.
    let same = a.store().own_batch_after(&VersionVector::default(), 10).unwrap();
    assert_eq!(push_as(&hub, &a, &same).0, 200);
    assert_eq!(hub.event_ids(), before);
    honest_laptops_go_on(&hub, &hawa, &[&b, &c]);
}

/// Copies a laptop's data dir, as a disk image cloned after first use or a
/// backup restored later would.
fn clone_of(l: &Laptop) -> Laptop {
    let copy = Laptop::new();
    std::fs::remove_dir_all(&copy.data).unwrap();
    std::fs::create_dir_all(&copy.data).unwrap();
    for entry in std::fs::read_dir(&l.data).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, copy.data.join(path.file_name().unwrap())).unwrap();
    }
    copy
}

#[test]
fn a_cloned_disk_or_a_restored_backup_blocks_nothing_and_says_so() {
    let (hub, a, b, _c, hawa) = center(Engine::Sqlite);
    let backup = clone_of(&b);
    let twin = clone_of(&b);
    b.study(&hawa, 2);
    ok(b.sync(None));
    let fanta = a.add_learner("Fanta");
    a.study(&fanta, 3);
    ok(a.sync(None));

    for copy in [&twin, &backup] {
        // The twin records under the same numbers as B did; the backup does not know B went on.
        if std::ptr::eq(copy, &twin) {
            copy.study(&hawa, 2);
        }
        let said = ok(copy.sync(None));
        assert!(said.contains("Another copy of this laptop's disk is in use"), "{said}");
        // It still receives the others' progress, and still records.
        let fantas = copy.store().events_of(&fanta).unwrap();
        assert_eq!(fantas.len(), 4, "A's events (Fanta's addition and 3) reached the copy: {said}");
        copy.study(&hawa, 1);
        ok(copy.run(&["progress", "show", "--learner", &hawa]));
        let report = serde_json::from_str::<serde_json::Value>(&ok(copy.run(&["sync", "--json"]))).unwrap();
        assert_eq!(report["identity_clash"], true, "{report}");
        assert!(report["pending"].as_u64().unwrap() > 0, "what the copy recorded waits, not lost: {report}");
        assert_eq!(report["pushed"], 0, "{report}");
    }
    // B itself is untouched and syncs as before.
    b.study(&hawa, 1);
    let said = ok(b.sync(None));
    assert!(said.contains("Sent 1 events"), "{said}");
    assert_eq!(b.store().pending().unwrap(), 0, "{said}");

    // Staff enrol each copy again: it goes on as a new laptop, and what only
    // it recorded reaches the hub, once.
    for (copy, only_here) in [(&twin, 3), (&backup, 1)] {
        let waiting: BTreeSet<_> = contents(&copy.store().events_of(&hawa).unwrap())
            .difference(&contents(&hub_events(&hub)))
            .cloned()
            .collect();
        assert_eq!(waiting.len(), only_here, "what only this copy recorded");
        let said = ok(copy.run(&[
            "enroll",
            "--hub",
            &hub.url(),
            "--code",
            &hub.code("Centre de Mamou"),
            "--name",
            "copy",
        ]));
        assert!(said.contains(&format!("the {only_here} events only it recorded go with it")), "{said}");
        assert_ne!(copy.device_id(), b.device_id());
        let report = serde_json::from_str::<serde_json::Value>(&ok(copy.run(&["sync", "--json"]))).unwrap();
        assert_eq!(report["identity_clash"], false, "{report}");
        assert_eq!(report["pushed"], only_here, "{report}");
        assert_eq!(report["pending"], 0, "{report}");
        let on_hub = hub_events(&hub);
        assert!(waiting.is_subset(&contents(&on_hub)), "the copy's own work reached the hub");
        assert_eq!(contents(&on_hub).len(), on_hub.len(), "nothing is counted twice");
    }
    honest_laptops_go_on(&hub, &hawa, &[&b, &twin, &backup]);
    for l in [&b, &twin, &backup] {
        assert_eq!(l.store().pending().unwrap(), 0);
    }
}

/// Points `laptops` at the hub's new address (a restarted hub listens on a new port).
fn moved(hub: Hub, laptops: &[&Laptop]) -> Hub {
    for l in laptops {
        l.store().set_hub_url(&hub.url()).unwrap();
    }
    hub
}

/// Every event the hub holds, from its runs.
fn hub_events(hub: &Hub) -> Vec<kalamu_core::progress::event::Event> {
    let db = hub.db();
    let mut stmt = db.prepare("SELECT bytes FROM runs").unwrap();
    stmt.query_map([], |r| r.get::<_, Vec<u8>>(0))
        .unwrap()
        .flat_map(|run| Batch::decode(&run.unwrap()).unwrap().events)
        .collect()
}

/// What events say, whoever recorded them: learner, lesson, stamp and details.
fn contents(events: &[kalamu_core::progress::event::Event]) -> BTreeSet<String> {
    events
        .iter()
        .map(|e| {
            format!(
                "{} {} {} {}",
                e.learner_id,
                e.lesson_id,
                e.hlc.0,
                serde_json::to_string(&e.body).unwrap()
            )
        })
        .collect()
}

#[test]
fn one_push_cannot_flood_the_learner_picker() {
    let (hub, a, b, c, hawa) = center(Engine::Sqlite);
    let learner = a.add_learner("Mariama");
    a.study(&learner, 1);
    let template = a.store().own_batch_after(&VersionVector::default(), 1).unwrap();
    let mut flood = Batch::default();
    for i in 0..300u64 {
        let id = uuid::Uuid::now_v7().to_string();
        flood.learners.push(kalamu_core::sync::LearnerRecord {
            id: id.clone(),
            name: format!("Fake {i}"),
            created_at: 1,
            pin_hash: None,
        });
        let mut e = template.events[0].clone();
        (e.id, e.learner_id, e.seq) = (uuid::Uuid::now_v7().to_string(), id, i + 1);
        flood.events.push(e);
    }
    assert_eq!(push_as(&hub, &a, &flood), (400, "too_many_learners".to_owned()));
    let on_hub: i64 = hub.scalar("SELECT count(*) FROM learners");
    assert_eq!(on_hub, 1, "only Hawa");
    honest_laptops_go_on(&hub, &hawa, &[&b, &c]);
    assert_eq!(b.run(&["learner", "list"]).stdout.iter().filter(|&&ch| ch == b'\n').count(), 1);
    // A laptop whose learners really are that many sends them in several pushes.
    for i in 0..300 {
        let l = a.add_learner(&format!("Learner {i}"));
        a.study(&l, 1);
    }
    ok(a.sync(None));
    assert_eq!(a.store().pending().unwrap(), 0);

    // Nor in many pushes: a laptop adds at most 1,000 learners a day; the rest wait.
    for i in 0..700 {
        let l = a.add_learner(&format!("Learner {}", 300 + i));
        a.study(&l, 1);
    }
    let refused = a.sync(None);
    assert!(!refused.status.success());
    assert!(stderr(&refused).contains("1000 a day"), "{}", stderr(&refused));
    let on_hub: i64 = hub.scalar("SELECT count(*) FROM learners");
    assert_eq!(on_hub, 1 + 301 + 2 * 256, "Hawa, the first 301 and two pushes of 256");
    assert_eq!(
        a.store().pending().unwrap(),
        2 * (700 - 2 * 256),
        "the rest (each added and studied) wait on the laptop"
    );
    honest_laptops_go_on(&hub, &hawa, &[&b, &c]);
}

fn a_laptop_bundle_that_conflicts_half_way_changes_nothing_on_the_hub(engine: Engine) {
    let (hub, a, b, c, hawa) = center(engine);
    let fanta = a.add_learner("Fanta");
    a.study(&fanta, 10);
    let stick = tempfile::tempdir().unwrap();
    let real = stick.path().join("a.kbundle");
    ok(a.run(&["sync", "export", "--out", real.to_str().unwrap()]));
    // The same seal and header, but a second batch that repeats an event of the first with other details.
    let header = kalamu_core::sync::BundleReader::open(&real).unwrap().header.clone();
    let first = a.store().own_batch_after(&VersionVector::default(), 100).unwrap();
    let mut second = a.store().own_batch_after(&VersionVector::default(), 3).unwrap();
    second.events[2].body = EventBody::LessonCompleted;
    let forged = stick.path().join("forged.kbundle");
    // Laptop A's own key and the hub's bundle key: A is the one attacking.
    let maker = a.store().signing_key().unwrap();
    let hub_key = a.store().require_hub_link().unwrap().bundle_key().unwrap();
    let sealing = kalamu_core::sync::seal::Sealing { maker: &maker, readers: &[hub_key] };
    let mut batches = vec![second, first].into_iter();
    kalamu_core::sync::bundle::write_bundle(&forged, &header, &sealing, || Ok(batches.next_back())).unwrap();
    let before = hub.event_ids();
    let refused = hub.run(&["import", forged.to_str().unwrap()]);
    assert!(!refused.status.success());
    assert!(stderr(&refused).contains("differs from the one already stored"), "{}", stderr(&refused));
    assert_eq!(hub.event_ids(), before, "the first batch is not kept either");
    assert!(ok(hub.run(&["import", real.to_str().unwrap()])).contains("11 events, 11 new"));
    honest_laptops_go_on(&hub, &hawa, &[&b, &c]);
}

#[test]
fn every_event_is_traced_to_the_laptop_that_recorded_it() {
    use kalamu_core::sync::proof::{Chain, Proof, SigningKey};
    let (hub, a, b, c, hawa) = center(Engine::Sqlite);
    let before = hub.event_ids();
    let fanta = a.add_learner("Fanta");
    a.study(&fanta, 2);
    // Unsigned, or signed with a key that is not the laptop's: refused, nothing stored.
    let mut unsigned = a.store().own_batch_after(&VersionVector::default(), 10).unwrap();
    unsigned.proofs.clear();
    assert_eq!(push_as(&hub, &a, &unsigned), (422, "bad_proof".to_owned()));
    let mut other_key = unsigned.clone();
    let chain = other_key.events.iter().fold(Chain::start(&a.device_id()), |c, e| c.then(e));
    let stranger = SigningKey::from_bytes(&kalamu_core::Store::fresh_signing_seed().unwrap());
    other_key.proofs = vec![Proof::sign(&stranger, &a.device_id(), 3, &chain)];
    assert_eq!(push_as(&hub, &a, &other_key), (422, "bad_proof".to_owned()));
    assert_eq!(hub.event_ids(), before, "nothing of either is stored");

    // B's next events reach the hub; on the way to C the hub's copy is
    // changed (a damaged disk, or a hub not to be trusted).
    b.study(&hawa, 3);
    ok(b.sync(None));
    let db = rusqlite::Connection::open(hub.dir.path().join("hub.db")).unwrap();
    db.busy_timeout(std::time::Duration::from_secs(5)).unwrap();
    // Whoever changes the hub's copy goes around its rules.
    db.execute_batch("DROP TRIGGER runs_are_never_updated").unwrap();
    let (first, bytes): (i64, Vec<u8>) = db
        .query_row(
            "SELECT first_seq, bytes FROM runs WHERE device_id = ?1 ORDER BY last_seq DESC LIMIT 1",
            [b.device_id()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let put = |run: &[u8]| {
        db.execute(
            "UPDATE runs SET bytes = ?2 WHERE device_id = ?1 AND first_seq = ?3",
            (b.device_id(), run, first),
        )
        .unwrap();
    };
    let mut changed = Batch::decode(&bytes).unwrap();
    changed.events[0].body = EventBody::LessonCompleted;
    // Kept B's signature: it does not hold for the changed events.
    put(&changed.encode());
    let c_before = c.event_ids();
    let refused = c.sync(None);
    assert!(!refused.status.success());
    assert!(stderr(&refused).contains("cannot be traced to it"), "{}", stderr(&refused));
    assert_eq!(c.event_ids(), c_before, "C stores none of it");
    // Signed again with another key, the chain made right: C knows B's key.
    let b_events = b.store().batch_after(&VersionVector::default(), 100_000).unwrap();
    let start = b_events
        .events
        .iter()
        .filter(|e| e.device_id == b.device_id() && e.seq < first as u64)
        .fold(Chain::start(&b.device_id()), |c, e| c.then(e));
    let chain = changed.events.iter().fold(start, |c, e| c.then(e));
    let last = changed.events.last().unwrap().seq;
    changed.proofs = vec![Proof::sign(&stranger, &b.device_id(), last, &chain)];
    put(&changed.encode());
    // A new hub process, which has not read the run before.
    let hub = moved(hub.restart(|_| ()), &[&a, &b, &c]);
    let refused = c.sync(None);
    assert!(stderr(&refused).contains("signed with another key"), "{}", stderr(&refused));
    assert_eq!(c.event_ids(), c_before);
    // The hub's copy as B sent it: C takes it, and everyone goes on.
    put(&bytes);
    let hub = moved(hub.restart(|_| ()), &[&a, &b, &c]);
    ok(c.sync(None));
    assert!(c.event_ids().is_superset(&b.event_ids()));
    honest_laptops_go_on(&hub, &hawa, &[&b, &c]);
}

/// Guessing enrolment codes: after ten wrong ones an address waits (429,
/// with Retry-After), is logged, and never holds up a laptop's sync.
#[test]
fn enrolment_guesses_from_one_address_wait_and_honest_laptops_sync_on() {
    let hub = Hub::start();
    hub.add_center("Centre de Faranah");
    let honest = Laptop::new();
    honest.enroll(&hub.url(), &hub.code("Centre de Faranah"), "poste 1");
    let guess = |code: &str| {
        let body = crate::fleet::enrol_json(code, &uuid::Uuid::now_v7().to_string(), "guesser");
        hub.request(
            "POST",
            "/v1/enroll",
            &[("Content-Type", "application/json")],
            body.to_string().as_bytes(),
        )
    };
    let started = std::time::Instant::now();
    let mut checked = 0;
    let mut waited = None;
    for n in 0..200 {
        let (status, body) = guess(&format!("WRONG{n:04}"));
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        match status {
            401 => checked += 1,
            429 => {
                assert_eq!(body["code"], "too_many_enrolments", "{body}");
                waited.get_or_insert(n);
            }
            other => panic!("{other}: {body}"),
        }
    }
    let took = started.elapsed().as_secs_f64();
    println!(
        "200 guesses from one address in {took:.2} s: {checked} reached the code check, the rest waited (429)"
    );
    assert_eq!(checked, 10, "ten wrong codes are checked, then the address waits");
    assert_eq!(waited, Some(10));
    // The answer says how long to wait.
    let (_, raw) = crate::fleet::raw_request_with_head(
        hub.addr,
        "POST",
        "/v1/enroll",
        &[("Content-Type", "application/json")],
        crate::fleet::enrol_json("WRONG", "0191a2b3-c4d5-7e6f-8a9b-0c1d2e3f4a5b", "x").to_string().as_bytes(),
    );
    let head = String::from_utf8_lossy(&raw).to_lowercase();
    assert!(head.contains("retry-after: "), "{head}");
    // Even a right code waits, from that address; the honest laptop syncs as ever.
    honest.add_learner("Saran");
    let synced = honest.sync(None);
    assert!(synced.status.success(), "{}", stderr(&synced));
    let log = hub.log();
    assert!(log.contains("enrolment refused from 127.0.0.1"), "refusals are logged: {log}");
    // A code read aloud does not stay good for long.
    let long = hub.run(&["enroll-code", "Centre de Faranah", "--ttl-minutes", "20000"]);
    assert!(!long.status.success());
    assert!(stderr(&long).contains("at most 7 days"), "{}", stderr(&long));
}

/// A request never finished, on a connection that then goes quiet, is
/// closed by the hub within its idle limit; the hub answers others meanwhile.
#[test]
fn a_half_sent_request_is_closed_and_does_not_hold_the_hub() {
    use std::io::{Read, Write};
    let hub = Hub::start();
    let mut half = std::net::TcpStream::connect(hub.addr).unwrap();
    half.write_all(b"POST /v1/push HTTP/1.1\r\nHost: hub\r\nContent-Length: 100\r\n").unwrap();
    half.set_read_timeout(Some(std::time::Duration::from_secs(45))).unwrap();
    let started = std::time::Instant::now();
    let (status, _) = hub.request("GET", "/v1/health", &[], b"");
    assert_eq!(status, 200, "others are answered meanwhile");
    let mut rest = Vec::new();
    let closed = half.read_to_end(&mut rest);
    let after = started.elapsed();
    assert!(closed.is_ok(), "the hub closed it: {closed:?}");
    assert!(
        after < std::time::Duration::from_secs(30),
        "closed within the idle limit (20 s), here after {after:?}"
    );
    assert!(after >= std::time::Duration::from_secs(15), "not before it was idle: {after:?}");
}

/// Names reach staff's terminals and every laptop's picker: control
/// characters are refused where names come in, and escaped where they go out.
fn names_with_control_characters_are_refused_at_every_door(engine: Engine) {
    let (hub, a, b, c, hawa) = center(engine);
    let sneaky = "Awa\u{1b}[2J\u{1b}[31mRevoked";
    let typed = a.run(&["learner", "add", sneaky]);
    assert!(!typed.status.success());
    assert!(stderr(&typed).contains("control characters"), "{}", stderr(&typed));

    let mariama = a.add_learner("Mariama");
    a.study(&mariama, 1);
    let template = a.store().own_batch_after(&VersionVector::default(), 1).unwrap();
    let mut pushed = Batch::default();
    let id = uuid::Uuid::now_v7().to_string();
    pushed.learners.push(kalamu_core::sync::LearnerRecord {
        id: id.clone(),
        name: sneaky.to_owned(),
        created_at: 1,
        pin_hash: None,
    });
    let mut e = template.events[0].clone();
    (e.id, e.learner_id, e.seq) = (uuid::Uuid::now_v7().to_string(), id, 1);
    pushed.events.push(e);
    assert_eq!(push_as(&hub, &a, &pushed), (400, "bad_request".to_owned()));
    let on_hub: i64 = hub.scalar("SELECT count(*) FROM learners");
    assert_eq!(on_hub, 1, "only Hawa");

    let body =
        crate::fleet::enrol_json(&hub.code("Centre de Mamou"), &uuid::Uuid::now_v7().to_string(), sneaky);
    let (status, answer) = hub.request(
        "POST",
        "/v1/enroll",
        &[("Content-Type", "application/json")],
        body.to_string().as_bytes(),
    );
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&answer));
    let devices = ok(hub.run(&["devices"]));
    assert!(!devices.contains('\u{1b}'), "{devices:?}");
    honest_laptops_go_on(&hub, &hawa, &[&b, &c]);
}

#[test]
fn a_pin_hash_that_would_make_sign_in_costly_is_refused() {
    let (hub, a, b, c, hawa) = center(Engine::Sqlite);
    let mariama = a.add_learner("Mariama");
    a.study(&mariama, 1);
    let template = a.store().own_batch_after(&VersionVector::default(), 1).unwrap();
    // A real hash of a real PIN, its cost raised to 4 GiB and 1,000 passes: every
    // laptop would spend that at each of this learner's sign-ins.
    let honest = kalamu_core::pin::hash_pin("2468").unwrap();
    let cases = [
        (honest.clone(), "bad_proof"),
        (honest.replace("m=65536,t=3", "m=4194304,t=3"), "bad_batch"),
        (honest.replace("t=3", "t=1000"), "bad_batch"),
    ];
    for (hash, refusal) in cases {
        let mut pushed = Batch::default();
        let id = uuid::Uuid::now_v7().to_string();
        pushed.learners.push(kalamu_core::sync::LearnerRecord {
            id: id.clone(),
            name: "Kadiatou".to_owned(),
            created_at: 1,
            pin_hash: Some(hash),
        });
        let mut e = template.events[0].clone();
        (e.id, e.learner_id, e.seq) = (uuid::Uuid::now_v7().to_string(), id, 1);
        pushed.events.push(e);
        // The honest hash passes the shape checks and meets the unsigned batch's real fault.
        assert_eq!(push_as(&hub, &a, &pushed), (422, refusal.to_owned()));
    }
    let on_hub: i64 = hub.scalar("SELECT count(*) FROM learners");
    assert_eq!(on_hub, 1, "only Hawa");
    honest_laptops_go_on(&hub, &hawa, &[&b, &c]);
}

crate::on_both_engines!(
    a_batch_that_leaves_out_its_learners_is_refused_and_stops_no_one,
    a_laptop_cannot_speak_for_another,
    no_stamp_can_poison_a_clock,
    enrolment_never_takes_an_identity_nor_lifts_a_revocation,
    one_event_cannot_fill_the_centers_disks,
    a_copy_that_differs_from_the_stored_event_is_refused,
    a_laptop_bundle_that_conflicts_half_way_changes_nothing_on_the_hub,
    names_with_control_characters_are_refused_at_every_door
);
