//! Kalamu's domain: the local store, installed packs, learners, progress
//! and the sync rules.
//!
//! This crate's only I/O is the local store (one SQLite file in the data dir)
//! and pack files. It knows nothing of Tauri, HTTP servers or clients, and it
//! never exits the process: every failure is an [`Error`] the caller shows.

pub mod datadir;
pub mod error;
pub mod learner;
pub mod library;
pub mod pack;
pub mod pin;
pub mod private;
pub mod progress;
pub mod settings;
pub mod stick;
pub mod store;
pub mod sync;

pub use error::{Error, Result};
pub use store::Store;
