//! Everything the app shows about progress, derived from the event log:
//! completion per lesson, module and pack; attempts, best scores and mastery;
//! the resume point; time spent.
//!
//! Derivation sorts and deduplicates first, so any order and any repetition
//! of the same events gives the same views: merging logs is a set union.

use std::collections::{BTreeMap, HashSet};

use serde::Serialize;

use super::event::{Event, EventBody};
use super::tally::LessonTally;
use crate::pack::Manifest;

/// Share of a quiz's items that counts as mastery.
pub const MASTERY: f64 = 0.8;

/// A score on a quiz.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Score {
    /// Items right.
    pub score: u32,
    /// Items in all.
    pub max: u32,
}

/// Where to pick up a lesson.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Position {
    /// The media file for a video position; none for the page.
    pub media: Option<String>,
    /// Seconds into the media, or the page's scroll fraction.
    pub at: f64,
}

/// One lesson, for one learner.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct LessonProgress {
    /// Opened at least once.
    pub opened: bool,
    /// Finished.
    pub completed: bool,
    /// Last position.
    pub position: Option<Position>,
    /// Quiz attempts.
    pub attempts: u32,
    /// Best quiz score.
    pub best: Option<Score>,
    /// Best score reaches [`MASTERY`].
    pub mastered: bool,
    /// Seconds spent.
    pub seconds: u64,
}

/// One module, for one learner.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct ModuleProgress {
    /// Module id.
    pub id: String,
    /// Lessons completed.
    pub completed: usize,
    /// Lessons in the module.
    pub total: usize,
    /// Every quiz in the module mastered (and there is at least one).
    pub mastered: bool,
}

/// One pack, for one learner.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct PackProgress {
    /// Pack id.
    pub pack_id: String,
    /// Lessons completed.
    pub completed: usize,
    /// Lessons in the pack.
    pub total: usize,
    /// Seconds spent in the pack.
    pub seconds: u64,
    /// Per module, in order.
    pub modules: Vec<ModuleProgress>,
    /// Per lesson id.
    pub lessons: BTreeMap<String, LessonProgress>,
}

/// Where the learner left off.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Resume {
    /// Pack id.
    pub pack_id: String,
    /// Lesson id.
    pub lesson_id: String,
    /// Position in it, if one was recorded after opening it.
    pub position: Option<Position>,
}

/// All a learner's progress in the installed packs.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct LearnerProgress {
    /// Per installed pack, in the order given.
    pub packs: Vec<PackProgress>,
    /// Where to resume.
    pub resume: Option<Resume>,
    /// Seconds spent in all.
    pub seconds: u64,
}

/// Derives a learner's views from their events and the installed packs.
pub fn derive(events: &[Event], packs: &[Manifest]) -> LearnerProgress {
    let mut ordered: Vec<&Event> = events.iter().collect();
    ordered.sort_by(|a, b| (a.hlc, &a.device_id, a.seq, &a.id).cmp(&(b.hlc, &b.device_id, b.seq, &b.id)));
    let mut seen = HashSet::new();
    ordered.retain(|e| seen.insert(&e.id));

    let installed: HashSet<&str> = packs.iter().map(|m| m.id.as_str()).collect();
    let mut lessons: BTreeMap<(&str, &str), (LessonTally, Option<Position>)> = BTreeMap::new();
    let mut resume: Option<Resume> = None;
    for e in &ordered {
        if !installed.contains(e.pack_id.as_str()) {
            continue;
        }
        let (tally, position) = lessons.entry((&e.pack_id, &e.lesson_id)).or_default();
        tally.absorb(&e.body);
        match &e.body {
            EventBody::LessonOpened => {
                resume = Some(Resume {
                    pack_id: e.pack_id.clone(),
                    lesson_id: e.lesson_id.clone(),
                    position: None,
                });
            }
            EventBody::Position { media, at } => {
                let at = Position { media: media.clone(), at: *at };
                *position = Some(at.clone());
                resume = Some(Resume {
                    pack_id: e.pack_id.clone(),
                    lesson_id: e.lesson_id.clone(),
                    position: Some(at),
                });
            }
            _ => {}
        }
    }

    let mut out = LearnerProgress { packs: Vec::new(), resume, seconds: 0 };
    for m in packs {
        let mut pack = PackProgress {
            pack_id: m.id.clone(),
            completed: 0,
            total: m.lesson_count(),
            seconds: 0,
            modules: Vec::new(),
            lessons: BTreeMap::new(),
        };
        for module in &m.modules {
            let mut mp = ModuleProgress {
                id: module.id.clone(),
                completed: 0,
                total: module.lessons.len(),
                mastered: true,
            };
            let mut quizzes = 0;
            for lesson in &module.lessons {
                let (tally, position) =
                    lessons.get(&(m.id.as_str(), lesson.id.as_str())).cloned().unwrap_or_default();
                let lp = LessonProgress { position, ..tally.progress(lesson) };
                if lesson.quiz.is_some() {
                    quizzes += 1;
                    mp.mastered &= lp.mastered;
                }
                mp.completed += usize::from(lp.completed);
                pack.seconds += lp.seconds;
                pack.lessons.insert(lesson.id.clone(), lp);
            }
            mp.mastered &= quizzes > 0;
            pack.completed += mp.completed;
            pack.modules.push(mp);
        }
        out.seconds += pack.seconds;
        out.packs.push(pack);
    }
    out
}
