//! Which database a hub serves, from its `--db` value, and opening it as a
//! [`Storage`]: the one place that knows every backend.

use std::path::PathBuf;

use crate::error::{HubError, Result};
use crate::sqlite::Folding;
use crate::storage::Storage;

/// Where the hub keeps its data, from a `--db` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbUrl {
    /// A SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL server.
    Postgres(String),
}

impl DbUrl {
    /// Parses `sqlite:PATH`, `postgres://…` or a plain path.
    pub fn parse(s: &str) -> Result<DbUrl> {
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            return Ok(DbUrl::Postgres(s.to_owned()));
        }
        let path = s.strip_prefix("sqlite://").or_else(|| s.strip_prefix("sqlite:")).unwrap_or(s);
        if path.is_empty() {
            return Err(HubError::BadDatabase(s.to_owned(), "no file named".into()));
        }
        Ok(DbUrl::Sqlite(PathBuf::from(path)))
    }

    /// The database for the log: a PostgreSQL URL loses its user and password.
    pub fn describe(&self) -> String {
        match self {
            DbUrl::Sqlite(path) => format!("sqlite:{}", path.display()),
            DbUrl::Postgres(url) => {
                let rest = url.split_once("://").map_or(url.as_str(), |(_, r)| r);
                format!("postgres://{}", rest.rsplit_once('@').map_or(rest, |(_, host)| host))
            }
        }
    }
}

/// Opens the storage a `--db` URL names.
pub fn open(url: &DbUrl) -> Result<std::sync::Arc<dyn Storage>> {
    open_with(url, Folding::default())
}

/// [`open`], folding the staff reports as `folding` says.
pub fn open_with(url: &DbUrl, folding: Folding) -> Result<std::sync::Arc<dyn Storage>> {
    match url {
        DbUrl::Sqlite(path) => {
            Ok(std::sync::Arc::new(crate::sqlite::SqliteStorage::open_with(path, folding)?))
        }
        DbUrl::Postgres(u) => {
            Ok(std::sync::Arc::new(crate::postgres::PgStorage::open(u, &url.describe(), folding)?))
        }
    }
}
