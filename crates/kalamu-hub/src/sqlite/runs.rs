//! Runs: each device's events kept also as the encoded batches they arrived
//! in, so a pull sends stored bytes instead of reading, decoding and encoding
//! every event again. A thousand laptops pulling their center's day at once
//! then cost the hub a few index lookups each.
//!
//! Invariant: a device's runs cover its events from sequence 1 to its head,
//! in order and without overlap. They are written in the same transaction as
//! the events they hold. At open, a device whose runs fall short (a database
//! from before runs) has them made from its events; a pull that finds runs
//! missing encodes the events instead, so runs only ever save work.

use kalamu_core::progress::event::{EVENT_COLUMNS, Event, read_event};
use kalamu_core::sync::wire::MAX_BATCH_BYTES;
use kalamu_core::sync::{Batch, LearnerRecord, VersionVector};
use rusqlite::Connection;

use crate::error::Result;
use crate::storage::Pulled;

/// Events per run made on the hub (from events, not as pushed).
const RUN_EVENTS: usize = 5_000;

/// Stores the runs for the events a push added, which took the center's
/// devices from `before` to `after`. `wire` is kept as it is when it holds
/// exactly those events (`as_pushed`); otherwise runs are encoded from the
/// stored events.
pub(super) fn record(
    tx: &Connection,
    center_id: &str,
    before: &VersionVector,
    after: &VersionVector,
    wire: Vec<u8>,
    as_pushed: bool,
) -> Result<()> {
    let mut grown = after.0.iter().filter(|(d, seq)| **seq > before.get(d));
    if as_pushed && let (Some((device, &last)), None) = (grown.next(), grown.next()) {
        return insert(tx, center_id, device, before.get(device) + 1, last, &wire);
    }
    for (device, &head) in &after.0 {
        fill(tx, center_id, device, before.get(device), head)?;
    }
    Ok(())
}

/// Makes runs from the stored events of `device` after `from`, up to `head`.
fn fill(conn: &Connection, center_id: &str, device: &str, mut from: u64, head: u64) -> Result<()> {
    while from < head {
        let Some((batch, last)) = encode_range(conn, device, from, head, RUN_EVENTS)? else { break };
        insert(conn, center_id, device, from + 1, last, &batch)?;
        from = last;
    }
    Ok(())
}

fn insert(
    conn: &Connection,
    center_id: &str,
    device: &str,
    first: u64,
    last: u64,
    bytes: &[u8],
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO runs (center_id, device_id, first_seq, last_seq, bytes) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute((center_id, device, first as i64, last as i64, bytes))?;
    Ok(())
}

/// Gives every device whose runs fall short of its head the runs it lacks.
pub(super) fn fill_missing(conn: &Connection) -> Result<()> {
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
    for (device, center, from, head) in short {
        fill(conn, &center, &device, from, head)?;
    }
    Ok(())
}

/// The encoded events of `device` after `from`, up to `to` and at most
/// `limit` of them, with the sequence number of the last; `None` if there are none.
fn encode_range(
    conn: &Connection,
    device: &str,
    from: u64,
    to: u64,
    limit: usize,
) -> Result<Option<(Vec<u8>, u64)>> {
    let events: Vec<Event> = conn
        .prepare_cached(&format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE device_id = ?1 AND seq > ?2 AND seq <= ?3 ORDER BY seq LIMIT ?4"
        ))?
        .query_map((device, from as i64, to as i64, limit as i64), read_event)?
        .map(|row| Ok(row??))
        .collect::<Result<_>>()?;
    let Some(last) = events.last().map(|e| e.seq) else { return Ok(None) };
    let learners = learner_records(conn, &events)?;
    Ok(Some((Batch { learners, events }.encode(), last)))
}

/// The learners `events` refer to, as the hub holds them.
pub(super) fn learner_records(conn: &Connection, events: &[Event]) -> Result<Vec<LearnerRecord>> {
    let ids: std::collections::BTreeSet<&str> = events.iter().map(|e| e.learner_id.as_str()).collect();
    let mut stmt =
        conn.prepare_cached("SELECT id, name, created_at, pin_hash FROM learners WHERE id = ?1")?;
    let mut learners = Vec::with_capacity(ids.len());
    for id in ids {
        learners.push(stmt.query_row([id], |r| {
            Ok(LearnerRecord { id: r.get(0)?, name: r.get(1)?, created_at: r.get(2)?, pin_hash: r.get(3)? })
        })?);
    }
    Ok(learners)
}

/// What a side holding `theirs` lacks of a center whose devices' heads are
/// `held`: stored runs where they fit what it holds, freshly encoded events
/// where they do not. Stops after about `limit` events or a batch's worth of bytes.
pub(super) fn pull(
    conn: &Connection,
    held: &VersionVector,
    theirs: &VersionVector,
    limit: usize,
) -> Result<Pulled> {
    let mut out = Pulled::default();
    let mut after = theirs.clone();
    let mut bytes = 0;
    let mut runs = conn.prepare_cached(
        "SELECT first_seq, last_seq, bytes FROM runs WHERE device_id = ?1 AND last_seq > ?2 ORDER BY last_seq",
    )?;
    'devices: for (device, &head) in &held.0 {
        let mut from = theirs.get(device);
        let mut rows = runs.query((device, from as i64))?;
        while from < head {
            let room = limit.saturating_sub(out.events as usize);
            if room == 0 {
                break 'devices;
            }
            let run = match rows.next()? {
                Some(r) if r.get::<_, i64>(0)? as u64 == from + 1 => {
                    let (last, run): (i64, Vec<u8>) = (r.get(1)?, r.get(2)?);
                    let events = last as u64 - from;
                    let full = out.events + events > limit as u64 || bytes + run.len() > MAX_BATCH_BYTES;
                    if full && out.events > 0 {
                        break 'devices;
                    }
                    Some((run, last as u64))
                }
                // The asking side holds part of this run, or runs are missing: the rest from the events themselves.
                Some(r) => encode_range(conn, device, from, r.get::<_, i64>(1)? as u64, room)?,
                None => encode_range(conn, device, from, head, room)?,
            };
            let Some((run, last)) = run else { break };
            out.events += last - from;
            bytes += run.len();
            out.frames.push(run);
            from = last;
        }
        after.raise(device, from);
    }
    out.more = after.lacks_from(held) > 0;
    out.behind = held.lacks_from(theirs) > 0;
    Ok(out)
}
