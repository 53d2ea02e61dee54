//! Grading quiz answers against the pack's quiz, with the feedback to show.

use std::collections::BTreeMap;

use serde::Serialize;

use super::event::Answer;
use crate::pack::manifest::{Quiz, QuizItem, QuizKind};

/// The verdict on one item.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct ItemResult {
    /// Item id.
    pub id: String,
    /// Whether the answer was right.
    pub correct: bool,
    /// Feedback to show for that verdict.
    pub feedback: String,
}

/// The verdict on a whole attempt.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Graded {
    /// Items answered correctly.
    pub score: u32,
    /// Items in the quiz.
    pub max: u32,
    /// Per item, in quiz order.
    pub items: Vec<ItemResult>,
}

/// Grades `answers` (by item id) against `quiz`. A missing or ill-typed answer is wrong.
pub fn grade(quiz: &Quiz, answers: &BTreeMap<String, Answer>) -> Graded {
    let items: Vec<ItemResult> = quiz
        .items
        .iter()
        .map(|item| {
            let correct = answers.get(&item.id).is_some_and(|a| is_correct(&item.kind, a));
            let feedback = if correct { &item.feedback_correct } else { &item.feedback_incorrect };
            ItemResult { id: item.id.clone(), correct, feedback: feedback.clone() }
        })
        .collect();
    Graded { score: items.iter().filter(|i| i.correct).count() as u32, max: items.len() as u32, items }
}

/// Whether `answer` is right for `item`, by the rule [`grade`] applies.
pub fn item_is_correct(item: &QuizItem, answer: &Answer) -> bool {
    is_correct(&item.kind, answer)
}

fn is_correct(kind: &QuizKind, answer: &Answer) -> bool {
    match (kind, answer) {
        (QuizKind::Single { answer: right, .. }, Answer::Choice(given)) => given == right,
        (QuizKind::Single { answer: right, .. }, Answer::Choices(given)) => given.as_slice() == [*right],
        (QuizKind::Multiple { answers: right, .. }, Answer::Choices(given)) => {
            let mut given = given.clone();
            given.sort_unstable();
            given.dedup();
            let mut right = right.clone();
            right.sort_unstable();
            given == right
        }
        (QuizKind::Numeric { answer: right, tolerance }, Answer::Number(given)) => {
            given.is_finite() && (given - right).abs() <= *tolerance + 1e-9
        }
        (QuizKind::Numeric { .. }, Answer::Text(text)) => {
            typed_number(text).is_some_and(|n| is_correct(kind, &Answer::Number(n)))
        }
        (QuizKind::Text { answers: right }, Answer::Text(given)) => {
            let given = normalise(given);
            !given.is_empty() && right.iter().any(|r| normalise(r) == given)
        }
        _ => false,
    }
}

/// The number a learner typed: digits grouped by spaces (`1 950`), a
/// decimal comma (`8,5`), and a unit after it (`8 Go`, `256 MB`) are all read
/// as people write them; a second number after the unit is not.
fn typed_number(text: &str) -> Option<f64> {
    let text = text.trim();
    let end = text
        .find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | ',' | '-' | '+') || c.is_whitespace()))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(end);
    if unit.chars().any(|c| c.is_ascii_digit()) {
        return None;
    }
    number.chars().filter(|c| !c.is_whitespace()).collect::<String>().replace(',', ".").parse().ok()
}

/// Case, surrounding and repeated spaces, and apostrophe styles do not count.
fn normalise(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase().replace(['’', '‘'], "'")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pack::manifest::QuizItem;

    fn item(id: &str, kind: QuizKind) -> QuizItem {
        QuizItem {
            id: id.into(),
            prompt: "?".into(),
            kind,
            feedback_correct: "yes".into(),
            feedback_incorrect: "no".into(),
        }
    }

    #[test]
    fn every_item_type_is_graded_with_its_feedback() {
        let quiz = Quiz {
            items: vec![
                item("s", QuizKind::Single { choices: vec!["a".into(), "b".into()], answer: 1 }),
                item(
                    "m",
                    QuizKind::Multiple {
                        choices: vec!["a".into(), "b".into(), "c".into()],
                        answers: vec![0, 2],
                    },
                ),
                item("n", QuizKind::Numeric { answer: 2000.0, tolerance: 100.0 }),
                item("t", QuizKind::Text { answers: vec!["Système d’exploitation".into()] }),
            ],
            pass_mark: None,
        };
        let mut answers = BTreeMap::new();
        answers.insert("s".into(), Answer::Choice(1));
        answers.insert("m".into(), Answer::Choices(vec![2, 0]));
        answers.insert("n".into(), Answer::Text("1 950".into()));
        answers.insert("t".into(), Answer::Text("  système  d'exploitation ".into()));
        let g = grade(&quiz, &answers);
        assert_eq!((g.score, g.max), (4, 4), "{g:?}");
        assert!(g.items.iter().all(|i| i.feedback == "yes"));

        answers.insert("m".into(), Answer::Choices(vec![0]));
        answers.insert("t".into(), Answer::Text("".into()));
        answers.remove("s");
        let g = grade(&quiz, &answers);
        assert_eq!(g.score, 1);
        assert_eq!(g.items[0].feedback, "no");
    }

    #[test]
    fn numbers_are_read_as_people_type_them() {
        let quiz = Quiz {
            items: vec![item("n", QuizKind::Numeric { answer: 8.0, tolerance: 0.0 })],
            pass_mark: None,
        };
        let right = |typed: &str| {
            let answers = BTreeMap::from([("n".to_owned(), Answer::Text(typed.into()))]);
            grade(&quiz, &answers).score == 1
        };
        for typed in ["8", " 8 ", "8 Go", "8Go", "8,0", "8.0 GB", "+8"] {
            assert!(right(typed), "{typed:?} is 8");
        }
        for typed in ["80", "8 Go 256", "huit", "", "8.5", "-8"] {
            assert!(!right(typed), "{typed:?} is not 8");
        }
    }
}
