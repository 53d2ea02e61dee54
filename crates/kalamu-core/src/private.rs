//! Files only this OS account may read. Learners on a laptop share one OS
//! account with whoever else uses it, and a hub's database holds every
//! center's keys: stores, chunk stores and hub databases are 0600 and their
//! directories 0700, whatever the umask.
//!
//! Permissions are set by path, never through a descriptor of a database
//! file: closing a second descriptor of an open SQLite file would drop this
//! process's locks on it.

use std::path::Path;

/// Creates `dir` (and its parents) if needed and makes it this account's alone.
pub fn make_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    set_mode(dir, 0o700)
}

/// Makes a database file and its journals (those that exist) this account's alone.
pub fn restrict_database(path: &Path) -> std::io::Result<()> {
    set_mode(path, 0o600)?;
    for suffix in ["-wal", "-shm", "-journal"] {
        let mut side = path.as_os_str().to_owned();
        side.push(suffix);
        match set_mode(Path::new(&side), 0o600) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            other => other?,
        }
    }
    Ok(())
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(path: &Path, _mode: u32) -> std::io::Result<()> {
    // Windows keeps a user's profile folder private by its ACL already.
    std::fs::metadata(path).map(|_| ())
}
