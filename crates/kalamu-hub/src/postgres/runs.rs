//! Runs on PostgreSQL: each device's events kept as the encoded batches they
//! arrived in, as on SQLite (see `sqlite/runs.rs` for the invariant they
//! keep), so pushes write a row and pulls send stored bytes.

use kalamu_core::progress::event::Event;
use kalamu_core::sync::proof::Proof;
use kalamu_core::sync::wire::MAX_BATCH_BYTES;
use kalamu_core::sync::{Batch, LearnerRecord, VersionVector};

use super::conn::Conn;
use crate::error::{HubError, Result};
use crate::storage::Pulled;

/// Stores the runs for the events a push added ([`crate::runs::record`]).
pub(super) fn record(
    conn: &mut Conn,
    center_id: &str,
    before: &VersionVector,
    after: &VersionVector,
    batch: &Batch,
    as_pushed: Option<Vec<u8>>,
    now: i64,
) -> Result<()> {
    // Both need the connection, one after the other.
    let conn = std::cell::RefCell::new(conn);
    crate::runs::record(
        before,
        after,
        batch,
        as_pushed,
        &mut |events| learner_records(&mut conn.borrow_mut(), events),
        &mut |device, first, last, bytes| {
            insert(&mut conn.borrow_mut(), center_id, device, first, last, bytes, now)
        },
    )
}

fn insert(
    conn: &mut Conn,
    center_id: &str,
    device: &str,
    first: u64,
    last: u64,
    bytes: &[u8],
    now: i64,
) -> Result<()> {
    conn.exec(
        "INSERT INTO runs (center_id, device_id, first_seq, last_seq, bytes, received_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[&center_id, &device, &(first as i64), &(last as i64), &bytes, &now],
    )?;
    Ok(())
}

/// The stored events of `device` after `from`, up to `to` and at most `limit` of them.
pub(super) fn events_in(
    conn: &mut Conn,
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
    conn: &mut Conn,
    device: &str,
    from: u64,
    to: u64,
    limit: usize,
    whole: bool,
) -> Result<(Vec<Event>, Vec<Proof>)> {
    let (mut events, mut proofs) = (Vec::new(), Vec::new());
    let mut after = from;
    // A few runs at a time, so a device's whole history is never read for a few events.
    while events.len() < limit && after < to {
        let rows = conn.query(
            "SELECT bytes, last_seq FROM runs WHERE device_id = $1 AND last_seq > $2 AND first_seq <= $3
             ORDER BY last_seq LIMIT 16",
            &[&device, &(after as i64), &(to as i64)],
        )?;
        if rows.is_empty() {
            break;
        }
        for row in rows {
            if events.len() >= limit {
                break;
            }
            after = row.try_get::<_, i64>(1)? as u64;
            let room = if whole { usize::MAX } else { limit - events.len() };
            let bytes: Vec<u8> = row.try_get(0)?;
            crate::runs::take_from_run(&bytes, device, (from, to), room, &mut events, &mut proofs)?;
        }
    }
    Ok((events, proofs))
}

/// Runs of one device a pull may read at most, per round trip.
const RUNS_PER_DEVICE: i64 = 64;

/// A stored run as a pull plans with it.
struct RunInfo {
    first: u64,
    last: u64,
    len: usize,
}

