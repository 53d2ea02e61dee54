//! Where Kalamu keeps its data: `--data`, else `$KALAMU_DATA`, else the
//! platform's data directory.

use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// The environment variable that names the data directory.
pub const ENV_VAR: &str = "KALAMU_DATA";

/// Picks the data directory: the explicit one, else `$KALAMU_DATA`, else the platform's.
pub fn resolve(explicit: Option<&Path>) -> Result<PathBuf> {
    if let Some(dir) = explicit {
        return Ok(dir.to_path_buf());
    }
    if let Some(dir) = std::env::var_os(ENV_VAR).filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    directories::ProjectDirs::from("org", "Kalamu", "Kalamu")
        .map(|dirs| dirs.data_dir().to_path_buf())
        .ok_or(Error::NoDataDir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_dir_wins_over_everything() {
        let dir = Path::new("/some/where");
        assert_eq!(resolve(Some(dir)).unwrap(), dir);
    }
}
