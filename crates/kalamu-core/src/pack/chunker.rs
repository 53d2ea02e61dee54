//! Cutting streamed files into chunks and storing them on a second thread,
//! so that reading and verifying a pack overlaps with writing the store.
//!
//! The reader hands over full 1 MiB buffers and gets them back for reuse;
//! a fixed set of buffers circulates, so memory stays flat whatever the
//! pack's size. The writer has its own connection to `chunks.db`, skips chunks
//! already stored (a retried or upgraded import writes only what is
//! missing) and commits every [`COMMIT_EVERY`] bytes.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};

use super::manifest::FileEntry;
use super::verify::FileSink;
use crate::store::chunks::CHUNK_SIZE;
use crate::{Error, Result};

/// Chunk bytes written between commits of the chunk store.
const COMMIT_EVERY: u64 = 64 << 20;
/// Chunk buffers in all: the reader fills one while the writer stores the
/// others. They circulate between the two threads and are never freed or
/// added to, so import memory is fixed whatever the pack's size.
const BUFFERS: usize = 4;

/// A file's chunks in order: each chunk's hash and length.
pub(crate) type ChunkList = Vec<([u8; 32], u32)>;

/// What the writer stored.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    /// Every file with its chunk list, in the order streamed.
    pub files: Vec<(FileEntry, ChunkList)>,
    /// Chunk bytes newly written.
    pub bytes_written: u64,
    /// Chunks found already stored.
    pub chunks_reused: u64,
}

enum Msg {
    Begin(FileEntry),
    Chunk(Vec<u8>),
    End,
    Finish { keep: bool },
}

/// The reader's side: a [`FileSink`] that feeds the writer thread.
pub(crate) struct Chunker {
    tx: SyncSender<Msg>,
    free: Receiver<Vec<u8>>,
    buf: Vec<u8>,
    writer: JoinHandle<Result<Outcome>>,
    db: PathBuf,
}

impl Chunker {
    /// Starts a writer thread on the chunk store at `db`.
    pub fn start(db: &Path) -> Result<Chunker> {
        let conn = Connection::open(db)?;
        conn.busy_timeout(Duration::from_secs(30))?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        let (tx, rx) = sync_channel(BUFFERS);
        let (free_tx, free) = sync_channel(BUFFERS);
        for _ in 1..BUFFERS {
            free_tx.send(Vec::with_capacity(CHUNK_SIZE)).expect("the channel has room");
        }
        let writer = std::thread::Builder::new()
            .name("chunk-writer".into())
            .spawn(move || write_chunks(&conn, rx, free_tx))
            .map_err(|e| Error::io("cannot start the chunk writer for", db, e))?;
        Ok(Chunker { tx, free, buf: Vec::with_capacity(CHUNK_SIZE), writer, db: db.to_path_buf() })
    }

    /// Ends the writer: commits what it wrote (`keep`) or rolls back the last batch.
    pub fn finish(self, keep: bool) -> Result<Outcome> {
        let _ = self.tx.send(Msg::Finish { keep });
        drop(self.tx);
        self.writer.join().unwrap_or_else(|_| Err(writer_gone(&self.db)))
    }

    fn send(&self, msg: Msg) -> Result<()> {
        self.tx.send(msg).map_err(|_| writer_gone(&self.db))
    }

    fn hand_over(&mut self) -> Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        // Wait for the writer to hand a buffer back; it always does, unless it stopped.
        let mut next = self.free.recv().map_err(|_| writer_gone(&self.db))?;
        next.clear();
        let full = std::mem::replace(&mut self.buf, next);
        self.send(Msg::Chunk(full))
    }
}

/// Whether an error only says the writer stopped (its own error says why).
pub(crate) fn is_writer_gone(err: &Error) -> bool {
    matches!(err, Error::Io { action, .. } if *action == WRITER_GONE)
}

const WRITER_GONE: &str = "the chunk writer stopped while storing into";

fn writer_gone(db: &Path) -> Error {
    Error::io(WRITER_GONE, db, std::io::Error::other("see the writer's error"))
}

impl FileSink for Chunker {
    fn begin(&mut self, file: &FileEntry) -> Result<()> {
        self.buf.clear();
        self.send(Msg::Begin(file.clone()))
    }

    fn write(&mut self, mut bytes: &[u8]) -> Result<()> {
        while !bytes.is_empty() {
            let take = (CHUNK_SIZE - self.buf.len()).min(bytes.len());
            self.buf.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.buf.len() == CHUNK_SIZE {
                self.hand_over()?;
            }
        }
        Ok(())
    }

    fn end(&mut self, _: &FileEntry) -> Result<()> {
        self.hand_over()?;
        self.send(Msg::End)
    }
}

/// The writer thread: hashes chunks, stores the new ones, lists each file's chunks.
fn write_chunks(conn: &Connection, rx: Receiver<Msg>, free: SyncSender<Vec<u8>>) -> Result<Outcome> {
    let mut out = Outcome::default();
    let mut current: Option<(FileEntry, ChunkList)> = None;
    let mut in_tx = false;
    let mut since_commit = 0u64;
    let result = (|| -> Result<bool> {
        loop {
            match rx.recv() {
                Ok(Msg::Begin(file)) => current = Some((file, Vec::new())),
                Ok(Msg::Chunk(data)) => {
                    let hash: [u8; 32] = *blake3::hash(&data).as_bytes();
                    let stored = conn
                        .prepare_cached("SELECT 1 FROM chunks WHERE hash = ?1")?
                        .query_row([&hash[..]], |_| Ok(()))
                        .optional()?
                        .is_some();
                    if stored {
                        out.chunks_reused += 1;
                    } else {
                        if !in_tx {
                            conn.execute_batch("BEGIN")?;
                            in_tx = true;
                        }
                        // A zeroblob written in place: binding the chunk would make SQLite
                        // copy a megabyte per chunk, and the churn shows as growing memory.
                        conn.prepare_cached("INSERT INTO chunks (hash, data) VALUES (?1, zeroblob(?2))")?
                            .execute(params![&hash[..], data.len() as i64])?;
                        {
                            // Closed before any COMMIT: an open blob counts as a running statement.
                            let mut blob =
                                conn.blob_open("main", "chunks", "data", conn.last_insert_rowid(), false)?;
                            blob.write_all_at(&data, 0)?;
                        }
                        out.bytes_written += data.len() as u64;
                        since_commit += data.len() as u64;
                        if since_commit >= COMMIT_EVERY {
                            conn.execute_batch("COMMIT")?;
                            in_tx = false;
                            since_commit = 0;
                        }
                    }
                    if let Some((_, chunks)) = current.as_mut() {
                        chunks.push((hash, data.len() as u32));
                    }
                    // The reader may be gone after an error; then the buffer is simply dropped.
                    let _ = free.send(data);
                }
                Ok(Msg::End) => out.files.extend(current.take()),
                Ok(Msg::Finish { keep }) => return Ok(keep),
                Err(_) => return Ok(false), // the reader vanished without a word
            }
        }
    })();
    match result {
        Ok(keep) => {
            if in_tx {
                conn.execute_batch(if keep { "COMMIT" } else { "ROLLBACK" })?;
            }
            Ok(out)
        }
        Err(e) => {
            if in_tx {
                let _ = conn.execute_batch("ROLLBACK");
            }
            Err(e)
        }
    }
}
