//! The packs the hub holds: the publishers it trusts, and publishing a pack
//! (verified exactly as a laptop's import verifies it) with its manifest.

use std::path::Path;

use kalamu_core::pack::sign::parse_public_key;
use kalamu_core::pack::verify::{Discard, OpenedPack};
use kalamu_core::store::now_millis;

use crate::error::{HubError, Result};
use crate::storage::{PublishedPack, Storage};

/// Trusts a publisher's key under a name; returns the key as stored.
pub fn trust(store: &dyn Storage, public_key: &str, name: &str) -> Result<String> {
    let key = parse_public_key(public_key)?;
    let name = name.trim();
    if name.is_empty() {
        return Err(HubError::BadRequest("give the publisher a name".into()));
    }
    store.add_publisher(&key, name, now_millis())?;
    Ok(key)
}

/// Verifies the pack at `path` whole (structure, manifest, signature by a
/// trusted publisher, every file's size, hash and type) and stores it.
pub fn publish(store: &dyn Storage, path: &Path) -> Result<PublishedPack> {
    let mut pack = OpenedPack::open(path)?;
    let signer = pack.signer.clone().ok_or_else(|| HubError::UntrustedPack("not signed".into()))?;
    let trusted = store.publishers()?;
    if !trusted.iter().any(|(key, _)| *key == signer) {
        return Err(HubError::UntrustedPack(format!("signed by {signer}, a key the hub does not trust")));
    }
    pack.stream(&mut Discard, &mut |_| {})?;
    let published = PublishedPack {
        manifest: pack.manifest.clone(),
        manifest_bytes: pack.manifest_bytes.clone(),
        signer,
        bytes: std::fs::metadata(path)?.len(),
        published_at: now_millis(),
    };
    store.publish(&published, path)?;
    Ok(published)
}
