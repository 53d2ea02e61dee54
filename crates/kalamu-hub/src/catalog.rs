//! The packs the hub holds: the publishers it trusts, and publishing a pack
//! (verified exactly as a laptop's import verifies it) with its manifest.

use std::path::Path;

use kalamu_core::pack::sign::parse_public_key;
use kalamu_core::pack::verify::{Discard, OpenedPack};
use kalamu_core::store::now_millis;

use kalamu_core::sync::protocol::CatalogEntry;

use crate::error::{HubError, Result};
use crate::storage::{PublishedPack, Storage};

/// What the hub offers: every pack it holds. Publishing is hub-wide, so a
/// country's hub publishes a course once for all its centers.
pub fn entries(store: &dyn Storage) -> Result<Vec<CatalogEntry>> {
    Ok(store.packs()?.iter().map(entry).collect())
}

/// A held pack as the catalog lists it.
pub fn entry(p: &PublishedPack) -> CatalogEntry {
    let m = &p.manifest;
    CatalogEntry {
        id: m.id.clone(),
        version: m.version.clone(),
        title: m.title.clone(),
        description: m.description.clone(),
        language: m.language.clone(),
        publisher: m.publisher.clone(),
        signer: p.signer.clone(),
        bytes: p.bytes,
        lessons: m.lesson_count(),
        // Changes whenever the file does (a new version, or the same one published again).
        etag: format!(
            "\"{}-{}\"",
            m.version.replace(|c: char| !c.is_ascii_alphanumeric() && c != '.', "_"),
            p.published_at
        ),
    }
}

/// Stops offering a pack; laptops keep what they installed.
pub fn unpublish(store: &dyn Storage, pack_id: &str) -> Result<()> {
    if store.unpublish(pack_id)? { Ok(()) } else { Err(HubError::NotFound(format!("pack {pack_id}"))) }
}

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
