//! Enrolment without the code on the wire, and the hub's key pinned by it.
//!
//! A code is read aloud in a classroom, and its first use must not trust the
//! network: a machine in the middle could present its own TLS key. So the
//! laptop never sends the code. Both sides turn it into a slow key
//! ([`code_key`], Argon2id: a guess costs milliseconds, so the ~40 bits of a
//! code cannot be searched while it lives), and each proves it holds that key
//! with a MAC over the TLS key the laptop saw ([`fingerprint`]) and a fresh
//! nonce. The hub finds the code whose MAC matches among the codes it holds;
//! the laptop checks the hub's MAC before it keeps anything. A machine in the
//! middle sees its own fingerprint in the laptop's MAC, which no code of the
//! hub matches, and cannot answer for the hub's.

use argon2::{Algorithm, Argon2, Params, Version};

/// The form of a code that is hashed: upper case, letters and digits only.
pub fn normalize_code(code: &str) -> String {
    code.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_uppercase()).collect()
}

/// Argon2id's memory per code (KiB) and passes: ~15 ms on an old laptop's core,
/// so one guess at a code costs as much, and 2^40 of them centuries.
const CODE_KEY_MEMORY_KIB: u32 = 8 * 1024;
const CODE_KEY_PASSES: u32 = 2;
/// Codes are single-use and random, so one salt for all does no harm: a
/// precomputed table of every code would still cost 2^40 hashes.
const CODE_KEY_SALT: &[u8] = b"kalamu 2026 enrolment code";

/// The key both sides derive from an enrolment code. The hub keeps it (hex)
/// in place of the code.
pub fn code_key(code: &str) -> [u8; 32] {
    let params =
        Params::new(CODE_KEY_MEMORY_KIB, CODE_KEY_PASSES, 1, Some(32)).expect("valid Argon2 parameters");
    let mut key = [0u8; 32];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(normalize_code(code).as_bytes(), CODE_KEY_SALT, &mut key)
        .expect("Argon2 takes these sizes");
    key
}

/// The fingerprint of a hub's TLS certificate (hex), as laptops pin it and
/// `kalamu hub serve` prints it. A hub on plain HTTP has none: `""`.
pub fn fingerprint(certificate_der: &[u8]) -> String {
    hex::encode(blake3::derive_key("kalamu 2026 hub tls key", certificate_der))
}

/// Who makes a proof: each side's MAC differs, so one cannot be replayed as the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The laptop asking to enrol.
    Laptop,
    /// The hub answering.
    Hub,
}

/// A MAC by `side`, keyed by the code's key, over the hub's TLS key as the
/// laptop saw it and the laptop's nonce (hex).
pub fn proof(side: Side, key: &[u8; 32], hub_key: &str, nonce: &str) -> String {
    mac(side, key, hub_key, nonce).to_hex().to_string()
}

/// Whether `claimed` is the proof `side` would make; compared in constant time.
pub fn proof_holds(claimed: &str, side: Side, key: &[u8; 32], hub_key: &str, nonce: &str) -> bool {
    // `blake3::Hash`'s equality is constant-time.
    blake3::Hash::from_hex(claimed).is_ok_and(|claimed| claimed == mac(side, key, hub_key, nonce))
}

fn mac(side: Side, key: &[u8; 32], hub_key: &str, nonce: &str) -> blake3::Hash {
    let label: &[u8] = match side {
        Side::Laptop => b"laptop",
        Side::Hub => b"hub",
    };
    let mut mac = blake3::Hasher::new_keyed(key);
    for part in [label, hub_key.as_bytes(), nonce.as_bytes()] {
        mac.update(&(part.len() as u64).to_le_bytes());
        mac.update(part);
    }
    mac.finalize()
}

/// A fresh nonce for one enrolment (hex).
pub fn fresh_nonce() -> String {
    let mut raw = [0u8; 16];
    getrandom::fill(&mut raw).expect("the OS has randomness");
    hex::encode(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_as_typed_gives_the_key_of_the_code_as_printed() {
        assert_eq!(code_key("K7PQ-9XMW"), code_key(" k7pq 9xmw "));
        assert_ne!(code_key("K7PQ-9XMW"), code_key("K7PQ-9XMX"));
    }

    #[test]
    fn a_proof_holds_only_for_its_side_key_hub_key_and_nonce() {
        let key = code_key("K7PQ-9XMW");
        let nonce = fresh_nonce();
        let made = proof(Side::Laptop, &key, "aa", &nonce);
        assert!(proof_holds(&made, Side::Laptop, &key, "aa", &nonce));
        assert!(!proof_holds(&made, Side::Hub, &key, "aa", &nonce));
        assert!(!proof_holds(&made, Side::Laptop, &code_key("K7PQ-9XMX"), "aa", &nonce));
        assert!(!proof_holds(&made, Side::Laptop, &key, "ab", &nonce));
        assert!(!proof_holds(&made, Side::Laptop, &key, "aa", &fresh_nonce()));
        assert!(!proof_holds("not hex", Side::Laptop, &key, "aa", &nonce));
    }
}
