//! Learners who share this laptop. Each has a stable UUID that travels with
//! their progress, so the same learner can continue on another laptop.

use serde::Serialize;

use crate::store::now_millis;
use crate::{Error, Result, Store};

/// Longest learner name accepted, in characters.
pub const MAX_NAME_CHARS: usize = 80;

/// A learner known on this laptop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Learner {
    /// Stable id (UUID), the same on every device.
    pub id: String,
    /// Display name.
    pub name: String,
    /// When the learner was created (unix milliseconds).
    pub created_at: i64,
}

impl Store {
    /// Adds a learner with a new id.
    pub fn add_learner(&self, name: &str) -> Result<Learner> {
        let name: String = name.trim().chars().take(MAX_NAME_CHARS).collect();
        if name.is_empty() {
            return Err(Error::EmptyName);
        }
        let learner = Learner { id: uuid::Uuid::now_v7().to_string(), name, created_at: now_millis() };
        self.conn().execute(
            "INSERT INTO learners (id, name, created_at) VALUES (?1, ?2, ?3)",
            (&learner.id, &learner.name, learner.created_at),
        )?;
        Ok(learner)
    }

    /// Every learner on this laptop, by name.
    pub fn learners(&self) -> Result<Vec<Learner>> {
        let mut stmt = self
            .conn()
            .prepare("SELECT id, name, created_at FROM learners ORDER BY name COLLATE NOCASE, id")?;
        let rows =
            stmt.query_map([], |r| Ok(Learner { id: r.get(0)?, name: r.get(1)?, created_at: r.get(2)? }))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The learner with this id.
    pub fn learner(&self, id: &str) -> Result<Learner> {
        self.learners()?.into_iter().find(|l| l.id == id).ok_or_else(|| Error::NoSuchLearner(id.to_owned()))
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
        let awa = store.add_learner("  Awa Camara ").unwrap();
        assert_eq!(awa.name, "Awa Camara");
        assert_eq!(store.learners().unwrap(), vec![awa]);
    }
}
