//! Blocking access to PostgreSQL for the [`crate::storage::Storage`]
//! methods, which are blocking: the connections run on a small runtime of
//! their own, and a caller waits for its answer on its own thread. That
//! thread may be one of the HTTP runtime's (the short reads run in place),
//! so the connections must never need it: they never do, being driven here.

use std::collections::HashMap;
use std::sync::{Condvar, Mutex};

use futures_executor::block_on;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, NoTls, Row, Statement};

use crate::error::{HubError, Result};

/// A query's parameters.
pub(super) type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

/// One connection, with the statements it has prepared: a burst runs each
/// thousands of times, and preparing costs a round trip.
pub(super) struct Conn {
    client: Client,
    prepared: HashMap<String, Statement>,
}

impl Conn {
    fn statement(&mut self, sql: &str) -> Result<Statement> {
        if let Some(s) = self.prepared.get(sql) {
            return Ok(s.clone());
        }
        let s = block_on(self.client.prepare(sql))?;
        self.prepared.insert(sql.to_owned(), s.clone());
        Ok(s)
    }

    /// Every row a statement returns.
    pub fn query(&mut self, sql: &str, params: Params<'_>) -> Result<Vec<Row>> {
        let s = self.statement(sql)?;
        Ok(block_on(self.client.query(&s, params))?)
    }

    /// The row a statement returns, if any.
    pub fn opt(&mut self, sql: &str, params: Params<'_>) -> Result<Option<Row>> {
        let s = self.statement(sql)?;
        Ok(block_on(self.client.query_opt(&s, params))?)
    }

    /// The one row a statement returns.
    pub fn one(&mut self, sql: &str, params: Params<'_>) -> Result<Row> {
        let s = self.statement(sql)?;
        Ok(block_on(self.client.query_one(&s, params))?)
    }

    /// Runs a statement; returns how many rows it changed.
    pub fn exec(&mut self, sql: &str, params: Params<'_>) -> Result<u64> {
        let s = self.statement(sql)?;
        Ok(block_on(self.client.execute(&s, params))?)
    }

    /// Runs statements without parameters.
    pub fn batch(&mut self, sql: &str) -> Result<()> {
        Ok(block_on(self.client.batch_execute(sql))?)
    }
}

/// The connections to one database, opened as needed, at most [`Pool::max`] at once.
pub(super) struct Pool {
    runtime: Option<tokio::runtime::Runtime>,
    url: String,
    idle: Mutex<(Vec<Conn>, usize)>,
    freed: Condvar,
    max: usize,
}

impl Pool {
    /// A pool for `url`, whose first connection is opened now so that a wrong URL is said at once.
    pub fn open(url: &str, max: usize) -> Result<Pool> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("hub-postgres")
            .enable_all()
            .build()?;
        let pool = Pool {
            runtime: Some(runtime),
            url: url.to_owned(),
            idle: Default::default(),
            freed: Condvar::new(),
            max,
        };
        let first = pool.connect()?;
        pool.idle.lock().unwrap_or_else(|p| p.into_inner()).0.push(first);
        pool.idle.lock().unwrap_or_else(|p| p.into_inner()).1 = 1;
        Ok(pool)
    }

    fn connect(&self) -> Result<Conn> {
        let url = self.url.clone();
        let runtime = self.runtime.as_ref().ok_or_else(|| HubError::Commit("the hub is stopping".into()))?;
        let connecting = runtime.spawn(async move {
            let (client, connection) = tokio_postgres::connect(&url, NoTls).await?;
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::warn!("a connection to PostgreSQL ended: {e}");
                }
            });
            Ok::<_, tokio_postgres::Error>(client)
        });
        let client = block_on(connecting).map_err(|e| HubError::Commit(e.to_string()))??;
        Ok(Conn { client, prepared: HashMap::new() })
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
                return self.connect().inspect_err(|_| {
                    self.idle.lock().unwrap_or_else(|p| p.into_inner()).1 -= 1;
                    self.freed.notify_one();
                });
            }
            idle = self.freed.wait(idle).unwrap_or_else(|p| p.into_inner());
        }
    }

    fn give_back(&self, conn: Conn) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if conn.client.is_closed() {
            idle.1 -= 1;
        } else {
            idle.0.push(conn);
        }
        self.freed.notify_one();
    }

    /// Runs `f` on a connection, outside any transaction.
    pub fn with<T>(&self, f: impl FnOnce(&mut Conn) -> Result<T>) -> Result<T> {
        let mut conn = self.take()?;
        let out = f(&mut conn);
        self.give_back(conn);
        out
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

    /// Runs `f` on a thread of the pool's runtime made for blocking work.
    pub fn spawn_blocking(&self, f: impl FnOnce() + Send + 'static) {
        if let Some(runtime) = &self.runtime {
            runtime.spawn_blocking(f);
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        // The HTTP runtime may drop the storage: a runtime may not be dropped
        // (which waits) inside another, but may be let go.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
