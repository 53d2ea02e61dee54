//! The progress log: append-only, derived views, order-independent merging.

use std::collections::BTreeMap;

use kalamu_core::progress::event::{Answer, Event, EventBody};
use kalamu_core::progress::hlc::Hlc;
use kalamu_core::progress::views;

use crate::support::Env;

/// A store with the small test pack installed and one learner; returns the learner id.
fn with_pack(env: &Env) -> String {
    let src = env.source("src");
    let (pack, _) = env.build(&src, "test");
    env.import(&pack).unwrap();
    env.store().add_learner("Aïssatou").unwrap().id
}

const PACK: &str = "org.example.test";

fn all_right() -> BTreeMap<String, Answer> {
    BTreeMap::from([
        ("q1".to_owned(), Answer::Choice(1)),
        ("q2".to_owned(), Answer::Choices(vec![0, 2])),
        ("q3".to_owned(), Answer::Number(8.0)),
        ("q4".to_owned(), Answer::Text("Router".into())),
    ])
}

#[test]
fn events_can_be_neither_updated_nor_deleted() {
    let env = Env::new();
    let learner = with_pack(&env);
    env.store().record(&learner, PACK, "intro", EventBody::LessonOpened).unwrap();
    let conn = rusqlite::Connection::open(env.data.join("kalamu.db")).unwrap();
    let update = conn.execute("UPDATE events SET kind = 'lesson_completed'", []);
    assert!(update.unwrap_err().to_string().contains("never updated"));
    let delete = conn.execute("DELETE FROM events", []);
    assert!(delete.unwrap_err().to_string().contains("never deleted"));
    // The learner's addition and the opened lesson.
    assert_eq!(env.store().events_of(&learner).unwrap().len(), 2);
}

#[test]
fn progress_shows_completion_best_score_mastery_resume_and_time() {
    let env = Env::new();
    let learner = with_pack(&env);
    let store = env.store();
    store.record(&learner, PACK, "intro", EventBody::LessonOpened).unwrap();
    store
        .record(
            &learner,
            PACK,
            "intro",
            EventBody::Position { media: Some("media/clip.webm".into()), at: 42.5 },
        )
        .unwrap();
    store.record(&learner, PACK, "intro", EventBody::TimeSpent { seconds: 90 }).unwrap();
    store.record(&learner, PACK, "intro", EventBody::LessonCompleted).unwrap();
    let mut half = all_right();
    half.insert("q1".into(), Answer::Choice(0));
    half.insert("q4".into(), Answer::Text("a switch".into()));
    let first = store.answer_quiz(&learner, PACK, "check", half).unwrap();
    assert_eq!((first.score, first.max), (2, 4));
    let below = &store.progress(&learner).unwrap().packs[0].lessons["check"];
    assert!(!below.completed, "2 of 4 is below the default pass mark: attempted, not done");
    assert_eq!((below.attempts, below.best.unwrap().score), (1, 2));
    let second = store.answer_quiz(&learner, PACK, "check", all_right()).unwrap();
    assert_eq!(second.score, 4);

    let p = store.progress(&learner).unwrap();
    let pack = &p.packs[0];
    assert_eq!((pack.completed, pack.total), (2, 2));
    let check = &pack.lessons["check"];
    assert_eq!((check.attempts, check.best.unwrap().score), (2, 4));
    assert!(check.mastered && pack.modules[0].mastered);
    assert_eq!(pack.lessons["intro"].seconds, 90);
    let resume = p.resume.unwrap();
    assert_eq!((resume.lesson_id.as_str(), resume.position.unwrap().at), ("intro", 42.5));

    // Every attempt is kept, answers and all.
    let attempts: Vec<_> = store
        .events_of(&learner)
        .unwrap()
        .into_iter()
        .filter_map(|e| match e.body {
            EventBody::QuizAttempt { answers, score, .. } => Some((answers, score)),
            _ => None,
        })
        .collect();
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[0].0["q4"], Answer::Text("a switch".into()));
}

#[test]
fn another_learner_on_the_same_laptop_sees_none_of_it() {
    let env = Env::new();
    let learner = with_pack(&env);
    let store = env.store();
    store.record(&learner, PACK, "intro", EventBody::LessonCompleted).unwrap();
    let other = store.add_learner("Mamadou").unwrap().id;
    let p = store.progress(&other).unwrap();
    assert_eq!(p.packs[0].completed, 0);
    assert!(p.resume.is_none());
}

