//! The hub database's schema: numbered migrations applied in order, in one
//! transaction, when the hub opens the file.
//!
//! Schema 3 drops the events table and keeps only runs, so before it applies
//! every device's runs must cover its events: a database from before runs (or
//! one whose runs fall short) has them made from its event rows first.

use std::path::Path;

use kalamu_core::progress::event::{EVENT_COLUMNS, Event, read_event};
use kalamu_core::sync::Batch;
use kalamu_core::sync::engine::learner_records;
use rusqlite::{Connection, TransactionBehavior};

use crate::error::{HubError, Result};

/// "KLMH" — marks the file as a Kalamu hub database.
const APPLICATION_ID: i32 = 0x4B4C_4D48;

const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/sqlite/0001_hub.sql"),
    include_str!("../../migrations/sqlite/0002_runs.sql"),
    include_str!("../../migrations/sqlite/0003_runs_only.sql"),
];

/// The schema whose migration drops the event rows.
const RUNS_ONLY: usize = 3;

/// Events per run made from event rows.
const RUN_EVENTS: usize = 5_000;

/// Brings the database up to this build's schema, refusing one that is not a
/// hub database or was written by a newer hub.
pub(super) fn migrate(conn: &mut Connection, path: &Path) -> Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let app: i32 = tx.pragma_query_value(None, "application_id", |r| r.get(0))?;
    let version: usize = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let objects: i64 = tx.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))?;
    if app != APPLICATION_ID && objects > 0 {
        return Err(HubError::BadDatabase(
            path.display().to_string(),
            "it is not a Kalamu hub database".into(),
        ));
    }
    if version > MIGRATIONS.len() {
        return Err(HubError::BadDatabase(
            path.display().to_string(),
            format!("it was written by a newer hub (schema {version}); update Kalamu"),
        ));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
        if i + 1 == RUNS_ONLY {
            runs_from_event_rows(&tx)?;
        }
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i + 1)?;
    }
    tx.pragma_update(None, "application_id", APPLICATION_ID)?;
    tx.commit()?;
    Ok(())
}

/// Gives every device whose runs (schema 2) fall short of its head the runs
/// it lacks, made from its event rows.
fn runs_from_event_rows(conn: &Connection) -> Result<()> {
    let short: Vec<(String, String, u64, u64)> = conn
        .prepare(
            "SELECT h.device_id, h.center_id, coalesce(max(r.last_seq), 0), h.seq
             FROM heads h LEFT JOIN runs r ON r.device_id = h.device_id
             GROUP BY h.device_id HAVING coalesce(max(r.last_seq), 0) < h.seq",
        )?
        .query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)? as u64, r.get::<_, i64>(3)? as u64))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut select = conn.prepare(&format!(
        "SELECT {EVENT_COLUMNS} FROM events WHERE device_id = ?1 AND seq > ?2 AND seq <= ?3 ORDER BY seq LIMIT ?4"
    ))?;
    let mut insert = conn.prepare(
        "INSERT INTO runs (center_id, device_id, first_seq, last_seq, bytes) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for (device, center, mut from, head) in short {
        while from < head {
            let events: Vec<Event> = select
                .query_map((&device, from as i64, head as i64, RUN_EVENTS as i64), read_event)?
                .map(|row| Ok(row??))
                .collect::<Result<_>>()?;
            let Some(last) = events.last().map(|e| e.seq) else { break };
            let learners = learner_records(conn, &events)?;
            let bytes = Batch { learners, events }.encode();
            insert.execute((&center, &device, from as i64 + 1, last as i64, bytes))?;
            from = last;
        }
    }
    Ok(())
}
