//! What staff's reports say, as data: read from the projection and the
//! packs the hub holds, with lesson progress by core's rules
//! ([`LessonTally::progress`]). The pages put it into words and tables.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use kalamu_core::pack::Manifest;
use kalamu_core::pack::manifest::{Lesson, QuizKind};
use kalamu_core::progress::event::Answer;
use kalamu_core::progress::grade::item_is_correct;
use kalamu_core::progress::tally::LessonTally;
use kalamu_core::progress::views::{LessonProgress, Score};

use crate::error::{HubError, Result};
use crate::projection::{Activity, StoredTally};
use crate::storage::{DeviceInfo, Storage};

/// A laptop that has not synced for this long is flagged.
pub const QUIET_DAYS: i64 = 3;
const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// One learner's tally in one lesson, as the projection holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TallyRow {
    /// The learner.
    pub learner_id: String,
    /// Pack id.
    pub pack_id: String,
    /// Lesson id.
    pub lesson_id: String,
    /// The fold.
    pub tally: StoredTally,
}

/// How often one learner gave one answer to one quiz item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerCount {
    /// Item id.
    pub item: String,
    /// The learner.
    pub learner_id: String,
    /// The answer, as JSON.
    pub answer: String,
    /// How often.
    pub times: u64,
}

/// A lesson as a report lists it: from the pack, or by id when the hub lacks the pack.
#[derive(Debug, Clone, PartialEq)]
pub struct LessonInfo {
    /// Id.
    pub id: String,
    /// Title (the id when the pack is not on the hub).
    pub title: String,
    /// Whether it has a quiz.
    pub quiz: bool,
    /// The lesson from the manifest, when the hub holds the pack.
    pub lesson: Option<Lesson>,
}

impl LessonInfo {
    /// A learner's progress in this lesson, by the pack's rules when it is known.
    pub fn progress(&self, tally: &LessonTally) -> LessonProgress {
        match &self.lesson {
            Some(lesson) => tally.progress(lesson),
            None => LessonProgress {
                opened: tally.opened,
                completed: tally.completed,
                position: None,
                attempts: tally.attempts,
                best: tally.best,
                mastered: tally.mastered,
                seconds: tally.seconds,
            },
        }
    }
}

/// A course: the pack's lessons in order, or the lessons seen in progress.
#[derive(Debug, Clone, PartialEq)]
pub struct Course {
    /// Pack id.
    pub pack_id: String,
    /// Title (the id when the pack is not on the hub).
    pub title: String,
    /// Whether the hub holds the pack (else: publish it for titles and questions).
    pub known: bool,
    /// Lessons in order.
    pub lessons: Vec<LessonInfo>,
}

/// The center's front page.
#[derive(Debug, Clone, PartialEq)]
pub struct Overview {
    /// Learners, by name: id, name, lessons completed, last active (unix ms).
    pub learners: Vec<(String, String, usize, Option<i64>)>,
    /// Learners who did something in the last 7 days.
    pub active_week: u64,
    /// Courses with progress or published: the course, learners who started, the share of lessons completed.
    pub courses: Vec<(Course, usize, f64)>,
    /// Laptops, with a warning each where one is due.
    pub laptops: Vec<(DeviceInfo, Vec<LaptopWarning>)>,
}

/// Why a laptop wants staff's attention.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LaptopWarning {
    /// It has not synced for this many days.
    Quiet(i64),
    /// Its clock is off by this many minutes.
    ClockOff(i64),
    /// It was never seen since enrolment.
    NeverSeen,
}

/// A learners × lessons grid.
#[derive(Debug, Clone, PartialEq)]
pub struct Grid {
    /// The course.
    pub course: Course,
    /// Per learner (id, name): progress per lesson, in the course's order.
    pub rows: Vec<(String, String, Vec<LessonProgress>)>,
    /// Per lesson: share of the center's learners who completed it, and the average seconds of those who opened it.
    pub per_lesson: Vec<(f64, Option<u64>)>,
}

