//! Sync bundles: the sync wire format written to a file, so progress can
//! travel by USB stick where no link ever comes.
//!
//! ```text
//! "KALAMU-SYNC-BUNDLE\n"
//! u32 LE length, header JSON      (format, center, who made it, event count)
//! 64 bytes                        Ed25519 signature by the maker
//! u64 LE                          length of the sealed part
//! age file (X25519), the sealed part, encrypting:
//!     u32 LE length, batch bytes  (as on the wire), repeated
//!     u32 LE 0                    (end of batches)
//! ```
//!
//! The sealed part is encrypted to the bundle's readers ([`super::seal`]):
//! a laptop's bundles to its hub, a hub's to every laptop of the center that
//! is not revoked. A lost stick shows only which center and device a bundle
//! belongs to. The signature covers the magic, the header and the sealed
//! part, so no reader can forge a bundle from another maker. The whole file
//! is checked before any batch is kept, so a truncated, tampered or foreign
//! bundle changes nothing.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use ed25519_dalek::{Signature, Signer, Verifier};
use serde::{Deserialize, Serialize};

use super::seal::{self, Opening, Sealing};
use super::vector::VersionVector;
use super::wire::{Batch, MAX_BATCH_BYTES};
use crate::store::now_millis;
use crate::{Error, Result, Store};

const MAGIC: &[u8] = b"KALAMU-SYNC-BUNDLE\n";
/// The bundle format this build writes and reads.
pub const FORMAT: u32 = 2;
const MAX_HEADER: u32 = 64 << 10;
/// The signature and the sealed part's length, between the header and the sealed part.
const SEAL_BLOCK: usize = 64 + 8;
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

/// Writes a bundle of `batches` to `path` atomically (a temporary file, then a rename).
pub fn write_bundle(
    path: &Path,
    header: &BundleHeader,
    sealing: &Sealing<'_>,
    mut batches: impl FnMut() -> Result<Option<Batch>>,
) -> Result<()> {
    make_folder(path)?;
    let tmp = partial_path(path);
    let written = write_to(&tmp, header, sealing, &mut batches);
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
    sealing: &Sealing<'_>,
    batches: &mut impl FnMut() -> Result<Option<Batch>>,
) -> Result<()> {
    let io = |e| Error::io("cannot write", tmp, e);
    let recipients: Vec<_> = sealing.readers.iter().map(seal::recipient).collect();
    let encryptor = age::Encryptor::with_recipients(recipients.iter().map(|r| r as &dyn age::Recipient))
        .map_err(|_| Error::NoBundleReaders)?;
    let file = File::create(tmp).map_err(|e| Error::io("cannot create", tmp, e))?;
    let mut out = HashWriter { inner: BufWriter::new(file), hash: blake3::Hasher::new(), written: 0 };
    out.write_all(MAGIC).map_err(io)?;
    let head = serde_json::to_vec(header).expect("headers serialize");
    out.write_all(&(head.len() as u32).to_le_bytes()).map_err(io)?;
    out.write_all(&head).map_err(io)?;
    let seal_at = out.written;
    // The seal block is filled in once the sealed part is written; it is not part of the digest.
    out.inner.write_all(&[0u8; SEAL_BLOCK]).map_err(io)?;
    let sealed_from = out.written;
    let mut sealed = encryptor.wrap_output(&mut out).map_err(io)?;
    while let Some(batch) = batches()? {
        let bytes = batch.encode();
        sealed.write_all(&(bytes.len() as u32).to_le_bytes()).map_err(io)?;
        sealed.write_all(&bytes).map_err(io)?;
    }
    sealed.write_all(&0u32.to_le_bytes()).map_err(io)?;
    sealed.finish().map_err(io)?;
    let sealed_len = out.written - sealed_from;
    let signature = sealing.maker.sign(&seal::signed_message(&out.hash.finalize(), sealed_len));
    let mut file = out.inner.into_inner().map_err(|e| io(e.into_error()))?;
    file.seek(SeekFrom::Start(seal_at)).map_err(io)?;
    file.write_all(&signature.to_bytes()).map_err(io)?;
    file.write_all(&sealed_len.to_le_bytes()).map_err(io)?;
    file.sync_all().map_err(io)?;
    Ok(())
}

fn partial_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    path.with_file_name(name)
}

/// Writes through to `inner`, hashing and counting what the digest covers.
struct HashWriter<W> {
    inner: W,
    hash: blake3::Hasher,
    written: u64,
}

impl<W: Write> Write for HashWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Reads from `inner`, hashing what it reads.
struct HashReader<'a, R> {
    inner: R,
    hash: &'a mut blake3::Hasher,
}

impl<R: Read> Read for HashReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
}

