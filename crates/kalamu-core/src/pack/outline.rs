//! A pack's structure as the learner's screen needs it: modules, lessons,
//! and quiz questions without their answers (grading stays in core).

use serde::Serialize;

use super::manifest::QuizKind;
use crate::{Result, Store};

/// A pack's modules and lessons.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Outline {
    /// Pack id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Content language.
    pub language: String,
    /// Modules in order.
    pub modules: Vec<OutlineModule>,
}

/// A module in an outline.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct OutlineModule {
    /// Module id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Lessons in order.
    pub lessons: Vec<OutlineLesson>,
}

/// A lesson in an outline.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct OutlineLesson {
    /// Lesson id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Path of the HTML entry file, if the lesson has a page.
    pub entry: Option<String>,
    /// The quiz's questions, if the lesson has a quiz.
    pub quiz: Option<Vec<Question>>,
}

/// A quiz question without its answer.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Question {
    /// Item id.
    pub id: String,
    /// The question.
    pub prompt: String,
    /// `single`, `multiple`, `numeric` or `text`.
    #[cfg_attr(feature = "ts", ts(type = r#""single" | "multiple" | "numeric" | "text""#))]
    pub kind: &'static str,
    /// Choices, for `single` and `multiple`.
    pub choices: Vec<String>,
}

impl Store {
    /// The outline of an installed pack.
    pub fn outline(&self, pack_id: &str) -> Result<Outline> {
        let m = self.manifest(pack_id)?;
        let modules = m
            .modules
            .into_iter()
            .map(|module| OutlineModule {
                id: module.id,
                title: module.title,
                lessons: module
                    .lessons
                    .into_iter()
                    .map(|l| OutlineLesson {
                        id: l.id,
                        title: l.title,
                        entry: l.entry,
                        quiz: l.quiz.map(|q| q.items.into_iter().map(question).collect()),
                    })
                    .collect(),
            })
            .collect();
        Ok(Outline { id: m.id, title: m.title, language: m.language, modules })
    }
}

fn question(item: super::manifest::QuizItem) -> Question {
    let (kind, choices) = match item.kind {
        QuizKind::Single { choices, .. } => ("single", choices),
        QuizKind::Multiple { choices, .. } => ("multiple", choices),
        QuizKind::Numeric { .. } => ("numeric", Vec::new()),
        QuizKind::Text { .. } => ("text", Vec::new()),
    };
    Question { id: item.id, prompt: item.prompt, kind, choices }
}
