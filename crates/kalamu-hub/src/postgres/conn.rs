//! Blocking access to PostgreSQL for the [`crate::storage::Storage`]
//! methods, which are blocking. Each connection has a single-threaded
//! runtime of its own that drives it only while a caller waits on it, on the
//! caller's thread: a query costs a round trip to the server and no hop
//! between threads. A caller on one of the HTTP runtime's threads (the short
//! reads run in place) leaves that runtime while it waits.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Condvar, Mutex};

use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, NoTls, Row, Statement};

use crate::error::{HubError, Result};

/// A query's parameters.
pub(super) type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

/// Runs `f`, which blocks, outside any async runtime the thread is in.
fn outside_runtime<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

/// One connection, with the statements it has prepared: a burst runs each
/// thousands of times, and preparing costs a round trip.
pub(super) struct Conn {
    /// Drives the connection while a call waits; taken only when the connection is dropped.
    runtime: Option<tokio::runtime::Runtime>,
    client: Client,
    prepared: HashMap<String, Statement>,
    /// Not to be used again (a call on it panicked, perhaps mid-transaction).
    closed: bool,
}

impl Conn {
    fn connect(url: &str) -> Result<Conn> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let client = outside_runtime(|| {
            runtime.block_on(async {
                let (client, connection) = tokio_postgres::connect(url, NoTls).await?;
                tokio::spawn(async move {
                    if let Err(e) = connection.await {
                        tracing::warn!("a connection to PostgreSQL ended: {e}");
                    }
                });
                Ok::<_, tokio_postgres::Error>(client)
            })
        })?;
        Ok(Conn { runtime: Some(runtime), client, prepared: HashMap::new(), closed: false })
    }

    fn wait<F: Future>(&self, f: F) -> F::Output {
        let runtime = self.runtime.as_ref().expect("a connection's runtime lives as long as it does");
        outside_runtime(|| runtime.block_on(f))
    }

    fn statement(&mut self, sql: &str) -> Result<Statement> {
        if let Some(s) = self.prepared.get(sql) {
            return Ok(s.clone());
        }
        let s = self.wait(self.client.prepare(sql))?;
        self.prepared.insert(sql.to_owned(), s.clone());
        Ok(s)
    }

    /// Every row a statement returns.
    pub fn query(&mut self, sql: &str, params: Params<'_>) -> Result<Vec<Row>> {
        let s = self.statement(sql)?;
        Ok(self.wait(self.client.query(&s, params))?)
    }

    /// The row a statement returns, if any.
    pub fn opt(&mut self, sql: &str, params: Params<'_>) -> Result<Option<Row>> {
        let s = self.statement(sql)?;
        Ok(self.wait(self.client.query_opt(&s, params))?)
    }

    /// The one row a statement returns.
    pub fn one(&mut self, sql: &str, params: Params<'_>) -> Result<Row> {
        let s = self.statement(sql)?;
        Ok(self.wait(self.client.query_one(&s, params))?)
    }

    /// Runs a statement; returns how many rows it changed.
    pub fn exec(&mut self, sql: &str, params: Params<'_>) -> Result<u64> {
        let s = self.statement(sql)?;
        Ok(self.wait(self.client.execute(&s, params))?)
    }

    /// Runs statements without parameters.
    pub fn batch(&mut self, sql: &str) -> Result<()> {
        Ok(self.wait(self.client.batch_execute(sql))?)
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        // Dropping a runtime waits for its threads: never on an async thread.
        if let Some(runtime) = self.runtime.take() {
            outside_runtime(|| drop(runtime));
        }
    }
}

/// The connections to one database, opened as needed, at most [`Pool::max`] at once.
pub(super) struct Pool {
    url: String,
    idle: Mutex<(Vec<Conn>, usize)>,
    freed: Condvar,
    max: usize,
}

impl Pool {
    /// A pool for `url`, whose first connection is opened now so that a wrong URL is said at once.
    pub fn open(url: &str, max: usize) -> Result<Pool> {
        let first = Conn::connect(url)?;
        Ok(Pool { url: url.to_owned(), idle: Mutex::new((vec![first], 1)), freed: Condvar::new(), max })
    }

    fn take(&self) -> Result<Conn> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(conn) = idle.0.pop() {
                return Ok(conn);
            }
            if idle.1 < self.max {
                idle.1 += 1;
                drop(idle);
                return Conn::connect(&self.url).inspect_err(|_| {
                    self.idle.lock().unwrap_or_else(|p| p.into_inner()).1 -= 1;
                    self.freed.notify_one();
                });
            }
            idle = outside_runtime(|| self.freed.wait(idle)).unwrap_or_else(|p| p.into_inner());
        }
    }

    fn give_back(&self, conn: Conn) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if conn.closed || conn.client.is_closed() {
            idle.1 -= 1;
            drop(idle);
            drop(conn);
        } else {
            idle.0.push(conn);
        }
        self.freed.notify_one();
    }

    /// Runs `f` on a connection, outside any transaction.
    pub fn with<T>(&self, f: impl FnOnce(&mut Conn) -> Result<T>) -> Result<T> {
        /// Gives the connection back even if `f` panics (a panic mid-transaction
        /// drops it, which closes it and rolls back): the pool never shrinks for good.
        struct Lent<'a> {
            pool: &'a Pool,
            conn: Option<Conn>,
        }
        impl Drop for Lent<'_> {
            fn drop(&mut self) {
                if let Some(mut conn) = self.conn.take() {
                    conn.closed |= std::thread::panicking();
                    self.pool.give_back(conn);
                }
            }
        }
        let mut lent = Lent { pool: self, conn: Some(self.take()?) };
        f(lent.conn.as_mut().expect("lent until dropped"))
    }

    /// Runs `f` in a transaction that `begin` starts, committed if `f` succeeds and rolled back if not.
    pub fn tx_as<T>(&self, begin: &str, f: impl FnOnce(&mut Conn) -> Result<T>) -> Result<T> {
        self.with(|conn| {
            conn.batch(begin)?;
            match f(conn) {
                Ok(out) => {
                    conn.batch("COMMIT").map_err(|e| HubError::Commit(e.to_string()))?;
                    Ok(out)
                }
                Err(e) => {
                    // A connection that cannot roll back is closed, which rolls back.
                    let _ = conn.batch("ROLLBACK");
                    Err(e)
                }
            }
        })
    }

    /// Runs `f` in a read-write transaction.
    pub fn tx<T>(&self, f: impl FnOnce(&mut Conn) -> Result<T>) -> Result<T> {
        self.tx_as("BEGIN", f)
    }

    /// Runs `f` in a read-only transaction that sees one snapshot throughout.
    pub fn snapshot<T>(&self, f: impl FnOnce(&mut Conn) -> Result<T>) -> Result<T> {
        self.tx_as("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", f)
    }
}
