//! Building a pack from a publisher's source folder: `pack.toml`, lesson
//! pages and media, quizzes as TOML files. Every problem is reported with
//! the file at fault before anything is written.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use zip::CompressionMethod;
use zip::write::SimpleFileOptions;

use super::manifest::{FileEntry, Lesson, Module, Quiz, media_type_for};
use super::sign::SecretKey;
use super::sniff::Sniffer;
use super::{MANIFEST_NAME, MAX_FILE_BYTES, Manifest, Problem, Progress, SIGNATURE_NAME, path, references};
use crate::{Error, Result};

/// The source folder's description of the pack.
pub const SOURCE_MANIFEST: &str = "pack.toml";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SourcePack {
    format: u32,
    id: String,
    version: String,
    title: String,
    #[serde(default)]
    description: String,
    language: String,
    publisher: String,
    #[serde(default)]
    licence: String,
    modules: Vec<SourceModule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SourceModule {
    id: String,
    title: String,
    lessons: Vec<SourceLesson>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SourceLesson {
    id: String,
    title: String,
    entry: Option<String>,
    quiz: Option<String>,
}

/// What a build produced.
#[derive(Debug, Clone)]
pub struct BuildReport {
    /// The manifest written into the pack.
    pub manifest: Manifest,
    /// The signer's public key, when signed.
    pub signer: Option<String>,
    /// Size of the pack file.
    pub pack_bytes: u64,
}

/// Builds `src` into the pack file `out`, signed with `key` if given.
pub fn build(
    src: &Path,
    out: &Path,
    key: Option<&SecretKey>,
    progress: &mut dyn FnMut(Progress),
) -> Result<BuildReport> {
    let fail = |file: &str, problem: String| Error::pack(src, Problem::source(file, problem));
    let toml_path = src.join(SOURCE_MANIFEST);
    let text = fs::read_to_string(&toml_path).map_err(|e| Error::io("cannot read", &toml_path, e))?;
    let source: SourcePack = toml::from_str(&text).map_err(|e| fail(SOURCE_MANIFEST, e.to_string()))?;

    let mut quiz_files = Vec::new();
    let mut modules = Vec::new();
    for m in source.modules {
        let mut lessons = Vec::new();
        for l in m.lessons {
            let quiz = match &l.quiz {
                Some(q) => {
                    path::check(q).map_err(|p| fail(SOURCE_MANIFEST, p.to_string()))?;
                    let qtext = fs::read_to_string(src.join(q)).map_err(|_| {
                        fail(SOURCE_MANIFEST, format!("lesson {}: quiz file {q} is missing", l.id))
                    })?;
                    let quiz: Quiz = toml::from_str(&qtext).map_err(|e| fail(q, e.to_string()))?;
                    quiz.validate().map_err(|msg| fail(q, msg))?;
                    quiz_files.push(q.clone());
                    Some(quiz)
                }
                None => None,
            };
            lessons.push(Lesson { id: l.id, title: l.title, entry: l.entry, quiz });
        }
        modules.push(Module { id: m.id, title: m.title, lessons });
    }

    let mut paths = Vec::new();
    walk(src, src, &mut paths)?;
    paths.retain(|p| p != SOURCE_MANIFEST && !quiz_files.contains(p));
    paths.sort();

    let total: u64 = paths.iter().map(|p| fs::metadata(src.join(p)).map(|m| m.len()).unwrap_or(0)).sum();
    let mut done = 0;
    let mut files = Vec::with_capacity(paths.len());
    for p in &paths {
        path::check(p).map_err(|problem| fail(p, problem.to_string()))?;
        let file_path = src.join(p);
        let size = fs::metadata(&file_path).map_err(|e| Error::io("cannot read", &file_path, e))?.len();
        if size > MAX_FILE_BYTES {
            return Err(fail(p, format!("it is {size} bytes, over the limit of {MAX_FILE_BYTES}")));
        }
        let media_type = media_type_for(p);
        let (hash, fits) = hash_and_sniff(&file_path, media_type, &mut |n| {
            done += n;
            progress(Progress { done, total });
        })?;
        if !fits {
            return Err(fail(p, format!("its content is not {media_type}, as its name says")));
        }
        files.push(FileEntry { path: p.clone(), size, blake3: hash, media_type: media_type.into() });
    }

    let manifest = Manifest {
        format: source.format,
        id: source.id,
        version: source.version,
        title: source.title,
        description: source.description,
        language: source.language,
        publisher: source.publisher,
        licence: source.licence,
        modules,
        files,
    };
    for lesson in manifest.modules.iter().flat_map(|m| &m.lessons) {
        if let Some(entry) = &lesson.entry
            && manifest.file(entry).is_none()
        {
            return Err(fail(
                SOURCE_MANIFEST,
                format!("lesson {}: its entry file {entry} is missing", lesson.id),
            ));
        }
    }
    manifest.validate().map_err(|p| fail(SOURCE_MANIFEST, p.to_string()))?;
    for f in manifest.files.iter().filter(|f| f.media_type == "text/html" || f.media_type == "text/css") {
        check_references(src, f, &manifest).map_err(|msg| fail(&f.path, msg))?;
    }

    let manifest_bytes = manifest.to_bytes();
    let signature = key.map(|k| k.sign(&manifest_bytes));
    if let Err(e) = write_zip(src, out, &manifest_bytes, signature.as_ref(), &manifest.files) {
        let _ = fs::remove_file(part_path(out));
        return Err(e);
    }
    let pack_bytes = fs::metadata(out).map_err(|e| Error::io("cannot read", out, e))?.len();
    Ok(BuildReport { manifest, signer: signature.map(|s| s.public_key), pack_bytes })
}

/// Collects every regular file under `dir`, as pack paths; refuses links.
fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) -> Result<()> {
    let entries = fs::read_dir(dir).map_err(|e| Error::io("cannot read the folder", dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("cannot read the folder", dir, e))?;
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue; // hidden files: editor and OS leftovers, never content
        }
        let full = entry.path();
        let rel = full.strip_prefix(root).expect("walk stays under root");
        let rel = rel.to_str().map(|s| s.replace(std::path::MAIN_SEPARATOR, "/")).ok_or_else(|| {
            Error::pack(root, Problem::source(rel.to_string_lossy(), "its name is not valid Unicode"))
        })?;
        let kind = entry.file_type().map_err(|e| Error::io("cannot read", &full, e))?;
        if kind.is_symlink() {
            return Err(Error::pack(
                root,
                Problem::source(rel, "it is a symbolic link; copy the file in instead"),
            ));
        } else if kind.is_dir() {
            walk(root, &full, out)?;
        } else if kind.is_file() {
            out.push(rel);
        }
    }
    Ok(())
}

