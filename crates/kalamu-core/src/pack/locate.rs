//! Finding `.kpack` and `.kpatch` files (and sync bundles) where staff put them: USB sticks, downloads.

use std::path::{Path, PathBuf};

use serde::Serialize;

/// A pack file found on disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct FoundPack {
    /// Its path.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
}

/// Pack and patch files under `roots`, at most `max_depth` folders down, at most `limit` of them.
/// Hidden folders and links are skipped; unreadable folders are passed over.
pub fn find(roots: &[PathBuf], max_depth: usize, limit: usize) -> Vec<FoundPack> {
    find_files(roots, &[".kpack", ".kpatch"], max_depth, limit)
}

/// Files whose name ends with one of `suffixes` (lower case; names match in any case), found as [`find`] finds packs.
pub fn find_files(roots: &[PathBuf], suffixes: &[&str], max_depth: usize, limit: usize) -> Vec<FoundPack> {
    let mut found = Vec::new();
    for root in roots {
        walk(root, suffixes, max_depth, limit, &mut found);
    }
    found.sort_by(|a, b| a.path.cmp(&b.path));
    found.dedup_by(|a, b| a.path == b.path);
    found
}

fn walk(dir: &Path, suffixes: &[&str], depth: usize, limit: usize, found: &mut Vec<FoundPack>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        if found.len() >= limit {
            return;
        }
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') {
            continue;
        }
        let Ok(kind) = entry.file_type() else { continue };
        let lower = name.to_ascii_lowercase();
        if kind.is_file() && suffixes.iter().any(|s| lower.ends_with(s)) {
            let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
            found.push(FoundPack { path: entry.path(), size });
        } else if kind.is_dir() && depth > 0 {
            walk(&entry.path(), suffixes, depth - 1, limit, found);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_packs_in_subfolders_but_not_hidden_ones() {
        let dir = tempfile::tempdir().unwrap();
        let usb = dir.path().join("USB/Courses");
        std::fs::create_dir_all(&usb).unwrap();
        std::fs::create_dir_all(dir.path().join(".trash")).unwrap();
        std::fs::write(usb.join("Networks.KPACK"), b"x").unwrap();
        std::fs::write(usb.join("Networks-1.1.kpatch"), b"xy").unwrap();
        std::fs::write(usb.join("notes.txt"), b"x").unwrap();
        std::fs::write(dir.path().join(".trash/old.kpack"), b"x").unwrap();
        let found = find(&[dir.path().to_path_buf()], 3, 100);
        assert_eq!(
            found,
            vec![
                FoundPack { path: usb.join("Networks-1.1.kpatch"), size: 2 },
                FoundPack { path: usb.join("Networks.KPACK"), size: 1 },
            ]
        );
    }
}
