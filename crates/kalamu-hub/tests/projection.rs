//! The staff reports' projection, against a real hub database file: however
//! a center's events arrive (devices interleaved, pushes cut anywhere and
//! repeated, the projection catching up at any point in between), and after
//! a rebuild, every learner's lesson progress on the reports equals core's
//! full derivation of their events, the one the app shows.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kalamu_core::pack::Manifest;
use kalamu_core::pack::sign::SecretKey;
use kalamu_core::progress::event::{Answer, Event, EventBody};
use kalamu_core::progress::hlc::Hlc;
use kalamu_core::progress::views::{LessonProgress, derive};
use kalamu_core::sync::proof::{Chain, Proof, SigningKey};
use kalamu_core::sync::{Batch, LearnerRecord};
use kalamu_hub::db::DbUrl;
use kalamu_hub::sqlite::Folding;
use kalamu_hub::storage::{Incoming, Storage};
use proptest::prelude::*;

const NOW: i64 = 1_790_000_000_000;
const PACK: &str = "org.kalamu.samples.networks-intro";
const LESSONS: [&str; 4] = ["what-is-a-network", "ip-addresses", "basics-quiz", "internet-quiz"];

/// The sample pack, built and signed once for all cases: its file, its signer's key, its manifest.
fn sample_pack() -> (&'static Path, &'static str, &'static Manifest) {
    static PACK_FILE: std::sync::OnceLock<(tempfile::TempDir, PathBuf, String, Manifest)> =
        std::sync::OnceLock::new();
    let (_, path, key, manifest) = PACK_FILE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let key = SecretKey::generate().unwrap();
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../course-packs/networks-intro");
        let out = dir.path().join("net.kpack");
        let built = kalamu_core::pack::build::build(&src, &out, Some(&key), &mut |_| {}).unwrap();
        (dir, out, key.public_hex(), built.manifest)
    });
    (path, key, manifest)
}

#[path = "../../kalamu-cli/tests/it/pg.rs"]
mod pg;

/// Which database the hub under test keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Engine {
    Sqlite,
    Postgres,
}

struct Hub {
    hub: std::sync::Arc<dyn Storage>,
    center: String,
    url: DbUrl,
    /// The SQLite file, if that is the engine.
    file: Option<PathBuf>,
    _dir: tempfile::TempDir,
    _server: Option<pg::Server>,
}

fn hub(engine: Engine) -> Hub {
    let hub = hub_without_pack(engine);
    let (pack, key, _) = sample_pack();
    kalamu_hub::catalog::trust(&*hub.hub, key, "Samples").unwrap();
    kalamu_hub::catalog::publish(&*hub.hub, pack).unwrap();
    hub
}

fn hub_without_pack(engine: Engine) -> Hub {
    let dir = tempfile::tempdir().unwrap();
    let (url, file, server) = match engine {
        Engine::Sqlite => {
            let file = dir.path().join("hub.db");
            (DbUrl::Sqlite(file.clone()), Some(file), None)
        }
        Engine::Postgres => {
            let (url, server) = pg::fresh_database();
            (DbUrl::Postgres(url), None, server)
        }
    };
    // As a serving hub does: the reports fold in new events while it is idle.
    let hub = kalamu_hub::db::open_with(&url, Folding::WhenIdle).unwrap();
    let center = hub.add_center("Centre de Labé").unwrap().id;
    Hub { hub, center, url, file, _dir: dir, _server: server }
}

fn key_of(device: &str) -> SigningKey {
    SigningKey::from_bytes(blake3::hash(device.as_bytes()).as_bytes())
}

impl Hub {
    /// One number read from the hub's database by another connection, as another process would.
    fn scalar(&self, sql: &str) -> i64 {
        match (&self.url, &self.file) {
            (DbUrl::Postgres(url), _) => pg::client(url).query_one(sql, &[]).unwrap().get(0),
            (_, Some(file)) => {
                rusqlite::Connection::open(file).unwrap().query_row(sql, [], |r| r.get(0)).unwrap()
            }
            _ => unreachable!("a hub is on SQLite or PostgreSQL"),
        }
    }

