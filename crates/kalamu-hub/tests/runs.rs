//! Pulls served from runs, against a real hub database file: whatever a
//! laptop already holds, however the pushes were cut and repeated, a pull
//! sends each missing event exactly once, and the hub's learner records.

use kalamu_core::progress::event::{Event, EventBody};
use kalamu_core::progress::hlc::Hlc;
use kalamu_core::sync::{Batch, LearnerRecord, VersionVector};
use kalamu_hub::sqlite::SqliteStorage;
use kalamu_hub::storage::Storage;

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
        self.hub.add_enroll_code(&self.id, &code, NOW + 60_000).unwrap();
        self.hub.enroll(&code, &device, "laptop", &format!("token-{device}"), NOW).unwrap();
        device
    }

    fn push(&self, batch: &Batch) -> usize {
        kalamu_hub::storage::wait(self.hub.push(&self.id, batch.clone(), batch.encode(), NOW)).unwrap().0.new
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

/// Events `seqs` of `device`, by `learner`.
fn events(device: &str, learner: &LearnerRecord, seqs: std::ops::RangeInclusive<u64>) -> Batch {
    let events = seqs
        .map(|seq| Event {
            // Stable per (device, seq), so a repeated push carries the very same events.
            id: uuid::Uuid::from_u128(
                uuid::Uuid::parse_str(device).unwrap().as_u128().wrapping_add(seq as u128),
            )
            .to_string(),
            learner_id: learner.id.clone(),
            device_id: device.to_owned(),
            seq,
            hlc: Hlc::at_millis(NOW as u64 + seq),
            pack_id: "org.kalamu.samples.networks-intro".into(),
            lesson_id: "ip-addresses".into(),
            body: EventBody::TimeSpent { seconds: seq as u32 },
        })
        .collect();
    Batch { learners: vec![learner.clone()], events }
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

#[test]
fn a_hub_database_without_runs_pulls_the_same_and_gets_them_back_at_open() {
    let c = center();
    let (a, b) = (c.laptop(), c.laptop());
    let awa = learner("Awa", None);
    c.push(&events(&a, &awa, 1..=40));
    c.push(&events(&b, &awa, 1..=12));

    // As a database from before runs, or one whose runs were lost.
    let raw = rusqlite::Connection::open(&c.path).unwrap();
    raw.execute("DELETE FROM runs", []).unwrap();
    let without = c.pull_all(&vv(&[(&a, 3)]), 5_000);
    assert_eq!(seqs_of(&without, &a), (4..=40).collect::<Vec<_>>(), "made up from the events");
    assert_eq!(seqs_of(&without, &b), (1..=12).collect::<Vec<_>>());

    drop(c.hub);
    let reopened = SqliteStorage::open(&c.path).unwrap();
    let runs: i64 = raw.query_row("SELECT count(*) FROM runs", [], |r| r.get(0)).unwrap();
    assert!(runs >= 2, "each device has its runs again ({runs})");
    let c = Center { hub: reopened, ..c };
    assert_eq!(c.pull_all(&vv(&[(&a, 3)]), 5_000), without);
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
