//! The projection staff's reports read: the runs' events folded per learner
//! and lesson by core's own rule ([`LessonTally`]), with each quiz item's
//! answers and a day-by-day activity log. It is derived data, rebuilt from
//! the runs at will, and kept up to date as runs commit, a device at a time
//! from where it left off, so each event is folded exactly once.
//!
//! These rules are the same for every storage backend, which implements
//! [`ProjectTx`] as plain reads and writes in its transaction.

use std::collections::BTreeMap;

use kalamu_core::progress::event::{Event, EventBody};
use kalamu_core::progress::tally::LessonTally;

use crate::error::Result;

/// Events folded in one step at most, so a step is a short transaction
/// (tens of milliseconds) that a push arriving meanwhile hardly waits for.
pub const STEP_EVENTS: usize = 5_000;

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// A learner's tally in a lesson, with when they last worked in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StoredTally {
    /// The fold.
    pub tally: LessonTally,
    /// The latest event's time (unix ms, by its stamp).
    pub last_at: i64,
}

/// One row of a learner's activity: a day, a laptop and a lesson.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activity {
    /// The learner.
    pub learner_id: String,
    /// Days since 1970, UTC, by the events' stamps.
    pub day: i64,
    /// The laptop that recorded it.
    pub device_id: String,
    /// Pack id.
    pub pack_id: String,
    /// Lesson id.
    pub lesson_id: String,
    /// First event's time (unix ms).
    pub first_at: i64,
    /// Last event's time (unix ms).
    pub last_at: i64,
    /// Events.
    pub events: u64,
    /// Completions among them.
    pub completed: u64,
    /// Quiz attempts among them.
    pub attempts: u64,
    /// Seconds spent.
    pub seconds: u64,
}

/// A device whose events the projection has not folded yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    /// The device.
    pub device_id: String,
    /// Its center.
    pub center_id: String,
    /// Its last event folded.
    pub from: u64,
    /// Its last event stored.
    pub to: u64,
}

/// The reads and writes the projection makes, in one transaction of a backend.
pub trait ProjectTx {
    /// Devices whose stored events go past what was folded.
    fn pending(&mut self) -> Result<Vec<Pending>>;
    /// Up to `limit` of a device's stored events after `from`, through `to`, in order.
    fn events(&mut self, device: &str, from: u64, to: u64, limit: usize) -> Result<Vec<Event>>;
    /// A learner's stored tally in a lesson, in a center.
    fn tally(&mut self, center: &str, learner: &str, pack: &str, lesson: &str)
    -> Result<Option<StoredTally>>;
    /// Stores a learner's tally in a lesson.
    fn put_tally(
        &mut self,
        center: &str,
        learner: &str,
        pack: &str,
        lesson: &str,
        t: &StoredTally,
    ) -> Result<()>;
    /// Adds `times` to how often `learner` gave `answer` (JSON) to a quiz item.
    fn add_answer(&mut self, center: &str, key: &AnswerKey, times: u64) -> Result<()>;
    /// Adds to a row of activity (its times widen, its counts add up).
    fn add_activity(&mut self, center: &str, a: &Activity) -> Result<()>;
    /// Notes that a device's events through `seq` are folded.
    fn set_folded(&mut self, device: &str, seq: u64) -> Result<()>;
    /// Forgets the whole projection.
    fn clear(&mut self) -> Result<()>;
}

/// A quiz item's answer by one learner.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct AnswerKey {
    /// Pack id.
    pub pack_id: String,
    /// Lesson id.
    pub lesson_id: String,
    /// Item id.
    pub item: String,
    /// The learner.
    pub learner_id: String,
    /// The answer, as JSON.
    pub answer: String,
}

/// Folds up to `budget` more events into the projection; returns how many,
/// and whether more wait.
pub fn step(tx: &mut dyn ProjectTx, budget: usize) -> Result<(usize, bool)> {
    let mut done = 0;
    for p in tx.pending()? {
        let room = budget.saturating_sub(done);
        if room == 0 {
            return Ok((done, true));
        }
        let events = tx.events(&p.device_id, p.from, p.to, room)?;
        let Some(last) = events.last().map(|e| e.seq) else { continue };
        fold(tx, &p.center_id, &events)?;
        tx.set_folded(&p.device_id, last)?;
        done += events.len();
        if last < p.to {
            return Ok((done, true));
        }
    }
    Ok((done, false))
}

/// Forgets the projection and folds every stored event again.
pub fn rebuild(tx: &mut dyn ProjectTx) -> Result<usize> {
    tx.clear()?;
    let mut total = 0;
    loop {
        let (done, more) = step(tx, usize::MAX)?;
        total += done;
        if !more {
            return Ok(total);
        }
    }
}

/// Folds one device's consecutive events (one center's) into the projection.
fn fold(tx: &mut dyn ProjectTx, center: &str, events: &[Event]) -> Result<()> {
    let mut tallies: BTreeMap<(&str, &str, &str), Vec<&Event>> = BTreeMap::new();
    let mut answers: BTreeMap<AnswerKey, u64> = BTreeMap::new();
    let mut activity: BTreeMap<(&str, i64, &str, &str), Activity> = BTreeMap::new();
    for e in events.iter().filter(|e| !matches!(e.body, EventBody::LearnerAdded)) {
        tallies.entry((&e.learner_id, &e.pack_id, &e.lesson_id)).or_default().push(e);
        let at = e.hlc.millis() as i64;
        let row = activity
            .entry((&e.learner_id, at.div_euclid(DAY_MS), &e.pack_id, &e.lesson_id))
            .or_insert_with(|| Activity {
                learner_id: e.learner_id.clone(),
                day: at.div_euclid(DAY_MS),
                device_id: e.device_id.clone(),
                pack_id: e.pack_id.clone(),
                lesson_id: e.lesson_id.clone(),
                first_at: at,
                last_at: at,
                events: 0,
                completed: 0,
                attempts: 0,
                seconds: 0,
            });
        row.first_at = row.first_at.min(at);
        row.last_at = row.last_at.max(at);
        row.events += 1;
        match &e.body {
            EventBody::LessonCompleted => row.completed += 1,
            EventBody::TimeSpent { seconds } => row.seconds += u64::from(*seconds),
            EventBody::QuizAttempt { answers: given, .. } => {
                row.attempts += 1;
                for (item, answer) in given {
                    let key = AnswerKey {
                        pack_id: e.pack_id.clone(),
                        lesson_id: e.lesson_id.clone(),
                        item: item.clone(),
                        learner_id: e.learner_id.clone(),
                        answer: serde_json::to_string(answer).expect("answers serialize"),
                    };
                    *answers.entry(key).or_default() += 1;
                }
            }
            _ => {}
        }
    }
    for ((learner, pack, lesson), mine) in tallies {
        let mut stored = tx.tally(center, learner, pack, lesson)?.unwrap_or_default();
        for e in mine {
            stored.tally.absorb(&e.body);
            stored.last_at = stored.last_at.max(e.hlc.millis() as i64);
        }
        tx.put_tally(center, learner, pack, lesson, &stored)?;
    }
    for (key, times) in &answers {
        tx.add_answer(center, key, *times)?;
    }
    for row in activity.values() {
        tx.add_activity(center, row)?;
    }
    Ok(())
}