    fn laptop(&self, n: u8) -> String {
        let device =
            uuid::Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0000 + u128::from(n)).to_string();
        let code = format!("code-{device}");
        self.hub.add_enroll_code(&self.center, &code, NOW + 60_000, None).unwrap();
        let key = key_of(&device).verifying_key().to_bytes();
        self.hub.enroll(&code, &device, "laptop", &format!("token-{device}"), Some(key), NOW).unwrap();
        device
    }

    /// Pushes `events` (one device's, consecutive from its first) signed through the last.
    fn push(&self, all: &[Event], learners: &[LearnerRecord], from: usize, to: usize) {
        let device = &all[0].device_id;
        let chain = all[..to].iter().fold(Chain::start(device), |c, e| c.then(e));
        let proofs = vec![Proof::sign(&key_of(device), device, to as u64, &chain)];
        let batch = Batch { learners: learners.to_vec(), events: all[from..to].to_vec(), proofs };
        let wire = batch.encode();
        kalamu_hub::storage::wait(self.hub.push(
            &self.center,
            device,
            vec![Incoming::unchecked(batch, wire)],
            NOW,
        ))
        .unwrap();
    }

    /// Every learner's progress per lesson as the course report shows it.
    fn reported(&self) -> BTreeMap<(String, String), LessonProgress> {
        let grid = kalamu_hub::report::grid(&*self.hub, &self.center, PACK).unwrap();
        let mut out = BTreeMap::new();
        for (learner, _, cells) in grid.rows {
            for (lesson, p) in grid.course.lessons.iter().zip(cells) {
                out.insert((learner.clone(), lesson.id.clone()), p);
            }
        }
        out
    }
}

/// What the app derives from the same events, per learner and lesson.
fn derived(
    events: &[Event],
    learners: &[LearnerRecord],
    manifest: &Manifest,
) -> BTreeMap<(String, String), LessonProgress> {
    let mut out = BTreeMap::new();
    for l in learners {
        let mine: Vec<Event> = events.iter().filter(|e| e.learner_id == l.id).cloned().collect();
        let progress = derive(&mine, std::slice::from_ref(manifest));
        for (lesson, mut p) in progress.packs[0].lessons.clone() {
            p.position = None; // where to resume is the laptop's, not the reports'
            out.insert((l.id.clone(), lesson), p);
        }
    }
    out
}

fn body() -> impl Strategy<Value = EventBody> {
    prop_oneof![
        Just(EventBody::LessonOpened),
        Just(EventBody::LessonCompleted),
        (0u32..600).prop_map(|seconds| EventBody::TimeSpent { seconds }),
        (0.0f64..1.0).prop_map(|at| EventBody::Position { media: None, at }),
        (0u32..6, 1u32..6, 0usize..4).prop_map(|(score, max, choice)| EventBody::QuizAttempt {
            answers: [("q1".to_owned(), Answer::Choice(choice))].into(),
            score: score.min(max),
            max,
        }),
    ]
}

/// One device's events: (learner, lesson, body, clock step) each.
fn device_events() -> impl Strategy<Value = Vec<(usize, usize, EventBody, u64)>> {
    prop::collection::vec((0usize..2, 0usize..LESSONS.len(), body(), 0u64..3_600_000), 1..25)
}

/// How a device's events reach the hub: cut points, and pushes repeated.
fn deliveries() -> impl Strategy<Value = Vec<(usize, usize, bool, bool)>> {
    // (device, events to add, repeat an earlier stretch first, let the projection catch up after)
    prop::collection::vec((0usize..3, 1usize..10, any::<bool>(), any::<bool>()), 1..30)
}

