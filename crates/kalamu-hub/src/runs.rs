//! What both storage backends do with runs, the same way: which runs a push
//! stores, and the events a stored run gives back. Runs are each device's
//! events kept as the encoded batches they arrived in (see `sqlite/runs.rs`
//! for the invariant they keep); the backends only read and write rows.

use kalamu_core::progress::event::Event;
use kalamu_core::sync::proof::Proof;
use kalamu_core::sync::{Batch, LearnerRecord, VersionVector};

use crate::error::{HubError, Result};

/// Writes a run: its device, first and last sequence numbers, and bytes.
pub type InsertRun<'a> = dyn FnMut(&str, u64, u64, &[u8]) -> Result<()> + 'a;

/// Stores, through `insert` (device, first and last sequence number, bytes),
/// the runs for the events a push added, which took the center's devices
/// from `before` to `after`. `as_pushed`, the bytes `batch` arrived as, is
/// kept as it is when given (they hold exactly those events, as the hub holds
/// them) and one device grew; otherwise each device's new events are encoded
/// into a run of their own, with the hub's learner records (`learners`).
pub fn record(
    before: &VersionVector,
    after: &VersionVector,
    batch: &Batch,
    as_pushed: Option<Vec<u8>>,
    learners: &mut dyn FnMut(&[Event]) -> Result<Vec<LearnerRecord>>,
    insert: &mut InsertRun<'_>,
) -> Result<()> {
    let mut grown = after.0.iter().filter(|(d, seq)| **seq > before.get(d));
    if let (Some(wire), Some((device, &last)), None) = (as_pushed, grown.next(), grown.next()) {
        return insert(device, before.get(device) + 1, last, &wire);
    }
    for (device, &head) in &after.0 {
        let from = before.get(device);
        let mut events: Vec<Event> =
            batch.events.iter().filter(|e| &e.device_id == device && e.seq > from).cloned().collect();
        events.sort_by_key(|e| e.seq);
        events.dedup_by_key(|e| e.seq);
        let Some(last) = events.last().map(|e| e.seq) else { continue };
        debug_assert_eq!(last, head);
        let learners = learners(&events)?;
        // The device's signature travels on with its events, unchanged.
        let proofs = batch
            .proofs
            .iter()
            .filter(|p| &p.device_id == device && p.seq > from && p.seq <= last)
            .cloned()
            .collect();
        insert(device, from + 1, last, &Batch { learners, events, proofs }.encode())?;
    }
    Ok(())
}

/// Takes from the stored run `bytes` of `device` its events after `from`,
/// through `to` (at most `room` of them), onto `events`, which must continue
/// from `from` without a gap, and its signatures in that range onto `proofs`.
pub fn take_from_run(
    bytes: &[u8],
    device: &str,
    (from, to): (u64, u64),
    room: usize,
    events: &mut Vec<Event>,
    proofs: &mut Vec<Proof>,
) -> Result<()> {
    let run = Batch::decode(bytes)?;
    proofs.extend(run.proofs.into_iter().filter(|p| p.device_id == device && p.seq > from && p.seq <= to));
    for e in run.events.into_iter().filter(|e| e.seq > from && e.seq <= to).take(room) {
        // Cheap to check, and a gap sent on would only be refused by the laptop.
        let next = from + 1 + events.len() as u64;
        if e.device_id != device || e.seq != next {
            return Err(HubError::Damaged(format!(
                "device {device}'s runs hold {} event {} where its event {next} belongs",
                e.device_id, e.seq
            )));
        }
        events.push(e);
    }
    Ok(())
}
