//! Reading installed pack files, whole or by byte range, from the chunk store.

use rusqlite::OptionalExtension;

use crate::store::chunks::CHUNK_SIZE;
use crate::{Error, Result, Store};

/// An installed file's size and media type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    /// Size in bytes.
    pub size: u64,
    /// Media type.
    pub media_type: String,
}

impl Store {
    /// Size and media type of an installed pack file.
    pub fn file_info(&self, pack_id: &str, path: &str) -> Result<FileInfo> {
        self.conn()
            .prepare_cached("SELECT size, media_type FROM pack_files WHERE pack_id = ?1 AND path = ?2")?
            .query_row((pack_id, path), |r| {
                Ok(FileInfo { size: r.get::<_, i64>(0)? as u64, media_type: r.get(1)? })
            })
            .optional()?
            .ok_or_else(|| Error::NoSuchFile { pack: pack_id.to_owned(), path: path.to_owned() })
    }

    /// Bytes `[start, end)` of an installed file, reading only the chunks that hold them.
    pub fn read_range(&self, pack_id: &str, path: &str, start: u64, end: u64) -> Result<Vec<u8>> {
        let info = self.file_info(pack_id, path)?;
        if start > end || end > info.size {
            return Err(Error::BadRange { path: path.to_owned(), start, end, size: info.size });
        }
        let mut out = vec![0u8; (end - start) as usize];
        let first = start / CHUNK_SIZE as u64;
        let mut stmt = self.conn().prepare_cached(
            "SELECT c.idx, c.chunk, c.len FROM pack_files f JOIN content_chunks c ON c.content = f.content
             WHERE f.pack_id = ?1 AND f.path = ?2 AND c.idx >= ?3 ORDER BY c.idx",
        )?;
        let mut rows = stmt.query((pack_id, path, first as i64))?;
        let mut filled = 0usize;
        while filled < out.len() {
            let Some(row) = rows.next()? else { break };
            let (idx, chunk, len): (i64, Vec<u8>, i64) = (row.get(0)?, row.get(1)?, row.get(2)?);
            let chunk_start = idx as u64 * CHUNK_SIZE as u64;
            let from = (start + filled as u64 - chunk_start) as usize;
            let take = (len as usize - from).min(out.len() - filled);
            if !self.read_chunk(&chunk, from, &mut out[filled..filled + take])? {
                return Err(Error::DamagedContent { path: path.to_owned() });
            }
            filled += take;
        }
        if filled != out.len() {
            return Err(Error::DamagedContent { path: path.to_owned() });
        }
        Ok(out)
    }

    /// A whole installed file.
    pub fn read_file(&self, pack_id: &str, path: &str) -> Result<Vec<u8>> {
        let size = self.file_info(pack_id, path)?.size;
        self.read_range(pack_id, path, 0, size)
    }
}
