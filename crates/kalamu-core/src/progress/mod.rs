//! Learner progress: an append-only log of events stamped with a hybrid
//! logical clock, and the views derived from it.

pub mod event;
pub mod grade;
pub mod hlc;
pub mod tally;
pub mod views;

use std::collections::BTreeMap;

use rusqlite::OptionalExtension;

use crate::pack::Manifest;
use crate::pack::manifest::Lesson;
use crate::{Error, Result, Store};
use event::{Answer, EventBody};
use grade::Graded;
use views::LearnerProgress;

impl Store {
    /// The manifest of an installed pack.
    pub fn manifest(&self, pack_id: &str) -> Result<Manifest> {
        let bytes: Vec<u8> = self
            .conn()
            .query_row("SELECT manifest FROM packs WHERE id = ?1", [pack_id], |r| r.get(0))
            .optional()?
            .ok_or_else(|| Error::NoSuchPack(pack_id.to_owned()))?;
        Manifest::from_bytes(&bytes).map_err(|p| Error::pack(pack_id, p))
    }

    /// A lesson of an installed pack.
    pub fn lesson(&self, pack_id: &str, lesson_id: &str) -> Result<Lesson> {
        self.manifest(pack_id)?
            .modules
            .into_iter()
            .flat_map(|m| m.lessons)
            .find(|l| l.id == lesson_id)
            .ok_or_else(|| Error::NoSuchLesson { pack: pack_id.to_owned(), lesson: lesson_id.to_owned() })
    }

    /// Grades a quiz attempt and records it, answers and all.
    pub fn answer_quiz(
        &self,
        learner_id: &str,
        pack_id: &str,
        lesson_id: &str,
        answers: BTreeMap<String, Answer>,
    ) -> Result<Graded> {
        let lesson = self.lesson(pack_id, lesson_id)?;
        let quiz = lesson.quiz.as_ref().ok_or_else(|| Error::NoQuiz(lesson_id.to_owned()))?;
        let graded = grade::grade(quiz, &answers);
        self.record(
            learner_id,
            pack_id,
            lesson_id,
            EventBody::QuizAttempt { answers, score: graded.score, max: graded.max },
        )?;
        Ok(graded)
    }

    /// Everything the app shows about a learner's progress in the installed packs.
    pub fn progress(&self, learner_id: &str) -> Result<LearnerProgress> {
        let events = self.events_of(learner_id)?;
        let manifests = self.packs()?.iter().map(|p| self.manifest(&p.id)).collect::<Result<Vec<_>>>()?;
        Ok(views::derive(&events, &manifests))
    }
}
