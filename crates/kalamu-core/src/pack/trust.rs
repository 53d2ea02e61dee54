//! The trust store: publisher keys this laptop accepts packs from.

use rusqlite::OptionalExtension;
use serde::Serialize;

use super::sign::parse_public_key;
use crate::store::now_millis;
use crate::{Error, Result, Store};

/// A trusted publisher.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Publisher {
    /// Hex Ed25519 public key.
    pub public_key: String,
    /// Name the staff gave it.
    pub name: String,
    /// When it was added (unix milliseconds).
    pub added_at: i64,
}

impl Store {
    /// Trusts a publisher key under a name (renaming it if already trusted).
    pub fn trust_add(&self, public_key: &str, name: &str) -> Result<Publisher> {
        let key = parse_public_key(public_key)?;
        let name = name.trim();
        if name.is_empty() {
            return Err(Error::EmptyName);
        }
        let added_at = now_millis();
        self.conn().execute(
            "INSERT INTO trusted_publishers (public_key, name, added_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (public_key) DO UPDATE SET name = excluded.name",
            (&key, name, added_at),
        )?;
        Ok(Publisher { public_key: key, name: name.to_owned(), added_at })
    }

    /// Every trusted publisher, by name.
    pub fn trust_list(&self) -> Result<Vec<Publisher>> {
        let mut stmt = self.conn().prepare(
            "SELECT public_key, name, added_at FROM trusted_publishers ORDER BY name COLLATE NOCASE",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(Publisher { public_key: r.get(0)?, name: r.get(1)?, added_at: r.get(2)? })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Stops trusting a key; returns whether it was trusted.
    pub fn trust_remove(&self, public_key: &str) -> Result<bool> {
        let key = parse_public_key(public_key)?;
        Ok(self.conn().execute("DELETE FROM trusted_publishers WHERE public_key = ?1", [key])? > 0)
    }

    /// The name under which a key is trusted, if it is.
    pub fn trusted_name(&self, public_key: &str) -> Result<Option<String>> {
        Ok(self
            .conn()
            .query_row("SELECT name FROM trusted_publishers WHERE public_key = ?1", [public_key], |r| {
                r.get(0)
            })
            .optional()?)
    }
}
