//! A copy of a laptop's disk (a cloned image, a restored backup) that staff
//! enrol again goes on as a new laptop: the events only this copy recorded
//! become the new laptop's, so they reach the hub, and the old identity's
//! sequence numbers are left to the copy the hub follows.
//!
//! This is the one place where events leave the log: they are moved, not
//! dropped, in the same transaction that re-records them under the new id.

use rusqlite::TransactionBehavior;

use super::link::HubAddress;
use super::protocol::EnrollResponse;
use crate::progress::event::{EVENT_COLUMNS, Event, derived_id, insert_new, read_event};
use crate::{Error, Result, Store};

/// The trigger that keeps events from being deleted, lifted while events move.
const NO_DELETE_TRIGGER: &str = "events_are_never_deleted";

impl Store {
    /// Makes this store the new laptop `new_id`, signing with the seed
    /// `key`, enrolled as `answer` says, in one transaction: its events from
    /// the first one only this copy recorded ([`Store::clash_from`]; for a
    /// revoked laptop taken back, the first the hub never acknowledged) are
    /// recorded again under the new id,
    /// in order, with the same learners, lessons, details and stamps, and
    /// leave the old id, whose events the hub and this store then share.
    /// Returns how many events moved.
    pub fn continue_as_new_laptop(
        &self,
        new_id: &str,
        key: &[u8; 32],
        hub: &HubAddress,
        answer: &EnrollResponse,
    ) -> Result<u64> {
        let old = self.device()?.id;
        if old == new_id {
            return Err(Error::DeviceIdHeld(new_id.to_owned()));
        }
        let from = match self.clash_from()? {
            Some(from) => from,
            // A clash noted before its first event was: what the hub acknowledged is shared.
            None => self.hub_vector()?.get(&old) + 1,
        };
        let tx = rusqlite::Transaction::new_unchecked(self.conn(), TransactionBehavior::Immediate)?;
        let taken: bool =
            tx.query_row("SELECT EXISTS (SELECT 1 FROM events WHERE device_id = ?1)", [new_id], |r| {
                r.get(0)
            })?;
        if taken {
            return Err(Error::DeviceIdHeld(new_id.to_owned()));
        }
        let own: Vec<Event> = tx
            .prepare(&format!(
                "SELECT {EVENT_COLUMNS} FROM events WHERE device_id = ?1 AND seq >= ?2 ORDER BY seq"
            ))?
            .query_map((&old, from as i64), read_event)?
            .map(|row| row?)
            .collect::<Result<_>>()?;
        let trigger: String = tx.query_row(
            "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = ?1",
            [NO_DELETE_TRIGGER],
            |r| r.get(0),
        )?;
        tx.execute_batch(&format!("DROP TRIGGER {NO_DELETE_TRIGGER}"))?;
        tx.execute("DELETE FROM events WHERE device_id = ?1 AND seq >= ?2", (&old, from as i64))?;
        tx.execute_batch(&trigger)?;
        for (seq, e) in (1..).zip(&own) {
            let moved = Event { id: derived_id(new_id, seq), device_id: new_id.to_owned(), seq, ..e.clone() };
            insert_new(&tx, &moved)?;
        }
        tx.execute("DELETE FROM chain_marks WHERE device_id = ?1 AND seq >= ?2", (&old, from as i64))?;
        // A new laptop signs with a key of its own: the other copy keeps the old one.
        tx.execute(
            "UPDATE device SET id = ?1, next_seq = ?2, signing_key = ?3",
            (new_id, own.len() as i64 + 1, &key[..]),
        )?;
        tx.execute("DELETE FROM settings WHERE key IN ('identity_clash', 'clash_from')", [])?;
        self.set_hub_link_in(&tx, hub, answer)?;
        tx.commit()?;
        Ok(own.len() as u64)
    }
}
