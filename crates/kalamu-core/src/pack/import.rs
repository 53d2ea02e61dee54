//! Importing a pack: one streaming pass that verifies every byte, stores
//! new chunks (skipping those already stored, so a retried or upgraded
//! import writes only what is missing), then makes the pack visible in one
//! transaction. Until that commit the library is exactly as it was.

use std::fs::File;
use std::path::Path;

use rusqlite::OptionalExtension;
use serde::Serialize;

use super::chunker::{ChunkList, Chunker, is_writer_gone};
use super::manifest::FileEntry;
use super::verify::OpenedPack;
use super::{Problem, Progress};
use crate::library::PackSummary;
use crate::store::chunks;
use crate::store::now_millis;
use crate::{Error, Result, Store};

/// Free space kept in reserve beyond what the import writes.
const SPACE_MARGIN: u64 = 32 << 20;

/// What the person decided about trust for this import.
#[derive(Debug, Clone, Copy, Default)]
pub struct ImportOptions {
    /// Accept a pack that is unsigned or signed by a publisher not in the trust store.
    pub allow_unsigned: bool,
    /// Accept an upgrade signed by another key than the installed version's
    /// (or not signed at all): it replaces the course and its answer key.
    pub accept_new_publisher: bool,
}

/// What an import did.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct ImportReport {
    /// The pack as now installed.
    pub pack: PackSummary,
    /// The version it replaced, for an upgrade.
    pub upgraded_from: Option<String>,
    /// The trusted name of the signer, when trusted.
    pub signer_name: Option<String>,
    /// Files in the pack.
    pub files: usize,
    /// Content bytes in the pack.
    pub bytes: u64,
    /// Content bytes newly written to the chunk store.
    pub bytes_written: u64,
    /// Chunks that were already stored and not written again.
    pub chunks_reused: u64,
}

