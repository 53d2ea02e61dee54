//! Learners' PINs: the hash that travels with a learner to the hub and the
//! center's laptops, and the limit on guesses at sign-in.
//!
//! Four digits are 10,000 guesses, so the hash must make each guess dear:
//! Argon2id with a random salt, 64 MiB and 3 passes (about a quarter of a
//! second on a current core, so every PIN of one learner costs an attacker
//! who holds the hash some 40 minutes of one core; `cargo bench -p
//! kalamu-core --bench pin` prints the figures). At the sign-in prompt, the
//! fifth wrong PIN in a row makes the next guess wait, twice as long each
//! time, up to a quarter of an hour.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::{Error, Result};

/// Argon2id memory in KiB: 64 MiB, which even an old laptop spares for a moment.
const MEMORY_KIB: u32 = 64 * 1024;
/// Argon2id passes.
const PASSES: u32 = 3;
/// Longest stored hash accepted from elsewhere.
const MAX_HASH_LEN: usize = 160;
/// Wrong PINs in a row that cost nothing but a retry.
pub const FREE_GUESSES: u32 = 4;
/// The wait after the first wrong PIN past the free ones, in seconds; it doubles with each.
const FIRST_WAIT_S: u64 = 30;
/// The longest wait, in seconds.
const MAX_WAIT_S: u64 = 15 * 60;

fn argon2(params: Params) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// The four digits of a PIN, or [`Error::BadPin`].
fn digits(pin: &str) -> Result<&str> {
    if pin.len() != 4 || !pin.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::BadPin);
    }
    Ok(pin)
}

/// The hash of a new PIN (a PHC string), with a fresh salt.
pub fn hash_pin(pin: &str) -> Result<String> {
    let pin = digits(pin)?;
    let mut raw = [0u8; 16];
    getrandom::fill(&mut raw).expect("the OS has randomness");
    let salt = SaltString::encode_b64(&raw).expect("16 bytes make a salt");
    let params = Params::new(MEMORY_KIB, PASSES, 1, None).expect("valid parameters");
    Ok(argon2(params).hash_password(pin.as_bytes(), &salt).expect("argon2 hashes").to_string())
}

/// Whether `pin` is the one `stored` was made from. Hashes made before PINs
/// were hashed with Argon2id (BLAKE3 keyed by the learner id) still match.
pub fn pin_matches(stored: &str, learner_id: &str, pin: &str) -> Result<bool> {
    let pin = digits(pin)?;
    if is_legacy(stored) {
        let key = blake3::hash(learner_id.as_bytes());
        let given = blake3::keyed_hash(key.as_bytes(), pin.as_bytes());
        return Ok(blake3::Hash::from_hex(stored).is_ok_and(|s| s == given));
    }
    let Some((hash, params)) = parse(stored) else { return Ok(false) };
    Ok(argon2(params).verify_password(pin.as_bytes(), &hash).is_ok())
}

/// Whether a PIN hash from another laptop or the hub is one this build
/// checks, at a bounded cost: a hash that asked for gigabytes would make
/// every sign-in of that learner a denial of service.
pub fn valid_hash(stored: &str) -> bool {
    is_legacy(stored) || parse(stored).is_some()
}

fn is_legacy(stored: &str) -> bool {
    stored.len() == 64 && stored.bytes().all(|b| b.is_ascii_hexdigit())
}

fn parse(stored: &str) -> Option<(PasswordHash<'_>, Params)> {
    if stored.len() > MAX_HASH_LEN {
        return None;
    }
    let hash = PasswordHash::new(stored).ok()?;
    if hash.algorithm != Algorithm::Argon2id.ident() || hash.salt.is_none() || hash.hash.is_none() {
        return None;
    }
    let params = Params::try_from(&hash).ok()?;
    let bounded = params.m_cost() <= MEMORY_KIB && params.t_cost() <= 2 * PASSES && params.p_cost() == 1;
    bounded.then_some((hash, params))
}

/// How long a learner must wait before the next PIN guess, in seconds,
/// after `failures` wrong PINs in a row, the last at `last_ms`. A clock set
/// back makes the wait start again, never end early.
pub fn wait_seconds(failures: u32, last_ms: i64, now_ms: i64) -> u64 {
    if failures <= FREE_GUESSES {
        return 0;
    }
    let doublings = (failures - FREE_GUESSES - 1).min(16);
    let wait = (FIRST_WAIT_S << doublings).min(MAX_WAIT_S);
    let elapsed = u64::try_from(now_ms.saturating_sub(last_ms)).unwrap_or(0) / 1000;
    wait.saturating_sub(elapsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pin_hash_is_salted_and_matches_only_its_pin() {
        let (one, two) = (hash_pin("2468").unwrap(), hash_pin("2468").unwrap());
        assert_ne!(one, two, "the same PIN hashes differently each time");
        assert!(one.starts_with("$argon2id$v=19$m=65536,t=3,p=1$"), "{one}");
        assert!(pin_matches(&one, "any", "2468").unwrap());
        assert!(!pin_matches(&one, "any", "2469").unwrap());
        assert!(matches!(hash_pin("12a4"), Err(Error::BadPin)));
    }

    #[test]
    fn hashes_that_would_cost_too_much_to_check_are_refused() {
        let greedy = hash_pin("2468").unwrap().replace("m=65536", "m=4194304");
        assert!(!valid_hash(&greedy));
        assert!(!pin_matches(&greedy, "any", "2468").unwrap());
        assert!(!valid_hash("$argon2i$v=19$m=65536,t=3,p=1$c2FsdHNhbHQ$aGFzaA"));
        assert!(!valid_hash(&"a".repeat(200)));
        assert!(valid_hash(&"ab".repeat(32)), "hashes made before Argon2id");
    }

    #[test]
    fn waits_grow_after_the_free_guesses_and_a_clock_set_back_does_not_shorten_them() {
        let now = 1_000_000_000;
        assert_eq!(wait_seconds(FREE_GUESSES, now, now), 0);
        assert_eq!(wait_seconds(FREE_GUESSES + 1, now, now), 30);
        assert_eq!(wait_seconds(FREE_GUESSES + 2, now, now), 60);
        assert_eq!(wait_seconds(FREE_GUESSES + 1, now, now + 10_000), 20);
        assert_eq!(wait_seconds(FREE_GUESSES + 40, now, now), 15 * 60);
        assert_eq!(wait_seconds(FREE_GUESSES + 1, now, now - 3_600_000), 30);
    }
}
