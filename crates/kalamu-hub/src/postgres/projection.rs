//! The projection's tables in PostgreSQL: [`ProjectTx`] as SQL in one
//! transaction, and the reads staff's reports make of them.

use kalamu_core::progress::event::Event;
use kalamu_core::progress::tally::LessonTally;
use kalamu_core::progress::views::Score;
use tokio_postgres::Row;

use super::conn::Conn;
use super::runs;
use crate::error::Result;
use crate::projection::{Activity, AnswerKey, Pending, ProjectTx, StoredTally};
use crate::report::{AnswerCount, TallyRow};

/// The advisory lock a fold holds, so that hub processes sharing the database fold each event once.
pub(super) const FOLD_LOCK: i64 = 0x4B4C_4D50;

/// The projection's writes, in a transaction that holds [`FOLD_LOCK`].
pub(super) struct PgProject<'a>(pub(super) &'a mut Conn);

impl ProjectTx for PgProject<'_> {
    fn pending(&mut self) -> Result<Vec<Pending>> {
        self.0
            .query(
                "SELECT h.device_id, h.center_id, coalesce(p.seq, 0), h.seq FROM heads h
                 LEFT JOIN projected p ON p.device_id = h.device_id WHERE h.seq > coalesce(p.seq, 0)",
                &[],
            )?
            .iter()
            .map(|r| {
                Ok(Pending {
                    device_id: r.try_get(0)?,
                    center_id: r.try_get(1)?,
                    from: r.try_get::<_, i64>(2)? as u64,
                    to: r.try_get::<_, i64>(3)? as u64,
                })
            })
            .collect()
    }

    fn events(&mut self, device: &str, from: u64, to: u64, limit: usize) -> Result<Vec<Event>> {
        runs::events_in(self.0, device, from, to, limit)
    }

    fn tally(
        &mut self,
        center: &str,
        learner: &str,
        pack: &str,
        lesson: &str,
    ) -> Result<Option<StoredTally>> {
        self.0
            .opt(
                &format!(
                    "SELECT {TALLY_COLUMNS} FROM lesson_tallies
                     WHERE center_id = $1 AND learner_id = $2 AND pack_id = $3 AND lesson_id = $4"
                ),
                &[&center, &learner, &pack, &lesson],
            )?
            .map(|r| read_tally(&r, 0))
            .transpose()
    }

    fn put_tally(
        &mut self,
        center: &str,
        learner: &str,
        pack: &str,
        lesson: &str,
        t: &StoredTally,
    ) -> Result<()> {
        let best = t.tally.best;
        self.0.exec(
            "INSERT INTO lesson_tallies (learner_id, pack_id, lesson_id, center_id, opened,
             completed, attempts, best_score, best_max, mastered, seconds, last_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
             ON CONFLICT (center_id, learner_id, pack_id, lesson_id) DO UPDATE SET
             opened = excluded.opened, completed = excluded.completed, attempts = excluded.attempts,
             best_score = excluded.best_score, best_max = excluded.best_max, mastered = excluded.mastered,
             seconds = excluded.seconds, last_at = excluded.last_at",
            &[
                &learner,
                &pack,
                &lesson,
                &center,
                &t.tally.opened,
                &t.tally.completed,
                &i64::from(t.tally.attempts),
                &best.map(|b| i64::from(b.score)),
                &best.map(|b| i64::from(b.max)),
                &t.tally.mastered,
                &(t.tally.seconds as i64),
                &t.last_at,
            ],
        )?;
        Ok(())
    }

    fn add_answer(&mut self, center: &str, key: &AnswerKey, times: u64) -> Result<()> {
        self.0.exec(
            "INSERT INTO item_answers AS a (pack_id, lesson_id, item, learner_id, answer, center_id, times)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (center_id, pack_id, lesson_id, item, learner_id, answer)
             DO UPDATE SET times = a.times + excluded.times",
            &[
                &key.pack_id,
                &key.lesson_id,
                &key.item,
                &key.learner_id,
                &key.answer,
                &center,
                &(times as i64),
            ],
        )?;
        Ok(())
    }

    fn add_activity(&mut self, center: &str, a: &Activity) -> Result<()> {
        self.0.exec(
            "INSERT INTO activity AS t (learner_id, day, device_id, pack_id, lesson_id, center_id, first_at,
             last_at, events, completed, attempts, seconds)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
             ON CONFLICT (center_id, learner_id, day, device_id, pack_id, lesson_id) DO UPDATE SET
             first_at = least(t.first_at, excluded.first_at), last_at = greatest(t.last_at, excluded.last_at),
             events = t.events + excluded.events, completed = t.completed + excluded.completed,
             attempts = t.attempts + excluded.attempts, seconds = t.seconds + excluded.seconds",
            &[
                &a.learner_id,
                &a.day,
                &a.device_id,
                &a.pack_id,
                &a.lesson_id,
                &center,
                &a.first_at,
                &a.last_at,
                &(a.events as i64),
                &(a.completed as i64),
                &(a.attempts as i64),
                &(a.seconds as i64),
            ],
        )?;
        Ok(())
    }

    fn set_folded(&mut self, device: &str, seq: u64) -> Result<()> {
        self.0.exec(
            "INSERT INTO projected (device_id, seq) VALUES ($1, $2)
             ON CONFLICT (device_id) DO UPDATE SET seq = excluded.seq",
            &[&device, &(seq as i64)],
        )?;
        Ok(())
    }

    fn clear(&mut self) -> Result<()> {
        self.0.batch(
            "DELETE FROM projected; DELETE FROM lesson_tallies; DELETE FROM item_answers; DELETE FROM activity;",
        )
    }
}

