//! The projection's tables in SQLite: [`ProjectTx`] as SQL in the writer's
//! transaction, and the reads staff's reports make of them.

use kalamu_core::progress::event::Event;
use kalamu_core::progress::tally::LessonTally;
use kalamu_core::progress::views::Score;
use rusqlite::{Connection, OptionalExtension};

use super::runs;
use crate::error::Result;
use crate::projection::{Activity, AnswerKey, Pending, ProjectTx, StoredTally};
use crate::report::{AnswerCount, TallyRow};

/// The projection's writes, in the writer's transaction.
pub(super) struct SqliteProject<'a>(pub(super) &'a Connection);

impl ProjectTx for SqliteProject<'_> {
    fn pending(&mut self) -> Result<Vec<Pending>> {
        let mut stmt = self.0.prepare_cached(
            "SELECT h.device_id, h.center_id, coalesce(p.seq, 0), h.seq FROM heads h
             LEFT JOIN projected p ON p.device_id = h.device_id WHERE h.seq > coalesce(p.seq, 0)",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(Pending {
                device_id: r.get(0)?,
                center_id: r.get(1)?,
                from: r.get::<_, i64>(2)? as u64,
                to: r.get::<_, i64>(3)? as u64,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
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
        Ok(self
            .0
            .prepare_cached(&format!(
                "SELECT {TALLY_COLUMNS} FROM lesson_tallies
                 WHERE center_id = ?1 AND learner_id = ?2 AND pack_id = ?3 AND lesson_id = ?4"
            ))?
            .query_row((center, learner, pack, lesson), |r| read_tally(r, 0))
            .optional()?)
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
        self.0
            .prepare_cached(
                "INSERT OR REPLACE INTO lesson_tallies (learner_id, pack_id, lesson_id, center_id, opened,
                 completed, attempts, best_score, best_max, mastered, seconds, last_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            )?
            .execute(rusqlite::params![
                learner,
                pack,
                lesson,
                center,
                t.tally.opened,
                t.tally.completed,
                t.tally.attempts,
                best.map(|b| b.score),
                best.map(|b| b.max),
                t.tally.mastered,
                t.tally.seconds as i64,
                t.last_at,
            ])?;
        Ok(())
    }

    fn add_answer(&mut self, center: &str, key: &AnswerKey, times: u64) -> Result<()> {
        self.0
            .prepare_cached(
                "INSERT INTO item_answers (pack_id, lesson_id, item, learner_id, answer, center_id, times)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT DO UPDATE SET times = times + excluded.times",
            )?
            .execute((
                &key.pack_id,
                &key.lesson_id,
                &key.item,
                &key.learner_id,
                &key.answer,
                center,
                times as i64,
            ))?;
        Ok(())
    }

    fn add_activity(&mut self, center: &str, a: &Activity) -> Result<()> {
        self.0
            .prepare_cached(
                "INSERT INTO activity (learner_id, day, device_id, pack_id, lesson_id, center_id, first_at,
                 last_at, events, completed, attempts, seconds)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
                 ON CONFLICT DO UPDATE SET first_at = min(first_at, excluded.first_at),
                 last_at = max(last_at, excluded.last_at), events = events + excluded.events,
                 completed = completed + excluded.completed, attempts = attempts + excluded.attempts,
                 seconds = seconds + excluded.seconds",
            )?
            .execute(rusqlite::params![
                a.learner_id,
                a.day,
                a.device_id,
                a.pack_id,
                a.lesson_id,
                center,
                a.first_at,
                a.last_at,
                a.events as i64,
                a.completed as i64,
                a.attempts as i64,
                a.seconds as i64,
            ])?;
        Ok(())
    }

    fn set_folded(&mut self, device: &str, seq: u64) -> Result<()> {
        self.0
            .prepare_cached(
                "INSERT INTO projected (device_id, seq) VALUES (?1, ?2)
                 ON CONFLICT DO UPDATE SET seq = excluded.seq",
            )?
            .execute((device, seq as i64))?;
        Ok(())
    }

    fn clear(&mut self) -> Result<()> {
        self.0.execute_batch(
            "DELETE FROM projected; DELETE FROM lesson_tallies; DELETE FROM item_answers; DELETE FROM activity;",
        )?;
        Ok(())
    }
}

