//! Sync bundles: the sync wire format written to a file, so progress can
//! travel by USB stick where no link ever comes.
//!
//! ```text
//! "KALAMU-SYNC-BUNDLE\n"
//! u32 LE length, header JSON      (format, center, who made it, event count)
//! u32 LE length, batch bytes      (as on the wire), repeated
//! u32 LE 0                        (end of batches)
//! 32 bytes                        keyed BLAKE3 of everything above
//! ```
//!
//! A laptop seals its bundles with a key derived from its credential, which
//! the hub can derive from the hash it stores; the hub seals its bundles
//! with the center's key, given to each laptop at enrolment. The whole file
//! is checked before any batch is applied, so a truncated, tampered or
//! foreign bundle changes nothing.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::vector::VersionVector;
use super::wire::{Batch, MAX_BATCH_BYTES};
use crate::store::now_millis;
use crate::{Error, Result, Store};

const MAGIC: &[u8] = b"KALAMU-SYNC-BUNDLE\n";
const FORMAT: u32 = 1;
const MAX_HEADER: u32 = 64 << 10;
const MAC_LEN: usize = 32;
/// Events per batch inside a bundle.
const BUNDLE_BATCH: usize = 5_000;

/// Who made a bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BundleSource {
    /// A laptop, by device id.
    Device(String),
    /// The center's hub.
    Hub,
}

/// What a bundle says about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleHeader {
    /// Bundle format version.
    pub format: u32,
    /// The center whose events it carries.
    pub center_id: String,
    /// Who made it.
    pub from: BundleSource,
    /// When it was made (unix ms, by the maker's clock).
    pub created_at: i64,
    /// Events in it.
    pub events: u64,
}

/// The hash a hub keeps of a device credential.
pub fn token_hash(token: &str) -> String {
    blake3::hash(token.as_bytes()).to_hex().to_string()
}

/// The key that seals a laptop's bundles, from the hash of its credential.
pub fn device_bundle_key(token_hash: &str) -> [u8; 32] {
    blake3::derive_key("kalamu 2026 device sync bundle", token_hash.as_bytes())
}

/// A center key from its hex form.
pub fn center_bundle_key(hex_key: &str) -> Result<[u8; 32]> {
    let mut key = [0u8; 32];
    hex::decode_to_slice(hex_key, &mut key).map_err(|_| Error::BadKey {
        what: "the stored center key is damaged; enrol this laptop again".into(),
    })?;
    Ok(key)
}

/// Writes a bundle of `batches` to `path` atomically (a temporary file, then a rename).
pub fn write_bundle(
    path: &Path,
    header: &BundleHeader,
    key: &[u8; 32],
    mut batches: impl FnMut() -> Result<Option<Batch>>,
) -> Result<()> {
    make_folder(path)?;
    let tmp = partial_path(path);
    let written = write_to(&tmp, header, key, &mut batches);
    if written.is_err() {
        // A half-written bundle must not be mistaken for one: nothing is left behind.
        let _ = std::fs::remove_file(&tmp);
    }
    written?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io("cannot write", path, e))?;
    Ok(())
}

/// Creates the bundle's folder when the folder around it exists (a new
/// folder on a stick); a missing stick or path is refused in words.
fn make_folder(path: &Path) -> Result<()> {
    let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty()) else { return Ok(()) };
    if folder.is_dir() {
        return Ok(());
    }
    match folder.parent() {
        Some(around) if around.as_os_str().is_empty() || around.is_dir() => {
            std::fs::create_dir(folder).map_err(|e| Error::io("cannot create the folder", folder, e))
        }
        _ => Err(Error::NoFolder(folder.to_path_buf())),
    }
}

fn write_to(
    tmp: &Path,
    header: &BundleHeader,
    key: &[u8; 32],
    batches: &mut impl FnMut() -> Result<Option<Batch>>,
) -> Result<()> {
    let file = File::create(tmp).map_err(|e| Error::io("cannot create", tmp, e))?;
    let mut out = MacWriter { inner: BufWriter::new(file), mac: blake3::Hasher::new_keyed(key) };
    let io = |e| Error::io("cannot write", tmp, e);
    out.write_all(MAGIC).map_err(io)?;
    let head = serde_json::to_vec(header).expect("headers serialize");
    out.write_all(&(head.len() as u32).to_le_bytes()).map_err(io)?;
    out.write_all(&head).map_err(io)?;
    while let Some(batch) = batches()? {
        let bytes = batch.encode();
        out.write_all(&(bytes.len() as u32).to_le_bytes()).map_err(io)?;
        out.write_all(&bytes).map_err(io)?;
    }
    out.write_all(&0u32.to_le_bytes()).map_err(io)?;
    let mac = out.mac.finalize();
    let mut inner = out.inner;
    inner.write_all(mac.as_bytes()).map_err(io)?;
    let file = inner.into_inner().map_err(|e| io(e.into_error()))?;
    file.sync_all().map_err(io)?;
    Ok(())
}