/// One case of the property: the reports equal a full derivation.
fn reports_equal_derivation(
    engine: Engine,
    per_device: Vec<Vec<(usize, usize, EventBody, u64)>>,
    plan: Vec<(usize, usize, bool, bool)>,
) -> Result<(), TestCaseError> {
    let hub = hub(engine);
    let (_, _, manifest) = sample_pack();
    let learners: Vec<LearnerRecord> = (0..2)
        .map(|i| LearnerRecord {
            id: uuid::Uuid::from_u128(0x0190_0000_0000_7000_8000_1000_0000_0000 + i).to_string(),
            name: format!("Learner {i}"),
            created_at: NOW,
            pin_hash: None,
        })
        .collect();
    let mut all: Vec<Vec<Event>> = Vec::new();
    for (n, specs) in per_device.iter().enumerate() {
        let device = hub.laptop(n as u8);
        let mut clock = NOW as u64;
        all.push(
            specs
                .iter()
                .enumerate()
                .map(|(i, (learner, lesson, body, step))| {
                    clock += step;
                    Event {
                        id: kalamu_core::progress::event::derived_id(&device, i as u64 + 1),
                        learner_id: learners[*learner].id.clone(),
                        device_id: device.clone(),
                        seq: i as u64 + 1,
                        hlc: Hlc::at_millis(clock),
                        pack_id: PACK.into(),
                        lesson_id: LESSONS[*lesson].into(),
                        body: body.clone().for_resume(),
                    }
                })
                .collect(),
        );
    }
    let mut sent = vec![0usize; all.len()];
    for (device, more, repeat, catch_up) in plan {
        let events = &all[device];
        if repeat && sent[device] > 0 {
            let back = sent[device] / 2;
            hub.push(events, &learners, back, sent[device]);
        }
        let to = (sent[device] + more).min(events.len());
        if to > sent[device] {
            hub.push(events, &learners, sent[device], to);
            sent[device] = to;
        }
        if catch_up {
            hub.hub.project(usize::MAX).unwrap();
        }
    }
    for (device, events) in all.iter().enumerate() {
        if sent[device] < events.len() {
            hub.push(events, &learners, sent[device], events.len());
        }
    }
    let every: Vec<Event> = all.concat();
    let expected = derived(&every, &learners, manifest);
    hub.hub.project(usize::MAX).unwrap();
    prop_assert_eq!(&hub.reported(), &expected);
    let folded = hub.hub.rebuild_projection().unwrap();
    prop_assert_eq!(folded, every.len());
    prop_assert_eq!(&hub.reported(), &expected);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn the_reports_equal_a_full_derivation_whatever_the_order_repeats_and_rebuilds(
        per_device in prop::collection::vec(device_events(), 3),
        plan in deliveries(),
    ) {
        reports_equal_derivation(Engine::Sqlite, per_device, plan)?;
    }
}

proptest! {
    // Each case on a fresh PostgreSQL database: fewer cases.
    #![proptest_config(ProptestConfig { cases: 8, ..ProptestConfig::default() })]

    #[test]
    fn on_postgres_the_reports_equal_a_full_derivation_whatever_the_order_repeats_and_rebuilds(
        per_device in prop::collection::vec(device_events(), 3),
        plan in deliveries(),
    ) {
        reports_equal_derivation(Engine::Postgres, per_device, plan)?;
    }
}

fn difficult_questions_count_learners_and_show_wrong_answers_by_their_text(engine: Engine) {
    let hub = hub(engine);
    let device = hub.laptop(9);
    let learners: Vec<LearnerRecord> = ["Awa", "Binta", "Mamadou"]
        .iter()
        .enumerate()
        .map(|(i, name)| LearnerRecord {
            id: uuid::Uuid::from_u128(0x0190_0000_0000_7000_8000_2000_0000_0000 + i as u128).to_string(),
            name: (*name).into(),
            created_at: NOW,
            pin_hash: None,
        })
        .collect();
    // q1's right answer is choice 1 ("The router"); Awa and Binta chose the switch, Mamadou was right.
    let attempts = [(0, 0), (1, 0), (1, 0), (2, 1)];
    let events: Vec<Event> = attempts
        .iter()
        .enumerate()
        .map(|(i, (learner, choice))| Event {
            id: kalamu_core::progress::event::derived_id(&device, i as u64 + 1),
            learner_id: learners[*learner].id.clone(),
            device_id: device.clone(),
            seq: i as u64 + 1,
            hlc: Hlc::at_millis(NOW as u64 + i as u64),
            pack_id: PACK.into(),
            lesson_id: "basics-quiz".into(),
            body: EventBody::QuizAttempt {
                answers: [("q1".to_owned(), Answer::Choice(*choice))].into(),
                score: u32::from(*choice == 1),
                max: 5,
            },
        })
        .collect();
    hub.push(&events, &learners, 0, events.len());
    hub.hub.project(usize::MAX).unwrap();
    let report = kalamu_hub::report::quiz(&*hub.hub, &hub.center, PACK, "basics-quiz").unwrap();
    let q1 = report.items.iter().find(|i| i.id == "q1").unwrap();
    assert!(q1.prompt.starts_with("In a cyber-café"), "the question's text comes from the pack");
    assert_eq!((q1.answered, q1.wrong), (3, 2), "learners are counted once, however often they tried");
    assert_eq!(q1.common_wrong, vec![("The switch".to_owned(), 3)]);
    let binta = report.learners.iter().find(|l| l.1 == "Binta").unwrap();
    assert_eq!(binta.3, 2, "Binta's two attempts");
}