/// One quiz's results.
#[derive(Debug, Clone, PartialEq)]
pub struct QuizReport {
    /// The course.
    pub course: Course,
    /// The quiz's lesson.
    pub lesson: LessonInfo,
    /// Per learner who tried it (id, name): best score and attempts.
    pub learners: Vec<(String, String, Option<Score>, u32)>,
    /// Per item, hardest first.
    pub items: Vec<ItemDifficulty>,
}

/// How one quiz item went.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemDifficulty {
    /// Item id.
    pub id: String,
    /// The question.
    pub prompt: String,
    /// Learners who answered it.
    pub answered: usize,
    /// Of them, those who got it wrong at least once.
    pub wrong: usize,
    /// The most common wrong answers, as shown, with how often.
    pub common_wrong: Vec<(String, u64)>,
}

impl ItemDifficulty {
    /// Share of the learners who answered that got it wrong.
    pub fn wrong_share(&self) -> f64 {
        if self.answered == 0 { 0.0 } else { self.wrong as f64 / self.answered as f64 }
    }
}

/// One learner's page.
#[derive(Debug, Clone, PartialEq)]
pub struct LearnerReport {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Per course: lessons completed, lessons, seconds.
    pub courses: Vec<(Course, usize, usize, u64)>,
    /// Seconds in all.
    pub seconds: u64,
    /// Last active (unix ms).
    pub last_at: Option<i64>,
    /// Activity, newest first, with the laptop (if enrolled here) and its lesson.
    pub timeline: Vec<(Activity, Option<DeviceInfo>, LessonInfo)>,
}

/// The packs the hub holds, by id.
pub fn catalog(store: &dyn Storage) -> Result<HashMap<String, Manifest>> {
    Ok(store.packs()?.into_iter().map(|p| (p.manifest.id.clone(), p.manifest)).collect())
}

/// A course from its manifest, or, when the hub lacks the pack, from the lessons seen in `tallies`.
pub fn course(packs: &HashMap<String, Manifest>, pack_id: &str, tallies: &[TallyRow]) -> Course {
    match packs.get(pack_id) {
        Some(m) => Course {
            pack_id: pack_id.to_owned(),
            title: m.title.clone(),
            known: true,
            lessons: m
                .modules
                .iter()
                .flat_map(|module| &module.lessons)
                .map(|l| LessonInfo {
                    id: l.id.clone(),
                    title: l.title.clone(),
                    quiz: l.quiz.is_some(),
                    lesson: Some(l.clone()),
                })
                .collect(),
        },
        None => {
            let ids: BTreeSet<&str> =
                tallies.iter().filter(|t| t.pack_id == pack_id).map(|t| t.lesson_id.as_str()).collect();
            let quiz = |id: &str| {
                tallies
                    .iter()
                    .any(|t| t.pack_id == pack_id && t.lesson_id == id && t.tally.tally.attempts > 0)
            };
            Course {
                pack_id: pack_id.to_owned(),
                title: pack_id.to_owned(),
                known: false,
                lessons: ids
                    .into_iter()
                    .map(|id| LessonInfo {
                        id: id.to_owned(),
                        title: id.to_owned(),
                        quiz: quiz(id),
                        lesson: None,
                    })
                    .collect(),
            }
        }
    }
}