fn partial_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    path.with_file_name(name)
}

struct MacWriter<W> {
    inner: W,
    mac: blake3::Hasher,
}

impl<W: Write> Write for MacWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.mac.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// An opened bundle whose header has been read but not yet trusted.
pub struct BundleReader {
    path: PathBuf,
    file: BufReader<File>,
    /// The header, as the file states it (trusted only once [`BundleReader::read_sealed`] has checked the seal).
    pub header: BundleHeader,
    /// The bytes before the first batch, as read (the seal covers them).
    prefix: Vec<u8>,
}

impl BundleReader {
    /// Opens a bundle and reads its header.
    pub fn open(path: &Path) -> Result<BundleReader> {
        let file = File::open(path).map_err(|e| Error::io("cannot open", path, e))?;
        let mut file = BufReader::new(file);
        let mut magic = [0u8; MAGIC.len()];
        if file.read_exact(&mut magic).is_err() || magic != MAGIC {
            return Err(bundle(path, BundleProblem::NotABundle));
        }
        let len = read_u32(&mut file).map_err(|_| bundle(path, BundleProblem::Truncated))?;
        if len > MAX_HEADER {
            return Err(bundle(path, BundleProblem::Tampered));
        }
        let mut head = vec![0u8; len as usize];
        file.read_exact(&mut head).map_err(|_| bundle(path, BundleProblem::Truncated))?;
        let header: BundleHeader =
            serde_json::from_slice(&head).map_err(|_| bundle(path, BundleProblem::Tampered))?;
        if header.format != FORMAT {
            return Err(bundle(path, BundleProblem::Format(header.format)));
        }
        let mut prefix = MAGIC.to_vec();
        prefix.extend_from_slice(&len.to_le_bytes());
        prefix.extend_from_slice(&head);
        Ok(BundleReader { path: path.to_owned(), file, header, prefix })
    }

    /// Reads every batch once, in order, handing each to `each` as it is
    /// read, and checks the seal with `key` at the end: the caller applies
    /// the batches in one transaction and keeps it only if this returns Ok,
    /// so a bundle changed between two reads can never be half-trusted.
    pub fn read_sealed(
        mut self,
        key: &[u8; 32],
        mut each: impl FnMut(Batch, Vec<u8>) -> Result<()>,
    ) -> Result<()> {
        let path = self.path.clone();
        let mut mac = blake3::Hasher::new_keyed(key);
        mac.update(&self.prefix);
        let mut undecodable = None;
        loop {
            let len = read_u32(&mut self.file).map_err(|_| bundle(&path, BundleProblem::Truncated))?;
            mac.update(&len.to_le_bytes());
            if len == 0 {
                break;
            }
            if len as usize > MAX_BATCH_BYTES {
                return Err(bundle(&path, BundleProblem::Tampered));
            }
            let mut bytes = vec![0u8; len as usize];
            self.file.read_exact(&mut bytes).map_err(|_| bundle(&path, BundleProblem::Truncated))?;
            mac.update(&bytes);
            // After a frame that does not decode, the rest is still read for
            // the seal: a damaged file reads as tampered or truncated, and
            // only a sealed file's own content is reported as a bad batch.
            if undecodable.is_none() {
                match Batch::decode(&bytes) {
                    Ok(batch) => each(batch, bytes)?,
                    Err(e) => undecodable = Some(e),
                }
            }
        }
        self.finish(mac)?;
        undecodable.map_or(Ok(()), Err)
    }

    /// Reads the stated seal after the last batch and compares it with `mac`.
    fn finish(&mut self, mac: blake3::Hasher) -> Result<()> {
        let path = self.path.clone();
        let mut stated = [0u8; MAC_LEN];
        self.file.read_exact(&mut stated).map_err(|_| bundle(&path, BundleProblem::Truncated))?;
        let mut rest = [0u8; 1];
        let trailing = self.file.read(&mut rest).map_err(|e| Error::io("cannot read", &path, e))?;
        if trailing != 0 || mac.finalize() != blake3::Hash::from_bytes(stated) {
            return Err(bundle(&path, BundleProblem::Tampered));
        }
        Ok(())
    }
}

fn read_u32(r: &mut impl Read) -> std::io::Result<u32> {
    let mut b = [0u8; 4];
    r.read_exact(&mut b)?;
    Ok(u32::from_le_bytes(b))
}

