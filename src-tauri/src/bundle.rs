//! Progress by USB stick from the window: find bundles the hub made,
//! import one, and write this laptop's progress to a stick for the hub.

use std::path::PathBuf;

use kalamu_core::pack::locate::{self, FoundPack};
use kalamu_core::sync::BundleImport;
use tauri::State;

use crate::error::CommandResult;
use crate::state::AppState;
use crate::sync::SyncHandle;

/// The file name extension of sync bundles.
const SUFFIX: &str = ".kbundle";

/// Sync bundles found on USB sticks and in the usual folders.
#[tauri::command]
pub async fn find_bundles() -> Vec<FoundPack> {
    tauri::async_runtime::spawn_blocking(|| {
        locate::find_files(&crate::import::search_roots(), &[SUFFIX], 4, 200)
    })
    .await
    .unwrap_or_default()
}

/// Where an exported bundle goes by default: the first mounted USB stick,
/// else Downloads if it exists, else the home folder.
#[tauri::command]
pub fn bundle_destination() -> Option<String> {
    let sticks = ["/media", "/run/media"].iter().flat_map(|root| mounted(PathBuf::from(root)));
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let downloads = home.as_ref().map(|h| h.join("Downloads")).filter(|d| d.is_dir());
    sticks
        .chain(downloads)
        .chain(home)
        .next()
        .map(|dir| dir.join(format!("kalamu-progress{SUFFIX}")).display().to_string())
}

/// Mount points under `/media` (`/media/USER/STICK` or `/media/STICK`).
fn mounted(root: PathBuf) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(root).into_iter().flatten().flatten() {
        let path = entry.path();
        let inner: Vec<PathBuf> = std::fs::read_dir(&path)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect();
        if inner.is_empty() { out.push(path) } else { out.extend(inner) }
    }
    out
}

/// Writes every event on this laptop to a bundle; returns how many.
#[tauri::command(async)]
pub fn export_bundle(state: State<'_, AppState>, path: String) -> CommandResult<u64> {
    Ok(state.store()?.export_bundle(std::path::Path::new(&path))?)
}

/// Imports a bundle the center's hub made.
#[tauri::command(async)]
pub fn import_bundle(
    state: State<'_, AppState>,
    sync: State<'_, std::sync::Arc<SyncHandle>>,
    path: String,
) -> CommandResult<BundleImport> {
    let done = state.store()?.import_bundle(std::path::Path::new(&path))?;
    // The pending count changed: let the status bar know.
    sync.now();
    Ok(done)
}