/// The center's front page as of `now`.
pub fn overview(store: &dyn Storage, center: &str, now: i64) -> Result<Overview> {
    let packs = catalog(store)?;
    let tallies = store.tallies(center, None)?;
    let mut per_learner: HashMap<&str, (usize, i64)> = HashMap::new();
    let mut pack_ids: BTreeSet<&str> = packs.keys().map(String::as_str).collect();
    for t in &tallies {
        pack_ids.insert(&t.pack_id);
    }
    let courses: Vec<Course> = pack_ids.iter().map(|id| course(&packs, id, &tallies)).collect();
    let lesson_of: HashMap<(&str, &str), &LessonInfo> = courses
        .iter()
        .flat_map(|c| c.lessons.iter().map(move |l| ((c.pack_id.as_str(), l.id.as_str()), l)))
        .collect();
    for t in &tallies {
        let entry = per_learner.entry(&t.learner_id).or_insert((0, i64::MIN));
        let done =
            lesson_of.get(&(t.pack_id.as_str(), t.lesson_id.as_str())).map(|l| l.progress(&t.tally.tally));
        entry.0 += usize::from(done.is_some_and(|p| p.completed));
        entry.1 = entry.1.max(t.tally.last_at);
    }
    let learners: Vec<(String, String, usize, Option<i64>)> = store
        .learners(center)?
        .into_iter()
        .map(|(id, name)| {
            let (done, last) = per_learner.get(id.as_str()).copied().unwrap_or((0, i64::MIN));
            (id, name, done, (last != i64::MIN).then_some(last))
        })
        .collect();
    let course_lines = courses
        .into_iter()
        .map(|c| {
            let mine: Vec<&TallyRow> = tallies.iter().filter(|t| t.pack_id == c.pack_id).collect();
            let started: BTreeSet<&str> = mine.iter().map(|t| t.learner_id.as_str()).collect();
            let completed = mine
                .iter()
                .filter(|t| {
                    c.lessons
                        .iter()
                        .find(|l| l.id == t.lesson_id)
                        .is_some_and(|l| l.progress(&t.tally.tally).completed)
                })
                .count();
            let cells = started.len() * c.lessons.len();
            let share = if cells == 0 { 0.0 } else { completed as f64 / cells as f64 };
            (c, started.len(), share)
        })
        .collect();
    let laptops = store.devices(Some(center))?.into_iter().map(|d| {
        let warnings = warnings(&d, now);
        (d, warnings)
    });
    Ok(Overview {
        learners,
        active_week: store.active_since(center, now - 7 * DAY_MS)?,
        courses: course_lines,
        laptops: laptops.collect(),
    })
}

/// What staff should know about a laptop as of `now`.
pub fn warnings(d: &DeviceInfo, now: i64) -> Vec<LaptopWarning> {
    if d.revoked_at.is_some() {
        return Vec::new();
    }
    let mut out = Vec::new();
    match d.last_seen_at {
        None => out.push(LaptopWarning::NeverSeen),
        Some(seen) if now - seen > QUIET_DAYS * DAY_MS => {
            out.push(LaptopWarning::Quiet((now - seen) / DAY_MS))
        }
        Some(_) => {}
    }
    if d.clock_is_off() {
        out.push(LaptopWarning::ClockOff(d.clock_offset_ms.unwrap_or(0) / 60_000));
    }
    out
}

/// A course's learners × lessons grid.
pub fn grid(store: &dyn Storage, center: &str, pack_id: &str) -> Result<Grid> {
    let packs = catalog(store)?;
    let tallies = store.tallies(center, None)?;
    let course = course(&packs, pack_id, &tallies);
    if !course.known && course.lessons.is_empty() {
        return Err(HubError::NotFound(format!("course {pack_id}")));
    }
    let by: HashMap<(&str, &str), &StoredTally> = tallies
        .iter()
        .filter(|t| t.pack_id == pack_id)
        .map(|t| ((t.learner_id.as_str(), t.lesson_id.as_str()), &t.tally))
        .collect();
    let learners = store.learners(center)?;
    let rows: Vec<(String, String, Vec<LessonProgress>)> = learners
        .into_iter()
        .map(|(id, name)| {
            let cells = course
                .lessons
                .iter()
                .map(|l| {
                    by.get(&(id.as_str(), l.id.as_str())).map(|t| l.progress(&t.tally)).unwrap_or_default()
                })
                .collect();
            (id, name, cells)
        })
        .collect();
    let per_lesson = (0..course.lessons.len())
        .map(|i| {
            let done = rows.iter().filter(|r| r.2[i].completed).count();
            let opened: Vec<u64> = rows
                .iter()
                .filter(|r| r.2[i].opened || r.2[i].attempts > 0)
                .map(|r| r.2[i].seconds)
                .collect();
            let share = if rows.is_empty() { 0.0 } else { done as f64 / rows.len() as f64 };
            let average = (!opened.is_empty()).then(|| opened.iter().sum::<u64>() / opened.len() as u64);
            (share, average)
        })
        .collect();
    Ok(Grid { course, rows, per_lesson })
}

