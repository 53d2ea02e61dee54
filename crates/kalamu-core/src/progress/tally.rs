//! What a learner did in one lesson, folded from its events one at a time
//! in any order: the part of the views that the app derives on the laptop
//! and the hub keeps as its projection, so both read progress by one rule.
//!
//! Every field is a commutative fold (or, and, sum, a maximum under a total
//! order), so absorbing the same set of events in any order gives the same
//! tally; repeats are the caller's to drop (the log and the hub store each
//! event once).

use super::event::EventBody;
use super::views::{LessonProgress, MASTERY, Score};
use crate::pack::manifest::Lesson;

/// One learner's events in one lesson, folded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LessonTally {
    /// Opened at least once.
    pub opened: bool,
    /// Marked finished at least once.
    pub completed: bool,
    /// Quiz attempts.
    pub attempts: u32,
    /// Best quiz score.
    pub best: Option<Score>,
    /// Some attempt reached [`MASTERY`].
    pub mastered: bool,
    /// Seconds spent.
    pub seconds: u64,
}

impl LessonTally {
    /// Folds in one event of this learner in this lesson.
    pub fn absorb(&mut self, body: &EventBody) {
        match body {
            EventBody::LessonOpened => self.opened = true,
            EventBody::LessonCompleted => self.completed = true,
            EventBody::QuizAttempt { score, max, .. } => {
                self.attempts += 1;
                let attempt = Score { score: *score, max: *max };
                if self.best.is_none_or(|b| better(attempt, b)) {
                    self.best = Some(attempt);
                }
                self.mastered |= *max > 0 && ratio(*score, *max) >= MASTERY;
            }
            EventBody::TimeSpent { seconds } => self.seconds += u64::from(*seconds),
            EventBody::Position { .. } | EventBody::LearnerAdded => {}
        }
    }

    /// The lesson's progress as the app and staff see it, by the pack's
    /// rules for `lesson`: a quiz-only lesson is done once the best score
    /// reaches its pass mark.
    pub fn progress(&self, lesson: &Lesson) -> LessonProgress {
        let mut completed = self.completed;
        if let (None, Some(quiz), Some(best)) = (&lesson.entry, &lesson.quiz, self.best) {
            completed |= best.max > 0 && ratio(best.score, best.max) + 1e-9 >= quiz.pass_mark();
        }
        LessonProgress {
            opened: self.opened,
            completed,
            position: None,
            attempts: self.attempts,
            best: self.best,
            mastered: self.mastered,
            seconds: self.seconds,
        }
    }
}

/// Whether attempt `a` beats `b`: a higher share right, and on a tie the
/// attempt at more items (a total order, so the best does not depend on
/// which attempt came first).
fn better(a: Score, b: Score) -> bool {
    let (ra, rb) = (ratio(a.score, a.max), ratio(b.score, b.max));
    ra > rb || (ra == rb && (a.max, a.score) > (b.max, b.score))
}

/// Share of items right; none of none is 0.
pub fn ratio(score: u32, max: u32) -> f64 {
    if max == 0 { 0.0 } else { f64::from(score) / f64::from(max) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(score: u32, max: u32) -> EventBody {
        EventBody::QuizAttempt { answers: Default::default(), score, max }
    }

    #[test]
    fn the_best_attempt_does_not_depend_on_the_order() {
        let events = [attempt(1, 2), attempt(2, 4), attempt(0, 3), EventBody::TimeSpent { seconds: 7 }];
        let mut forward = LessonTally::default();
        events.iter().for_each(|e| forward.absorb(e));
        let mut backward = LessonTally::default();
        events.iter().rev().for_each(|e| backward.absorb(e));
        assert_eq!(forward, backward);
        assert_eq!(forward.best, Some(Score { score: 2, max: 4 }));
        assert_eq!((forward.attempts, forward.seconds), (3, 7));
    }
}
