//! Progress benchmark: a store holding 1M events of 100 learners; prints the
//! time to compute every view for one learner, next to the time to merely
//! read that learner's events, and the rate of durable single-event records
//! (what the app does on every click) next to bulk merging (what sync does).
//!
//! Run: `cargo bench -p kalamu-core --bench progress` (`KALAMU_BENCH_EVENTS`
//! to change the count).

use std::time::Instant;

use kalamu_core::Store;
use kalamu_core::pack::build::build;
use kalamu_core::pack::import::ImportOptions;
use kalamu_core::progress::event::{Answer, Event, EventBody};
use kalamu_core::progress::hlc::Hlc;
use kalamu_core::progress::views;

const PACK: &str = "org.kalamu.samples.networks-intro";

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let total: usize =
        std::env::var("KALAMU_BENCH_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_dir(dir.path()).unwrap();
    let pack = dir.path().join("p.kpack");
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../course-packs/networks-intro");
    build(&src, &pack, None, &mut |_| {}).unwrap();
    store
        .import_pack(&pack, ImportOptions { allow_unsigned: true, ..Default::default() }, &mut |_| {})
        .unwrap();
    let manifest = store.manifest(PACK).unwrap();
    let lessons: Vec<String> =
        manifest.modules.iter().flat_map(|m| &m.lessons).map(|l| l.id.clone()).collect();
    let learners: Vec<String> =
        (0..100).map(|i| store.add_learner(&format!("Learner {i}")).unwrap().id).collect();

    // Durable single records, as the app makes them.
    let n = 500;
    let t = Instant::now();
    for i in 0..n {
        store
            .record(
                &learners[i % 100],
                PACK,
                &lessons[i % lessons.len()],
                EventBody::TimeSpent { seconds: 5 },
            )
            .unwrap();
    }
    let single = t.elapsed();

    // The rest in bulk, as a sync from other devices would bring them.
    let t = Instant::now();
    let mut batch = Vec::with_capacity(10_000);
    for i in n..total {
        let body = match (i / 100) % 5 {
            0 => EventBody::LessonOpened,
            1 => EventBody::Position { media: None, at: (i % 100) as f64 / 100.0 },
            2 => EventBody::TimeSpent { seconds: 30 },
            3 => EventBody::LessonCompleted,
            _ => EventBody::QuizAttempt {
                answers: [("q1".to_owned(), Answer::Choice(i % 3))].into(),
                score: (i % 6) as u32,
                max: 5,
            },
        };
        batch.push(Event {
            id: format!("{:032x}", i),
            learner_id: learners[i % 100].clone(),
            device_id: format!("device-{}", i % 20),
            seq: (i / 20) as u64 + 1,
            hlc: Hlc::at_millis(1_764_000_000_000 + i as u64),
            pack_id: PACK.into(),
            lesson_id: lessons[(i / 100) % lessons.len()].clone(),
            body,
        });
        if batch.len() == batch.capacity() {
            store.merge_events(&batch).unwrap();
            batch.clear();
        }
    }
    store.merge_events(&batch).unwrap();
    let bulk = t.elapsed();

    let who = &learners[42];
    let t = Instant::now();
    let events = store.events_of(who).unwrap();
    let read = t.elapsed();
    let t = Instant::now();
    let progress = store.progress(who).unwrap();
    let all_views = t.elapsed();
    let t = Instant::now();
    let _ = views::derive(&events, std::slice::from_ref(&manifest));
    let derive_only = t.elapsed();

    println!("Kalamu progress benchmark: {total} events, 100 learners");
    println!(
        "record one event durably (app)  {:>8.2} ms each  ({:.0} events/s)",
        single.as_secs_f64() * 1e3 / n as f64,
        n as f64 / single.as_secs_f64()
    );
    println!("merge in bulk (sync)            {:>8.0} events/s", (total - n) as f64 / bulk.as_secs_f64());
    println!("one learner's events: {}", events.len());
    println!("  read them (baseline)          {:>8.2} ms", read.as_secs_f64() * 1e3);
    println!("  derive the views only         {:>8.2} ms", derive_only.as_secs_f64() * 1e3);
    println!("  every view, read included     {:>8.2} ms  (target < 50 ms)", all_views.as_secs_f64() * 1e3);
    println!("  ({} of {} lessons completed)", progress.packs[0].completed, progress.packs[0].total);
}
