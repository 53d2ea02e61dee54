//! The hub's schema on PostgreSQL: numbered migrations (`migrations/postgres/`),
//! applied in order in one transaction, under a lock, so that hub processes
//! starting together on one database migrate it once.

use super::conn::Pool;
use crate::error::{HubError, Result};

/// The migrations by number, numbered as SQLite's: a country's database
/// starts at SQLite's schema 11, and each later change has the same number
/// in both engines.
const MIGRATIONS: &[(usize, &str)] = &[
    (11, include_str!("../../migrations/postgres/0011_hub.sql")),
    (12, include_str!("../../migrations/postgres/0012_relays.sql")),
];

/// The advisory lock taken while migrating: "KLMH", as SQLite's application id.
const MIGRATION_LOCK: i64 = 0x4B4C_4D48;

/// Brings the database up to this build's schema, refusing one that is not a
/// hub database or was written by a newer hub.
pub(super) fn migrate(pool: &Pool, described: &str) -> Result<()> {
    pool.tx(|conn| {
        conn.exec("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
        let ours = conn.one("SELECT to_regclass('kalamu_schema') IS NOT NULL", &[])?.try_get::<_, bool>(0)?;
        let version = if ours {
            conn.one("SELECT version FROM kalamu_schema", &[])?.try_get::<_, i64>(0)? as usize
        } else {
            let tables: i64 = conn
                .one("SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()", &[])?
                .try_get(0)?;
            if tables > 0 {
                return Err(HubError::BadDatabase(
                    described.to_owned(),
                    "it is not a Kalamu hub database".into(),
                ));
            }
            conn.batch(
                "CREATE TABLE kalamu_schema (version BIGINT NOT NULL); INSERT INTO kalamu_schema VALUES (0)",
            )?;
            0
        };
        let newest = MIGRATIONS.last().map_or(0, |(n, _)| *n);
        if version > newest {
            return Err(HubError::BadDatabase(
                described.to_owned(),
                format!("it was written by a newer hub (schema {version}); update Kalamu"),
            ));
        }
        for (number, sql) in MIGRATIONS.iter().filter(|(n, _)| *n > version) {
            conn.batch(sql)?;
            conn.exec("UPDATE kalamu_schema SET version = $1", &[&(*number as i64)])?;
        }
        Ok(())
    })
}
