//! Numbered schema migrations, embedded at compile time and applied in
//! order, each in one transaction together with its tracking row.
//!
//! A migration that has landed is never edited: change the schema with a
//! new numbered file.

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use super::{APPLICATION_ID, now_millis};
use crate::{Error, Result};

/// One schema migration.
#[derive(Debug)]
pub struct Migration {
    /// Its number; the store's schema version once it is applied.
    pub version: u32,
    /// Its file name, kept in the tracking table.
    pub name: &'static str,
    /// The SQL it runs.
    pub sql: &'static str,
}

/// Every migration, in order.
pub const MIGRATIONS: &[Migration] = &[
    Migration { version: 1, name: "0001_init.sql", sql: include_str!("../../migrations/0001_init.sql") },
    Migration {
        version: 2,
        name: "0002_pack_content.sql",
        sql: include_str!("../../migrations/0002_pack_content.sql"),
    },
    Migration {
        version: 3,
        name: "0003_progress.sql",
        sql: include_str!("../../migrations/0003_progress.sql"),
    },
    Migration {
        version: 4,
        name: "0004_learner_pin.sql",
        sql: include_str!("../../migrations/0004_learner_pin.sql"),
    },
    Migration {
        version: 5,
        name: "0005_hub_link.sql",
        sql: include_str!("../../migrations/0005_hub_link.sql"),
    },
    Migration { version: 6, name: "0006_proofs.sql", sql: include_str!("../../migrations/0006_proofs.sql") },
    Migration {
        version: 7,
        name: "0007_hub_key.sql",
        sql: include_str!("../../migrations/0007_hub_key.sql"),
    },
    Migration {
        version: 8,
        name: "0008_hub_bundle_key.sql",
        sql: include_str!("../../migrations/0008_hub_bundle_key.sql"),
    },
    Migration {
        version: 9,
        name: "0009_pin_failures.sql",
        sql: include_str!("../../migrations/0009_pin_failures.sql"),
    },
    Migration {
        version: 10,
        name: "0010_token_rotation.sql",
        sql: include_str!("../../migrations/0010_token_rotation.sql"),
    },
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: u32 = MIGRATIONS[MIGRATIONS.len() - 1].version;

const TRACKING_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at INTEGER NOT NULL
) STRICT;";

/// Brings the store up to [`SCHEMA_VERSION`], refusing one that is newer.
pub(super) fn apply(conn: &mut Connection, path: &Path) -> Result<()> {
    let current = user_version(conn)?;
    refuse_newer(current, path)?;
    for migration in MIGRATIONS.iter().filter(|m| m.version > current) {
        // IMMEDIATE takes the write lock first, so two processes opening a new
        // store at once cannot both apply the same migration.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let now = user_version(&tx)?;
        refuse_newer(now, path)?;
        if now >= migration.version {
            continue;
        }
        tx.execute_batch(TRACKING_TABLE)?;
        tx.execute_batch(migration.sql)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
            (migration.version, migration.name, now_millis()),
        )?;
        tx.pragma_update(None, "application_id", APPLICATION_ID)?;
        tx.pragma_update(None, "user_version", migration.version)?;
        tx.commit()?;
    }
    Ok(())
}

fn user_version(conn: &Connection) -> Result<u32> {
    Ok(conn.pragma_query_value(None, "user_version", |r| r.get(0))?)
}

pub(super) fn refuse_newer(found: u32, path: &Path) -> Result<()> {
    if found > SCHEMA_VERSION {
        return Err(Error::NewerStore { path: path.to_path_buf(), found, supported: SCHEMA_VERSION });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_numbered_in_order_from_one() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version as usize, i + 1, "{} is out of order", m.name);
            assert!(m.name.starts_with(&format!("{:04}_", m.version)), "{} has the wrong number", m.name);
        }
    }
}
