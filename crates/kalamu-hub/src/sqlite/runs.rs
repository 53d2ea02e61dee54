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

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use kalamu_core::progress::event::{EVENT_COLUMNS, Event, read_event};
use kalamu_core::sync::engine::learner_records;
use kalamu_core::sync::wire::MAX_BATCH_BYTES;
use kalamu_core::sync::{Batch, VersionVector};
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

/// A run as stored: a device's events `first..=last`, encoded.
#[derive(Clone)]
struct StoredRun {
    first: u64,
    last: u64,
    bytes: Arc<[u8]>,
}

/// Runs read lately, by device. A run never changes once committed and a
/// device's runs only grow at the end, so what was read stays true: the
/// cache only saves reading it again, which in a burst is the same few runs
/// for every laptop of a center. It is emptied when it outgrows its budget.
#[derive(Default)]
pub(super) struct RunCache {
    devices: HashMap<String, Vec<StoredRun>>,
    bytes: usize,
}

/// Most bytes of runs the cache keeps.
const CACHE_BYTES: usize = 64 << 20;

impl RunCache {
    /// The cached runs of `device` after sequence `from`, if the cache covers `from + 1`.
    fn after(&self, device: &str, from: u64) -> Vec<StoredRun> {
        match self.devices.get(device) {
            Some(runs) if runs.first().is_some_and(|r| r.first <= from + 1) => {
                let start = runs.partition_point(|r| r.last <= from);
                runs[start..].to_vec()
            }
            _ => Vec::new(),
        }
    }

    /// Keeps `fresh`, runs of `device` just read in order, as far as they continue what is cached.
    fn keep(&mut self, device: &str, fresh: &[StoredRun]) {
        let entry = self.devices.entry(device.to_owned()).or_default();
        let end = entry.last().map(|r| r.last);
        let from = match end {
            Some(end) if fresh.last().is_none_or(|r| r.last <= end) => return,
            Some(end) => match fresh.iter().position(|r| r.first == end + 1) {
                Some(i) => i,
                None => {
                    self.bytes -= entry.iter().map(|r| r.bytes.len()).sum::<usize>();
                    entry.clear();
                    0
                }
            },
            None => 0,
        };
        for run in &fresh[from..] {
            if entry.last().is_some_and(|r| r.last + 1 != run.first) {
                break;
            }
            self.bytes += run.bytes.len();
            entry.push(run.clone());
        }
        if self.bytes > CACHE_BYTES {
            self.devices.clear();
            self.bytes = 0;
        }
    }
}

/// The stored runs of `device` after sequence `from`, as far as its `head`:
/// from the cache, then from the database.
fn stored_runs(
    conn: &Connection,
    cache: &Mutex<RunCache>,
    device: &str,
    from: u64,
    head: u64,
) -> Result<Vec<StoredRun>> {
    let mut runs = cache.lock().unwrap_or_else(|p| p.into_inner()).after(device, from);
    let known = runs.last().map_or(from, |r| r.last);
    if known >= head {
        return Ok(runs);
    }
    let fresh: Vec<StoredRun> = conn
        .prepare_cached(
            "SELECT first_seq, last_seq, bytes FROM runs WHERE device_id = ?1 AND last_seq > ?2 ORDER BY last_seq",
        )?
        .query_map((device, known as i64), |r| {
            Ok(StoredRun {
                first: r.get::<_, i64>(0)? as u64,
                last: r.get::<_, i64>(1)? as u64,
                bytes: Arc::from(r.get::<_, Vec<u8>>(2)?),
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    cache.lock().unwrap_or_else(|p| p.into_inner()).keep(device, &fresh);
    runs.extend(fresh);
    Ok(runs)
}

/// What a side holding `theirs` lacks of a center whose devices' heads are
/// `held`: stored runs where they fit what it holds, freshly encoded events
/// where they do not. Stops after about `limit` events or a batch's worth of bytes.
pub(super) fn pull(
    conn: &Connection,
    cache: &Mutex<RunCache>,
    held: &VersionVector,
    theirs: &VersionVector,
    limit: usize,
) -> Result<Pulled> {
    let mut out = Pulled::default();
    let mut after = theirs.clone();
    let mut bytes = 0;
    'devices: for (device, &head) in &held.0 {
        let mut from = theirs.get(device);
        if from >= head {
            continue;
        }
        let mut runs = stored_runs(conn, cache, device, from, head)?.into_iter();
        while from < head {
            let room = limit.saturating_sub(out.events as usize);
            if room == 0 {
                break 'devices;
            }
            let run = match runs.next() {
                Some(run) if run.first == from + 1 => Some((run.bytes, run.last)),
                // The asking side holds part of this run, or runs are missing: the rest from the events themselves.
                Some(run) => {
                    encode_range(conn, device, from, run.last, room)?.map(|(b, l)| (Arc::from(b), l))
                }
                None => encode_range(conn, device, from, head, room)?.map(|(b, l)| (Arc::from(b), l)),
            };
            let Some((run, last)) = run else { break };
            // Whole runs only; the answer stays within a batch's bytes and about
            // `limit` events, unless its first run alone is larger.
            let full = out.events + (last - from) > limit as u64 || bytes + run.len() > MAX_BATCH_BYTES;
            if full && out.events > 0 {
                break 'devices;
            }
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
