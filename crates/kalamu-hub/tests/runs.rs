//! Pulls served from runs, against a real hub database file: whatever a
//! laptop already holds, however the pushes were cut and repeated, a pull
//! sends each missing event exactly once, and the hub's learner records.

use kalamu_core::progress::event::{Event, EventBody};
use kalamu_core::progress::hlc::Hlc;
use kalamu_core::sync::proof::{Chain, Proof, SigningKey};
use kalamu_core::sync::{Batch, LearnerRecord, VersionVector};
use kalamu_hub::sqlite::SqliteStorage;
use kalamu_hub::storage::{Incoming, Storage};

const NOW: i64 = 1_790_000_000_000;

struct Center {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    hub: SqliteStorage,
    id: String,
}

fn center() -> Center {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hub.db");
    let hub = SqliteStorage::open(&path).unwrap();
    let id = hub.add_center("Centre de Kindia").unwrap().id;
    Center { _dir: dir, path, hub, id }
}

impl Center {
    /// Enrols a new laptop; returns its device id.
    fn laptop(&self) -> String {
        let device = uuid::Uuid::now_v7().to_string();
        let code = format!("code-{device}");
        self.hub.add_enroll_code(&self.id, &code, NOW + 60_000, None).unwrap();
        let key = key_of(&device).verifying_key().to_bytes();
        self.hub.enroll(&code, &device, "laptop", &format!("token-{device}"), Some(key), NOW).unwrap();
        device
    }

    fn push(&self, batch: &Batch) -> usize {
        kalamu_hub::storage::wait(self.hub.push(
            &self.id,
            &batch.events[0].device_id,
            vec![Incoming::unchecked(batch.clone(), batch.encode())],
            NOW,
        ))
        .unwrap()
        .0
        .new
    }

    /// Everything a side holding `theirs` receives, page after page, in order.
    fn pull_all(&self, theirs: &VersionVector, limit: usize) -> Batch {
        let mut held = theirs.clone();
        let mut all = Batch::default();
        for _ in 0..1_000 {
            let pulled = self.hub.pull(&self.id, &held, limit).unwrap();
            let mut body = Vec::new();
            for frame in &pulled.frames {
                kalamu_core::sync::wire::append_frame(&mut body, frame);
            }
            let batch = Batch::decode_frames(&body).unwrap();
            assert_eq!(batch.events.len() as u64, pulled.events, "the count matches what was sent");
            held = held.check_extends(&batch).expect("a pull never leaves a gap");
            all.events.extend(batch.events);
            all.learners.extend(batch.learners);
            if !pulled.more {
                return all;
            }
        }
        panic!("the hub kept saying there was more");
    }
}

fn learner(name: &str, pin_hash: Option<&str>) -> LearnerRecord {
    LearnerRecord {
        id: uuid::Uuid::now_v7().to_string(),
        name: name.into(),
        created_at: NOW,
        pin_hash: pin_hash.map(str::to_owned),
    }
}

/// The key a test laptop signs with.
fn key_of(device: &str) -> SigningKey {
    SigningKey::from_bytes(blake3::hash(device.as_bytes()).as_bytes())
}

/// Events `seqs` of `device`, by `learner`, signed at the end as their laptop signs them.
fn events(device: &str, learner: &LearnerRecord, seqs: std::ops::RangeInclusive<u64>) -> Batch {
    let event = |seq| Event {
        // Stable per (device, seq), so a repeated push carries the very same events.
        id: uuid::Uuid::from_u128(uuid::Uuid::parse_str(device).unwrap().as_u128().wrapping_add(seq as u128))
            .to_string(),
        learner_id: learner.id.clone(),
        device_id: device.to_owned(),
        seq,
        hlc: Hlc::at_millis(NOW as u64 + seq),
        pack_id: "org.kalamu.samples.networks-intro".into(),
        lesson_id: "ip-addresses".into(),
        body: EventBody::TimeSpent { seconds: seq as u32 },
    };
    let end = *seqs.end();
    let chain = (1..=end).map(event).fold(Chain::start(device), |c, e| c.then(&e));
    let proofs = vec![Proof::sign(&key_of(device), device, end, &chain)];
    Batch { learners: vec![learner.clone()], events: seqs.map(event).collect(), proofs }
}

fn seqs_of(batch: &Batch, device: &str) -> Vec<u64> {
    batch.events.iter().filter(|e| e.device_id == device).map(|e| e.seq).collect()
}

