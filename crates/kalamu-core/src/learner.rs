//! Learners who share this laptop. Each has a stable UUID that travels with
//! their progress, so the same learner can continue on another laptop.

use serde::Serialize;

use crate::store::now_millis;
use crate::{Error, Result, Store};

/// Longest learner name accepted, in characters.
pub const MAX_NAME_CHARS: usize = 80;

/// A learner known on this laptop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Learner {
    /// Stable id (UUID), the same on every device.
    pub id: String,
    /// Display name.
    pub name: String,
    /// When the learner was created (unix milliseconds).
    pub created_at: i64,
    /// Whether a PIN guards this learner on this laptop.
    pub has_pin: bool,
}

/// A name as typed, trimmed and bounded; refused when empty or when it
/// holds control characters (which would rewrite a terminal or a table).
pub fn checked_name(name: &str) -> Result<String> {
    let name: String = name.trim().chars().take(MAX_NAME_CHARS).collect();
    if name.is_empty() {
        return Err(Error::EmptyName);
    }
    if name.chars().any(char::is_control) {
        return Err(Error::ControlInName);
    }
    Ok(name)
}

/// `text` with its control characters written as escapes, for a terminal
/// (names stored before they were refused, or sent by a hostile peer).
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(text);
    }
    text.chars()
        .map(|c| if c.is_control() { c.escape_unicode().to_string() } else { c.to_string() })
        .collect::<String>()
        .into()
}

impl Store {
    /// Adds a learner with a new id.
    pub fn add_learner(&self, name: &str) -> Result<Learner> {
        self.add_learner_with_pin(name, None)
    }

    /// Adds a learner with a new id, guarded by a four-digit PIN if one is given.
    pub fn add_learner_with_pin(&self, name: &str, pin: Option<&str>) -> Result<Learner> {
        let name = checked_name(name)?;
        let id = uuid::Uuid::now_v7().to_string();
        let pin_hash = pin.map(crate::pin::hash_pin).transpose()?;
        let learner = Learner { id, name, created_at: now_millis(), has_pin: pin_hash.is_some() };
        self.device()?;
        // The learner and the event that carries them to the other laptops, together.
        let tx = rusqlite::Transaction::new_unchecked(self.conn(), rusqlite::TransactionBehavior::Immediate)?;
        tx.execute(
            "INSERT INTO learners (id, name, created_at, pin_hash) VALUES (?1, ?2, ?3, ?4)",
            (&learner.id, &learner.name, learner.created_at, pin_hash),
        )?;
        crate::progress::event::record_in(
            &tx,
            &learner.id,
            "",
            "",
            crate::progress::event::EventBody::LearnerAdded,
        )?;
        tx.commit()?;
        Ok(learner)
    }

    /// The learner, if `pin` is theirs (or they have none). A wrong PIN is
    /// counted, and past a few in a row the next guess must wait
    /// ([`crate::pin::wait_seconds`]); a right one clears the count.
    pub fn check_pin(&self, id: &str, pin: Option<&str>) -> Result<Learner> {
        use rusqlite::OptionalExtension;
        let learner = self.learner(id)?;
        let stored: Option<String> =
            self.conn().query_row("SELECT pin_hash FROM learners WHERE id = ?1", [id], |r| r.get(0))?;
        let Some(stored) = stored else { return Ok(learner) };
        let (failures, last): (u32, i64) = self
            .conn()
            .query_row("SELECT failures, last_failed_at FROM pin_failures WHERE learner_id = ?1", [id], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?
            .unwrap_or((0, 0));
        let now = now_millis();
        let wait = crate::pin::wait_seconds(failures, last, now);
        if wait > 0 {
            return Err(Error::PinWait { seconds: wait });
        }
        // No PIN, or one that is not four digits, is not a guess: it is not counted.
        let Some(pin) = pin else { return Err(Error::WrongPin) };
        if crate::pin::pin_matches(&stored, id, pin)? {
            self.conn().execute("DELETE FROM pin_failures WHERE learner_id = ?1", [id])?;
            return Ok(learner);
        }
        self.conn().execute(
            "INSERT INTO pin_failures (learner_id, failures, last_failed_at) VALUES (?1, 1, ?2)
             ON CONFLICT (learner_id) DO UPDATE SET failures = failures + 1, last_failed_at = ?2",
            (id, now),
        )?;
        Err(Error::WrongPin)
    }

    /// Makes a learner the one studying now, checking their PIN if they have one.
    pub fn sign_in(&self, id: &str, pin: Option<&str>) -> Result<Learner> {
        let learner = self.check_pin(id, pin)?;
        self.set_current_learner(id)?;
        Ok(learner)
    }

    /// Every learner on this laptop, by name.
    pub fn learners(&self) -> Result<Vec<Learner>> {
        let mut stmt = self.conn().prepare(
            "SELECT id, name, created_at, pin_hash IS NOT NULL FROM learners ORDER BY name COLLATE NOCASE, id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(Learner { id: r.get(0)?, name: r.get(1)?, created_at: r.get(2)?, has_pin: r.get(3)? })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The learner with this id.
    pub fn learner(&self, id: &str) -> Result<Learner> {
        use rusqlite::OptionalExtension;
        self.conn()
            .prepare_cached("SELECT id, name, created_at, pin_hash IS NOT NULL FROM learners WHERE id = ?1")?
            .query_row([id], |r| {
                Ok(Learner { id: r.get(0)?, name: r.get(1)?, created_at: r.get(2)?, has_pin: r.get(3)? })
            })
            .optional()?
            .ok_or_else(|| Error::NoSuchLearner(id.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learner_name_is_trimmed_and_must_not_be_blank() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_dir(dir.path()).unwrap();
        assert!(matches!(store.add_learner("   "), Err(Error::EmptyName)));
        assert!(matches!(store.add_learner("Awa\x1b[2J"), Err(Error::ControlInName)));
        assert_eq!(printable("a\x1b[2Jb"), "a\\u{1b}[2Jb");
        let awa = store.add_learner("  Awa Camara ").unwrap();
        assert_eq!(awa.name, "Awa Camara");
        assert_eq!(store.learners().unwrap(), vec![awa]);
    }

    #[test]
    fn learner_with_a_pin_signs_in_only_with_that_pin() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_dir(dir.path()).unwrap();
        assert!(matches!(store.add_learner_with_pin("Sékou", Some("12a4")), Err(Error::BadPin)));
        let sekou = store.add_learner_with_pin("Sékou", Some("2468")).unwrap();
        assert!(sekou.has_pin);
        assert!(matches!(store.sign_in(&sekou.id, None), Err(Error::WrongPin)));
        assert!(matches!(store.sign_in(&sekou.id, Some("1357")), Err(Error::WrongPin)));
        assert_eq!(store.settings().unwrap().current_learner, None);
        store.sign_in(&sekou.id, Some("2468")).unwrap();
        assert_eq!(store.settings().unwrap().current_learner.as_deref(), Some(sekou.id.as_str()));
        let open = store.add_learner("Nènè").unwrap();
        store.sign_in(&open.id, None).unwrap();
        let raw: String = store
            .conn()
            .query_row("SELECT pin_hash FROM learners WHERE id = ?1", [&sekou.id], |r| r.get(0))
            .unwrap();
        assert!(!raw.contains("2468"), "the PIN itself is not stored");
    }
}