fn progress_in_a_pack_the_hub_lacks_shows_by_lesson_id_and_takes_titles_once_published(engine: Engine) {
    let hub = hub_without_pack(engine);
    let device = hub.laptop(7);
    let learner = LearnerRecord {
        id: uuid::Uuid::from_u128(0x0190_0000_0000_7000_8000_3000_0000_0000).to_string(),
        name: "Fanta".into(),
        created_at: NOW,
        pin_hash: None,
    };
    let events: Vec<Event> = [EventBody::LessonOpened, EventBody::LessonCompleted]
        .into_iter()
        .enumerate()
        .map(|(i, body)| Event {
            id: kalamu_core::progress::event::derived_id(&device, i as u64 + 1),
            learner_id: learner.id.clone(),
            device_id: device.clone(),
            seq: i as u64 + 1,
            hlc: Hlc::at_millis(NOW as u64 + i as u64),
            pack_id: PACK.into(),
            lesson_id: "ip-addresses".into(),
            body,
        })
        .collect();
    hub.push(&events, std::slice::from_ref(&learner), 0, events.len());
    hub.hub.project(usize::MAX).unwrap();
    let grid = kalamu_hub::report::grid(&*hub.hub, &hub.center, PACK).unwrap();
    assert!(!grid.course.known, "the page says to publish the pack");
    assert_eq!(grid.course.title, PACK);
    assert_eq!(grid.course.lessons.iter().map(|l| l.title.as_str()).collect::<Vec<_>>(), ["ip-addresses"]);
    assert!(grid.rows[0].2[0].completed);

    let (pack, key, _) = sample_pack();
    kalamu_hub::catalog::trust(&*hub.hub, key, "Samples").unwrap();
    kalamu_hub::catalog::publish(&*hub.hub, pack).unwrap();
    let grid = kalamu_hub::report::grid(&*hub.hub, &hub.center, PACK).unwrap();
    assert_eq!(grid.course.title, "Introduction to computer networks");
    let at = grid.course.lessons.iter().position(|l| l.id == "ip-addresses").unwrap();
    assert_eq!(grid.course.lessons[at].title, "IP addresses: how devices find each other");
    assert!(grid.rows[0].2[at].completed, "the same progress, now under the lesson's title");
}

fn a_pack_by_an_unknown_or_no_publisher_is_not_published(engine: Engine) {
    let hub = hub_without_pack(engine);
    let (pack, _, _) = sample_pack();
    let refused = kalamu_hub::catalog::publish(&*hub.hub, pack).unwrap_err();
    assert!(matches!(refused, kalamu_hub::HubError::UntrustedPack(_)), "{refused}");
    assert!(hub.hub.packs().unwrap().is_empty());
}