fn hash_and_sniff(
    path: &Path,
    media_type: &'static str,
    progress: &mut dyn FnMut(u64),
) -> Result<(String, bool)> {
    let mut file = File::open(path).map_err(|e| Error::io("cannot open", path, e))?;
    let mut hasher = blake3::Hasher::new();
    let mut sniffer = Sniffer::new(media_type);
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(|e| Error::io("cannot read", path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        sniffer.update(&buf[..n]);
        progress(n as u64);
    }
    Ok((hasher.finalize().to_hex().to_string(), sniffer.fits()))
}

/// Every `src`/`href`/`srcset`/`url()`/`@import` in a page or stylesheet must name a file of the pack.
fn check_references(src: &Path, file: &FileEntry, manifest: &Manifest) -> Result<(), String> {
    let text = fs::read_to_string(src.join(&file.path)).map_err(|e| e.to_string())?;
    for reference in references::in_text(&text, file.media_type == "text/html") {
        let r = reference.trim();
        if r.is_empty() || r.starts_with('#') || r.starts_with("data:") || r.starts_with("mailto:") {
            continue;
        }
        if r.contains("://") || r.starts_with("//") {
            return Err(format!("it refers to the external address {r}; packs must work offline"));
        }
        let target = r.split(['?', '#']).next().unwrap_or(r);
        // The webview asks for the decoded name (`Vid%C3%A9o%201.webm` is `Vidéo 1.webm`).
        let Some(target) = path::percent_decode(target) else {
            return Err(format!("it refers to {r}, whose %-escapes are malformed"));
        };
        match path::resolve(&file.path, &target) {
            None => return Err(format!("it refers to {r}, outside the pack")),
            Some(p) if manifest.file(&p).is_none() => {
                return Err(format!("it refers to {r}, which is missing from the pack"));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// Where a pack is written before it is renamed into place.
fn part_path(out: &Path) -> PathBuf {
    out.with_extension("kpack.part")
}

/// Writes the zip next to `out` and renames it into place, so a failed
/// build never leaves a half-written pack under the final name.
fn write_zip(
    src: &Path,
    out: &Path,
    manifest: &[u8],
    signature: Option<&super::sign::SignatureEntry>,
    files: &[FileEntry],
) -> Result<()> {
    let tmp = part_path(out);
    let file = File::create(&tmp).map_err(|e| Error::io("cannot create", &tmp, e))?;
    let mut zip = zip::ZipWriter::new(BufWriter::with_capacity(1 << 20, file));
    let zerr = |e: zip::result::ZipError| Error::io("cannot write", out, std::io::Error::other(e));
    let text =
        SimpleFileOptions::default().compression_method(CompressionMethod::Deflated).unix_permissions(0o644);
    let stored =
        SimpleFileOptions::default().compression_method(CompressionMethod::Stored).unix_permissions(0o644);

    zip.start_file(MANIFEST_NAME, text).map_err(zerr)?;
    zip.write_all(manifest).map_err(|e| Error::io("cannot write", out, e))?;
    if let Some(sig) = signature {
        zip.start_file(SIGNATURE_NAME, text).map_err(zerr)?;
        zip.write_all(&serde_json::to_vec_pretty(sig).expect("serializes"))
            .map_err(|e| Error::io("cannot write", out, e))?;
    }
    let mut by_path: BTreeMap<&str, &FileEntry> = BTreeMap::new();
    for f in files {
        by_path.insert(&f.path, f);
    }
    for f in by_path.values() {
        let compressible = f.media_type.starts_with("text/")
            || f.media_type == "image/svg+xml"
            || f.media_type == "application/json";
        let opts = if compressible { text } else { stored }.large_file(f.size >= u32::MAX as u64);
        zip.start_file(f.path.as_str(), opts).map_err(zerr)?;
        let path = src.join(&f.path);
        let mut input = File::open(&path).map_err(|e| Error::io("cannot open", &path, e))?;
        std::io::copy(&mut input, &mut zip).map_err(|e| Error::io("cannot write", out, e))?;
    }
    let mut writer = zip.finish().map_err(zerr)?;
    writer.flush().map_err(|e| Error::io("cannot write", out, e))?;
    writer
        .into_inner()
        .map_err(|e| Error::io("cannot write", out, e.into_error()))?
        .sync_all()
        .map_err(|e| Error::io("cannot write", out, e))?;
    fs::rename(&tmp, out).map_err(|e| Error::io("cannot create", out, e))
}
