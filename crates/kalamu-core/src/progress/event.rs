//! Progress events: what a learner did, appended to the log and never
//! changed. Each carries a UUIDv7, the learner, the device, a per-device
//! sequence number and a hybrid logical clock stamp.

use std::collections::BTreeMap;

use rusqlite::{OptionalExtension, TransactionBehavior};
use serde::{Deserialize, Serialize};

use super::hlc::Hlc;
use crate::store::now_millis;
use crate::{Error, Result, Store};

/// A learner's answer to one quiz item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub enum Answer {
    /// A choice index (single).
    Choice(usize),
    /// Choice indexes (multiple).
    Choices(Vec<usize>),
    /// A number (numeric).
    Number(f64),
    /// Free text (text).
    Text(String),
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub enum EventBody {
    /// The learner opened the lesson.
    LessonOpened,
    /// Where the learner is in the lesson: a video's time or a page's scroll fraction.
    Position {
        /// The media file (pack path) for a video or audio position; none for the page.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        media: Option<String>,
        /// Seconds into the media, or the page's scroll fraction (0–1).
        at: f64,
    },
    /// The learner finished the lesson.
    LessonCompleted,
    /// One attempt at the lesson's quiz, graded when recorded.
    QuizAttempt {
        /// The answers given, by item id.
        answers: BTreeMap<String, Answer>,
        /// Items answered correctly.
        score: u32,
        /// Items in the quiz.
        max: u32,
    },
    /// Time spent in the lesson since the last such event.
    TimeSpent {
        /// Seconds.
        seconds: u32,
    },
    /// The learner was added on this device (pack and lesson are empty): it
    /// carries the learner to the other laptops before they study.
    LearnerAdded,
}

/// Longest text answer a learner may give, in bytes.
pub const MAX_ANSWER_BYTES: usize = 4 << 10;
/// Largest event body, as stored and sent (JSON), in bytes.
pub const MAX_BODY_BYTES: usize = 16 << 10;
/// Most answers (and choices in one answer) a quiz attempt may hold.
const MAX_ANSWERS: usize = 200;
/// Longest media path or answer key, in bytes.
const MAX_NAME_BYTES: usize = 200;

impl EventBody {
    /// Refuses a body no learner could have recorded: the bounds every
    /// store applies when recording and when receiving, so that one event
    /// cannot fill every laptop's disk.
    pub fn check(&self) -> std::result::Result<(), String> {
        match self {
            EventBody::Position { media, at } => {
                if !at.is_finite() || *at < 0.0 || *at > 1e7 {
                    return Err(format!("its position {at} is not a time or a scroll fraction"));
                }
                if media.as_ref().is_some_and(|m| m.is_empty() || m.len() > MAX_NAME_BYTES) {
                    return Err("its media path is empty or too long".into());
                }
            }
            EventBody::QuizAttempt { answers, score, max } => {
                if answers.len() > MAX_ANSWERS || score > max || *max as usize > MAX_ANSWERS {
                    return Err(format!(
                        "its quiz attempt ({score} of {max}, {} answers) is not one a quiz allows",
                        answers.len()
                    ));
                }
                for (key, answer) in answers {
                    if key.is_empty() || key.len() > MAX_NAME_BYTES {
                        return Err("an answer's item id is empty or too long".into());
                    }
                    match answer {
                        Answer::Text(t) if t.len() > MAX_ANSWER_BYTES => {
                            return Err(format!(
                                "the answer to {key} is {} bytes; at most {MAX_ANSWER_BYTES}",
                                t.len()
                            ));
                        }
                        Answer::Choices(c) if c.len() > MAX_ANSWERS => {
                            return Err(format!("the answer to {key} has {} choices", c.len()));
                        }
                        Answer::Number(n) if !n.is_finite() => {
                            return Err(format!("the answer to {key} is not a number"));
                        }
                        _ => {}
                    }
                }
            }
            EventBody::TimeSpent { seconds } if *seconds > 24 * 3600 => {
                return Err(format!("{seconds} s in one stretch is more than a day"));
            }
            _ => {}
        }
        // Only a quiz attempt can grow: the others are bounded by the checks
        // above, and serialising every body would cost a hub's decoding dearly.
        if let EventBody::QuizAttempt { .. } = self {
            let size = serde_json::to_vec(self).map_or(usize::MAX, |b| b.len());
            if size > MAX_BODY_BYTES {
                return Err(format!("it is {size} bytes; an event holds at most {MAX_BODY_BYTES}"));
            }
        }
        Ok(())
    }

    /// The body as kept: positions to what a resume needs (a tenth of a
    /// second into media, a thousandth of a page), so that the noise of
    /// floating-point digits costs neither disk nor a slow link.
    pub fn for_resume(self) -> EventBody {
        match self {
            EventBody::Position { media: Some(m), at } => {
                EventBody::Position { media: Some(m), at: (at * 10.0).round() / 10.0 }
            }
            EventBody::Position { media: None, at } => {
                EventBody::Position { media: None, at: (at * 1000.0).round() / 1000.0 }
            }
            other => other,
        }
    }