/// Views depend on the set of events only: shuffled and duplicated logs
/// (as merging from several devices produces) give the same views.
#[test]
fn views_are_the_same_for_any_order_and_duplication() {
    let env = Env::new();
    let learner = with_pack(&env);
    let store = env.store();
    let bodies = [
        EventBody::LessonOpened,
        EventBody::Position { media: None, at: 0.3 },
        EventBody::TimeSpent { seconds: 30 },
        EventBody::LessonCompleted,
        EventBody::Position { media: Some("media/clip.webm".into()), at: 12.0 },
    ];
    for body in bodies {
        store.record(&learner, PACK, "intro", body).unwrap();
    }
    store.answer_quiz(&learner, PACK, "check", BTreeMap::new()).unwrap();
    store.answer_quiz(&learner, PACK, "check", all_right()).unwrap();
    let events = store.events_of(&learner).unwrap();
    let manifests = vec![store.manifest(PACK).unwrap()];
    let expected = views::derive(&events, &manifests);

    let mut x = 0x1234_5678_9abc_def1u64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for _ in 0..300 {
        let mut mixed: Vec<Event> = events.clone();
        for _ in 0..(next() % 6) {
            let dup = mixed[(next() % mixed.len() as u64) as usize].clone();
            mixed.push(dup);
        }
        for i in (1..mixed.len()).rev() {
            mixed.swap(i, (next() % (i as u64 + 1)) as usize);
        }
        assert_eq!(views::derive(&mixed, &manifests), expected);
    }
}

#[test]
fn merging_logs_of_two_laptops_is_a_set_union_and_idempotent() {
    let a = Env::new();
    let b = Env::new();
    let learner = with_pack(&a);
    let (sa, sb) = (a.store(), b.store());
    // The same learner (same id) exists on laptop B too.
    b.import(&b.build(&b.source("src"), "test").0).ok();
    sa.record(&learner, PACK, "intro", EventBody::LessonOpened).unwrap();
    sa.record(&learner, PACK, "intro", EventBody::LessonCompleted).unwrap();
    let from_a = sa.events_of(&learner).unwrap();
    assert_eq!(sb.merge_events(&from_a).unwrap(), 3, "the learner's addition and two lessons");
    assert_eq!(sb.merge_events(&from_a).unwrap(), 0, "a repeated merge changes nothing");
    let on_b = sb.events_of(&learner).unwrap();
    assert_eq!(on_b, from_a);
    // Laptop B's clock is now past everything it has seen.
    assert!(sb.device().unwrap().last_hlc >= from_a.last().unwrap().hlc);
    assert_ne!(sa.device().unwrap().id, sb.device().unwrap().id);
}

#[test]
fn sequence_numbers_count_up_per_device_and_stamps_never_repeat() {
    let env = Env::new();
    let learner = with_pack(&env);
    let store = env.store();
    let events: Vec<Event> = (0..500)
        .map(|_| store.record(&learner, PACK, "intro", EventBody::TimeSpent { seconds: 1 }).unwrap())
        .collect();
    for (i, pair) in events.windows(2).enumerate() {
        assert_eq!(pair[1].seq, pair[0].seq + 1, "at {i}");
        assert!(pair[1].hlc > pair[0].hlc, "at {i}");
    }
    assert!(events[0].hlc > Hlc(0));
}

#[test]
fn upgrading_a_pack_keeps_every_learners_progress() {
    let env = Env::new();
    let learner = with_pack(&env);
    let store = env.store();
    store.record(&learner, PACK, "intro", EventBody::LessonCompleted).unwrap();
    store.answer_quiz(&learner, PACK, "check", all_right()).unwrap();
    let before = store.progress(&learner).unwrap();

    let v2 = env.path("v2");
    crate::support::small_source(&v2, "1.1.0");
    let (pack, _) = env.build(&v2, "v2");
    assert_eq!(env.import(&pack).unwrap().upgraded_from.as_deref(), Some("1.0.0"));
    let after = env.store().progress(&learner).unwrap();
    assert_eq!(after, before);
    assert_eq!(after.packs[0].completed, 2);
}
