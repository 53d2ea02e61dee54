//! Importing a pack while it arrives: the file is read front to back as a
//! download writes it, the manifest and signature first (they lead every
//! pack `kalamu pack build` writes), then each file, verified and stored as
//! it streams past. A download and its import overlap instead of following
//! one another.
//!
//! The local headers this reads are not what trust rests on: every file's
//! bytes are checked against the signed manifest, and once the file is
//! whole its directory goes through the same checks as any import
//! ([`OpenedPack::open`]) and must carry the same manifest. Nothing is
//! installed before all of that holds.

use std::collections::HashSet;
use std::io::Read;
use std::path::Path;

use zip::read::read_zipfile_from_stream;

use super::chunker::Chunker;
use super::import::{ImportOptions, ImportReport};
use super::verify::{Checked, OpenedPack, READ_BUF, io_problem, zip_problem};
use super::{MANIFEST_NAME, MAX_MANIFEST_BYTES, Manifest, Problem, Progress, SIGNATURE_NAME, path, sign};
use crate::{Error, Result, Store};

/// The pack a download was offered as: only that pack is installed from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offered {
    /// Its id.
    pub id: String,
    /// Its version.
    pub version: String,
    /// The signer's public key (hex), empty for an unsigned pack.
    pub signer: String,
}

impl Offered {
    /// Refuses a pack that is not the one offered: a person's consent to a
    /// signer covers that signer's pack, nothing else.
    pub fn check(&self, pack: &Path, manifest: &Manifest, signer: Option<&str>) -> Result<()> {
        let signer = signer.unwrap_or("");
        if manifest.id == self.id && manifest.version == self.version && signer == self.signer {
            return Ok(());
        }
        Err(Error::NotAsOffered {
            pack: pack.to_path_buf(),
            offered: format!("{} {} signed by {:?}", self.id, self.version, self.signer),
            found: format!("{} {} signed by {signer:?}", manifest.id, manifest.version),
        })
    }
}

impl Store {
    /// Imports the pack being written at `path`, reading it through
    /// `arriving`, which gives the file's bytes from its start as they come
    /// and ends only when the file is whole (or fails when it never will be).
    ///
    /// `Ok(None)`: the pack is not laid out front to back (another zip tool
    /// made it); nothing was stored, and the whole file imports as any pack
    /// once it is complete.
    pub fn import_arriving(
        &self,
        arriving: &mut dyn Read,
        path: &Path,
        offered: &Offered,
        options: ImportOptions,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Option<ImportReport>> {
        let fail = |problem| Error::pack(path, problem);
        let _lock = self.import_lock()?;
        let Some(manifest_bytes) = leading(arriving, MANIFEST_NAME, MAX_MANIFEST_BYTES).map_err(fail)? else {
            return Ok(None);
        };
        let manifest = Manifest::from_bytes(&manifest_bytes).map_err(fail)?;
        let Some(signature) = leading(arriving, SIGNATURE_NAME, 64 << 10).map_err(fail)? else {
            // Unsigned packs import from the whole file (and need a person's decision first).
            return Ok(None);
        };
        let signer = sign::verify(&manifest_bytes, &signature).map_err(fail)?;
        offered.check(path, &manifest, Some(&signer))?;
        let signer_name = self.check_trust(path, Some(&signer), options)?;
        let upgraded_from = self.check_newer(&manifest)?;
        self.check_publisher(&manifest.id, Some(&signer), options)?;
        self.check_space(&manifest.files)?;

        let outcome = self.store_chunks(|chunker| stream(arriving, path, &manifest, chunker, progress))?;
        // The whole file, directory included, as any import checks it.
        let pack = OpenedPack::open(path)?;
        if pack.manifest_bytes != manifest_bytes || pack.signer.as_deref() != Some(signer.as_str()) {
            return Err(fail(Problem::NotAZip(
                "its directory names another manifest than the one leading the file".into(),
            )));
        }
        let summary = self.install(&pack, &outcome.files)?;
        self.collect_garbage()?;
        Ok(Some(ImportReport {
            pack: summary,
            upgraded_from,
            signer_name,
            files: manifest.files.len(),
            bytes: manifest.total_bytes(),
            bytes_written: outcome.bytes_written,
            chunks_reused: outcome.chunks_reused,
        }))
    }
}

/// The next entry, read whole, if it is `name` and stays under `limit` bytes;
/// `None` if the next entry is another one.
fn leading(arriving: &mut dyn Read, name: &str, limit: u64) -> std::result::Result<Option<Vec<u8>>, Problem> {
    let mut arriving = arriving;
    let entry = match read_zipfile_from_stream(&mut arriving) {
        Ok(Some(entry)) => entry,
        Ok(None) | Err(zip::result::ZipError::UnsupportedArchive(_)) => return Ok(None),
        Err(e) => return Err(zip_problem(name, e)),
    };
    if entry.name_raw() != name.as_bytes() {
        return Ok(None);
    }
    let mut bytes = Vec::new();
    entry.take(limit + 1).read_to_end(&mut bytes).map_err(|e| io_problem(name, e))?;
    if bytes.len() as u64 > limit {
        return Err(Problem::TooLarge { what: name.to_owned(), limit: format!("{limit} bytes") });
    }
    Ok(Some(bytes))
}

/// Streams every file after the manifest and signature through `sink`,
/// checking each against the manifest, then reads on to the file's end.
fn stream(
    arriving: &mut dyn Read,
    pack: &Path,
    manifest: &Manifest,
    sink: &mut Chunker,
    progress: &mut dyn FnMut(Progress),
) -> Result<()> {
    let fail = |problem| Error::pack(pack, problem);
    let mut buf = vec![0u8; READ_BUF];
    let mut done = 0u64;
    let mut seen = HashSet::new();
    let mut checked = Checked { pack, buf: &mut buf, done: &mut done, total: manifest.total_bytes() };
    let mut reader = &mut *arriving;
    loop {
        let mut entry = match read_zipfile_from_stream(&mut reader) {
            Ok(Some(entry)) => entry,
            Ok(None) => break,
            Err(e) => return Err(fail(zip_problem("(an entry)", e))),
        };
        let name = String::from_utf8(entry.name_raw().to_vec()).map_err(|e| {
            fail(Problem::UnsafePath {
                path: String::from_utf8_lossy(e.as_bytes()).into_owned(),
                why: "its name is not valid text",
            })
        })?;
        if entry.encrypted() {
            return Err(fail(Problem::UnreadableEntry { path: name, why: "it is encrypted".into() }));
        }
        if let Some(dir) = name.strip_suffix('/') {
            path::check(dir).map_err(fail)?;
            continue;
        }
        path::check(&name).map_err(fail)?;
        let Some(file) = manifest.file(&name) else {
            return Err(fail(Problem::UnlistedEntry { path: name }));
        };
        if !seen.insert(name.clone()) {
            return Err(fail(Problem::DuplicateEntry { path: name }));
        }
        checked.file(&mut entry, file, sink, progress)?;
    }
    if let Some(missing) = manifest.files.iter().find(|f| !seen.contains(&f.path)) {
        return Err(fail(Problem::MissingFile { path: missing.path.clone() }));
    }
    // The directory follows; the pack is whole only once all of it came.
    std::io::copy(arriving, &mut std::io::sink()).map_err(|e| fail(io_problem("(end of archive)", e)))?;
    Ok(())
}