    /// The `kind` tag stored beside the body.
    pub fn kind(&self) -> &'static str {
        match self {
            EventBody::LessonOpened => "lesson_opened",
            EventBody::Position { .. } => "position",
            EventBody::LessonCompleted => "lesson_completed",
            EventBody::QuizAttempt { .. } => "quiz_attempt",
            EventBody::TimeSpent { .. } => "time_spent",
            EventBody::LearnerAdded => "learner_added",
        }
    }
}

/// The id of a device's event number `seq`: derived from both, not random,
/// so the wire need not carry it (random ids cost a slow link about 9 bytes
/// an event). A UUIDv8: the first half from the device's id, the rest the
/// sequence number. Events recorded before carry random UUIDv7 ids.
pub fn derived_id(device_id: &str, seq: u64) -> String {
    IdDeriver::new(device_id).id(seq)
}

/// [`derived_id`] for many events of one device, hashing its id once.
pub struct IdDeriver([u8; 8]);

impl IdDeriver {
    /// For the device `device_id`.
    pub fn new(device_id: &str) -> IdDeriver {
        let hash = blake3::derive_key("kalamu 2026 event id", device_id.as_bytes());
        let mut prefix = [0u8; 8];
        prefix.copy_from_slice(&hash[..8]);
        IdDeriver(prefix)
    }

    /// The id of event number `seq`.
    pub fn id(&self, seq: u64) -> String {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.0);
        b[8..].copy_from_slice(&seq.to_be_bytes());
        b[6] = (b[6] & 0x0f) | 0x80; // version 8
        b[8] = (b[8] & 0x3f) | 0x80; // RFC 4122 variant (sequence numbers stay below 2^62)
        uuid::Uuid::from_bytes(b).hyphenated().to_string()
    }
}

/// Whether the hyphenated UUID `id` has the form of a derived id (a UUIDv8),
/// which must then be its event's: its version digit, read without parsing.
pub fn is_derived_form(id: &str) -> bool {
    id.len() == 36 && id.as_bytes()[14] == b'8'
}

/// One event of the progress log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Globally unique id (UUIDv7).
    pub id: String,
    /// The learner.
    pub learner_id: String,
    /// The device that recorded it.
    pub device_id: String,
    /// Sequence number on that device, from 1.
    pub seq: u64,
    /// Hybrid logical clock stamp.
    pub hlc: Hlc,
    /// The pack.
    pub pack_id: String,
    /// The lesson in the pack.
    pub lesson_id: String,
    /// What happened.
    pub body: EventBody,
}

/// A new device id (a UUIDv7), for a store's first use or a copy that goes on as a new laptop.
pub fn fresh_device_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// This device's identity and clock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Device {
    /// Device id (UUID).
    pub id: String,
    /// Sequence number of the next event recorded here.
    pub next_seq: u64,
    /// Highest stamp seen.
    pub last_hlc: Hlc,
}

impl Store {
    /// This device's identity, made on first use.
    pub fn device(&self) -> Result<Device> {
        self.conn().execute(
            "INSERT OR IGNORE INTO device (singleton, id, next_seq, last_hlc) VALUES (1, ?1, 1, 0)",
            [fresh_device_id()],
        )?;
        Ok(self.conn().query_row("SELECT id, next_seq, last_hlc FROM device", [], |r| {
            Ok(Device {
                id: r.get(0)?,
                next_seq: r.get::<_, i64>(1)? as u64,
                last_hlc: Hlc(r.get::<_, i64>(2)? as u64),
            })
        })?)
    }

    /// Appends an event for a learner in one durable transaction and returns it.
    pub fn record(&self, learner_id: &str, pack_id: &str, lesson_id: &str, body: EventBody) -> Result<Event> {
        if body == EventBody::LearnerAdded {
            return Err(Error::BadEvent {
                event: "(new)".into(),
                why: "a learner is added only once, by adding them".into(),
            });
        }
        let body = body.for_resume();
        body.check().map_err(|why| Error::BadEvent { event: "(new)".into(), why })?;
        self.learner(learner_id)?;
        self.device()?;
        let tx = rusqlite::Transaction::new_unchecked(self.conn(), TransactionBehavior::Immediate)?;
        let event = record_in(&tx, learner_id, pack_id, lesson_id, body)?;
        tx.commit()?;
        Ok(event)
    }

    /// Adds events recorded elsewhere (a set union: events already here are
    /// skipped), and moves this device's clock past them. Returns how many were new.
    pub fn merge_events(&self, events: &[Event]) -> Result<usize> {
        self.device()?;
        let tx = rusqlite::Transaction::new_unchecked(self.conn(), TransactionBehavior::Immediate)?;
        let mut added = 0;
        let mut last: Hlc =
            Hlc(tx.query_row("SELECT last_hlc FROM device", [], |r| r.get::<_, i64>(0))? as u64);
        for e in events {
            if insert_new(&tx, e)? {
                added += 1;
            }
            last = Hlc::observe(last, e.hlc, now_millis().max(0) as u64);
        }
        tx.execute("UPDATE device SET last_hlc = ?1", [last.0 as i64])?;
        tx.commit()?;
        Ok(added)
    }

