//! Disk space kept for the learners' own work. Pulls of other laptops'
//! events, downloads and imports stop while only the reserve is free, so
//! recording what a learner does never fails for want of room.

use serde::Serialize;

use crate::progress::hlc::Hlc;
use crate::store::now_millis;
use crate::{Error, Result, Store};

/// The least kept free on any laptop: months of a busy classroom's events.
pub const RESERVE_FLOOR: u64 = 64 << 20;
/// Weeks of this laptop's own recording, at its recent pace, kept free.
const RESERVE_WEEKS: u64 = 4;
/// Room one event of this laptop's takes, with its indexes and log, generously.
const BYTES_PER_OWN_EVENT: u64 = 2048;
const WEEK_MS: i64 = 7 * 24 * 3600 * 1000;

/// Free space in the data dir against the reserve kept for learners.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Room {
    /// Bytes free for this user.
    pub free: u64,
    /// Bytes kept for this laptop's own recording.
    pub reserve: u64,
}

impl Room {
    /// Whether `bytes` more can be written and still leave the reserve free.
    pub fn allows(&self, bytes: u64) -> bool {
        self.free.saturating_sub(bytes) >= self.reserve && self.free >= bytes
    }
}

impl Store {
    /// The space kept free for this laptop's own recording: four weeks at the
    /// pace of its last week, and never less than [`RESERVE_FLOOR`].
    pub fn reserve(&self) -> Result<u64> {
        let since = Hlc::at_millis((now_millis() - WEEK_MS).max(0) as u64);
        let recent: i64 = self.conn().query_row(
            "SELECT count(*) FROM events WHERE device_id = (SELECT id FROM device) AND hlc >= ?1",
            [since.0 as i64],
            |r| r.get(0),
        )?;
        Ok((recent as u64 * BYTES_PER_OWN_EVENT * RESERVE_WEEKS).max(RESERVE_FLOOR))
    }

    /// Free space in the data dir, and the reserve.
    pub fn room(&self) -> Result<Room> {
        self.room_keeping(self.reserve()?)
    }

    /// Free space in the data dir against a reserve reckoned once (it reads
    /// a week of this laptop's events; a pull checks the space every round).
    pub fn room_keeping(&self, reserve: u64) -> Result<Room> {
        let free = fs4::available_space(self.dir())
            .map_err(|e| Error::io("cannot read free space of", self.dir(), e))?;
        Ok(Room { free, reserve })
    }
}