fn vv(pairs: &[(&str, u64)]) -> VersionVector {
    VersionVector(pairs.iter().map(|(d, s)| (d.to_string(), *s)).collect())
}

#[test]
fn a_pull_sends_each_missing_event_once_whatever_the_laptop_holds() {
    let c = center();
    let (a, b) = (c.laptop(), c.laptop());
    let awa = learner("Awa", None);
    for range in [1..=10, 11..=20, 21..=30] {
        c.push(&events(&a, &awa, range));
    }
    c.push(&events(&b, &awa, 1..=7));
    for held in 0..=30 {
        for limit in [1, 8, 5_000] {
            let got = c.pull_all(&vv(&[(&a, held), (&b, 7)]), limit);
            assert_eq!(
                seqs_of(&got, &a),
                (held + 1..=30).collect::<Vec<_>>(),
                "holding {held}, limit {limit}"
            );
            assert!(seqs_of(&got, &b).is_empty());
        }
    }
}

#[test]
fn overlapping_and_repeated_pushes_are_pulled_once() {
    let c = center();
    let a = c.laptop();
    let awa = learner("Awa", None);
    assert_eq!(c.push(&events(&a, &awa, 1..=10)), 10);
    assert_eq!(c.push(&events(&a, &awa, 1..=10)), 0, "a repeated batch adds nothing");
    assert_eq!(c.push(&events(&a, &awa, 6..=25)), 15, "an overlapping batch adds only its new events");
    let got = c.pull_all(&VersionVector::default(), 5_000);
    assert_eq!(seqs_of(&got, &a), (1..=25).collect::<Vec<_>>());
}

#[test]
fn an_event_repeated_within_a_batch_is_stored_once_and_a_changed_one_is_refused() {
    let c = center();
    let a = c.laptop();
    let awa = learner("Awa", None);
    let mut twice = events(&a, &awa, 1..=4);
    twice.events.insert(2, twice.events[1].clone());
    assert_eq!(c.push(&twice), 4);
    let mut changed = events(&a, &awa, 3..=6);
    changed.events[0].id = uuid::Uuid::now_v7().to_string();
    let refused = kalamu_hub::storage::wait(c.hub.push(
        &c.id,
        &a,
        vec![Incoming::unchecked(changed.clone(), changed.encode())],
        NOW,
    ));
    assert!(
        matches!(
            refused,
            Err(kalamu_hub::error::HubError::Sync(kalamu_core::Error::SyncConflict { seq: 3, .. }))
        ),
        "{refused:?}"
    );
    assert_eq!(seqs_of(&c.pull_all(&VersionVector::default(), 5_000), &a), vec![1, 2, 3, 4]);
}

#[test]
fn a_learner_record_a_laptop_changed_is_not_passed_on() {
    let c = center();
    let (a, b) = (c.laptop(), c.laptop());
    let pin = "a".repeat(64);
    let awa = learner("Awa", Some(&pin));
    c.push(&events(&a, &awa, 1..=3));
    // Laptop B pushes Awa's events with its own idea of her PIN.
    let forged = LearnerRecord { pin_hash: Some("b".repeat(64)), ..awa.clone() };
    c.push(&events(&b, &forged, 1..=3));
    let got = c.pull_all(&VersionVector::default(), 5_000);
    assert_eq!(seqs_of(&got, &b), vec![1, 2, 3]);
    assert!(got.learners.iter().all(|l| l.pin_hash.as_deref() == Some(pin.as_str())), "{:?}", got.learners);
}

