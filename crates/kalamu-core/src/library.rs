//! The library: the packs installed in the store, as the app and `kalamu packs` list them.

use serde::Serialize;

use crate::{Result, Store};

/// One installed pack, as listed in the library.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct PackSummary {
    /// Stable pack id.
    pub id: String,
    /// Installed semantic version.
    pub version: String,
    /// Title shown to learners.
    pub title: String,
    /// Short description shown in the library.
    pub description: String,
    /// Language tag of the content.
    pub language: String,
    /// Publisher's display name.
    pub publisher: String,
    /// Hex public key that signed the pack; `None` when installed unsigned.
    pub signer: Option<String>,
    /// When it was installed (unix milliseconds).
    pub installed_at: i64,
}

impl Store {
    /// Every installed pack, ordered by title.
    pub fn packs(&self) -> Result<Vec<PackSummary>> {
        let mut stmt = self.conn().prepare(
            "SELECT id, version, title, description, language, publisher, signer, installed_at
             FROM packs ORDER BY title COLLATE NOCASE, id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(PackSummary {
                id: r.get(0)?,
                version: r.get(1)?,
                title: r.get(2)?,
                description: r.get(3)?,
                language: r.get(4)?,
                publisher: r.get(5)?,
                signer: r.get(6)?,
                installed_at: r.get(7)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The version of pack `id` installed now, if any.
    pub fn installed_version(&self, id: &str) -> Result<Option<String>> {
        use rusqlite::OptionalExtension;
        Ok(self.conn().query_row("SELECT version FROM packs WHERE id = ?1", [id], |r| r.get(0)).optional()?)
    }
}
