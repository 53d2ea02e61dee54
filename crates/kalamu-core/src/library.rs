//! The library: the packs installed in the store, as the app and `kalamu packs` list them.

use serde::Serialize;

use crate::store::now_millis;
use crate::{Result, Store};

/// One installed pack, as listed in the library.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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

    /// Records a pack's metadata as installed (pack import builds on this; tests use it to seed a library).
    pub fn put_pack(&self, pack: &PackSummary) -> Result<()> {
        self.conn().execute(
            "INSERT INTO packs (id, version, title, description, language, publisher, signer, installed_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (id) DO UPDATE SET version = excluded.version, title = excluded.title,
               description = excluded.description, language = excluded.language,
               publisher = excluded.publisher, signer = excluded.signer, installed_at = excluded.installed_at",
            (
                &pack.id,
                &pack.version,
                &pack.title,
                &pack.description,
                &pack.language,
                &pack.publisher,
                &pack.signer,
                if pack.installed_at == 0 { now_millis() } else { pack.installed_at },
            ),
        )?;
        Ok(())
    }
}