/// A hub database as schema 2 left it: events as rows, runs for some of them.
fn schema_2_database(path: &std::path::Path, center: &str, rows: &[(Batch, i64)], runs: &[&Batch]) {
    let raw = rusqlite::Connection::open(path).unwrap();
    raw.execute_batch(include_str!("../migrations/sqlite/0001_hub.sql")).unwrap();
    raw.execute_batch(include_str!("../migrations/sqlite/0002_runs.sql")).unwrap();
    raw.pragma_update(None, "user_version", 2).unwrap();
    raw.pragma_update(None, "application_id", 0x4B4C_4D48).unwrap();
    raw.execute("INSERT INTO centers VALUES (?1, 'Centre de Kindia', ?2, ?3)", (center, "k".repeat(64), NOW))
        .unwrap();
    for (batch, received_at) in rows {
        for l in &batch.learners {
            raw.execute(
                "INSERT OR IGNORE INTO learners VALUES (?1, ?2, ?3, ?4, ?5)",
                (&l.id, center, &l.name, l.created_at, &l.pin_hash),
            )
            .unwrap();
        }
        for e in &batch.events {
            raw.execute(
                "INSERT OR IGNORE INTO devices (id, center_id, name, token_hash, enrolled_at) VALUES (?1, ?2, 'laptop', ?1, ?3)",
                (&e.device_id, center, NOW),
            )
            .unwrap();
            raw.execute(
                "INSERT INTO events VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                rusqlite::params![
                    e.id,
                    center,
                    e.learner_id,
                    e.device_id,
                    e.seq as i64,
                    e.hlc.0 as i64,
                    e.pack_id,
                    e.lesson_id,
                    e.body.kind(),
                    serde_json::to_string(&e.body).unwrap(),
                    received_at
                ],
            )
            .unwrap();
            raw.execute(
                "INSERT INTO heads VALUES (?1, ?2, ?3) ON CONFLICT DO UPDATE SET seq = excluded.seq",
                (&e.device_id, center, e.seq as i64),
            )
            .unwrap();
        }
    }
    for run in runs {
        let (first, last) = (run.events[0].seq as i64, run.events.last().unwrap().seq as i64);
        raw.execute(
            "INSERT INTO runs VALUES (?1, ?2, ?3, ?4, ?5)",
            (&run.events[0].device_id, last, first, center, run.encode()),
        )
        .unwrap();
    }
}

#[test]
fn a_schema_2_hub_database_keeps_every_event_and_when_it_arrived() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hub.db");
    let center = uuid::Uuid::now_v7().to_string();
    let (a, b) = (uuid::Uuid::now_v7().to_string(), uuid::Uuid::now_v7().to_string());
    let awa = learner("Awa", None);
    let (a_early, a_late, b_all) =
        (events(&a, &awa, 1..=10), events(&a, &awa, 11..=40), events(&b, &awa, 1..=12));
    // Device A's events arrived twice, but schema 2 could hold them in one
    // run; device B's have none.
    let a_all = Batch { events: [&a_early.events[..], &a_late.events[..]].concat(), ..a_late.clone() };
    schema_2_database(
        &path,
        &center,
        &[(a_early.clone(), NOW + 1), (a_late.clone(), NOW + 2), (b_all.clone(), NOW + 3)],
        &[&a_all],
    );

    let c = Center { _dir: dir, path: path.clone(), hub: SqliteStorage::open(&path).unwrap(), id: center };
    let got = c.pull_all(&vv(&[(&a, 3)]), 5_000);
    let mut expected: Vec<_> =
        a_early.events[3..].iter().chain(&a_late.events).chain(&b_all.events).collect();
    let mut got_events: Vec<_> = got.events.iter().collect();
    expected.sort_by_key(|e| (&e.device_id, e.seq));
    got_events.sort_by_key(|e| (&e.device_id, e.seq));
    assert_eq!(got_events, expected, "every event, exactly as it was stored");

    let raw = rusqlite::Connection::open(&path).unwrap();
    let tables: Vec<String> = raw
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'events'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(tables.is_empty(), "the event rows are gone: runs are the one copy");
    let received: Vec<i64> = raw
        .prepare("SELECT received_at FROM runs ORDER BY device_id = ?1, first_seq")
        .unwrap()
        .query_map([&a], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(received, vec![NOW + 3, NOW + 1, NOW + 2], "when each run's events arrived");

    // The ids came along: one reused by a new event is still refused.
    let mut reused = events(&b, &awa, 13..=13);
    reused.events[0].id = a_late.events[0].id.clone();
    let refused = kalamu_hub::storage::wait(c.hub.push(
        &c.id,
        &b,
        vec![Incoming::unchecked(reused.clone(), reused.encode())],
        NOW,
    ));
    assert!(refused.is_err(), "{refused:?}");
    assert_eq!(c.push(&events(&b, &awa, 13..=14)), 2, "and the hub goes on taking new ones");
}

#[test]
fn a_schema_2_hub_database_with_a_gap_is_refused_and_left_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hub.db");
    let center = uuid::Uuid::now_v7().to_string();
    let a = uuid::Uuid::now_v7().to_string();
    let awa = learner("Awa", None);
    let mut gap = events(&a, &awa, 1..=10);
    gap.events.remove(4);
    schema_2_database(&path, &center, &[(gap, NOW)], &[]);
    let refused = SqliteStorage::open(&path).err().expect("a gap is refused");
    assert!(refused.to_string().contains(&a), "{refused}");
    let raw = rusqlite::Connection::open(&path).unwrap();
    let version: i64 = raw.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
    let rows: i64 = raw.query_row("SELECT count(*) FROM events", [], |r| r.get(0)).unwrap();
    assert_eq!((version, rows), (2, 9), "nothing changed");
}