/// What is wrong with a sync bundle.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BundleProblem {
    /// Not a sync bundle at all.
    #[error("it is not a Kalamu sync bundle")]
    NotABundle,
    /// A format this build does not read.
    #[error("it is in bundle format {0}, which this Kalamu does not read; update Kalamu")]
    Format(u32),
    /// The file ends early.
    #[error("it is truncated (the copy did not finish); copy it again")]
    Truncated,
    /// The seal does not match.
    #[error("it has been changed since it was made, or was not made by this center; it was not imported")]
    Tampered,
    /// The bundle is for another center.
    #[error("it belongs to center {theirs}, not to this laptop's center {ours}")]
    OtherCenter {
        /// This side's center.
        ours: String,
        /// The bundle's center.
        theirs: String,
    },
    /// A laptop's bundle offered to a laptop.
    #[error("it was made by a laptop; import it on the hub, which then passes it on")]
    FromLaptop,
}

impl BundleProblem {
    /// A stable code for scripts and the UI.
    pub fn code(&self) -> &'static str {
        match self {
            BundleProblem::NotABundle => "not_a_bundle",
            BundleProblem::Format(_) => "bundle_format",
            BundleProblem::Truncated => "bundle_truncated",
            BundleProblem::Tampered => "bundle_tampered",
            BundleProblem::OtherCenter { .. } => "bundle_other_center",
            BundleProblem::FromLaptop => "bundle_from_laptop",
        }
    }
}

fn bundle(path: &Path, problem: BundleProblem) -> Error {
    Error::Bundle { path: path.to_owned(), problem }
}

/// What importing a bundle did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct BundleImport {
    /// Events in the bundle.
    pub received: u64,
    /// Events that were new here.
    pub new: u64,
}

impl Store {
    /// Writes every event held here to a bundle for the hub, sealed with this laptop's key.
    pub fn export_bundle(&self, path: &Path) -> Result<u64> {
        let link = self.require_hub_link()?;
        let device = self.device()?;
        // A laptop speaks only for itself: its bundle holds its own events.
        let total = VersionVector::default().lacks_from(&self.own_vector()?);
        let header = BundleHeader {
            format: FORMAT,
            center_id: link.center_id.clone(),
            from: BundleSource::Device(device.id),
            created_at: now_millis(),
            events: total,
        };
        let key = device_bundle_key(&token_hash(&link.device_token));
        let mut sent = VersionVector::default();
        write_bundle(path, &header, &key, || {
            let batch = self.own_batch_after(&sent, BUNDLE_BATCH)?;
            if batch.events.is_empty() {
                return Ok(None);
            }
            for e in &batch.events {
                sent.raise(&e.device_id, e.seq);
            }
            Ok(Some(batch))
        })?;
        Ok(total)
    }

    /// Imports a bundle the center's hub made: checked whole first, then
    /// applied batch by batch. Importing it again changes nothing.
    pub fn import_bundle(&self, path: &Path) -> Result<BundleImport> {
        let link = self.require_hub_link()?;
        let reader = BundleReader::open(path)?;
        if reader.header.center_id != link.center_id {
            return Err(bundle(
                path,
                BundleProblem::OtherCenter { ours: link.center_id, theirs: reader.header.center_id.clone() },
            ));
        }
        if reader.header.from != BundleSource::Hub {
            return Err(bundle(path, BundleProblem::FromLaptop));
        }
        let key = center_bundle_key(&link.center_key)?;
        // One read of the file, one transaction: the bundle is applied whole
        // or not at all, even if the file changes while it is read.
        let tx = rusqlite::Transaction::new_unchecked(self.conn(), rusqlite::TransactionBehavior::Immediate)?;
        let mut done = BundleImport::default();
        // The hub made this bundle, so it holds every event in it; but this
        // laptop's own id past what it recorded is another copy's history.
        let own = self.device()?.id;
        let own_head = self.own_vector()?.get(&own);
        let mut held = VersionVector::default();
        let mut not_recorded_here = 0;
        reader.read_sealed(&key, |batch, _| {
            let applied = self.apply_in(&tx, &batch, batch.events.len())?;
            for e in batch.events.iter().filter(|e| e.device_id != own || e.seq <= own_head) {
                held.raise(&e.device_id, e.seq);
            }
            done.received += applied.received as u64;
            done.new += applied.new as u64;
            not_recorded_here += applied.not_recorded_here;
            Ok(())
        })?;
        self.note_hub_vector_in(&tx, &held)?;
        tx.commit()?;
        if not_recorded_here > 0 {
            self.note_identity_clash(self.hub_vector()?.get(&own) + 1)?;
        }
        Ok(done)
    }
}