/// A quiz's results and its difficult questions.
pub fn quiz(store: &dyn Storage, center: &str, pack_id: &str, lesson_id: &str) -> Result<QuizReport> {
    let packs = catalog(store)?;
    let tallies = store.tallies(center, None)?;
    let course = course(&packs, pack_id, &tallies);
    let lesson = course
        .lessons
        .iter()
        .find(|l| l.id == lesson_id)
        .cloned()
        .ok_or_else(|| HubError::NotFound(format!("lesson {lesson_id} of {pack_id}")))?;
    let names: HashMap<String, String> = store.learners(center)?.into_iter().collect();
    let mut learners: Vec<(String, String, Option<Score>, u32)> = tallies
        .iter()
        .filter(|t| t.pack_id == pack_id && t.lesson_id == lesson_id && t.tally.tally.attempts > 0)
        .map(|t| {
            let name = names.get(&t.learner_id).cloned().unwrap_or_else(|| t.learner_id.clone());
            (t.learner_id.clone(), name, t.tally.tally.best, t.tally.tally.attempts)
        })
        .collect();
    learners.sort_by(|a, b| a.1.cmp(&b.1));
    let answers = store.answers(center, pack_id, lesson_id)?;
    let items = match lesson.lesson.as_ref().and_then(|l| l.quiz.as_ref()) {
        None => Vec::new(),
        Some(quiz) => {
            let mut items: Vec<ItemDifficulty> = quiz
                .items
                .iter()
                .map(|item| {
                    let mut answered = BTreeSet::new();
                    let mut wrong = BTreeSet::new();
                    let mut wrong_answers: BTreeMap<String, u64> = BTreeMap::new();
                    for a in answers.iter().filter(|a| a.item == item.id) {
                        answered.insert(a.learner_id.as_str());
                        let given: Option<Answer> = serde_json::from_str(&a.answer).ok();
                        if given.as_ref().is_none_or(|g| !item_is_correct(item, g)) {
                            wrong.insert(a.learner_id.as_str());
                            let shown =
                                given.map_or_else(|| a.answer.clone(), |g| shown_answer(&item.kind, &g));
                            *wrong_answers.entry(shown).or_default() += a.times;
                        }
                    }
                    let mut common_wrong: Vec<(String, u64)> = wrong_answers.into_iter().collect();
                    common_wrong.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
                    common_wrong.truncate(3);
                    ItemDifficulty {
                        id: item.id.clone(),
                        prompt: item.prompt.clone(),
                        answered: answered.len(),
                        wrong: wrong.len(),
                        common_wrong,
                    }
                })
                .collect();
            items.sort_by(|a, b| b.wrong_share().total_cmp(&a.wrong_share()));
            items
        }
    };
    Ok(QuizReport { course, lesson, learners, items })
}

/// An answer as a person reads it: a choice by its text.
fn shown_answer(kind: &QuizKind, answer: &Answer) -> String {
    // A whole number given to a numeric or text item reads as itself, not as a choice.
    let choice = |c: &usize| match kind {
        QuizKind::Single { choices, .. } | QuizKind::Multiple { choices, .. } => {
            choices.get(*c).cloned().unwrap_or_else(|| format!("#{c}"))
        }
        _ => c.to_string(),
    };
    match answer {
        Answer::Choice(c) => choice(c),
        Answer::Choices(cs) => cs.iter().map(choice).collect::<Vec<_>>().join(" + "),
        Answer::Number(n) => n.to_string(),
        Answer::Text(t) => t.trim().to_owned(),
    }
}

