//! Patch packs: only the files that changed between two versions of a pack,
//! with the new version's signed manifest, for a USB stick or a slow link.
//!
//! A patch is applied by rebuilding the whole new pack on the laptop, from
//! the patch's files and the content the laptop already holds (by BLAKE3),
//! and importing that as any pack: the same checks, the same one
//! transaction. A patch never needs trusting on its own; the new manifest's
//! signature covers every file, whichever way it arrived.

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use zip::ZipArchive;
use zip::write::SimpleFileOptions;

use super::import::{ImportOptions, ImportReport};
use super::{MANIFEST_NAME, MAX_MANIFEST_BYTES, Manifest, Problem, Progress, SIGNATURE_NAME};
use crate::{Error, Result, Store};

/// The entry that makes a zip a patch rather than a pack.
pub const PATCH_INFO: &str = "kalamu-patch.json";

/// What a patch upgrades.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchInfo {
    /// The pack.
    pub pack_id: String,
    /// The version whose files the patch leaves out, if it was made from one.
    pub from_version: Option<String>,
    /// The version it makes.
    pub to_version: String,
}

/// Why a patch cannot be applied here: the files it leaves out are not on this laptop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingBase {
    /// Pack id.
    pub pack: String,
    /// The version the patch makes.
    pub to: String,
    /// The version it was made from.
    pub from: Option<String>,
    /// The version installed here.
    pub installed: Option<String>,
    /// Files neither in the patch nor here.
    pub missing: usize,
    /// One of them.
    pub example: String,
}

impl std::fmt::Display for MissingBase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let from = self.from.as_ref().map(|v| format!(" from version {v}")).unwrap_or_default();
        let has =
            self.installed.as_ref().map_or_else(|| "no version of it".to_owned(), |v| format!("version {v}"));
        write!(
            f,
            "this patch makes {} {}{from}; this laptop has {has} and lacks {} of the files it needs (such as {}): import the whole pack instead",
            self.pack, self.to, self.missing, self.example
        )
    }
}

/// What a patch holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PatchStats {
    /// Files carried (the others come from the laptop).
    pub files: usize,
    /// Their content bytes.
    pub content_bytes: u64,
    /// Files of the new version in all.
    pub of_files: usize,
    /// Their content bytes in all.
    pub of_content_bytes: u64,
}

/// Writes to `out` a patch that makes pack `manifest` (read from `archive`,
/// whose manifest and signature entries are copied as they are) from the
/// content whose hashes are in `have`.
pub fn write_patch<R: Read + Seek, W: Write + Seek>(
    archive: &mut ZipArchive<R>,
    manifest: &Manifest,
    info: &PatchInfo,
    have: &HashSet<String>,
    out: W,
) -> Result<PatchStats> {
    let fail = |e: zip::result::ZipError| Error::pack(&info.pack_id, Problem::NotAZip(e.to_string()));
    let mut zip = zip::ZipWriter::new(out);
    let stored = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    zip.start_file(PATCH_INFO, stored).map_err(fail)?;
    zip.write_all(&serde_json::to_vec_pretty(info).expect("patch info serializes"))
        .map_err(|e| fail(e.into()))?;
    for name in [MANIFEST_NAME, SIGNATURE_NAME] {
        if let Some(i) = archive.index_for_name(name) {
            zip.raw_copy_file(archive.by_index_raw(i).map_err(fail)?).map_err(fail)?;
        }
    }
    let mut stats = PatchStats { files: 0, content_bytes: 0, of_files: 0, of_content_bytes: 0 };
    let mut carried = HashSet::new();
    for f in &manifest.files {
        stats.of_files += 1;
        stats.of_content_bytes += f.size;
        // One copy of each content, and none the other side holds.
        if have.contains(&f.blake3) || !carried.insert(f.blake3.clone()) {
            continue;
        }
        let i = archive.index_for_name(&f.path).ok_or_else(|| fail(zip::result::ZipError::FileNotFound))?;
        zip.raw_copy_file(archive.by_index_raw(i).map_err(fail)?).map_err(fail)?;
        stats.files += 1;
        stats.content_bytes += f.size;
    }
    zip.finish().map_err(fail)?;
    Ok(stats)
}

