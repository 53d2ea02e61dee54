//! Opening a pack and checking it: the archive's structure and the manifest
//! first (no byte of content read), then every byte as it streams past.
//!
//! Trust rests on the manifest, not on the zip's bytes: any zip tool may
//! repack the files, and the pack still verifies.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use zip::ZipArchive;
use zip::result::ZipError;

use super::manifest::{FileEntry, media_type_for};
use super::sniff::Sniffer;
use super::{MANIFEST_NAME, MAX_MANIFEST_BYTES, Manifest, Problem, Progress, SIGNATURE_NAME, path, sign};
use crate::{Error, Result};

/// Size of the reads while streaming content.
pub const READ_BUF: usize = 1 << 20;

/// A pack whose structure, manifest and signature have been checked.
pub struct OpenedPack {
    archive: ZipArchive<BufReader<File>>,
    /// The pack file.
    pub path: PathBuf,
    /// The validated manifest.
    pub manifest: Manifest,
    /// Its exact bytes, as signed.
    pub manifest_bytes: Vec<u8>,
    /// The signer's public key (hex), when the pack is signed.
    pub signer: Option<String>,
    index: HashMap<String, usize>,
}

/// Receives each file's content as it is verified.
pub trait FileSink {
    /// A file starts.
    fn begin(&mut self, file: &FileEntry) -> Result<()>;
    /// The next bytes of the current file.
    fn write(&mut self, bytes: &[u8]) -> Result<()>;
    /// The current file ended and checked out.
    fn end(&mut self, file: &FileEntry) -> Result<()>;
}

/// A sink that keeps nothing: for `pack verify`.
pub struct Discard;

impl FileSink for Discard {
    fn begin(&mut self, _: &FileEntry) -> Result<()> {
        Ok(())
    }
    fn write(&mut self, _: &[u8]) -> Result<()> {
        Ok(())
    }
    fn end(&mut self, _: &FileEntry) -> Result<()> {
        Ok(())
    }
}

impl OpenedPack {
    /// Opens a pack and checks everything but the content bytes.
    pub fn open(path: &Path) -> Result<OpenedPack> {
        let fail = |problem| Error::pack(path, problem);
        let file = File::open(path).map_err(|e| Error::io("cannot open the pack", path, e))?;
        let mut reader = BufReader::with_capacity(1 << 20, file);
        // A zip whose start is intact but whose directory (at the end) is gone
        // is a partial copy, which deserves a clearer word than "not a zip".
        let starts_like_zip = reader.fill_buf().is_ok_and(|head| head.starts_with(b"PK\x03\x04"));
        let mut archive = ZipArchive::new(reader).map_err(|e| match e {
            ZipError::Io(io) => fail(io_problem(MANIFEST_NAME, io)),
            e if starts_like_zip => {
                fail(Problem::Truncated { path: "(end of archive)".into(), detail: e.to_string() })
            }
            e => fail(Problem::NotAZip(e.to_string())),
        })?;

        if archive.has_duplicate_names() {
            let name = first_duplicate(path).unwrap_or_else(|| "(an entry)".into());
            return Err(fail(Problem::DuplicateEntry { path: name }));
        }
        let mut index = HashMap::new();
        for i in 0..archive.len() {
            let entry = archive.by_index_raw(i).map_err(|e| fail(zip_problem("(directory)", e)))?;
            let name = entry
                .name()
                .map_err(|_| {
                    fail(Problem::UnsafePath {
                        path: String::from_utf8_lossy(entry.name_raw()).into_owned(),
                        why: "its name is not valid text",
                    })
                })?
                .into_owned();
            if entry.is_symlink() {
                return Err(fail(Problem::Link { path: name }));
            }
            if entry.encrypted() {
                return Err(fail(Problem::UnreadableEntry { path: name, why: "it is encrypted".into() }));
            }
            let is_dir = entry.is_dir();
            drop(entry);
            if is_dir {
                path::check(name.trim_end_matches('/')).map_err(fail)?;
                continue;
            }
            path::check(&name).map_err(fail)?;
            if index.insert(name.clone(), i).is_some() {
                return Err(fail(Problem::DuplicateEntry { path: name }));
            }
        }
        path::case_collision(index.keys().map(String::as_str)).map_err(fail)?;

        let manifest_bytes = read_small(&mut archive, &index, MANIFEST_NAME, MAX_MANIFEST_BYTES)
            .map_err(fail)?
            .ok_or_else(|| fail(Problem::MissingManifest))?;
        let signer = match read_small(&mut archive, &index, SIGNATURE_NAME, 64 << 10).map_err(fail)? {
            Some(sig) => Some(sign::verify(&manifest_bytes, &sig).map_err(fail)?),
            None => None,
        };
        let manifest = Manifest::from_bytes(&manifest_bytes).map_err(fail)?;

        for f in &manifest.files {
            let Some(&i) = index.get(&f.path) else {
                return Err(fail(Problem::MissingFile { path: f.path.clone() }));
            };
            let declared = archive.by_index_raw(i).map_err(|e| fail(zip_problem(&f.path, e)))?.size();
            if declared != f.size {
                return Err(fail(Problem::SizeMismatch {
                    path: f.path.clone(),
                    expected: f.size,
                    found: declared,
                }));
            }
        }
        let mut names: Vec<&String> = index.keys().collect();
        names.sort(); // the same pack always reports the same entry
        if let Some(extra) = names
            .into_iter()
            .find(|name| *name != MANIFEST_NAME && *name != SIGNATURE_NAME && manifest.file(name).is_none())
        {
            return Err(fail(Problem::UnlistedEntry { path: extra.clone() }));
        }
        Ok(OpenedPack { archive, path: path.to_path_buf(), manifest, manifest_bytes, signer, index })
    }

