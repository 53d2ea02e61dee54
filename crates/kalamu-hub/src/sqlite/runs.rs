//! Runs: each device's events, kept as the encoded batches they arrived in.
//! They are the hub's only copy of the events, so a push writes one row, and
//! a pull sends stored bytes instead of reading, decoding and encoding every
//! event again. A thousand laptops syncing at once then cost the hub a few
//! index lookups each.
//!
//! Invariant: a device's runs cover its events from sequence 1 to its head,
//! in order and without overlap. They are written in the same transaction as
//! the head that says so, and never change.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use kalamu_core::progress::event::Event;
use kalamu_core::sync::proof::Proof;
use kalamu_core::sync::wire::MAX_BATCH_BYTES;
use kalamu_core::sync::{Batch, LearnerRecord, VersionVector};
use rusqlite::{Connection, OptionalExtension};

use crate::error::{HubError, Result};
use crate::storage::Pulled;

/// Stores the runs for the events a push added ([`crate::runs::record`]).
pub(super) fn record(
    tx: &Connection,
    center_id: &str,
    before: &VersionVector,
    after: &VersionVector,
    batch: &Batch,
    as_pushed: Option<Vec<u8>>,
    now: i64,
) -> Result<()> {
    crate::runs::record(
        before,
        after,
        batch,
        as_pushed,
        &mut |events| learner_records(tx, events),
        &mut |device, first, last, bytes| insert(tx, center_id, device, first, last, bytes, now),
    )
}

fn insert(
    conn: &Connection,
    center_id: &str,
    device: &str,
    first: u64,
    last: u64,
    bytes: &[u8],
    now: i64,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO runs (center_id, device_id, first_seq, last_seq, bytes, received_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute((center_id, device, first as i64, last as i64, bytes, now))?;
    Ok(())
}

/// The stored events of `device` after `from`, up to `to` and at most
/// `limit` of them, decoded from its runs.
pub(super) fn events_in(
    conn: &Connection,
    device: &str,
    from: u64,
    to: u64,
    limit: usize,
) -> Result<Vec<Event>> {
    Ok(signed_events_in(conn, device, from, to, limit, false)?.0)
}

/// [`events_in`], with the device's signatures among them; with `whole`,
/// to the end of the run where `limit` falls, so the events end at a signature.
pub(super) fn signed_events_in(
    conn: &Connection,
    device: &str,
    from: u64,
    to: u64,
    limit: usize,
    whole: bool,
) -> Result<(Vec<Event>, Vec<Proof>)> {
    let mut stmt = conn.prepare_cached(
        "SELECT bytes FROM runs WHERE device_id = ?1 AND last_seq > ?2 AND first_seq <= ?3 ORDER BY last_seq",
    )?;
    let mut rows = stmt.query((device, from as i64, to as i64))?;
    let (mut events, mut proofs) = (Vec::new(), Vec::new());
    while events.len() < limit
        && let Some(row) = rows.next()?
    {
        let room = if whole { usize::MAX } else { limit - events.len() };
        crate::runs::take_from_run(
            &row.get::<_, Vec<u8>>(0)?,
            device,
            (from, to),
            room,
            &mut events,
            &mut proofs,
        )?;
    }
    Ok((events, proofs))
}

/// The events of `device` after `from`, up to `to` and at most `limit` of
/// them, encoded afresh with the hub's learner records, with the sequence
/// number of the last; `None` if there are none.
fn encode_range(
    conn: &Connection,
    device: &str,
    from: u64,
    to: u64,
    limit: usize,
) -> Result<Option<(Vec<u8>, u64)>> {
    // Whole runs, so the events end at their device's signature.
    let (events, proofs) = signed_events_in(conn, device, from, to, limit, true)?;
    let Some(last) = events.last().map(|e| e.seq) else { return Ok(None) };
    let learners = learner_records(conn, &events)?;
    Ok(Some((Batch { learners, events, proofs }.encode(), last)))
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

/// The stored runs of `device` after sequence `from`, towards its `head`:
/// from the cache, then from the database, as far as a pull of `limit`
/// events can use (whole runs, within a batch's bytes), so that a laptop
/// that holds nothing never makes the hub read a device's whole history.
fn stored_runs(
    conn: &Connection,
    cache: &Mutex<RunCache>,
    device: &str,
    from: u64,
    head: u64,
    limit: usize,
) -> Result<Vec<StoredRun>> {
    let mut runs = cache.lock().unwrap_or_else(|p| p.into_inner()).after(device, from);
    let known = runs.last().map_or(from, |r| r.last);
    let mut bytes = runs.iter().map(|r| r.bytes.len()).sum::<usize>();
    let enough = |last: u64, bytes: usize| last - from >= limit as u64 || bytes >= MAX_BATCH_BYTES;
    if known >= head || enough(known, bytes) {
        return Ok(runs);
    }
    let mut stmt = conn.prepare_cached(
        "SELECT first_seq, last_seq, bytes FROM runs WHERE device_id = ?1 AND last_seq > ?2 ORDER BY last_seq",
    )?;
    let mut rows = stmt.query((device, known as i64))?;
    let mut fresh = Vec::new();
    while let Some(r) = rows.next()? {
        let run = StoredRun {
            first: r.get::<_, i64>(0)? as u64,
            last: r.get::<_, i64>(1)? as u64,
            bytes: Arc::from(r.get::<_, Vec<u8>>(2)?),
        };
        bytes += run.bytes.len();
        let last = run.last;
        fresh.push(run);
        if enough(last, bytes) {
            break;
        }
    }
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
        let room = limit.saturating_sub(out.events as usize);
        let mut runs = stored_runs(conn, cache, device, from, head, room)?.into_iter();
        while from < head {
            let room = limit.saturating_sub(out.events as usize);
            if room == 0 {
                break 'devices;
            }
            let run = match runs.next() {
                Some(run) if run.first == from + 1 => Some((run.bytes, run.last)),
                // The asking side holds part of this run: the rest of it, encoded afresh.
                Some(run) => {
                    encode_range(conn, device, from, run.last, room)?.map(|(b, l)| (Arc::from(b), l))
                }
                None => None,
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

/// The learners that `events` refer to, as they travel, from the hub's `learners` table.
pub(super) fn learner_records(conn: &Connection, events: &[Event]) -> Result<Vec<LearnerRecord>> {
    let ids: std::collections::BTreeSet<&str> = events.iter().map(|e| e.learner_id.as_str()).collect();
    let mut stmt =
        conn.prepare_cached("SELECT id, name, created_at, pin_hash FROM learners WHERE id = ?1")?;
    ids.into_iter()
        .map(|id| {
            stmt.query_row([id], |r| {
                Ok(LearnerRecord {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    created_at: r.get(2)?,
                    pin_hash: r.get(3)?,
                })
            })
            .optional()?
            .ok_or_else(|| HubError::Damaged(format!("learner {id} of a stored event is missing")))
        })
        .collect()
}
