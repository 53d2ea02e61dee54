//! Errors as the UI receives them: a stable code to tell kinds apart and a
//! message to show.

use serde::Serialize;

/// An error crossing into the UI.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS), ts(export))]
pub struct CommandError {
    /// Stable code, e.g. `newer_store`.
    pub code: &'static str,
    /// A sentence for the person in front of the screen.
    pub message: String,
}

impl From<&kalamu_core::Error> for CommandError {
    fn from(err: &kalamu_core::Error) -> Self {
        // The window shows plain words for the code; the technical sentence
        // goes to the log too, for whoever looks after the laptop.
        eprintln!("kalamu-app: {}: {err}", err.code());
        CommandError { code: err.code(), message: err.to_string() }
    }
}

impl From<kalamu_core::Error> for CommandError {
    fn from(err: kalamu_core::Error) -> Self {
        CommandError::from(&err)
    }
}

impl From<kalamu_client::ClientError> for CommandError {
    fn from(err: kalamu_client::ClientError) -> Self {
        CommandError { code: err.code(), message: err.to_string() }
    }
}

/// Result of a Tauri command.
pub type CommandResult<T> = Result<T, CommandError>;
