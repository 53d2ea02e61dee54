//! Staff reports benchmark, against a real `kalamu hub serve` process on
//! loopback: a hub holding 1M events of 1,000 learners in 20 centers (pushed
//! by 20 signed laptops, one per center), then:
//!
//! - how long the projection takes to fold them all in;
//! - each page kind's time as a browser sees it (p50/p95 over many requests),
//!   next to the baseline a hub without the projection would pay on every
//!   view: a full derivation of one center's events by core, in the same run.
//!
//! Run: `cargo bench -p kalamu-cli --bench reports`
//! (`KALAMU_BENCH_EVENTS` changes the size).

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use kalamu_client::HubClient;
use kalamu_core::pack::Manifest;
use kalamu_core::pack::manifest::QuizKind;
use kalamu_core::progress::event::{Answer, Event, EventBody, derived_id};
use kalamu_core::progress::hlc::Hlc;
use kalamu_core::progress::views::derive;
use kalamu_core::sync::proof::{Chain, Proof, SigningKey};
use kalamu_core::sync::{Batch, LearnerRecord, VersionVector};
use kalamu_hub::sqlite::{Folding, SqliteStorage};
use kalamu_hub::storage::Storage;

mod shared;
use shared::HubProcess;

const CENTERS: usize = 20;
const LEARNERS_PER_CENTER: usize = 50;
const PUSH_EVENTS: usize = 5_000;
const PASSWORD: &str = "bench-password-2026";

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let total: usize =
        std::env::var("KALAMU_BENCH_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let per_learner = total / (CENTERS * LEARNERS_PER_CENTER);
    let work = tempfile::tempdir().unwrap();
    let hub_dir = work.path().join("hub");
    println!("Kalamu staff reports benchmark (hub: a `kalamu hub serve` process on loopback, SQLite)");

    // The hub's centers, the published pack and an admin, straight into its database.
    let (centers, manifest) = {
        let storage = SqliteStorage::open_with(&hub_dir.join("hub.db"), Folding::WhenViewed).unwrap();
        let key = kalamu_core::pack::sign::SecretKey::generate().unwrap();
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../course-packs/networks-intro");
        let pack = work.path().join("net.kpack");
        let built = kalamu_core::pack::build::build(&src, &pack, Some(&key), &mut |_| {}).unwrap();
        kalamu_hub::catalog::trust(&storage, &key.public_hex(), "Samples").unwrap();
        kalamu_hub::catalog::publish(&storage, &pack).unwrap();
        let admin = kalamu_hub::staff::add(&storage, "bench", None).unwrap();
        storage.set_password(&admin.account.id, &kalamu_hub::staff::hash_password(PASSWORD), false).unwrap();
        let centers: Vec<String> =
            (0..CENTERS).map(|i| storage.add_center(&format!("Centre {i}")).unwrap().id).collect();
        (centers, built.manifest)
    };
    let hub = HubProcess::start(&hub_dir);
    let t = Instant::now();
    let learners = fill(&hub, &centers, &manifest, per_learner);
    let pushed = t.elapsed();
    let events = CENTERS * LEARNERS_PER_CENTER * per_learner;
    println!(
        "\nhub with {events} events of {} learners in {CENTERS} centers, pushed by {CENTERS} laptops in {:.1} s",
        CENTERS * LEARNERS_PER_CENTER,
        pushed.as_secs_f64()
    );

    // The projection folds them while the hub is idle.
    let t = Instant::now();
    let db = rusqlite::Connection::open_with_flags(
        hub_dir.join("hub.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let folded = |db: &rusqlite::Connection| -> i64 {
        db.query_row("SELECT coalesce(sum(seq), 0) FROM projected", [], |r| r.get(0)).unwrap_or(0)
    };
    let held: i64 = db.query_row("SELECT sum(seq) FROM heads", [], |r| r.get(0)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(600);
    while folded(&db) < held && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let fold = t.elapsed();
    println!(
        "   the projection folded them in {:.1} s after the last push ({:.0} events/s), with no page asking",
        fold.as_secs_f64(),
        held as f64 / fold.as_secs_f64()
    );

    // Baseline: what every page view would cost without the projection.
    let reader = SqliteStorage::open_with(&hub_dir.join("hub.db"), Folding::WhenViewed).unwrap();
    let mut baseline = Vec::new();
    for i in 0..5 {
        let t = Instant::now();
        let batch =
            reader.events_after(&centers[i % CENTERS], &VersionVector::default(), usize::MAX).unwrap();
        let mut by_learner: HashMap<&str, Vec<Event>> = HashMap::new();
        for e in &batch.events {
            by_learner.entry(e.learner_id.as_str()).or_default().push(e.clone());
        }
        for events in by_learner.values() {
            std::hint::black_box(derive(events, std::slice::from_ref(&manifest)));
        }
        baseline.push(t.elapsed().as_secs_f64() * 1e3);
    }
    drop(reader);
    baseline.sort_by(f64::total_cmp);
    println!(
        "\n   full derivation of one center's {} events by core (baseline)   p50 {:>7.1} ms",
        events / CENTERS,
        baseline[baseline.len() / 2]
    );

    let cookie = sign_in(hub.addr);
    let quiz = manifest.modules[0].lessons.iter().find(|l| l.quiz.is_some()).unwrap().id.clone();
    let pack = &manifest.id;
    type PagePath<'a> = Box<dyn Fn(usize) -> String + 'a>;
    let kinds: Vec<(&str, PagePath)> = vec![
        ("center overview", Box::new(|i| format!("/centers/{}", centers[i % CENTERS]))),
        ("course grid", Box::new(|i| format!("/centers/{}/courses/{pack}", centers[i % CENTERS]))),
        (
            "quiz and difficult questions",
            Box::new(|i| format!("/centers/{}/courses/{pack}/quizzes/{quiz}", centers[i % CENTERS])),
        ),
        (
            "learner",
            Box::new(|i| {
                format!(
                    "/centers/{}/learners/{}",
                    centers[i % CENTERS],
                    learners[i % CENTERS][i % LEARNERS_PER_CENTER]
                )
            }),
        ),
        ("laptops", Box::new(|i| format!("/centers/{}/laptops", centers[i % CENTERS]))),
        (
            "course grid as CSV",
            Box::new(|i| format!("/centers/{}/courses/{pack}?csv=grid", centers[i % CENTERS])),
        ),
    ];
    println!(
        "   page, as a browser on loopback waits for it      p50        p95   (over 60 views; target p95 < 100 ms)"
    );
    for (name, path) in &kinds {
        let mut times = Vec::new();
        for i in 0..60 {
            let (status, took) = get(hub.addr, &path(i), &cookie);
            assert_eq!(status, 200, "{name}: {}", path(i));
            times.push(took.as_secs_f64() * 1e3);
        }
        times.sort_by(f64::total_cmp);
        let p = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
        println!("   {name:<44} {:>7.1} ms {:>7.1} ms", p(0.5), p(0.95));
    }
}

/// A small deterministic generator, so every run holds the same events.
struct Dice(u64);

impl Dice {
    fn roll(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// One learner's study: lesson after lesson, opened, scrolled, timed,
/// completed, and quizzes tried once or more with varied answers.
fn study(manifest: &Manifest, n: usize, dice: &mut Dice) -> Vec<EventBody> {
    let lessons: Vec<_> = manifest.modules.iter().flat_map(|m| &m.lessons).collect();
    let mut out = Vec::with_capacity(n);
    let mut i = 0;
    while out.len() < n {
        let lesson = lessons[i % lessons.len()];
        i += 1;
        out.push(EventBody::LessonOpened);
        match &lesson.quiz {
            None => {
                for k in 0..3 {
                    out.push(EventBody::Position { media: None, at: f64::from(k + 1) / 4.0 });
                }
                out.push(EventBody::TimeSpent { seconds: 60 + dice.roll(600) as u32 });
                out.push(EventBody::LessonCompleted);
            }
            Some(quiz) => {
                let answers = quiz
                    .items
                    .iter()
                    .map(|item| {
                        let answer = match &item.kind {
                            QuizKind::Single { choices, .. } => Answer::Choice(dice.roll(choices.len())),
                            QuizKind::Multiple { choices, .. } => {
                                Answer::Choices((0..choices.len()).filter(|_| dice.roll(2) == 0).collect())
                            }
                            QuizKind::Numeric { answer, .. } => {
                                Answer::Number(answer + dice.roll(3) as f64 - 1.0)
                            }
                            QuizKind::Text { answers } => Answer::Text(if dice.roll(2) == 0 {
                                answers[0].clone()
                            } else {
                                "je ne sais pas".into()
                            }),
                        };
                        (item.id.clone(), answer)
                    })
                    .collect();
                let max = quiz.items.len() as u32;
                out.push(EventBody::QuizAttempt { answers, score: dice.roll(max as usize + 1) as u32, max });
                out.push(EventBody::TimeSpent { seconds: 30 + dice.roll(300) as u32 });
            }
        }
    }
    out.truncate(n);
    out
}

/// Enrols a laptop per center and pushes its learners' events, signed as a
/// laptop signs them; returns each center's learner ids.
fn fill(hub: &HubProcess, centers: &[String], manifest: &Manifest, per_learner: usize) -> Vec<Vec<String>> {
    let url = format!("http://{}", hub.addr);
    let codes: Vec<String> = {
        let storage = SqliteStorage::open_with(&hub.dir.join("hub.db"), Folding::WhenViewed).unwrap();
        centers
            .iter()
            .map(|c| kalamu_hub::admin::new_enroll_code(&storage, c, 60, None).unwrap().code)
            .collect()
    };
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let client = HubClient::new(&url, None, Duration::from_secs(120)).unwrap();
    let start = kalamu_core::store::now_millis() as u64 - 60 * 86_400_000;
    let mut all = Vec::new();
    for (c, code) in codes.into_iter().enumerate() {
        let device = uuid::Uuid::now_v7().to_string();
        let seed = kalamu_core::Store::fresh_signing_seed().unwrap();
        let key = SigningKey::from_bytes(&seed);
        let answer = rt
            .block_on(client.enroll(
                &code,
                &device,
                &format!("Centre {c} poste 1"),
                &kalamu_core::sync::proof::public_key_hex(&seed),
            ))
            .unwrap()
            .0;
        let laptop = client.with_token(answer.device_token);
        let learners: Vec<LearnerRecord> = (0..LEARNERS_PER_CENTER)
            .map(|l| LearnerRecord {
                id: uuid::Uuid::now_v7().to_string(),
                name: format!("Apprenant {c}-{l}"),
                created_at: start as i64,
                pin_hash: None,
            })
            .collect();
        // The learners study side by side through the days: their events interleave.
        let mut dice = Dice(0x9E37_79B9_7F4A_7C15 ^ c as u64);
        let studies: Vec<Vec<EventBody>> =
            learners.iter().map(|_| study(manifest, per_learner, &mut dice)).collect();
        let lessons: Vec<&str> =
            manifest.modules.iter().flat_map(|m| &m.lessons).map(|l| l.id.as_str()).collect();
        let mut events = Vec::with_capacity(per_learner * learners.len());
        let mut lesson_at = vec![0usize; learners.len()];
        for k in 0..per_learner {
            for ((l, learner), study) in learners.iter().enumerate().zip(&studies) {
                let body = study[k].clone();
                if matches!(body, EventBody::LessonOpened) && k > 0 {
                    lesson_at[l] += 1;
                }
                let seq = events.len() as u64 + 1;
                events.push(Event {
                    id: derived_id(&device, seq),
                    learner_id: learner.id.clone(),
                    device_id: device.clone(),
                    seq,
                    hlc: Hlc::at_millis(start + seq * 2_000),
                    pack_id: manifest.id.clone(),
                    lesson_id: lessons[lesson_at[l] % lessons.len()].into(),
                    body,
                });
            }
        }
        let mut chain = Chain::start(&device);
        for chunk in events.chunks(PUSH_EVENTS) {
            chain = chunk.iter().fold(chain, |ch, e| ch.then(e));
            let last = chunk.last().unwrap().seq;
            let batch = Batch {
                learners: learners.clone(),
                events: chunk.to_vec(),
                proofs: vec![Proof::sign(&key, &device, last, &chain)],
            };
            rt.block_on(laptop.push(batch.encode())).unwrap();
        }
        all.push(learners.into_iter().map(|l| l.id).collect());
    }
    all
}

/// One HTTP/1.1 request on a fresh loopback connection: the status, the
/// response's head and body, and how long it took.
fn request(addr: SocketAddr, head: &str, body: &str) -> (u16, String, String, Duration) {
    let t = Instant::now();
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(
        format!("{head}Host: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}", body.len())
            .as_bytes(),
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let took = t.elapsed();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, head.to_owned(), body.to_owned(), took)
}

fn get(addr: SocketAddr, path: &str, cookie: &str) -> (u16, Duration) {
    let (status, _, _, took) = request(addr, &format!("GET {path} HTTP/1.1\r\nCookie: {cookie}\r\n"), "");
    (status, took)
}

fn set_cookie(head: &str, name: &str) -> String {
    head.lines()
        .filter_map(|l| l.strip_prefix("set-cookie: ").or_else(|| l.strip_prefix("Set-Cookie: ")))
        .find(|l| l.starts_with(&format!("{name}=")))
        .and_then(|l| l.split(';').next())
        .unwrap()
        .to_owned()
}

/// Signs the admin in through the sign-in form, as a browser does; the session cookie.
fn sign_in(addr: SocketAddr) -> String {
    let (_, head, page, _) = request(addr, "GET / HTTP/1.1\r\n", "");
    let pairing = set_cookie(&head, kalamu_hub::web::SIGNIN_COOKIE);
    let token = page.split("name=\"token\" value=\"").nth(1).unwrap().split('"').next().unwrap();
    let form = format!("token={token}&name=bench&password={PASSWORD}");
    let (status, head, _, _) = request(
        addr,
        &format!(
            "POST /signin HTTP/1.1\r\nCookie: {pairing}\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        ),
        &form,
    );
    assert_eq!(status, 303, "signed in");
    set_cookie(&head, kalamu_hub::web::SESSION_COOKIE)
}