/// What a side holding `theirs` lacks of a center whose devices' heads are
/// `held`: stored runs where they fit what it holds, freshly encoded events
/// where they do not. Stops after about `limit` events or a batch's worth of
/// bytes. Two round trips whatever the center's size: the runs' extents for
/// every device lacking, then the bytes of those chosen.
pub(super) fn pull(
    conn: &mut Conn,
    held: &VersionVector,
    theirs: &VersionVector,
    limit: usize,
) -> Result<Pulled> {
    let lacking: Vec<(&str, i64)> = held
        .0
        .iter()
        .filter(|(d, head)| theirs.get(d) < **head)
        .map(|(d, _)| (d.as_str(), theirs.get(d) as i64))
        .collect();
    let mut runs: std::collections::HashMap<String, Vec<RunInfo>> = Default::default();
    if !lacking.is_empty() {
        let devices: Vec<&str> = lacking.iter().map(|(d, _)| *d).collect();
        let froms: Vec<i64> = lacking.iter().map(|(_, f)| *f).collect();
        for row in conn.query(
            "SELECT v.device, r.first_seq, r.last_seq, r.len FROM unnest($1::text[], $2::bigint[]) AS v(device, after)
             CROSS JOIN LATERAL (SELECT first_seq, last_seq, octet_length(bytes) AS len FROM runs
                                 WHERE device_id = v.device AND last_seq > v.after ORDER BY last_seq LIMIT $3) r
             ORDER BY v.device, r.last_seq",
            &[&devices, &froms, &RUNS_PER_DEVICE],
        )? {
            runs.entry(row.try_get(0)?).or_default().push(RunInfo {
                first: row.try_get::<_, i64>(1)? as u64,
                last: row.try_get::<_, i64>(2)? as u64,
                len: row.try_get::<_, i32>(3)? as usize,
            });
        }
    }
    // The plan: whole stored runs (by device and last event), or a stored run's tail to encode afresh.
    enum Piece {
        Stored(String, u64),
        Tail(String, u64, u64),
    }
    let mut plan = Vec::new();
    let (mut events, mut bytes) = (0u64, 0usize);
    let mut after = theirs.clone();
    'devices: for (device, &head) in &held.0 {
        let mut from = theirs.get(device);
        for run in runs.get(device.as_str()).into_iter().flatten() {
            // A run past the head read was stored since: the next pull sends it.
            if from >= head || run.last > head {
                break;
            }
            if limit.saturating_sub(events as usize) == 0 {
                break 'devices;
            }
            let full = events + (run.last - from) > limit as u64 || bytes + run.len > MAX_BATCH_BYTES;
            if full && events > 0 {
                break 'devices;
            }
            plan.push(if run.first == from + 1 {
                Piece::Stored(device.clone(), run.last)
            } else {
                // The asking side holds part of this run: the rest of it, encoded afresh.
                Piece::Tail(device.clone(), from, run.last)
            });
            events += run.last - from;
            bytes += run.len;
            from = run.last;
        }
        after.raise(device, from);
    }
    let stored: Vec<(&str, i64)> = plan
        .iter()
        .filter_map(|p| match p {
            Piece::Stored(d, last) => Some((d.as_str(), *last as i64)),
            Piece::Tail(..) => None,
        })
        .collect();
    let mut frames: std::collections::HashMap<(String, u64), Vec<u8>> = Default::default();
    if !stored.is_empty() {
        let devices: Vec<&str> = stored.iter().map(|(d, _)| *d).collect();
        let lasts: Vec<i64> = stored.iter().map(|(_, l)| *l).collect();
        for row in conn.query(
            "SELECT r.device_id, r.last_seq, r.bytes FROM unnest($1::text[], $2::bigint[]) AS v(device, last)
             JOIN runs r ON r.device_id = v.device AND r.last_seq = v.last",
            &[&devices, &lasts],
        )? {
            frames.insert((row.try_get(0)?, row.try_get::<_, i64>(1)? as u64), row.try_get(2)?);
        }
    }
    let mut out = Pulled { events, ..Pulled::default() };
    for piece in plan {
        let frame = match piece {
            Piece::Stored(device, last) => frames
                .remove(&(device.clone(), last))
                .ok_or_else(|| HubError::Damaged(format!("device {device}'s run through {last} vanished")))?,
            Piece::Tail(device, from, last) => {
                let (events, proofs) = signed_events_in(conn, &device, from, last, usize::MAX, true)?;
                let learners = learner_records(conn, &events)?;
                Batch { learners, events, proofs }.encode()
            }
        };
        out.frames.push(std::sync::Arc::from(frame));
    }
    out.more = after.lacks_from(held) > 0;
    out.behind = held.lacks_from(theirs) > 0;
    Ok(out)
}

/// The learners that `events` refer to, as they travel.
pub(super) fn learner_records(conn: &mut Conn, events: &[Event]) -> Result<Vec<LearnerRecord>> {
    let ids: std::collections::BTreeSet<&str> = events.iter().map(|e| e.learner_id.as_str()).collect();
    let asked: Vec<&str> = ids.iter().copied().collect();
    // One round trip for all of them, put in id order here (the server's collation may differ).
    let rows =
        conn.query("SELECT id, name, created_at, pin_hash FROM learners WHERE id = ANY($1)", &[&asked])?;
    let mut found: Vec<LearnerRecord> = rows
        .iter()
        .map(|r| {
            Ok(LearnerRecord {
                id: r.try_get(0)?,
                name: r.try_get(1)?,
                created_at: r.try_get(2)?,
                pin_hash: r.try_get(3)?,
            })
        })
        .collect::<Result<_>>()?;
    found.sort_by(|a, b| a.id.cmp(&b.id));
    if let Some(missing) = ids.iter().find(|id| found.binary_search_by(|l| l.id.as_str().cmp(id)).is_err()) {
        return Err(HubError::Damaged(format!("learner {missing} of a stored event is missing")));
    }
    Ok(found)
}
