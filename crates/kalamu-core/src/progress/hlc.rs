//! Hybrid logical clock: stamps that follow the wall clock when it is sane
//! and never go backwards when it is not (laptop clocks are often wrong).
//!
//! A stamp is `(milliseconds << 16) | counter`: ordered like a number,
//! unique per device, and close to real time when the clock is right.

/// Bits of the logical counter.
const COUNTER_BITS: u32 = 16;
const COUNTER_MASK: u64 = (1 << COUNTER_BITS) - 1;

/// A hybrid logical clock stamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Hlc(pub u64);

impl Hlc {
    /// A stamp at wall-clock milliseconds `ms` with counter 0.
    pub fn at_millis(ms: u64) -> Hlc {
        Hlc(ms << COUNTER_BITS)
    }

    /// The physical part, in milliseconds since the Unix epoch.
    pub fn millis(self) -> u64 {
        self.0 >> COUNTER_BITS
    }

    /// The logical counter.
    pub fn counter(self) -> u64 {
        self.0 & COUNTER_MASK
    }

    /// The next stamp for a local event, given the last stamp and the wall clock.
    /// Strictly greater than `last`; equal to the wall clock when that is ahead.
    pub fn tick(last: Hlc, wall_ms: u64) -> Hlc {
        let wall = Hlc::at_millis(wall_ms);
        if wall > last {
            wall
        } else {
            // The clock stood still or went back: count on from the last stamp.
            // A full counter carries into the milliseconds, keeping order.
            Hlc(last.0 + 1)
        }
    }

    /// The stamp after receiving a remote stamp: never behind what was seen.
    pub fn observe(last: Hlc, remote: Hlc) -> Hlc {
        last.max(remote)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_a_sane_wall_clock() {
        let a = Hlc::tick(Hlc(0), 1_000);
        let b = Hlc::tick(a, 1_005);
        assert_eq!((a.millis(), b.millis()), (1_000, 1_005));
        assert_eq!(b.counter(), 0);
    }

    #[test]
    fn never_goes_back_when_the_clock_jumps_back() {
        let ahead = Hlc::tick(Hlc(0), 5_000_000);
        let after_jump = Hlc::tick(ahead, 1_000); // someone set the clock back
        assert!(after_jump > ahead);
        assert_eq!(after_jump.millis(), 5_000_000);
        let later = Hlc::tick(after_jump, 1_001);
        assert!(later > after_jump);
    }

    #[test]
    fn many_events_in_one_millisecond_stay_ordered_and_unique() {
        let mut last = Hlc(0);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200_000 {
            let next = Hlc::tick(last, 42);
            assert!(next > last);
            assert!(seen.insert(next));
            last = next;
        }
        // More than 65,536 events in one millisecond carry into the next millisecond.
        assert!(last.millis() > 42);
    }

    #[test]
    fn a_clock_ten_years_ahead_does_not_stop_the_clock() {
        let now = 1_764_000_000_000u64; // late 2025
        let ten_years = 10 * 365 * 24 * 3600 * 1000u64;
        let wrong = Hlc::tick(Hlc(0), now + ten_years);
        // Once corrected, stamps stay ordered after the wrong one.
        let corrected = Hlc::tick(wrong, now);
        assert!(corrected > wrong);
        // A device that sees the wrong stamp keeps order too.
        let other = Hlc::observe(Hlc::at_millis(now), wrong);
        assert!(Hlc::tick(other, now) > wrong);
    }
}
