//! The device's side of the sync rules: what this store holds, the events
//! another side lacks, and applying a batch received from elsewhere.
//!
//! Every batch is applied in one transaction: a batch is stored whole or
//! not at all, so a sync cut at any point leaves the store as it was after
//! the last acknowledged batch, and nothing half-written behind.

use rusqlite::{OptionalExtension, TransactionBehavior};

use super::proof::{self, Chain, Proof};
use super::vector::VersionVector;
use super::wire::{Batch, LearnerRecord};
use crate::progress::event::{EVENT_COLUMNS, Event, insert_new, read_event};
use crate::progress::hlc::Hlc;
use crate::{Error, Result, Store};

/// What applying a batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Applied {
    /// Events in the batch.
    pub received: usize,
    /// Events that were new here.
    pub new: usize,
    /// Events that claim this store's own device id but were not recorded
    /// here (another copy of this laptop's disk, or a forgery): refused, and
    /// the store goes on recording.
    pub not_recorded_here: usize,
}

/// The learners that `events` refer to, as they travel, from this store's `learners` table.
fn learner_records(conn: &rusqlite::Connection, events: &[Event]) -> Result<Vec<LearnerRecord>> {
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
            .ok_or_else(|| Error::NoSuchLearner(id.to_owned()))
        })
        .collect()
}

impl Store {
    /// What this store holds: the highest sequence number per recording device.
    pub fn sync_vector(&self) -> Result<VersionVector> {
        // A skip-scan over the (device_id, seq) index: one probe per device,
        // where GROUP BY would read every event.
        let mut stmt = self.conn().prepare_cached(
            "WITH RECURSIVE d(id) AS (
                 SELECT min(device_id) FROM events
                 UNION ALL
                 SELECT (SELECT min(device_id) FROM events WHERE device_id > d.id) FROM d WHERE d.id IS NOT NULL
             )
             SELECT id, (SELECT max(seq) FROM events WHERE device_id = d.id) FROM d WHERE id IS NOT NULL",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64)))?;
        Ok(VersionVector(rows.collect::<rusqlite::Result<_>>()?))
    }

