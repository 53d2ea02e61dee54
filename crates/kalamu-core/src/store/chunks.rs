//! The chunk store: content-addressed chunks of pack files in `chunks.db`,
//! attached to the main store as schema `chunks`.
//!
//! It has 64 KiB pages and a rollback journal, unlike the main store's WAL:
//! chunks are written once in bulk and read by range, and a rollback journal
//! does not copy appended pages, so a bulk load runs at disk speed. Chunks
//! are committed before any pack refers to them; chunks no pack refers to
//! are collected by [`Store::collect_garbage`].

use rusqlite::{Connection, OptionalExtension};

use crate::{Result, Store};

/// File name of the chunk store beside the main store.
pub const FILE_NAME: &str = "chunks.db";

/// Size of a chunk (the last chunk of a file may be shorter).
pub const CHUNK_SIZE: usize = 1 << 20;

/// Attaches (creating if needed) the chunk store to the main connection.
pub(super) fn attach(conn: &Connection, main_path: &std::path::Path) -> Result<()> {
    let path = main_path.with_file_name(FILE_NAME);
    conn.execute("ATTACH DATABASE ?1 AS chunks", [path.to_string_lossy()])?;
    // page_size only takes effect before the first table exists.
    conn.execute_batch(
        "PRAGMA chunks.page_size = 65536;
         PRAGMA chunks.journal_mode = DELETE;
         PRAGMA chunks.synchronous = FULL;
         CREATE TABLE IF NOT EXISTS chunks.chunks (hash BLOB PRIMARY KEY, data BLOB NOT NULL);",
    )?;
    Ok(())
}

impl Store {
    /// Reads `buf.len()` bytes of a chunk from `offset`, without reading the rest of it.
    pub(crate) fn read_chunk(&self, hash: &[u8], offset: usize, buf: &mut [u8]) -> Result<bool> {
        let Some(rowid) = self
            .conn()
            .prepare_cached("SELECT rowid FROM chunks.chunks WHERE hash = ?1")?
            .query_row([hash], |r| r.get::<_, i64>(0))
            .optional()?
        else {
            return Ok(false);
        };
        let blob = self.conn().blob_open("chunks", "chunks", "data", rowid, true)?;
        if offset + buf.len() > blob.len() {
            return Ok(false);
        }
        blob.read_at_exact(buf, offset)?;
        Ok(true)
    }

    /// Number of stored chunks and their bytes.
    pub fn chunk_stats(&self) -> Result<(u64, u64)> {
        Ok(self.conn().query_row(
            "SELECT count(*), coalesce(sum(length(data)), 0) FROM chunks.chunks",
            [],
            |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)),
        )?)
    }

    /// Deletes content and chunks that no installed pack refers to; returns chunks removed.
    pub fn collect_garbage(&self) -> Result<u64> {
        self.conn().execute(
            "DELETE FROM content_chunks WHERE content NOT IN (SELECT content FROM pack_files)",
            [],
        )?;
        // Orphans are found from the hash index alone: scanning the table
        // itself would page through every 1 MiB row.
        let removed = self.conn().execute(
            "DELETE FROM chunks.chunks WHERE hash IN
               (SELECT hash FROM chunks.chunks EXCEPT SELECT chunk FROM main.content_chunks)",
            [],
        )?;
        Ok(removed as u64)
    }
}
