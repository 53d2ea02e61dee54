//! Wrong enrolment codes, counted per address: a code is read aloud in a
//! classroom and short enough to type, so guessing it must be slow. After
//! [`MAX_FAILURES`] wrong codes in [`WINDOW`], an address waits until the
//! oldest of them leaves the window; the check comes before any database
//! work, so a guesser never queues behind, or ahead of, laptops' pushes.
//!
//! Kept in memory: each hub process counts the guesses it sees (several
//! processes behind one load balancer each allow this many).

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::error::{HubError, Result};

/// Wrong codes an address may send in [`WINDOW`].
pub const MAX_FAILURES: usize = 10;
/// The window wrong codes are counted over.
pub const WINDOW: Duration = Duration::from_secs(600);
/// Addresses remembered at most; the oldest are forgotten first (a flood of
/// addresses cannot grow the hub's memory).
const MAX_ADDRESSES: usize = 100_000;

/// Failed enrolments by address.
#[derive(Debug, Default)]
pub struct EnrolLimit {
    failures: Mutex<HashMap<IpAddr, VecDeque<Instant>>>,
}

impl EnrolLimit {
    /// Refuses an address that sent too many wrong codes lately, saying how long it waits.
    pub fn check(&self, address: IpAddr, now: Instant) -> Result<()> {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let Some(times) = failures.get_mut(&address) else { return Ok(()) };
        while times.front().is_some_and(|t| now.duration_since(*t) >= WINDOW) {
            times.pop_front();
        }
        if times.len() < MAX_FAILURES {
            return Ok(());
        }
        let oldest = *times.front().expect("full");
        let seconds = WINDOW.saturating_sub(now.duration_since(oldest)).as_secs().max(1);
        Err(HubError::TooManyEnrolments { seconds })
    }

    /// Counts a wrong code from `address`; returns how many it sent in the window.
    pub fn failed(&self, address: IpAddr, now: Instant) -> usize {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if failures.len() >= MAX_ADDRESSES && !failures.contains_key(&address) {
            failures.retain(|_, times| times.back().is_some_and(|t| now.duration_since(*t) < WINDOW));
            if failures.len() >= MAX_ADDRESSES {
                failures.clear();
            }
        }
        let times = failures.entry(address).or_default();
        times.push_back(now);
        while times.len() > MAX_FAILURES {
            times.pop_front();
        }
        times.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_waits_after_ten_wrong_codes_and_others_do_not() {
        let limit = EnrolLimit::default();
        let (guesser, honest) = ("10.0.0.7".parse().unwrap(), "10.0.0.8".parse().unwrap());
        let t0 = Instant::now();
        for i in 0..MAX_FAILURES {
            assert!(limit.check(guesser, t0).is_ok(), "guess {i} is let through");
            limit.failed(guesser, t0 + Duration::from_secs(i as u64));
        }
        let later = t0 + Duration::from_secs(60);
        match limit.check(guesser, later) {
            Err(HubError::TooManyEnrolments { seconds }) => assert_eq!(seconds, 540),
            other => panic!("{other:?}"),
        }
        assert!(limit.check(honest, later).is_ok(), "another address is not held up");
        assert!(limit.check(guesser, t0 + WINDOW + Duration::from_secs(1)).is_ok(), "the wait ends");
    }
}
