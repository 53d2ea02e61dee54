//! Publisher keys and pack signatures (Ed25519 over the manifest's bytes).

use std::io::Write;
use std::path::Path;

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

use super::Problem;
use crate::{Error, Result};

const SECRET_HEADER: &str = "kalamu-ed25519-secret-key";

/// A publisher's secret key, loaded from its key file.
pub struct SecretKey(SigningKey);

/// The signature entry stored beside the manifest.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureEntry {
    /// Always `ed25519`.
    pub algorithm: String,
    /// The signer's public key, hex.
    pub public_key: String,
    /// The signature over the manifest's bytes, hex.
    pub signature: String,
}

impl SecretKey {
    /// Makes a new random key.
    pub fn generate() -> Result<SecretKey> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed)
            .map_err(|e| Error::BadKey { what: format!("no randomness for a new key: {e}") })?;
        Ok(SecretKey(SigningKey::from_bytes(&seed)))
    }

    /// Writes the key to a new file readable only by its owner; never overwrites.
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let mut file = opts.open(path).map_err(|e| Error::io("cannot create the key file", path, e))?;
        writeln!(file, "{SECRET_HEADER}\n{}", hex::encode(self.0.to_bytes()))
            .and_then(|_| file.sync_all())
            .map_err(|e| Error::io("cannot write the key file", path, e))
    }

    /// Reads a key file written by [`SecretKey::save`].
    pub fn load(path: &Path) -> Result<SecretKey> {
        let text =
            std::fs::read_to_string(path).map_err(|e| Error::io("cannot read the key file", path, e))?;
        let mut lines = text.lines();
        let seed = match (lines.next(), lines.next()) {
            (Some(SECRET_HEADER), Some(hex_seed)) => hex::decode(hex_seed.trim()).ok(),
            _ => None,
        };
        let seed: [u8; 32] = seed.and_then(|s| s.try_into().ok()).ok_or_else(|| Error::BadKey {
            what: format!(
                "{} is not a Kalamu secret key file (make one with `kalamu pack keygen`)",
                path.display()
            ),
        })?;
        Ok(SecretKey(SigningKey::from_bytes(&seed)))
    }

    /// The matching public key, hex.
    pub fn public_hex(&self) -> String {
        hex::encode(self.0.verifying_key().to_bytes())
    }

    /// Signs manifest bytes.
    pub fn sign(&self, manifest: &[u8]) -> SignatureEntry {
        SignatureEntry {
            algorithm: "ed25519".into(),
            public_key: self.public_hex(),
            signature: hex::encode(self.0.sign(manifest).to_bytes()),
        }
    }
}

/// Parses a public key given as 64 hex digits, returning it normalised to lowercase.
pub fn parse_public_key(text: &str) -> Result<String> {
    let bytes: Option<[u8; 32]> = hex::decode(text.trim()).ok().and_then(|b| b.try_into().ok());
    match bytes.map(|b| VerifyingKey::from_bytes(&b)) {
        Some(Ok(key)) => Ok(hex::encode(key.to_bytes())),
        _ => Err(Error::BadKey { what: format!("{text:?} is not a publisher public key (64 hex digits)") }),
    }
}

/// Checks a signature entry against the manifest bytes; returns the signer's key.
pub fn verify(manifest: &[u8], entry: &[u8]) -> Result<String, Problem> {
    let entry: SignatureEntry =
        serde_json::from_slice(entry).map_err(|e| Problem::MalformedSignature(e.to_string()))?;
    if entry.algorithm != "ed25519" {
        return Err(Problem::MalformedSignature(format!("unknown algorithm {:?}", entry.algorithm)));
    }
    let key: [u8; 32] = hex::decode(&entry.public_key)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| Problem::MalformedSignature("the public key is not 32 hex bytes".into()))?;
    let key =
        VerifyingKey::from_bytes(&key).map_err(|_| Problem::MalformedSignature("bad public key".into()))?;
    let sig: [u8; 64] = hex::decode(&entry.signature)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| Problem::MalformedSignature("the signature is not 64 hex bytes".into()))?;
    key.verify_strict(manifest, &ed25519_dalek::Signature::from_bytes(&sig))
        .map_err(|_| Problem::BadSignature)?;
    Ok(hex::encode(key.to_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_checks_out_only_for_the_signed_bytes() {
        let key = SecretKey::generate().unwrap();
        let entry = serde_json::to_vec(&key.sign(b"manifest")).unwrap();
        assert_eq!(verify(b"manifest", &entry).unwrap(), key.public_hex());
        assert_eq!(verify(b"manifesT", &entry), Err(Problem::BadSignature));
    }

    #[test]
    fn key_file_round_trips_and_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("publisher.key");
        let key = SecretKey::generate().unwrap();
        key.save(&path).unwrap();
        assert_eq!(SecretKey::load(&path).unwrap().public_hex(), key.public_hex());
        assert!(SecretKey::generate().unwrap().save(&path).is_err());
    }
}