    /// Up to `limit` events that a side holding `theirs` lacks, each device's
    /// in sequence order, with the learners they refer to.
    pub fn batch_after(&self, theirs: &VersionVector, limit: usize) -> Result<Batch> {
        let mine = self.sync_vector()?;
        let mut events = Vec::new();
        let mut stmt = self.conn().prepare_cached(&format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE device_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3"
        ))?;
        for (device, &held) in &mine.0 {
            let from = theirs.get(device);
            if held <= from {
                continue;
            }
            let room = limit - events.len();
            if room == 0 {
                break;
            }
            for row in stmt.query_map((device, from as i64, room as i64), read_event)? {
                events.push(row??);
            }
        }
        let learners = self.learner_records(&events)?;
        Ok(Batch { learners, events, proofs: Vec::new() })
    }

    /// Stores a batch from elsewhere in one transaction: learners it does not
    /// know yet, and the events it lacks. Refuses a batch that would leave a
    /// gap in a device's sequence, that disagrees with what is stored, or
    /// whose signatures do not hold.
    pub fn apply_batch(&self, batch: &Batch) -> Result<Applied> {
        self.apply_prefix(batch, batch.events.len())
    }

    /// Stores only the first `keep` events of `batch` (for the room left on
    /// disk), once the whole batch's signatures are checked.
    pub fn apply_prefix(&self, batch: &Batch, keep: usize) -> Result<Applied> {
        let tx = rusqlite::Transaction::new_unchecked(self.conn(), TransactionBehavior::Immediate)?;
        let applied = self.apply_in(&tx, batch, keep)?;
        tx.commit()?;
        Ok(applied)
    }

    /// [`Store::apply_prefix`] inside a transaction the caller holds.
    pub(crate) fn apply_in(&self, tx: &rusqlite::Connection, batch: &Batch, keep: usize) -> Result<Applied> {
        // Events under this store's own id past what it recorded were recorded
        // elsewhere: a cloned disk, a restored backup, or a forgery. Storing
        // them would take the sequence numbers this laptop records next.
        let own = self.device()?.id;
        let own_head: Option<i64> =
            tx.query_row("SELECT max(seq) FROM events WHERE device_id = ?1", [&own], |r| r.get(0))?;
        let not_here = |e: &Event| e.device_id == own && e.seq > own_head.unwrap_or(0) as u64;
        let keep = keep.min(batch.events.len());
        let not_recorded_here = batch.events[..keep].iter().filter(|e| not_here(e)).count();
        let considered: Vec<(usize, &Event)> =
            batch.events.iter().enumerate().filter(|(_, e)| !not_here(e)).collect();
        let mut held = VersionVector::default();
        for (_, e) in &considered {
            if !held.0.contains_key(&e.device_id) {
                let seq: Option<i64> =
                    tx.query_row("SELECT MAX(seq) FROM events WHERE device_id = ?1", [&e.device_id], |r| {
                        r.get(0)
                    })?;
                held.0.insert(e.device_id.clone(), seq.unwrap_or(0) as u64);
            }
        }
        held.check_each_extends(considered.iter().map(|(_, e)| *e))?;
        // Every device's new events, whole, against its chain and key, before anything is stored.
        let mut chains: std::collections::HashMap<usize, Chain> = Default::default();
        for (device, &head) in &held.0 {
            let new = proof::past_head(device, head, considered.iter().copied());
            if new.is_empty() {
                continue;
            }
            let pinned = proof::pinned_key(tx, device)?;
            let events: Vec<&Event> = new.iter().map(|(_, e)| *e).collect();
            let (after, key) = proof::check_run(
                device,
                proof::chain_at(tx, device, head)?,
                &events,
                &batch.proofs,
                pinned,
                false,
            )
            .map_err(|why| Error::BadProof { device: device.clone(), why })?;
            if let (None, Some(key)) = (pinned, key) {
                proof::pin_key(tx, device, &key)?;
            }
            chains.extend(new.iter().map(|(i, _)| *i).zip(after));
        }
        for l in &batch.learners {
            tx.prepare_cached(
                "INSERT INTO learners (id, name, created_at, pin_hash) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (id) DO NOTHING",
            )?
            .execute((&l.id, &l.name, l.created_at, &l.pin_hash))?;
        }
        let mut last = Hlc(tx.query_row("SELECT last_hlc FROM device", [], |r| r.get::<_, i64>(0))? as u64);
        let mut new = 0;
        let wall = crate::store::now_millis().max(0) as u64;
        let mut marks: std::collections::BTreeMap<&str, (u64, Chain)> = Default::default();
        for (i, e) in considered.iter().filter(|(i, _)| *i < keep) {
            if insert_new(tx, e)? {
                new += 1;
            }
            if let Some(chain) = chains.get(i) {
                marks.insert(&e.device_id, (e.seq, *chain));
            }
            last = Hlc::observe(last, e.hlc, wall);
        }
        for (device, (seq, chain)) in marks {
            proof::mark(tx, device, seq, &chain)?;
        }
        tx.execute("UPDATE device SET last_hlc = ?1", [last.0 as i64])?;
        Ok(Applied { received: keep, new, not_recorded_here })
    }

    /// The learners that `events` refer to, as they travel.
    pub fn learner_records(&self, events: &[Event]) -> Result<Vec<LearnerRecord>> {
        learner_records(self.conn(), events)
    }

    /// What the hub has acknowledged holding, as last heard.
    pub fn hub_vector(&self) -> Result<VersionVector> {
        let mut stmt = self.conn().prepare_cached("SELECT device_id, seq FROM hub_vector")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64)))?;
        Ok(VersionVector(rows.collect::<rusqlite::Result<_>>()?))
    }

    /// Remembers that the hub holds at least `vector`.
    pub fn note_hub_vector(&self, vector: &VersionVector) -> Result<()> {
        let tx = rusqlite::Transaction::new_unchecked(self.conn(), TransactionBehavior::Immediate)?;
        self.note_hub_vector_in(&tx, vector)?;
        tx.commit()?;
        Ok(())
    }

    /// [`Store::note_hub_vector`] inside a transaction the caller holds.
    pub(crate) fn note_hub_vector_in(&self, tx: &rusqlite::Connection, vector: &VersionVector) -> Result<()> {
        for (device, &seq) in &vector.0 {
            tx.prepare_cached(
                "INSERT INTO hub_vector (device_id, seq) VALUES (?1, ?2)
                 ON CONFLICT (device_id) DO UPDATE SET seq = max(seq, excluded.seq)",
            )?
            .execute((device, seq as i64))?;
        }
        Ok(())
    }

    /// This device's own events the hub has not acknowledged: the only ones
    /// this laptop sends (a laptop speaks only for itself).
    pub fn pending(&self) -> Result<u64> {
        let own = self.own_vector()?;
        Ok(self.hub_vector()?.lacks_from(&own))
    }

    /// This device's head alone, as a vector.
    pub fn own_vector(&self) -> Result<VersionVector> {
        // A read only: this runs after every acknowledged batch, and
        // `device()` would start a write to make an identity that recorded nothing.
        let mut stmt = self.conn().prepare_cached(
            "SELECT d.id, (SELECT max(seq) FROM events WHERE device_id = d.id) FROM device d",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Option<i64>>(1)?)))?;
        let mut vector = VersionVector::default();
        for row in rows {
            if let (device, Some(head)) = row? {
                vector.0.insert(device, head as u64);
            }
        }
        Ok(vector)
    }

    /// Up to `limit` of this device's own events that a side holding `theirs` lacks.
    pub fn own_batch_after(&self, theirs: &VersionVector, limit: usize) -> Result<Batch> {
        let Some((device, _)) = self.own_vector()?.0.into_iter().next() else { return Ok(Batch::default()) };
        let mut stmt = self.conn().prepare_cached(&format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE device_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3"
        ))?;
        let mut events = stmt
            .query_map((&device, theirs.get(&device) as i64, limit as i64), read_event)?
            .map(|row| row?)
            .collect::<Result<Vec<_>>>()?;
        // At most MAX_PUSH_LEARNERS learners per batch, as a hub accepts.
        let mut seen = std::collections::HashSet::new();
        if let Some(cut) = events.iter().position(|e| {
            seen.insert(e.learner_id.as_str());
            seen.len() > super::wire::MAX_PUSH_LEARNERS
        }) {
            events.truncate(cut);
        }
        let learners = self.learner_records(&events)?;
        let mut batch = Batch { learners, events, proofs: Vec::new() };
        if let Some((seq, chain)) = self.sign(&mut batch)? {
            // The next batch's chain starts here without reading these events again.
            proof::mark(self.conn(), &device, seq, &chain)?;
        }
        Ok(batch)
    }

    /// Signs this device's events in `batch` (consecutive, in order) as it
    /// signs what it sends: its chain through the last of them, which the
    /// batch's proofs become. Returns that event's number and chain.
    pub fn sign(&self, batch: &mut Batch) -> Result<Option<(u64, Chain)>> {
        let own = self.device()?.id;
        let mine: Vec<&Event> = batch.events.iter().filter(|e| e.device_id == own).collect();
        let (Some(first), Some(last)) = (mine.first(), mine.last()) else { return Ok(None) };
        let start = proof::chain_at(self.conn(), &own, first.seq - 1)?;
        let chain = mine.iter().fold(start, |c, e| c.then(e));
        batch.proofs = vec![Proof::sign(&self.signing_key()?, &own, last.seq, &chain)];
        Ok(Some((last.seq, chain)))
    }
}