    /// Every event of a learner, in clock order.
    pub fn events_of(&self, learner_id: &str) -> Result<Vec<Event>> {
        let mut stmt = self.conn().prepare_cached(&format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE learner_id = ?1 ORDER BY hlc, device_id, seq"
        ))?;
        let rows = stmt.query_map([learner_id], read_event)?;
        rows.map(|row| row?).collect()
    }
}

/// Appends an event inside a transaction the caller holds (this device's identity exists).
pub(crate) fn record_in(
    tx: &rusqlite::Connection,
    learner_id: &str,
    pack_id: &str,
    lesson_id: &str,
    body: EventBody,
) -> Result<Event> {
    let (device_id, seq, last) = tx.query_row("SELECT id, next_seq, last_hlc FROM device", [], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64, Hlc(r.get::<_, i64>(2)? as u64)))
    })?;
    let hlc = Hlc::tick(last, now_millis().max(0) as u64);
    let event = Event {
        id: derived_id(&device_id, seq),
        learner_id: learner_id.to_owned(),
        device_id,
        seq,
        hlc,
        pack_id: pack_id.to_owned(),
        lesson_id: lesson_id.to_owned(),
        body,
    };
    insert_new(tx, &event)?;
    tx.execute("UPDATE device SET next_seq = ?1, last_hlc = ?2", (seq as i64 + 1, hlc.0 as i64))?;
    Ok(event)
}

/// The columns [`read_event`] reads, in its order (the hub's events table has them too).
pub const EVENT_COLUMNS: &str = "id, learner_id, device_id, seq, hlc, pack_id, lesson_id, body";

/// One event from a row of [`EVENT_COLUMNS`]; a body that does not parse is a damaged event.
pub fn read_event(r: &rusqlite::Row<'_>) -> rusqlite::Result<Result<Event>> {
    let id: String = r.get(0)?;
    let body: String = r.get(7)?;
    let body = match serde_json::from_str(&body) {
        Ok(body) => body,
        Err(e) => return Ok(Err(Error::DamagedEvent { id, why: e.to_string() })),
    };
    Ok(Ok(Event {
        id,
        learner_id: r.get(1)?,
        device_id: r.get(2)?,
        seq: r.get::<_, i64>(3)? as u64,
        hlc: Hlc(r.get::<_, i64>(4)? as u64),
        pack_id: r.get(5)?,
        lesson_id: r.get(6)?,
        body,
    }))
}

/// Stores an event unless it is already there; returns whether it was new.
/// The same device and sequence number under another id is a conflict: two
/// stores disagree about what that device recorded, and neither copy is dropped silently.
pub(crate) fn insert_new(conn: &rusqlite::Connection, e: &Event) -> Result<bool> {
    let added = conn
        .prepare_cached(
            "INSERT INTO events (id, learner_id, device_id, seq, hlc, pack_id, lesson_id, kind, body)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT DO NOTHING",
        )?
        .execute(rusqlite::params![
            e.id,
            e.learner_id,
            e.device_id,
            e.seq as i64,
            e.hlc.0 as i64,
            e.pack_id,
            e.lesson_id,
            e.body.kind(),
            serde_json::to_string(&e.body).expect("events serialize"),
        ])?;
    if added == 1 {
        return Ok(true);
    }
    same_as_stored(conn, e)?;
    Ok(false)
}

/// After an insert that stored nothing: checks that the event held for this
/// device and sequence number is this very event, field by field, else it
/// is a conflict (a copy that differs in content is no repeat).
pub fn same_as_stored(conn: &rusqlite::Connection, e: &Event) -> Result<()> {
    let held: Option<Event> = conn
        .prepare_cached(&format!("SELECT {EVENT_COLUMNS} FROM events WHERE device_id = ?1 AND seq = ?2"))?
        .query_row((&e.device_id, e.seq as i64), read_event)
        .optional()?
        .transpose()?;
    if held.as_ref() != Some(e) {
        return Err(Error::SyncConflict { device: e.device_id.clone(), seq: e.seq });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_kept_to_what_a_resume_needs() {
        let video = EventBody::Position { media: Some("m.webm".into()), at: 123.456_789 }.for_resume();
        assert_eq!(video, EventBody::Position { media: Some("m.webm".into()), at: 123.5 });
        let page = EventBody::Position { media: None, at: 0.333_333_3 }.for_resume();
        assert_eq!(page, EventBody::Position { media: None, at: 0.333 });
        assert_eq!(EventBody::LessonOpened.for_resume(), EventBody::LessonOpened);
    }
}