/// `kalamu pack diff OLD NEW --out F.kpatch`: what NEW adds to OLD.
pub fn diff(old: &Path, new: &Path, out: &Path) -> Result<PatchStats> {
    let old_pack = super::verify::OpenedPack::open(old)?;
    let new_pack = super::verify::OpenedPack::open(new)?;
    let (o, n) = (&old_pack.manifest, &new_pack.manifest);
    if o.id != n.id {
        return Err(Error::pack(
            new,
            Problem::source("pack id", format!("{} is not a version of {}", n.id, o.id)),
        ));
    }
    let have: HashSet<String> = o.files.iter().map(|f| f.blake3.clone()).collect();
    let info = PatchInfo {
        pack_id: n.id.clone(),
        from_version: Some(o.version.clone()),
        to_version: n.version.clone(),
    };
    let mut archive =
        ZipArchive::new(BufReader::new(File::open(new).map_err(|e| Error::io("cannot open", new, e))?))
            .map_err(|e| Error::pack(new, Problem::NotAZip(e.to_string())))?;
    let file = File::create(out).map_err(|e| Error::io("cannot write", out, e))?;
    let stats = write_patch(&mut archive, n, &info, &have, BufWriter::new(file))?;
    Ok(stats)
}

impl Store {
    /// The BLAKE3 of every file content this laptop holds of pack `pack_id`
    /// (what an upgrade need not fetch again).
    pub fn held_contents(&self, pack_id: &str) -> Result<HashSet<String>> {
        let mut stmt =
            self.conn().prepare_cached("SELECT DISTINCT content FROM pack_files WHERE pack_id = ?1")?;
        let rows = stmt.query_map([pack_id], |r| r.get::<_, Vec<u8>>(0))?;
        Ok(rows.map(|r| r.map(hex::encode)).collect::<rusqlite::Result<_>>()?)
    }