const TALLY_COLUMNS: &str = "opened, completed, attempts, best_score, best_max, mastered, seconds, last_at";

fn read_tally(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<StoredTally> {
    let best: (Option<u32>, Option<u32>) = (r.get(at + 3)?, r.get(at + 4)?);
    Ok(StoredTally {
        tally: LessonTally {
            opened: r.get(at)?,
            completed: r.get(at + 1)?,
            attempts: r.get(at + 2)?,
            best: match best {
                (Some(score), Some(max)) => Some(Score { score, max }),
                _ => None,
            },
            mastered: r.get(at + 5)?,
            seconds: r.get::<_, i64>(at + 6)? as u64,
        },
        last_at: r.get(at + 7)?,
    })
}

/// Every tally of a center, or of one learner of it.
pub(super) fn tallies(conn: &Connection, center: &str, learner: Option<&str>) -> Result<Vec<TallyRow>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT learner_id, pack_id, lesson_id, {TALLY_COLUMNS} FROM lesson_tallies
         WHERE center_id = ?1 AND (?2 IS NULL OR learner_id = ?2)"
    ))?;
    let rows = stmt.query_map((center, learner), |r| {
        Ok(TallyRow {
            learner_id: r.get(0)?,
            pack_id: r.get(1)?,
            lesson_id: r.get(2)?,
            tally: read_tally(r, 3)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// How often each learner of a center gave each answer to a quiz's items.
pub(super) fn answers(conn: &Connection, center: &str, pack: &str, lesson: &str) -> Result<Vec<AnswerCount>> {
    let mut stmt = conn.prepare_cached(
        "SELECT item, learner_id, answer, times FROM item_answers
         WHERE center_id = ?1 AND pack_id = ?2 AND lesson_id = ?3",
    )?;
    let rows = stmt.query_map((center, pack, lesson), |r| {
        Ok(AnswerCount {
            item: r.get(0)?,
            learner_id: r.get(1)?,
            answer: r.get(2)?,
            times: r.get::<_, i64>(3)? as u64,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// A learner's activity, newest first, at most `limit` rows.
pub(super) fn activity(
    conn: &Connection,
    center: &str,
    learner: &str,
    limit: usize,
) -> Result<Vec<Activity>> {
    let mut stmt = conn.prepare_cached(
        "SELECT learner_id, day, device_id, pack_id, lesson_id, first_at, last_at, events, completed,
         attempts, seconds FROM activity WHERE center_id = ?1 AND learner_id = ?2
         ORDER BY last_at DESC LIMIT ?3",
    )?;
    let rows = stmt.query_map((center, learner, limit as i64), |r| {
        Ok(Activity {
            learner_id: r.get(0)?,
            day: r.get(1)?,
            device_id: r.get(2)?,
            pack_id: r.get(3)?,
            lesson_id: r.get(4)?,
            first_at: r.get(5)?,
            last_at: r.get(6)?,
            events: r.get::<_, i64>(7)? as u64,
            completed: r.get::<_, i64>(8)? as u64,
            attempts: r.get::<_, i64>(9)? as u64,
            seconds: r.get::<_, i64>(10)? as u64,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Learners of a center active since `since` (unix ms).
pub(super) fn active_since(conn: &Connection, center: &str, since: i64) -> Result<u64> {
    Ok(conn
        .prepare_cached(
            "SELECT count(DISTINCT learner_id) FROM activity WHERE center_id = ?1 AND day >= ?2 AND last_at >= ?3",
        )?
        .query_row((center, since.div_euclid(24 * 60 * 60 * 1000), since), |r| r.get::<_, i64>(0))?
        as u64)
}
