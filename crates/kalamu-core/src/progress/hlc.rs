//! Hybrid logical clock: stamps that follow the wall clock when it is sane
//! and never go backwards when it is not (laptop clocks are often wrong).
//!
//! A stamp is `(milliseconds << 16) | counter`: ordered like a number,
//! unique per device, and close to real time when the clock is right.

/// Bits of the logical counter.
const COUNTER_BITS: u32 = 16;
const COUNTER_MASK: u64 = (1 << COUNTER_BITS) - 1;

/// The latest wall-clock time a stamp may carry: 2200-01-01. Laptops whose
/// clock is years off (a flat CMOS battery reads 1970 or 2000) stay well
/// inside; a stamp past it can only be damage or an attack.
pub const MAX_MILLIS: u64 = 7_258_118_400_000;
/// The highest valid stamp.
pub const MAX: Hlc = Hlc((MAX_MILLIS << COUNTER_BITS) | COUNTER_MASK);
/// How far a stamp from elsewhere may move this store's clock past its own wall clock.
pub const MAX_LEAD_MS: u64 = 24 * 3600 * 1000;

/// A hybrid logical clock stamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Hlc(pub u64);

impl Hlc {
    /// A stamp at wall-clock milliseconds `ms` (at most [`MAX_MILLIS`]) with counter 0.
    pub fn at_millis(ms: u64) -> Hlc {
        Hlc(ms.min(MAX_MILLIS) << COUNTER_BITS)
    }

    /// The physical part, in milliseconds since the Unix epoch.
    pub fn millis(self) -> u64 {
        self.0 >> COUNTER_BITS
    }

    /// The logical counter.
    pub fn counter(self) -> u64 {
        self.0 & COUNTER_MASK
    }

    /// Whether the stamp is in the sane range (not past [`MAX`]).
    pub fn is_sane(self) -> bool {
        self <= MAX
    }

    /// The next stamp for a local event, given the last stamp and the wall clock.
    /// Strictly greater than `last` (while `last` is below [`MAX`]); equal to
    /// the wall clock when that is ahead.
    pub fn tick(last: Hlc, wall_ms: u64) -> Hlc {
        let wall = Hlc::at_millis(wall_ms);
        if wall > last {
            wall
        } else {
            // The clock stood still or went back: count on from the last stamp.
            // A full counter carries into the milliseconds, keeping order.
            if last >= MAX { last } else { Hlc(last.0 + 1) }
        }
    }

    /// The stamp after receiving a remote stamp: never behind what was seen,
    /// but never more than [`MAX_LEAD_MS`] past this side's own wall clock
    /// (`wall_ms`), so one wrong or hostile stamp cannot run every clock ahead.
    pub fn observe(last: Hlc, remote: Hlc, wall_ms: u64) -> Hlc {
        let bound = Hlc::at_millis(wall_ms.saturating_add(MAX_LEAD_MS));
        last.max(remote.min(bound))
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
        // A device that sees the wrong stamp keeps its own clock near its own time.
        let other = Hlc::observe(Hlc::at_millis(now), wrong, now);
        assert!(other.millis() <= now + MAX_LEAD_MS);
        assert!(Hlc::tick(other, now) > other);
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    /// Any stamp, wall clocks anywhere in u64, with the edges weighted in.
    fn stamp() -> impl Strategy<Value = Hlc> {
        prop_oneof![any::<u64>(), Just(u64::MAX), Just(MAX.0), Just(0), 0..(1u64 << 58)].prop_map(Hlc)
    }

    fn wall() -> impl Strategy<Value = u64> {
        prop_oneof![
            any::<u64>(),
            Just(u64::MAX),
            Just(MAX_MILLIS),
            Just(0),
            1_700_000_000_000..1_900_000_000_000u64
        ]
    }

    proptest! {
        #[test]
        fn tick_never_goes_back_and_stays_sane(last in stamp(), wall in wall()) {
            let next = Hlc::tick(last, wall);
            prop_assert!(next >= last);
            if last < MAX {
                prop_assert!(next > last, "a local event always moves the clock on");
                prop_assert!(next.is_sane());
            }
        }

        #[test]
        fn observe_never_goes_back_nor_jumps_past_the_bound(last in stamp(), remote in stamp(), wall in wall()) {
            let next = Hlc::observe(last, remote, wall);
            prop_assert!(next >= last);
            let bound = Hlc::at_millis(wall.saturating_add(MAX_LEAD_MS));
            prop_assert!(next <= last.max(bound), "{next:?} jumped past {bound:?}");
            if remote <= bound {
                prop_assert!(next >= remote);
            }
        }

        #[test]
        fn a_chain_of_events_and_observations_stays_ordered(
            steps in proptest::collection::vec((stamp(), wall(), any::<bool>()), 1..64),
        ) {
            let mut clock = Hlc(0);
            for (remote, wall, local) in steps {
                let next = if local { Hlc::tick(clock, wall) } else { Hlc::observe(clock, remote, wall) };
                prop_assert!(next >= clock);
                prop_assert!(next.is_sane());
                clock = next;
            }
        }
    }
}