    /// Installs or upgrades from a pack or a patch, told apart by what the
    /// file holds rather than by its name.
    pub fn import_file(
        &self,
        file: &Path,
        options: ImportOptions,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<ImportReport> {
        if is_patch(file) {
            self.import_patch(file, options, progress)
        } else {
            self.import_pack(file, options, progress)
        }
    }

    /// Upgrades (or installs) a pack from a patch: rebuilds the new version
    /// from the patch and the content held here, then imports it as any pack.
    pub fn import_patch(
        &self,
        patch: &Path,
        options: ImportOptions,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<ImportReport> {
        let mut opened = OpenedPatch::open(patch)?;
        let manifest = &opened.manifest;
        // Everything the import will check that costs nothing to check now
        // is checked before a byte is rebuilt: who signed, trust, version, room.
        match &opened.signer {
            Some(key) if self.trusted_name(key)?.is_none() && !options.allow_unsigned => {
                return Err(Error::UnknownPublisher { pack: patch.to_path_buf(), key: key.clone() });
            }
            None if !options.allow_unsigned => return Err(Error::Unsigned { pack: patch.to_path_buf() }),
            _ => {}
        }
        self.check_newer(manifest)?;
        self.check_publisher(&manifest.id, opened.signer.as_deref(), options)?;
        self.check_room_for_download(0, manifest.total_bytes())?;
        let (carried, lacking) = self.patch_files(&mut opened, patch)?;
        let manifest = &opened.manifest;
        if let Some(example) = lacking.first() {
            let installed = self.installed_version(&manifest.id)?;
            return Err(Error::PatchNeedsBase(Box::new(MissingBase {
                pack: manifest.id.clone(),
                to: manifest.version.clone(),
                from: opened.info.from_version.clone(),
                installed,
                missing: lacking.len(),
                example: example.clone(),
            })));
        }
        let rebuilt = self.rebuilt_path(manifest);
        let report = self
            .rebuild(&mut opened.archive, manifest, &carried, patch, &rebuilt)
            .and_then(|()| self.import_pack(&rebuilt, options, progress));
        let _ = std::fs::remove_file(&rebuilt);
        report
    }

    /// The files of the new version a patch carries (by path), and those
    /// neither it nor this laptop holds (by path), which it cannot be applied without.
    pub(crate) fn patch_files(
        &self,
        patch: &mut OpenedPatch,
        path: &Path,
    ) -> Result<(HashSet<String>, Vec<String>)> {
        let fail = |p: Problem| Error::pack(path, p);
        // Each carried entry must be what the manifest says, by its declared
        // size, so that rebuilding writes no more than the manifest's bytes.
        let mut carried: HashSet<String> = HashSet::new();
        for f in &patch.manifest.files {
            if let Some(i) = patch.archive.index_for_name(&f.path) {
                let declared =
                    patch.archive.by_index_raw(i).map_err(|e| fail(Problem::NotAZip(e.to_string())))?.size();
                if declared != f.size {
                    return Err(fail(Problem::SizeMismatch {
                        path: f.path.clone(),
                        expected: f.size,
                        found: declared,
                    }));
                }
                carried.insert(f.path.clone());
            }
        }
        let carried_hashes: HashSet<&str> = patch
            .manifest
            .files
            .iter()
            .filter(|f| carried.contains(&f.path))
            .map(|f| f.blake3.as_str())
            .collect();
        let mut lacking = Vec::new();
        for f in patch.manifest.files.iter().filter(|f| !carried.contains(&f.path)) {
            if !carried_hashes.contains(f.blake3.as_str()) && self.content_location(&f.blake3)?.is_none() {
                lacking.push(f.path.clone());
            }
        }
        Ok((carried, lacking))
    }

    /// Where the content with BLAKE3 `hash` can be read: a pack and path holding it.
    fn content_location(&self, hash: &str) -> Result<Option<(String, String, u64)>> {
        use rusqlite::OptionalExtension;
        let Ok(raw) = hex::decode(hash) else { return Ok(None) };
        Ok(self
            .conn()
            .prepare_cached("SELECT pack_id, path, size FROM pack_files WHERE content = ?1 LIMIT 1")?
            .query_row([raw], |r| Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)? as u64)))
            .optional()?)
    }

    /// The whole new pack, in the data dir: the patch's entries as they are,
    /// the others read from the chunk store.
    /// A file name of its own for a rebuild, in the data dir.
    fn rebuilt_path(&self, manifest: &Manifest) -> PathBuf {
        let mut nonce = [0u8; 8];
        getrandom::fill(&mut nonce).expect("the OS has randomness");
        let id: String = manifest
            .id
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '.' { c } else { '_' })
            .collect();
        self.dir().join("downloads").join(format!("rebuilt-{id}-{}.kpack", hex::encode(nonce)))
    }

    fn rebuild<R: Read + Seek>(
        &self,
        archive: &mut ZipArchive<R>,
        manifest: &Manifest,
        carried: &HashSet<String>,
        patch: &Path,
        path: &Path,
    ) -> Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::io("cannot make", dir, e))?;
        }
        let io = |e: std::io::Error| Error::io("cannot write", path, e);
        let zfail = |e: zip::result::ZipError| Error::pack(patch, Problem::NotAZip(e.to_string()));
        let mut zip = zip::ZipWriter::new(BufWriter::new(File::create(path).map_err(io)?));
        let stored =
            SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored).large_file(true);
        for name in [MANIFEST_NAME, SIGNATURE_NAME] {
            if let Some(i) = archive.index_for_name(name) {
                zip.raw_copy_file(archive.by_index_raw(i).map_err(zfail)?).map_err(zfail)?;
            }
        }
        // Contents the patch carries, by hash, for files that share one.
        let in_patch: std::collections::HashMap<&str, &str> = manifest
            .files
            .iter()
            .filter(|f| carried.contains(&f.path))
            .map(|f| (f.blake3.as_str(), f.path.as_str()))
            .collect();
        let index = |archive: &ZipArchive<R>, name: &str| {
            archive.index_for_name(name).ok_or_else(|| zfail(zip::result::ZipError::FileNotFound))
        };
        for f in &manifest.files {
            if carried.contains(&f.path) {
                let i = index(archive, &f.path)?;
                zip.raw_copy_file(archive.by_index_raw(i).map_err(zfail)?).map_err(zfail)?;
            } else if let Some((pack, at, size)) = self.content_location(&f.blake3)? {
                zip.start_file(f.path.as_str(), stored).map_err(zfail)?;
                let mut done = 0;
                while done < size {
                    let end = (done + (1 << 20)).min(size);
                    zip.write_all(&self.read_range(&pack, &at, done, end)?).map_err(io)?;
                    done = end;
                }
            } else {
                // The same content under another path of the patch: its
                // compressed bytes copied under this path, never expanded here.
                let twin = in_patch
                    .get(f.blake3.as_str())
                    .ok_or_else(|| zfail(zip::result::ZipError::FileNotFound))?;
                let i = index(archive, twin)?;
                zip.raw_copy_file_rename(archive.by_index_raw(i).map_err(zfail)?, f.path.as_str())
                    .map_err(zfail)?;
            }
        }
        zip.finish().map_err(zfail)?.flush().map_err(io)?;
        Ok(())
    }
}

