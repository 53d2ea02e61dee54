//! What the app holds while it runs: the data dir and the open store, or
//! why the store could not be opened (the UI shows that instead of crashing).

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

use kalamu_core::{Store, datadir};

use crate::error::{CommandError, CommandResult};

/// Shared app state.
pub struct AppState {
    /// The data directory in use, when one could be chosen.
    pub data_dir: Option<PathBuf>,
    store: Result<Mutex<Store>, CommandError>,
}

impl AppState {
    /// Resolves the data dir and opens the store in it.
    pub fn open(explicit: Option<PathBuf>) -> Self {
        let data_dir = datadir::resolve(explicit.as_deref());
        let store = match &data_dir {
            Ok(dir) => Store::open_dir(dir).map(Mutex::new).map_err(|e| CommandError::from(&e)),
            Err(e) => Err(CommandError::from(e)),
        };
        AppState { data_dir: data_dir.ok(), store }
    }

    /// The store, or the error that kept it from opening.
    pub fn store(&self) -> CommandResult<MutexGuard<'_, Store>> {
        match &self.store {
            // A poisoned lock only means a command panicked; the store itself is consistent.
            Ok(store) => Ok(store.lock().unwrap_or_else(|p| p.into_inner())),
            Err(e) => Err(e.clone()),
        }
    }
}

/// The value of `--data DIR` or `--data=DIR` on the app's command line.
pub fn data_dir_arg(args: impl IntoIterator<Item = OsString>) -> Option<PathBuf> {
    let mut args = args.into_iter().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--data" {
            return args.next().map(PathBuf::from);
        }
        if let Some(dir) = arg.to_str().and_then(|a| a.strip_prefix("--data=")) {
            return Some(PathBuf::from(dir));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_dir_is_read_from_either_spelling() {
        let args = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>();
        assert_eq!(data_dir_arg(args(&["app", "--data", "/d"])), Some(PathBuf::from("/d")));
        assert_eq!(data_dir_arg(args(&["app", "--data=/e"])), Some(PathBuf::from("/e")));
        assert_eq!(data_dir_arg(args(&["app"])), None);
    }
}