/// Most timeline rows a learner's page shows.
pub const TIMELINE_ROWS: usize = 200;

/// One learner's progress and activity.
pub fn learner(store: &dyn Storage, center: &str, learner_id: &str) -> Result<LearnerReport> {
    let name = store
        .learners(center)?
        .into_iter()
        .find(|(id, _)| id == learner_id)
        .map(|(_, name)| name)
        .ok_or_else(|| HubError::NotFound(format!("learner {learner_id}")))?;
    let packs = catalog(store)?;
    let tallies = store.tallies(center, Some(learner_id))?;
    let pack_ids: BTreeSet<&str> = tallies.iter().map(|t| t.pack_id.as_str()).collect();
    let courses: Vec<(Course, usize, usize, u64)> = pack_ids
        .into_iter()
        .map(|id| {
            let c = course(&packs, id, &tallies);
            let mine: Vec<&TallyRow> = tallies.iter().filter(|t| t.pack_id == id).collect();
            let done = c
                .lessons
                .iter()
                .filter(|l| mine.iter().any(|t| t.lesson_id == l.id && l.progress(&t.tally.tally).completed))
                .count();
            let seconds = mine.iter().map(|t| t.tally.tally.seconds).sum();
            let total = c.lessons.len();
            (c, done, total, seconds)
        })
        .collect();
    let devices: HashMap<String, DeviceInfo> =
        store.devices(Some(center))?.into_iter().map(|d| (d.id.clone(), d)).collect();
    let timeline = store
        .activity(center, learner_id, TIMELINE_ROWS)?
        .into_iter()
        .map(|a| {
            let device = devices.get(&a.device_id).cloned();
            let lesson = courses
                .iter()
                .find(|(c, ..)| c.pack_id == a.pack_id)
                .and_then(|(c, ..)| c.lessons.iter().find(|l| l.id == a.lesson_id).cloned())
                .unwrap_or_else(|| LessonInfo {
                    id: a.lesson_id.clone(),
                    title: a.lesson_id.clone(),
                    quiz: false,
                    lesson: None,
                });
            (a, device, lesson)
        })
        .collect();
    Ok(LearnerReport {
        id: learner_id.to_owned(),
        name,
        seconds: courses.iter().map(|c| c.3).sum(),
        last_at: tallies.iter().map(|t| t.tally.last_at).max(),
        courses,
        timeline,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn laptop(
        last_seen_at: Option<i64>,
        clock_offset_ms: Option<i64>,
        revoked_at: Option<i64>,
    ) -> DeviceInfo {
        DeviceInfo {
            id: "d".into(),
            center_id: "c".into(),
            name: "poste 1".into(),
            enrolled_at: 0,
            revoked_at,
            last_seen_at,
            clock_offset_ms,
            events: 0,
            public_key: None,
        }
    }

    #[test]
    fn laptops_quiet_for_days_or_with_a_clock_off_are_flagged_and_revoked_ones_are_not() {
        let now = 100 * DAY_MS;
        assert_eq!(warnings(&laptop(Some(now - DAY_MS), Some(1_000), None), now), vec![]);
        assert_eq!(warnings(&laptop(Some(now - 5 * DAY_MS), None, None), now), vec![LaptopWarning::Quiet(5)]);
        assert_eq!(
            warnings(&laptop(Some(now), Some(-3 * 60 * 60 * 1000), None), now),
            vec![LaptopWarning::ClockOff(-180)]
        );
        assert_eq!(warnings(&laptop(None, None, None), now), vec![LaptopWarning::NeverSeen]);
        assert_eq!(warnings(&laptop(None, None, Some(now)), now), vec![]);
    }
}