fn the_reports_catch_up_by_themselves_once_the_hub_is_idle(engine: Engine) {
    let hub = hub_without_pack(engine);
    let device = hub.laptop(5);
    let learner = LearnerRecord {
        id: uuid::Uuid::now_v7().to_string(),
        name: "Kadiatou".into(),
        created_at: NOW,
        pin_hash: None,
    };
    let events: Vec<Event> = (0..30u64)
        .map(|i| Event {
            id: kalamu_core::progress::event::derived_id(&device, i + 1),
            learner_id: learner.id.clone(),
            device_id: device.clone(),
            seq: i + 1,
            hlc: Hlc::at_millis(NOW as u64 + i),
            pack_id: PACK.into(),
            lesson_id: "ip-addresses".into(),
            body: EventBody::TimeSpent { seconds: 10 },
        })
        .collect();
    hub.push(&events, std::slice::from_ref(&learner), 0, events.len());
    // Read by another connection, as another process would: no page asks the hub to fold.
    let folded = || hub.scalar("SELECT CAST(coalesce(sum(seq), 0) AS BIGINT) FROM projected");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while folded() < 30 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(folded(), 30, "every event is in the reports within a few seconds of the last push");
    let seconds = hub.scalar("SELECT seconds FROM lesson_tallies");
    assert_eq!(seconds, 300);
}

fn a_laptop_cannot_record_for_another_centers_learner(engine: Engine) {
    let a = hub_without_pack(engine);
    let device_a = a.laptop(1);
    let learner = LearnerRecord {
        id: uuid::Uuid::now_v7().to_string(),
        name: "Oumou".into(),
        created_at: NOW,
        pin_hash: None,
    };
    let event = |device: &str, seq: u64, body: EventBody| Event {
        id: kalamu_core::progress::event::derived_id(device, seq),
        learner_id: learner.id.clone(),
        device_id: device.to_owned(),
        seq,
        hlc: Hlc::at_millis(NOW as u64 + seq),
        pack_id: PACK.into(),
        lesson_id: "ip-addresses".into(),
        body,
    };
    let mine = vec![event(&device_a, 1, EventBody::LessonCompleted)];
    a.push(&mine, std::slice::from_ref(&learner), 0, 1);

    // A laptop of another center of the same hub names Oumou in its own events.
    let other = a.hub.add_center("Centre de Boké").unwrap().id;
    let device_b = uuid::Uuid::now_v7().to_string();
    a.hub.add_enroll_code(&other, "code-b", NOW + 60_000, None).unwrap();
    a.hub
        .enroll("code-b", &device_b, "b", "token-b", Some(key_of(&device_b).verifying_key().to_bytes()), NOW)
        .unwrap();
    let theirs =
        vec![event(&device_b, 1, EventBody::QuizAttempt { answers: Default::default(), score: 0, max: 5 })];
    let chain = Chain::start(&device_b).then(&theirs[0]);
    let batch = Batch {
        learners: vec![],
        events: theirs,
        proofs: vec![Proof::sign(&key_of(&device_b), &device_b, 1, &chain)],
    };
    let wire = batch.encode();
    let refused =
        kalamu_hub::storage::wait(a.hub.push(&other, &device_b, vec![Incoming::unchecked(batch, wire)], NOW))
            .unwrap_err();
    assert_eq!(refused.code(), kalamu_core::sync::WireCode::OtherCenter, "{refused}");
    a.hub.project(usize::MAX).unwrap();
    let oumou = a.hub.tallies(&a.center, Some(&learner.id)).unwrap();
    assert_eq!(oumou.len(), 1);
    assert_eq!(oumou[0].tally.tally.attempts, 0, "her record is hers alone");
    assert!(a.hub.tallies(&other, None).unwrap().is_empty());
}

/// Each named test, once on SQLite and once on a real PostgreSQL server.
macro_rules! on_both_engines {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite {
            $( #[test] fn $name() { super::$name(super::Engine::Sqlite) } )*
        }
        mod on_postgres {
            $( #[test] fn $name() { super::$name(super::Engine::Postgres) } )*
        }
    };
}

on_both_engines!(
    difficult_questions_count_learners_and_show_wrong_answers_by_their_text,
    progress_in_a_pack_the_hub_lacks_shows_by_lesson_id_and_takes_titles_once_published,
    a_pack_by_an_unknown_or_no_publisher_is_not_published,
    the_reports_catch_up_by_themselves_once_the_hub_is_idle,
    a_laptop_cannot_record_for_another_centers_learner,
);