impl Store {
    /// Imports the pack at `path`.
    pub fn import_pack(
        &self,
        path: &Path,
        options: ImportOptions,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<ImportReport> {
        let _lock = self.import_lock()?;
        let mut pack = OpenedPack::open(path)?;
        let signer_name = self.check_trust(&pack.path, pack.signer.as_deref(), options)?;
        let upgraded_from = self.check_newer(&pack.manifest)?;
        self.check_publisher(&pack.manifest.id, pack.signer.as_deref(), options)?;
        self.check_space(&pack.manifest.files)?;

        let outcome = self.store_chunks(|chunker| pack.stream(chunker, progress))?;
        let summary = self.install(&pack, &outcome.files)?;
        self.collect_garbage()?;
        Ok(ImportReport {
            pack: summary,
            upgraded_from,
            signer_name,
            files: pack.manifest.files.len(),
            bytes: pack.manifest.total_bytes(),
            bytes_written: outcome.bytes_written,
            chunks_reused: outcome.chunks_reused,
        })
    }

    /// Runs `stream`, which feeds a pack's files to a chunk writer, and
    /// returns what the writer stored. On failure the store is left as it
    /// was, except for chunks of content that checked out so far (a retry resumes from them).
    pub(crate) fn store_chunks(
        &self,
        stream: impl FnOnce(&mut Chunker) -> Result<()>,
    ) -> Result<super::chunker::Outcome> {
        let mut chunker = Chunker::start(&self.dir().join(chunks::FILE_NAME))?;
        let streamed = stream(&mut chunker);
        let keep = streamed.as_ref().map_or_else(keeps_chunks, |_| true);
        let finished = chunker.finish(keep);
        match (streamed, finished) {
            (Ok(()), Ok(outcome)) => Ok(outcome),
            (Ok(()), Err(writer)) => Err(writer),
            (Err(reader), Err(writer)) if is_writer_gone(&reader) => Err(writer),
            (Err(reader), _) => {
                if !keep {
                    // Hostile or damaged content: leave the store as it was.
                    self.collect_garbage()?;
                }
                Err(reader)
            }
        }
    }

    /// Removes an installed pack and the content only it used. Progress is kept.
    pub fn remove_pack(&self, id: &str) -> Result<()> {
        let _lock = self.import_lock()?;
        if self.conn().execute("DELETE FROM packs WHERE id = ?1", [id])? == 0 {
            return Err(Error::NoSuchPack(id.to_owned()));
        }
        self.collect_garbage()?;
        Ok(())
    }

    /// Serialises imports and garbage collection across processes; the OS
    /// drops the lock if the process dies.
    pub(crate) fn import_lock(&self) -> Result<File> {
        let path = self.dir().join("import.lock");
        let file = File::create(&path).map_err(|e| Error::io("cannot create", &path, e))?;
        file.lock().map_err(|e| Error::io("cannot lock", &path, e))?;
        Ok(file)
    }

    pub(crate) fn check_trust(
        &self,
        pack: &Path,
        signer: Option<&str>,
        options: ImportOptions,
    ) -> Result<Option<String>> {
        match signer {
            Some(key) => match self.trusted_name(key)? {
                Some(name) => Ok(Some(name)),
                None if options.allow_unsigned => Ok(None),
                None => Err(Error::UnknownPublisher { pack: pack.to_path_buf(), key: key.to_owned() }),
            },
            None if options.allow_unsigned => Ok(None),
            None => Err(Error::Unsigned { pack: pack.to_path_buf() }),
        }
    }

    /// The publisher change an upgrade to a pack signed by `signer` would
    /// make, if it would make one: the installed version's signer, then the new one, by name where trusted.
    pub fn publisher_change(&self, id: &str, signer: Option<&str>) -> Result<Option<(String, String)>> {
        let installed: Option<Option<String>> =
            self.conn().query_row("SELECT signer FROM packs WHERE id = ?1", [id], |r| r.get(0)).optional()?;
        // A first install, the same signer, or a pack that was unsigned and now is signed: no change to accept.
        let Some(Some(was)) = installed else { return Ok(None) };
        if signer == Some(was.as_str()) {
            return Ok(None);
        }
        let name = |key: Option<&str>| -> Result<String> {
            Ok(match key {
                Some(k) => match self.trusted_name(k)? {
                    Some(n) => format!("{n} (key {}…)", &k[..k.len().min(16)]),
                    None => format!("an unknown publisher (key {}…)", &k[..k.len().min(16)]),
                },
                None => "nobody (unsigned)".to_owned(),
            })
        };
        Ok(Some((name(Some(&was))?, name(signer)?)))
    }

    /// Refuses an upgrade by another publisher than the installed version's,
    /// unless the person accepted that change.
    pub(crate) fn check_publisher(
        &self,
        id: &str,
        signer: Option<&str>,
        options: ImportOptions,
    ) -> Result<()> {
        match self.publisher_change(id, signer)? {
            Some((installed, offered)) if !options.accept_new_publisher => {
                Err(Error::PublisherChanged { id: id.to_owned(), installed, offered })
            }
            _ => Ok(()),
        }
    }

    pub(crate) fn check_newer(&self, manifest: &super::Manifest) -> Result<Option<String>> {
        let installed = self.installed_version(&manifest.id)?;
        match installed {
            Some(v) if semver::Version::parse(&v).is_ok_and(|v| v >= manifest.semver()) => {
                Err(Error::NotNewer {
                    id: manifest.id.clone(),
                    installed: v,
                    offered: manifest.version.clone(),
                })
            }
            other => Ok(other),
        }
    }

    pub(crate) fn check_space(&self, files: &[FileEntry]) -> Result<()> {
        let mut stmt =
            self.conn().prepare_cached("SELECT 1 FROM content_chunks WHERE content = ?1 LIMIT 1")?;
        let mut needed = 0u64;
        for f in files {
            let hash = hex::decode(&f.blake3).unwrap_or_default();
            if stmt.query_row([hash], |_| Ok(())).optional()?.is_none() {
                needed += f.size;
            }
        }
        let room = self.room()?;
        if !room.allows(needed + SPACE_MARGIN) {
            return Err(Error::NoSpace {
                dir: self.dir().to_path_buf(),
                needed: (needed + SPACE_MARGIN).div_ceil(1 << 20),
                available: room.free >> 20,
                reserve: room.reserve.div_ceil(1 << 20),
            });
        }
        Ok(())
    }

    /// Whether this laptop has room to fetch `to_fetch` more bytes of a pack
    /// file of `pack_bytes` and then install it (its content goes to the
    /// chunk store while the file is still there), keeping the learners' reserve.
    pub fn check_room_for_download(&self, to_fetch: u64, pack_bytes: u64) -> Result<()> {
        let needed = to_fetch + pack_bytes + SPACE_MARGIN;
        let room = self.room()?;
        if !room.allows(needed) {
            return Err(Error::NoSpace {
                dir: self.dir().to_path_buf(),
                needed: needed.div_ceil(1 << 20),
                available: room.free >> 20,
                reserve: room.reserve.div_ceil(1 << 20),
            });
        }
        Ok(())
    }

    /// Makes the pack visible: one transaction over the pack, its files and their chunk lists.
    pub(crate) fn install(&self, pack: &OpenedPack, files: &[(FileEntry, ChunkList)]) -> Result<PackSummary> {
        let m = &pack.manifest;
        let tx = self.conn().unchecked_transaction()?;
        // Checked again inside the transaction: another process may have installed meanwhile.
        self.check_newer(m)?;
        let summary = PackSummary {
            id: m.id.clone(),
            version: m.version.clone(),
            title: m.title.clone(),
            description: m.description.clone(),
            language: m.language.clone(),
            publisher: m.publisher.clone(),
            signer: pack.signer.clone(),
            installed_at: now_millis(),
        };
        tx.execute(
            "INSERT INTO packs (id, version, title, description, language, publisher, signer, installed_at, manifest)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
             ON CONFLICT (id) DO UPDATE SET version = excluded.version, title = excluded.title,
               description = excluded.description, language = excluded.language, publisher = excluded.publisher,
               signer = excluded.signer, installed_at = excluded.installed_at, manifest = excluded.manifest",
            rusqlite::params![
                summary.id,
                summary.version,
                summary.title,
                summary.description,
                summary.language,
                summary.publisher,
                summary.signer,
                summary.installed_at,
                pack.manifest_bytes
            ],
        )?;
        tx.execute("DELETE FROM pack_files WHERE pack_id = ?1", [&m.id])?;
        {
            let mut file_stmt = tx.prepare(
                "INSERT INTO pack_files (pack_id, path, size, content, media_type) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            let mut chunk_stmt = tx.prepare(
                "INSERT OR IGNORE INTO content_chunks (content, idx, chunk, len) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for (f, chunks) in files {
                let content = hex::decode(&f.blake3).expect("validated hex");
                file_stmt.execute(rusqlite::params![m.id, f.path, f.size as i64, content, f.media_type])?;
                for (idx, (hash, len)) in chunks.iter().enumerate() {
                    chunk_stmt.execute(rusqlite::params![content, idx as i64, &hash[..], *len as i64])?;
                }
            }
        }
        tx.commit()?;
        Ok(summary)
    }
}

/// Whether an import that failed this way keeps the chunks it wrote, so a
/// retry resumes: a read error (pulled USB stick) does; bad content does not.
fn keeps_chunks(err: &Error) -> bool {
    !matches!(err, Error::Pack { problem, .. } if !matches!(problem, Problem::Truncated { .. }))
}