#[test]
fn a_run_damaged_behind_the_hubs_back_is_reported_not_passed_on() {
    let c = center();
    let (a, b) = (c.laptop(), c.laptop());
    let awa = learner("Awa", None);
    c.push(&events(&a, &awa, 1..=10));
    let raw = rusqlite::Connection::open(&c.path).unwrap();
    raw.execute_batch("DROP TRIGGER runs_are_never_updated").unwrap();
    raw.execute("UPDATE runs SET bytes = ?1", [events(&b, &awa, 1..=10).encode()]).unwrap();
    let err = c.hub.pull(&c.id, &vv(&[(&a, 3)]), 5_000).unwrap_err();
    assert!(matches!(err, kalamu_hub::HubError::Damaged(_)), "{err}");
    assert!(err.to_string().contains("restore its database from a backup"), "{err}");
}

#[test]
fn stored_events_can_be_neither_changed_nor_removed() {
    let c = center();
    let a = c.laptop();
    c.push(&events(&a, &learner("Awa", None), 1..=5));
    let raw = rusqlite::Connection::open(&c.path).unwrap();
    for sql in [
        "DELETE FROM runs",
        "UPDATE runs SET bytes = x'00'",
        "DELETE FROM event_ids",
        "UPDATE event_ids SET seq = 9",
    ] {
        let err = raw.execute(sql, []).unwrap_err().to_string();
        assert!(err.contains("append-only"), "{sql}: {err}");
    }
    assert_eq!(c.pull_all(&VersionVector::default(), 5_000).events.len(), 5);
}

#[test]
fn pulls_served_from_memory_match_pulls_read_from_the_file() {
    let c = center();
    let laptops: Vec<String> = (0..5).map(|_| c.laptop()).collect();
    let awa = learner("Awa", None);
    // Rounds of pushes with pulls in between, so some runs are in memory and
    // some not, and every laptop holds a different part of the others'.
    for round in 0..4u64 {
        for (i, device) in laptops.iter().enumerate() {
            let first = round * 10 + 1;
            c.push(&events(device, &awa, first..=first + 9));
            let holds: Vec<(&str, u64)> = laptops
                .iter()
                .enumerate()
                .map(|(j, d)| (d.as_str(), (round * 10 + (i * j) as u64 % 13).min(40)))
                .collect();
            let got = c.pull_all(&vv(&holds), 7);
            let fresh = SqliteStorage::open(&c.path).unwrap();
            let from_file = Center {
                _dir: tempfile::tempdir().unwrap(),
                path: c.path.clone(),
                hub: fresh,
                id: c.id.clone(),
            }
            .pull_all(&vv(&holds), 7);
            assert_eq!(got, from_file, "round {round}, laptop {i}");
        }
    }
}

#[test]
fn a_signature_checked_before_the_head_moved_is_checked_again() {
    let c = center();
    let a = c.laptop();
    let awa = learner("Awa", None);
    let (first, second) = (events(&a, &awa, 1..=10), events(&a, &awa, 11..=20));
    // Checked while the hub held nothing of A: those checks no longer say anything once 1..10 are in.
    let stale = c.hub.precheck(&a, &second).unwrap();
    let mut forged = second.clone();
    forged.events[3].body = EventBody::LessonCompleted;
    let stale_forged = c.hub.precheck(&a, &forged).unwrap();
    assert_eq!(c.push(&first), 10);
    let push_checked = |batch: &Batch, checked| {
        let incoming = Incoming { batch: batch.clone(), wire: batch.encode(), checked: Some(checked) };
        kalamu_hub::storage::wait(c.hub.push(&c.id, &a, vec![incoming], NOW))
    };
    let refused = push_checked(&forged, stale_forged);
    assert!(
        matches!(refused, Err(kalamu_hub::error::HubError::Sync(kalamu_core::Error::BadProof { .. }))),
        "{refused:?}"
    );
    assert_eq!(push_checked(&second, stale).unwrap().0.new, 10);
    // Checked from the head it is pushed on: taken as checked.
    let third = events(&a, &awa, 21..=25);
    let fresh = c.hub.precheck(&a, &third).unwrap();
    assert_eq!(push_checked(&third, fresh).unwrap().0.new, 5);
    assert_eq!(seqs_of(&c.pull_all(&VersionVector::default(), 5_000), &a), (1..=25).collect::<Vec<_>>());
}