/// Whether a file is a patch (a zip holding [`PATCH_INFO`]) rather than a pack.
pub fn is_patch(path: &Path) -> bool {
    File::open(path)
        .ok()
        .and_then(|f| ZipArchive::new(BufReader::new(f)).ok())
        .is_some_and(|a| a.index_for_name(PATCH_INFO).is_some())
}

/// A patch, its description and signed manifest read and checked against each other.
pub(crate) struct OpenedPatch {
    /// The patch's zip.
    pub archive: ZipArchive<BufReader<File>>,
    /// What it upgrades.
    pub info: PatchInfo,
    /// The new version's manifest.
    pub manifest: Manifest,
    /// Who signed that manifest, if anyone did (the signature checked).
    pub signer: Option<String>,
}

impl OpenedPatch {
    /// Opens a patch: its description, the manifest it makes, and that manifest's signature.
    pub fn open(patch: &Path) -> Result<OpenedPatch> {
        let fail = |p: Problem| Error::pack(patch, p);
        let file = File::open(patch).map_err(|e| Error::io("cannot open the patch", patch, e))?;
        let mut archive =
            ZipArchive::new(BufReader::new(file)).map_err(|e| fail(Problem::NotAZip(e.to_string())))?;
        let info: PatchInfo =
            serde_json::from_slice(&small(&mut archive, PATCH_INFO, 64 << 10).map_err(fail)?)
                .map_err(|e| fail(Problem::source(PATCH_INFO, e.to_string())))?;
        let manifest_bytes = small(&mut archive, MANIFEST_NAME, MAX_MANIFEST_BYTES).map_err(fail)?;
        let manifest = Manifest::from_bytes(&manifest_bytes).map_err(fail)?;
        if manifest.id != info.pack_id || manifest.version != info.to_version {
            return Err(fail(Problem::source(PATCH_INFO, "it does not describe the manifest beside it")));
        }
        let signer = match small(&mut archive, SIGNATURE_NAME, 64 << 10) {
            Ok(sig) => Some(super::sign::verify(&manifest_bytes, &sig).map_err(fail)?),
            Err(Problem::MissingFile { .. }) => None,
            Err(p) => return Err(fail(p)),
        };
        Ok(OpenedPatch { archive, info, manifest, signer })
    }
}

fn small<R: Read + Seek>(
    archive: &mut ZipArchive<R>,
    name: &str,
    limit: u64,
) -> std::result::Result<Vec<u8>, Problem> {
    let entry = archive.by_name(name).map_err(|_| match name {
        MANIFEST_NAME => Problem::MissingManifest,
        _ => Problem::MissingFile { path: name.to_owned() },
    })?;
    let mut bytes = Vec::new();
    entry
        .take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Problem::UnreadableEntry { path: name.to_owned(), why: e.to_string() })?;
    if bytes.len() as u64 > limit {
        return Err(Problem::TooLarge { what: name.to_owned(), limit: format!("{limit} bytes") });
    }
    Ok(bytes)
}
