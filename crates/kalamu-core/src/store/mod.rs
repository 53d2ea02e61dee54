//! The local store: one SQLite file in the data dir, created on first use
//! and brought up to date by numbered migrations.

pub mod chunks;
mod migrate;
pub mod space;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

pub use migrate::{MIGRATIONS, Migration, SCHEMA_VERSION};

use crate::{Error, Result};

/// The store's file name inside the data dir.
pub const FILE_NAME: &str = "kalamu.db";

/// SQLite `application_id` that marks a file as a Kalamu store ("KLMU").
pub const APPLICATION_ID: i32 = 0x4B4C_4D55;

/// An open local store.
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

impl Store {
    /// Opens (creating if needed) the store inside the data directory `dir`.
    pub fn open_dir(dir: &Path) -> Result<Self> {
        crate::private::make_dir(dir).map_err(|e| Error::io("cannot create the data directory", dir, e))?;
        Self::open(&dir.join(FILE_NAME))
    }

    /// Opens (creating if needed) the store file at `path` and applies pending migrations.
    ///
    /// A file that is not a Kalamu store, or one written by a newer Kalamu,
    /// is refused before anything is written to it.
    pub fn open(path: &Path) -> Result<Self> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(Duration::from_secs(10))?;
        // The header is read by SQLite itself, never by opening the file
        // ourselves: closing any other descriptor of the file drops this
        // process's POSIX locks, and the next process to close its connection
        // would then delete the WAL under ours (progress lost).
        check_identity(&conn, path).map_err(|e| not_sqlite(e, path))?;
        migrate::refuse_newer(conn.pragma_query_value(None, "user_version", |r| r.get(0))?, path)?;
        // WAL lets the app read while the CLI or a sync writes; FULL makes every
        // committed learner action survive a power cut, not just a killed process.
        retry_busy(|| conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get::<_, String>(0)))?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", true)?;
        let mut store = Store { conn, path: path.to_path_buf() };
        migrate::apply(&mut store.conn, path)?;
        retry_busy(|| chunks::attach(&store.conn, path))?;
        // Names, answers, PIN hashes and the hub's credential: for this OS account only.
        for db in [path.to_path_buf(), path.with_file_name(chunks::FILE_NAME)] {
            crate::private::restrict_database(&db).map_err(|e| Error::io("cannot make private", &db, e))?;
        }
        Ok(store)
    }

    /// The store file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema version the store is at.
    pub fn schema_version(&self) -> Result<u32> {
        Ok(self.conn.pragma_query_value(None, "user_version", |r| r.get(0))?)
    }

    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }

    /// The directory holding the store.
    pub fn dir(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("."))
    }
}

/// Runs `op` again while SQLite answers "busy" without waiting: switching to
/// WAL and creating the chunk store need a moment alone with the file when
/// several processes open a new store at once.
fn retry_busy<T, E: Into<Error>>(mut op: impl FnMut() -> std::result::Result<T, E>) -> Result<T> {
    let mut attempts = 0;
    loop {
        match op().map_err(Into::into) {
            Err(Error::Sqlite(rusqlite::Error::SqliteFailure(e, _)))
                if e.code == rusqlite::ErrorCode::DatabaseBusy && attempts < 200 =>
            {
                attempts += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
            other => return other,
        }
    }
}

/// SQLite's "not a database" becomes the store's own refusal.
fn not_sqlite(e: Error, path: &Path) -> Error {
    match e {
        Error::Sqlite(rusqlite::Error::SqliteFailure(f, _))
            if f.code == rusqlite::ErrorCode::NotADatabase =>
        {
            Error::NotAStore { path: path.to_path_buf(), what: "not an SQLite database".into() }
        }
        other => other,
    }
}

/// Refuses an SQLite database that belongs to another program.
fn check_identity(conn: &Connection, path: &Path) -> Result<()> {
    // One read transaction, so both reads see the same state even while
    // another process is creating the store.
    let tx = rusqlite::Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Deferred)?;
    let verdict = identity(&tx, path);
    tx.commit()?;
    verdict
}

fn identity(conn: &Connection, path: &Path) -> Result<()> {
    let app_id: i32 = conn.pragma_query_value(None, "application_id", |r| r.get(0))?;
    if app_id == APPLICATION_ID {
        return Ok(());
    }
    let foreign = || Error::NotAStore {
        path: path.to_path_buf(),
        what: "an SQLite database of another program".into(),
    };
    if app_id != 0 {
        return Err(foreign());
    }
    let objects: i64 = conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))?;
    if objects > 0 { Err(foreign()) } else { Ok(()) }
}

/// Milliseconds since the Unix epoch by this device's clock.
pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_store_is_at_latest_schema_and_marked_as_kalamu() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_dir(dir.path()).unwrap();
        assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
        let id: i32 = store.conn().pragma_query_value(None, "application_id", |r| r.get(0)).unwrap();
        assert_eq!(id, APPLICATION_ID);
    }

    #[test]
    fn reopening_applies_nothing_twice() {
        let dir = tempfile::tempdir().unwrap();
        drop(Store::open_dir(dir.path()).unwrap());
        let store = Store::open_dir(dir.path()).unwrap();
        let rows: i64 =
            store.conn().query_row("SELECT count(*) FROM schema_migrations", [], |r| r.get(0)).unwrap();
        assert_eq!(rows, MIGRATIONS.len() as i64);
    }
}