    /// Streams every file, in archive order, through `sink`, checking each
    /// one's size, hash and type. Memory stays flat whatever the pack's size.
    pub fn stream(&mut self, sink: &mut dyn FileSink, progress: &mut dyn FnMut(Progress)) -> Result<()> {
        let mut files: Vec<(usize, FileEntry)> =
            self.manifest.files.iter().map(|f| (self.index[&f.path], f.clone())).collect();
        // Archive order reads the USB stick front to back.
        files.sort_by_key(|(i, _)| *i);
        let total = self.manifest.total_bytes();
        let mut done = 0u64;
        let mut buf = vec![0u8; READ_BUF];
        for (i, f) in files {
            let mut entry =
                self.archive.by_index(i).map_err(|e| Error::pack(&self.path, zip_problem(&f.path, e)))?;
            let mut checked = Checked { pack: &self.path, buf: &mut buf, done: &mut done, total };
            checked.file(&mut entry, &f, sink, progress)?;
        }
        Ok(())
    }
}

/// The state of a pass that checks files one after another.
pub(crate) struct Checked<'a> {
    /// The pack file, for errors.
    pub pack: &'a Path,
    /// The read buffer, reused from file to file.
    pub buf: &'a mut Vec<u8>,
    /// Content bytes checked so far.
    pub done: &'a mut u64,
    /// Content bytes in all.
    pub total: u64,
}

impl Checked<'_> {
    /// Streams one file's content through `sink`, checking its size, hash and type.
    pub fn file(
        &mut self,
        entry: &mut dyn Read,
        f: &FileEntry,
        sink: &mut dyn FileSink,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<()> {
        let fail = |problem| Error::pack(self.pack, problem);
        sink.begin(f)?;
        let mut hasher = blake3::Hasher::new();
        let mut sniffer = Sniffer::new(media_type_for(&f.path));
        let mut seen = 0u64;
        loop {
            let n = read_full(entry, self.buf).map_err(|e| fail(io_problem(&f.path, e)))?;
            if n == 0 {
                break;
            }
            seen += n as u64;
            if seen > f.size {
                return Err(fail(Problem::SizeMismatch {
                    path: f.path.clone(),
                    expected: f.size,
                    found: seen,
                }));
            }
            let bytes = &self.buf[..n];
            hasher.update(bytes);
            sniffer.update(bytes);
            sink.write(bytes)?;
            *self.done += n as u64;
            progress(Progress { done: *self.done, total: self.total });
        }
        if seen != f.size {
            return Err(fail(Problem::SizeMismatch { path: f.path.clone(), expected: f.size, found: seen }));
        }
        if hasher.finalize().to_hex().as_str() != f.blake3 {
            return Err(fail(Problem::HashMismatch { path: f.path.clone() }));
        }
        if !sniffer.fits() {
            return Err(fail(Problem::NotWhatItClaims {
                path: f.path.clone(),
                claimed: media_type_for(&f.path),
            }));
        }
        sink.end(f)
    }
}

/// The first name that appears twice, read from the local headers in order
/// (the zip reader's directory keeps only one of each name).
fn first_duplicate(path: &Path) -> Option<String> {
    let mut file = BufReader::new(File::open(path).ok()?);
    let mut seen = std::collections::HashSet::new();
    while let Ok(Some(mut entry)) = zip::read::read_zipfile_from_stream(&mut file) {
        let name = entry.name().ok()?.into_owned();
        if !seen.insert(name.clone()) {
            return Some(name);
        }
        std::io::copy(&mut entry, &mut std::io::sink()).ok()?;
    }
    None
}

/// Reads a whole entry that must stay under `limit` bytes.
fn read_small(
    archive: &mut ZipArchive<BufReader<File>>,
    index: &HashMap<String, usize>,
    name: &str,
    limit: u64,
) -> Result<Option<Vec<u8>>, Problem> {
    let Some(&i) = index.get(name) else { return Ok(None) };
    let entry = archive.by_index(i).map_err(|e| zip_problem(name, e))?;
    if entry.size() > limit {
        return Err(Problem::TooLarge { what: name.to_owned(), limit: format!("{limit} bytes") });
    }
    let mut bytes = Vec::new();
    entry.take(limit + 1).read_to_end(&mut bytes).map_err(|e| io_problem(name, e))?;
    if bytes.len() as u64 > limit {
        return Err(Problem::TooLarge { what: name.to_owned(), limit: format!("{limit} bytes") });
    }
    Ok(Some(bytes))
}

/// Fills `buf` as far as the reader allows; 0 only at the end.
fn read_full(r: &mut (impl Read + ?Sized), buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

pub(crate) fn zip_problem(path: &str, e: ZipError) -> Problem {
    match e {
        ZipError::Io(io) => io_problem(path, io),
        ZipError::UnsupportedArchive(why) => {
            Problem::UnreadableEntry { path: path.to_owned(), why: why.to_string() }
        }
        other if path == MANIFEST_NAME || path == "(directory)" => Problem::NotAZip(other.to_string()),
        other => Problem::Truncated { path: path.to_owned(), detail: other.to_string() },
    }
}

pub(crate) fn io_problem(path: &str, e: std::io::Error) -> Problem {
    Problem::Truncated { path: path.to_owned(), detail: e.to_string() }
}
