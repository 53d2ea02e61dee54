//! Version vectors: what a store holds, summarised as the highest sequence
//! number it has from each recording device.
//!
//! Every store holds, per device, a contiguous run of that device's events
//! from sequence 1. Senders send runs in order and receivers refuse a run
//! that would leave a gap, so the vector alone says exactly what is missing.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::wire::Batch;
use crate::{Error, Result};

/// Device id → highest sequence number held (0 or absent: none).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct VersionVector(pub BTreeMap<String, u64>);

impl VersionVector {
    /// The highest sequence number held from `device`.
    pub fn get(&self, device: &str) -> u64 {
        self.0.get(device).copied().unwrap_or(0)
    }

    /// Raises the entry for `device` to `seq` if that is higher.
    pub fn raise(&mut self, device: &str, seq: u64) {
        let entry = self.0.entry(device.to_owned()).or_insert(0);
        *entry = (*entry).max(seq);
    }

    /// How many events `other` holds that this vector does not.
    pub fn lacks_from(&self, other: &VersionVector) -> u64 {
        other.0.iter().map(|(device, &seq)| seq.saturating_sub(self.get(device))).sum()
    }

    /// Checks that applying `batch` to a store holding `self` leaves no gap:
    /// each device's events in the batch are consecutive and start at most
    /// one past what is held. Returns the vector after the batch.
    pub fn check_extends(&self, batch: &Batch) -> Result<VersionVector> {
        self.check_each_extends(batch.events.iter())
    }

    /// [`VersionVector::check_extends`] for events in the order they travel.
    pub fn check_each_extends<'a>(
        &self,
        events: impl Iterator<Item = &'a crate::progress::event::Event>,
    ) -> Result<VersionVector> {
        let mut next = self.clone();
        for event in events {
            let have = next.get(&event.device_id);
            if event.seq > have + 1 {
                return Err(Error::SyncGap { device: event.device_id.clone(), have, got: event.seq });
            }
            next.raise(&event.device_id, event.seq);
        }
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vv(pairs: &[(&str, u64)]) -> VersionVector {
        VersionVector(pairs.iter().map(|(d, s)| (d.to_string(), *s)).collect())
    }

    #[test]
    fn lacks_counts_only_what_the_other_side_has_beyond_this_one() {
        let mine = vv(&[("a", 10), ("b", 3)]);
        let theirs = vv(&[("a", 7), ("b", 5), ("c", 2)]);
        assert_eq!(mine.lacks_from(&theirs), 4);
        assert_eq!(theirs.lacks_from(&mine), 3);
        assert_eq!(mine.lacks_from(&mine), 0);
    }

    #[test]
    fn raise_never_lowers() {
        let mut v = vv(&[("a", 10)]);
        v.raise("a", 4);
        v.raise("b", 2);
        assert_eq!(v, vv(&[("a", 10), ("b", 2)]));
    }
}
