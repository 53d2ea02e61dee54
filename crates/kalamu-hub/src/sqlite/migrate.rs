//! The hub database's schema: numbered migrations applied in order, in one
//! transaction, when the hub opens the file.
//!
//! Schema 3 drops the events table and keeps only runs, so before it applies
//! every device's runs are made afresh from its event rows, one per arrival,
//! after checking that the rows have no gap.

use std::path::Path;

use super::runs::learner_records;
use kalamu_core::progress::event::{EVENT_COLUMNS, Event, read_event};
use kalamu_core::sync::Batch;
use rusqlite::{Connection, TransactionBehavior};

use crate::error::{HubError, Result};

/// "KLMH" — marks the file as a Kalamu hub database.
const APPLICATION_ID: i32 = 0x4B4C_4D48;

const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/sqlite/0001_hub.sql"),
    include_str!("../../migrations/sqlite/0002_runs.sql"),
    include_str!("../../migrations/sqlite/0003_runs_only.sql"),
    include_str!("../../migrations/sqlite/0004_device_codes.sql"),
    include_str!("../../migrations/sqlite/0005_learners_added_by.sql"),
    include_str!("../../migrations/sqlite/0006_proofs.sql"),
    include_str!("../../migrations/sqlite/0007_staff.sql"),
    include_str!("../../migrations/sqlite/0008_required_and_held_packs.sql"),
    include_str!("../../migrations/sqlite/0009_tls_key.sql"),
    include_str!("../../migrations/sqlite/0010_sealed_bundles.sql"),
    include_str!("../../migrations/sqlite/0011_next_token.sql"),
    include_str!("../../migrations/sqlite/0012_relays.sql"),
];

/// The schema whose migration drops the event rows.
const RUNS_ONLY: usize = 3;

/// Most events in a run made from event rows.
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
            runs_from_event_rows(&tx, path)?;
        }
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i + 1)?;
    }
    tx.pragma_update(None, "application_id", APPLICATION_ID)?;
    tx.commit()?;
    Ok(())
}

/// Makes every device's runs afresh from its event rows, one run per arrival
/// (and at most [`RUN_EVENTS`] events), so that each run's `received_at` is
/// exactly when its events arrived; schema 2's runs may span several arrivals.
/// Refuses a database whose events have a gap or disagree with its heads:
/// dropping the rows then could lose what no run holds.
fn runs_from_event_rows(conn: &Connection, path: &Path) -> Result<()> {
    conn.execute("DELETE FROM runs", [])?;
    let devices: Vec<(String, String, i64, i64, i64, Option<i64>)> = conn
        .prepare(
            "SELECT e.device_id, e.center_id, min(e.seq), max(e.seq), count(*), h.seq
             FROM events e LEFT JOIN heads h ON h.device_id = e.device_id GROUP BY e.device_id",
        )?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut select = conn.prepare(&format!(
        "SELECT {EVENT_COLUMNS}, received_at FROM events WHERE device_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3"
    ))?;
    let mut insert = conn.prepare(
        "INSERT INTO runs (center_id, device_id, first_seq, last_seq, bytes) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for (device, center, first, head, count, said) in devices {
        // Sequence numbers are unique per device: these say they are exactly 1..=head.
        if first != 1 || count != head || said != Some(head) {
            return Err(HubError::BadDatabase(
                path.display().to_string(),
                format!(
                    "device {device} has {count} events numbered {first} to {head}, and its head says \
                     {said:?}; restore the database from a backup"
                ),
            ));
        }
        let mut from = 0;
        while from < head {
            let before = from;
            let rows: Vec<(Event, i64)> = select
                .query_map((&device, from, RUN_EVENTS as i64), |r| Ok((read_event(r)?, r.get::<_, i64>(8)?)))?
                .map(|row| {
                    let (event, at) = row?;
                    Ok((event?, at))
                })
                .collect::<Result<_>>()?;
            let mut rows = rows.into_iter().peekable();
            while let Some((event, at)) = rows.next() {
                let mut events = vec![event];
                while let Some((e, _)) = rows.next_if(|(_, a)| *a == at) {
                    events.push(e);
                }
                let last = events.last().map_or(from, |e| e.seq as i64);
                let learners = learner_records(conn, &events)?;
                let bytes = Batch { learners, events, proofs: Vec::new() }.encode();
                insert.execute((&center, &device, from + 1, last, bytes))?;
                from = last;
            }
            if from == before {
                break;
            }
        }
    }
    Ok(())
}
