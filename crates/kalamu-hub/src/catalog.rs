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
/// country's hub publishes a course once for all its centers; requiring a
/// course is a center's own decision, marked for that center's laptops.
pub fn entries(store: &dyn Storage, center: Option<&str>) -> Result<Vec<CatalogEntry>> {
    let required = match center {
        Some(c) => store.required(c)?,
        None => Vec::new(),
    };
    Ok(store
        .packs()?
        .iter()
        .map(|p| CatalogEntry { required: required.contains(&p.manifest.id), ..entry(p) })
        .collect())
}

/// Makes a held pack required of a center's laptops (or, with `required` false, no longer).
pub fn require(store: &dyn Storage, pack_id: &str, center: &str, required: bool) -> Result<()> {
    let center = store.center(center)?;
    if required && !store.packs()?.iter().any(|p| p.manifest.id == pack_id) {
        return Err(HubError::NotFound(format!("pack {pack_id}; publish it first")));
    }
    store.set_required(&center.id, pack_id, required)
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
        required: false,
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

/// Most content bytes a patch carries.
pub const MAX_PATCH_BYTES: u64 = 256 << 20;

/// A patch that makes the hub's version of pack `pack_id` from the contents
/// in `have` (see [`kalamu_core::pack::patch`]), read from the stored file
/// piece by piece; refused when it would carry most of the pack anyway.
pub fn patch(store: &dyn Storage, pack_id: &str, have: &[String]) -> Result<Vec<u8>> {
    let pack = store
        .packs()?
        .into_iter()
        .find(|p| p.manifest.id == pack_id)
        .ok_or_else(|| HubError::NotFound(format!("pack {pack_id}")))?;
    let have: std::collections::HashSet<String> = have.iter().cloned().collect();
    let m = &pack.manifest;
    let total: u64 = m.files.iter().map(|f| f.size).sum();
    let carried: u64 = m.files.iter().filter(|f| !have.contains(&f.blake3)).map(|f| f.size).sum();
    // Built in memory: past half the pack, or past a bound, the resumable
    // whole-pack download is the better way.
    if carried * 2 > total || carried > MAX_PATCH_BYTES {
        return Err(HubError::UseWholePack(pack_id.to_owned()));
    }
    let reader = PieceReader { store, pack_id, size: pack.bytes, at: 0, piece: None };
    let mut archive = zip::ZipArchive::new(reader)
        .map_err(|e| HubError::Damaged(format!("the stored pack {pack_id} does not read as a zip: {e}")))?;
    let info = kalamu_core::pack::patch::PatchInfo {
        pack_id: m.id.clone(),
        from_version: None,
        to_version: m.version.clone(),
    };
    let mut out = std::io::Cursor::new(Vec::new());
    kalamu_core::pack::patch::write_patch(&mut archive, m, &info, &have, &mut out)?;
    Ok(out.into_inner())
}

/// A stored pack file, read by seeking through its pieces.
struct PieceReader<'a> {
    store: &'a dyn Storage,
    pack_id: &'a str,
    size: u64,
    at: u64,
    piece: Option<(u64, Vec<u8>)>,
}

impl std::io::Read for PieceReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.at >= self.size || buf.is_empty() {
            return Ok(0);
        }
        let size = crate::storage::PACK_PIECE;
        let n = self.at / size;
        if self.piece.as_ref().is_none_or(|(k, _)| *k != n) {
            let bytes = self
                .store
                .pack_piece(self.pack_id, n)
                .map_err(std::io::Error::other)?
                .ok_or_else(|| std::io::Error::other("a piece of the stored pack is missing"))?;
            self.piece = Some((n, bytes));
        }
        let (_, bytes) = self.piece.as_ref().expect("just read");
        let from = (self.at - n * size) as usize;
        let take = bytes.len().saturating_sub(from).min(buf.len());
        if take == 0 {
            return Err(std::io::Error::other("the stored pack is shorter than its size"));
        }
        buf[..take].copy_from_slice(&bytes[from..from + take]);
        self.at += take as u64;
        Ok(take)
    }
}

impl std::io::Seek for PieceReader<'_> {
    fn seek(&mut self, to: std::io::SeekFrom) -> std::io::Result<u64> {
        let at = match to {
            std::io::SeekFrom::Start(n) => Some(n),
            std::io::SeekFrom::End(d) => self.size.checked_add_signed(d),
            std::io::SeekFrom::Current(d) => self.at.checked_add_signed(d),
        };
        self.at = at.ok_or_else(|| std::io::Error::other("seek before the start of the pack"))?;
        Ok(self.at)
    }
}

/// A course on the hub as a center's staff see it: the offer, and which of
/// the center's live laptops hold it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CenterCourse {
    /// The pack as offered to the center, `required` for it or not.
    pub entry: CatalogEntry,
    /// Live laptops holding the version offered (or a newer one).
    pub current: usize,
    /// Live laptops holding an older version.
    pub older: usize,
    /// Live laptops of the center.
    pub laptops: usize,
}

/// Every pack the hub offers to `center_id`, with how many of its laptops hold which version.
pub fn for_center(store: &dyn Storage, center_id: &str) -> Result<Vec<CenterCourse>> {
    let live: std::collections::HashSet<String> = store
        .devices(Some(center_id))?
        .into_iter()
        .filter(|d| d.revoked_at.is_none())
        .map(|d| d.id)
        .collect();
    let held = store.held_packs(center_id)?;
    let version = |v: &str| semver::Version::parse(v).ok();
    Ok(entries(store, Some(center_id))?
        .into_iter()
        .map(|entry| {
            let offered = version(&entry.version);
            let (mut current, mut older) = (0, 0);
            for (_, _, v) in held.iter().filter(|(d, p, _)| *p == entry.id && live.contains(d)) {
                match (version(v), &offered) {
                    (Some(v), Some(o)) if v < *o => older += 1,
                    _ => current += 1,
                }
            }
            CenterCourse { entry, current, older, laptops: live.len() }
        })
        .collect())
}