const TALLY_COLUMNS: &str = "opened, completed, attempts, best_score, best_max, mastered, seconds, last_at";

fn read_tally(r: &Row, at: usize) -> Result<StoredTally> {
    let best: (Option<i64>, Option<i64>) = (r.try_get(at + 3)?, r.try_get(at + 4)?);
    Ok(StoredTally {
        tally: LessonTally {
            opened: r.try_get(at)?,
            completed: r.try_get(at + 1)?,
            attempts: r.try_get::<_, i64>(at + 2)? as u32,
            best: match best {
                (Some(score), Some(max)) => Some(Score { score: score as u32, max: max as u32 }),
                _ => None,
            },
            mastered: r.try_get(at + 5)?,
            seconds: r.try_get::<_, i64>(at + 6)? as u64,
        },
        last_at: r.try_get(at + 7)?,
    })
}

/// Every tally of a center, or of one learner of it.
pub(super) fn tallies(conn: &mut Conn, center: &str, learner: Option<&str>) -> Result<Vec<TallyRow>> {
    conn.query(
        &format!(
            "SELECT learner_id, pack_id, lesson_id, {TALLY_COLUMNS} FROM lesson_tallies
             WHERE center_id = $1 AND ($2::text IS NULL OR learner_id = $2)"
        ),
        &[&center, &learner],
    )?
    .iter()
    .map(|r| {
        Ok(TallyRow {
            learner_id: r.try_get(0)?,
            pack_id: r.try_get(1)?,
            lesson_id: r.try_get(2)?,
            tally: read_tally(r, 3)?,
        })
    })
    .collect()
}

/// How often each learner of a center gave each answer to a quiz's items.
pub(super) fn answers(conn: &mut Conn, center: &str, pack: &str, lesson: &str) -> Result<Vec<AnswerCount>> {
    conn.query(
        "SELECT item, learner_id, answer, times FROM item_answers
         WHERE center_id = $1 AND pack_id = $2 AND lesson_id = $3",
        &[&center, &pack, &lesson],
    )?
    .iter()
    .map(|r| {
        Ok(AnswerCount {
            item: r.try_get(0)?,
            learner_id: r.try_get(1)?,
            answer: r.try_get(2)?,
            times: r.try_get::<_, i64>(3)? as u64,
        })
    })
    .collect()
}

/// A learner's activity, newest first, at most `limit` rows.
pub(super) fn activity(conn: &mut Conn, center: &str, learner: &str, limit: usize) -> Result<Vec<Activity>> {
    conn.query(
        "SELECT learner_id, day, device_id, pack_id, lesson_id, first_at, last_at, events, completed,
         attempts, seconds FROM activity WHERE center_id = $1 AND learner_id = $2
         ORDER BY last_at DESC LIMIT $3",
        &[&center, &learner, &(limit as i64)],
    )?
    .iter()
    .map(|r| {
        Ok(Activity {
            learner_id: r.try_get(0)?,
            day: r.try_get(1)?,
            device_id: r.try_get(2)?,
            pack_id: r.try_get(3)?,
            lesson_id: r.try_get(4)?,
            first_at: r.try_get(5)?,
            last_at: r.try_get(6)?,
            events: r.try_get::<_, i64>(7)? as u64,
            completed: r.try_get::<_, i64>(8)? as u64,
            attempts: r.try_get::<_, i64>(9)? as u64,
            seconds: r.try_get::<_, i64>(10)? as u64,
        })
    })
    .collect()
}

/// Learners of a center active since `since` (unix ms).
pub(super) fn active_since(conn: &mut Conn, center: &str, since: i64) -> Result<u64> {
    Ok(conn
        .one(
            "SELECT count(DISTINCT learner_id) FROM activity WHERE center_id = $1 AND day >= $2 AND last_at >= $3",
            &[&center, &since.div_euclid(24 * 60 * 60 * 1000), &since],
        )?
        .try_get::<_, i64>(0)? as u64)
}
