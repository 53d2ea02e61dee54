//! The one error type of kalamu-core, with messages a person can act on.

use std::path::PathBuf;

/// Everything that can go wrong in kalamu-core.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The store file exists but was not written by Kalamu.
    #[error("{path} is not a Kalamu store (it is {what}); choose another data directory")]
    NotAStore {
        /// The file that was opened.
        path: PathBuf,
        /// What the file appears to be instead.
        what: String,
    },
    /// The store was written by a newer Kalamu than this one.
    #[error(
        "the store at {path} was written by a newer Kalamu (schema {found}, this version knows up to {supported}); update Kalamu to open it"
    )]
    NewerStore {
        /// The file that was opened.
        path: PathBuf,
        /// The schema version found in the file.
        found: u32,
        /// The newest schema version this build knows.
        supported: u32,
    },
    /// No data directory was given and the platform has none.
    #[error("no data directory: pass --data DIR or set KALAMU_DATA")]
    NoDataDir,
    /// A name that must not be empty was empty.
    #[error("a learner's name cannot be empty")]
    EmptyName,
    /// A learner id that is not in the store.
    #[error("no learner with id {0}")]
    NoSuchLearner(String),
    /// A setting was given a value it cannot take.
    #[error("{key} cannot be set to {value:?}; allowed: {allowed}")]
    BadSetting {
        /// The setting's key.
        key: &'static str,
        /// The value that was refused.
        value: String,
        /// The allowed values, for the message.
        allowed: &'static str,
    },
    /// A file system operation failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done, e.g. "cannot create".
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// SQLite failed in a way this crate did not expect.
    #[error("the local store failed: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

impl Error {
    /// A stable, machine-readable code for the UI and scripts to tell kinds apart.
    pub fn code(&self) -> &'static str {
        match self {
            Error::NotAStore { .. } => "not_a_store",
            Error::NewerStore { .. } => "newer_store",
            Error::NoDataDir => "no_data_dir",
            Error::EmptyName => "empty_name",
            Error::NoSuchLearner(_) => "no_such_learner",
            Error::BadSetting { .. } => "bad_setting",
            Error::Io { .. } => "io",
            Error::Sqlite(_) => "store",
        }
    }

    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { action, path: path.into(), source }
    }
}

/// Result with kalamu-core's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
