//! The keys that seal a sync bundle: it is encrypted with age (X25519) to
//! those meant to read it and signed (Ed25519) by the one who made it.
//!
//! Every party's X25519 key is its Ed25519 key in Montgomery form, as age's
//! own `ssh-ed25519` recipients do (the composition is analysed in
//! <https://eprint.iacr.org/2021/509>). So the keys a hub and its laptops
//! already know each other by are all a bundle needs: a laptop's device key,
//! registered at enrolment, and the hub's bundle key, given with the
//! enrolment answer over the pinned link. No secret is shared by a whole
//! center, so a revoked laptop is simply no longer among a bundle's readers.

use bech32::{ToBase32, Variant};
pub use ed25519_dalek::{SigningKey, VerifyingKey};

use crate::{Error, Result};

/// What makes a bundle: the maker's key and the public keys of its readers.
pub struct Sealing<'a> {
    /// Signs the bundle.
    pub maker: &'a SigningKey,
    /// Each can decrypt it.
    pub readers: &'a [VerifyingKey],
}

/// What opens a bundle: the reader's own key and the public key it must be signed with.
pub struct Opening<'a> {
    /// Decrypts it.
    pub reader: &'a SigningKey,
    /// The key its maker must have signed it with.
    pub maker: &'a VerifyingKey,
}

/// The age recipient for an Ed25519 public key.
pub(crate) fn recipient(key: &VerifyingKey) -> age::x25519::Recipient {
    let encoded = bech32::encode("age", key.to_montgomery().to_bytes().to_base32(), Variant::Bech32)
        .expect("the prefix is valid");
    encoded.parse().expect("any 32 bytes are an X25519 public key")
}

/// The age identity for an Ed25519 signing key.
pub(crate) fn identity(key: &SigningKey) -> age::x25519::Identity {
    let encoded = bech32::encode("age-secret-key-", key.to_scalar_bytes().to_base32(), Variant::Bech32)
        .expect("the prefix is valid");
    encoded.parse().expect("any 32 bytes are an X25519 secret key")
}

/// The message a bundle's maker signs: its digest and the length of its sealed part.
pub(crate) fn signed_message(digest: &blake3::Hash, sealed_len: u64) -> Vec<u8> {
    let mut message = b"kalamu 2026 sync bundle".to_vec();
    message.extend_from_slice(digest.as_bytes());
    message.extend_from_slice(&sealed_len.to_le_bytes());
    message
}

/// The hub's bundle key from its hex form, as an enrolment answer gives it.
pub fn parse_bundle_key(hex_key: &str) -> Result<VerifyingKey> {
    crate::sync::proof::parse_public_key(hex_key).and_then(|k| VerifyingKey::from_bytes(&k).ok()).ok_or_else(
        || Error::BadKey { what: "the hub's bundle key is damaged; enrol this laptop again".into() },
    )
}

/// The hex form of a bundle key, as it travels.
pub fn bundle_key_hex(key: &VerifyingKey) -> String {
    hex::encode(key.to_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signing_key_opens_what_was_sealed_to_its_public_half() {
        let key = SigningKey::from_bytes(&[7; 32]);
        assert_eq!(identity(&key).to_public().to_string(), recipient(&key.verifying_key()).to_string());
        let other = SigningKey::from_bytes(&[8; 32]);
        assert_ne!(identity(&other).to_public().to_string(), recipient(&key.verifying_key()).to_string());
    }
}