/// An opened bundle whose header has been read but not yet trusted.
pub struct BundleReader {
    path: PathBuf,
    file: BufReader<File>,
    /// The header, as the file states it (trusted only once [`BundleReader::read_sealed`] has checked the seal).
    pub header: BundleHeader,
    /// The bytes before the seal block, as read (the signature covers them).
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
    /// read, and checks the signature at the end: the caller applies the
    /// batches in one transaction and keeps it only if this returns Ok, so a
    /// bundle changed between two reads can never be half-trusted.
    pub fn read_sealed(
        mut self,
        opening: &Opening<'_>,
        mut each: impl FnMut(Batch, Vec<u8>) -> Result<()>,
    ) -> Result<()> {
        let path = self.path.clone();
        let mut block = [0u8; SEAL_BLOCK];
        self.file.read_exact(&mut block).map_err(|_| bundle(&path, BundleProblem::Truncated))?;
        let signature = Signature::from_bytes(block[..64].try_into().expect("64 bytes"));
        let sealed_len = u64::from_le_bytes(block[64..].try_into().expect("8 bytes"));
        let size = self.file.get_ref().metadata().map_err(|e| Error::io("cannot read", &path, e))?.len();
        let stated = (self.prefix.len() + SEAL_BLOCK) as u64 + sealed_len;
        if size < stated {
            return Err(bundle(&path, BundleProblem::Truncated));
        }
        if size > stated {
            return Err(bundle(&path, BundleProblem::Tampered));
        }
        let mut hash = blake3::Hasher::new();
        hash.update(&self.prefix);
        let mut undecodable = None;
        {
            let input = HashReader { inner: (&mut self.file).take(sealed_len), hash: &mut hash };
            let mut plain = open_sealed(input, opening).map_err(|p| bundle(&path, p))?;
            let damaged = |e: std::io::Error| {
                let problem = match e.kind() {
                    std::io::ErrorKind::UnexpectedEof => BundleProblem::Truncated,
                    _ => BundleProblem::Tampered,
                };
                bundle(&path, problem)
            };
            loop {
                let len = read_u32(&mut plain).map_err(damaged)?;
                if len == 0 {
                    break;
                }
                if len as usize > MAX_BATCH_BYTES {
                    return Err(bundle(&path, BundleProblem::Tampered));
                }
                let mut bytes = vec![0u8; len as usize];
                plain.read_exact(&mut bytes).map_err(damaged)?;
                // After a frame that does not decode, the rest is still read for
                // the signature: a damaged file reads as tampered or truncated,
                // and only a signed file's own content is reported as a bad batch.
                if undecodable.is_none() {
                    match Batch::decode(&bytes) {
                        Ok(batch) => each(batch, bytes)?,
                        Err(e) => undecodable = Some(e),
                    }
                }
            }
            let mut rest = [0u8; 1];
            if plain.read(&mut rest).map_err(damaged)? != 0 {
                return Err(bundle(&path, BundleProblem::Tampered));
            }
        }
        let mut trailing = [0u8; 1];
        if self.file.read(&mut trailing).map_err(|e| Error::io("cannot read", &path, e))? != 0 {
            return Err(bundle(&path, BundleProblem::Tampered));
        }
        let message = seal::signed_message(&hash.finalize(), sealed_len);
        if opening.maker.verify(&message, &signature).is_err() {
            return Err(bundle(&path, BundleProblem::Tampered));
        }
        undecodable.map_or(Ok(()), Err)
    }
}

/// Opens the age file that is a bundle's sealed part with the reader's key.
fn open_sealed<R: Read>(
    input: R,
    opening: &Opening<'_>,
) -> std::result::Result<age::stream::StreamReader<R>, BundleProblem> {
    let damaged = |e: age::DecryptError| match e {
        age::DecryptError::Io(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => BundleProblem::Truncated,
        age::DecryptError::NoMatchingKeys => BundleProblem::NotForThisReader,
        _ => BundleProblem::Tampered,
    };
    let identity = seal::identity(opening.reader);
    age::Decryptor::new(input)
        .and_then(|d| d.decrypt(std::iter::once(&identity as &dyn age::Identity)))
        .map_err(damaged)
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
    #[error("it is in bundle format {0}, which this Kalamu does not read; make it again with this version")]
    Format(u32),
    /// The file ends early.
    #[error("it is truncated (the copy did not finish); copy it again")]
    Truncated,
    /// The signature does not match.
    #[error("it has been changed since it was made, or was not made by this center; it was not imported")]
    Tampered,
    /// None of the keys it was sealed for is this reader's.
    #[error(
        "it was not made for this laptop or hub: it was made before this laptop joined the center or after it \
         left, or for another hub"
    )]
    NotForThisReader,
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
            BundleProblem::NotForThisReader => "bundle_not_for_us",
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
    /// Writes every event recorded here to a bundle that only the hub can
    /// read, signed with this laptop's device key.
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
        let hub = link.bundle_key()?;
        let maker = self.signing_key()?;
        let sealing = Sealing { maker: &maker, readers: &[hub] };
        let mut sent = VersionVector::default();
        write_bundle(path, &header, &sealing, || {
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
        let (hub, reader_key) = (link.bundle_key()?, self.signing_key()?);
        let opening = Opening { reader: &reader_key, maker: &hub };
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
        reader.read_sealed(&opening, |batch, _| {
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
