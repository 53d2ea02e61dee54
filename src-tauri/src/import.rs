//! Importing packs from the window: finding pack files, previewing one
//! (with its signer) and importing it with progress events.

use std::path::PathBuf;

use kalamu_core::pack::Progress;
use kalamu_core::pack::import::{ImportOptions, ImportReport};
use kalamu_core::pack::locate::{self, FoundPack};
use kalamu_core::pack::preview::PackPreview;
use tauri::{AppHandle, Emitter, Manager, State};

use crate::error::{CommandError, CommandResult};
use crate::state::AppState;

/// Where staff are likely to have put pack files: `$KALAMU_PACK_DIRS`, then
/// removable media and the user's downloads.
pub fn search_roots() -> Vec<PathBuf> {
    let mut roots: Vec<PathBuf> =
        std::env::var_os("KALAMU_PACK_DIRS").map(|v| std::env::split_paths(&v).collect()).unwrap_or_default();
    roots.extend(["/media", "/run/media", "/mnt", "/Volumes"].map(PathBuf::from));
    if let Some(home) = std::env::var_os("HOME").or_else(|| std::env::var_os("USERPROFILE")) {
        let home = PathBuf::from(home);
        roots.push(home.join("Downloads"));
        roots.push(home.join("Desktop"));
    }
    roots
}

/// Pack files found on USB sticks and in the usual folders.
#[tauri::command]
pub async fn find_packs() -> Vec<FoundPack> {
    tauri::async_runtime::spawn_blocking(|| locate::find(&search_roots(), 4, 200)).await.unwrap_or_default()
}

/// Describes a pack or patch file before import: title, signer, installed version.
#[tauri::command]
pub fn preview_pack(state: State<'_, AppState>, path: String) -> CommandResult<PackPreview> {
    Ok(state.store()?.preview_file(std::path::Path::new(&path))?)
}

/// Imports a pack or a patch, emitting progress; `allow_unsigned` and
/// `accept_new_publisher` are the person's explicit decisions.
#[tauri::command]
pub async fn import_pack(
    app: AppHandle,
    path: String,
    allow_unsigned: bool,
    accept_new_publisher: bool,
) -> CommandResult<ImportReport> {
    tauri::async_runtime::spawn_blocking(move || {
        let state = app.state::<AppState>();
        let store = state.store()?;
        let mut last = 0u64;
        let mut progress = |p: Progress| {
            if p.done == p.total || p.done - last >= (p.total / 200).max(1 << 20) {
                last = p.done;
                let _ = app.emit(crate::names::IMPORT_PROGRESS, p);
            }
        };
        let options = ImportOptions { allow_unsigned, accept_new_publisher };
        Ok(store.import_file(std::path::Path::new(&path), options, &mut progress)?)
    })
    .await
    .map_err(|e| CommandError { code: "internal", message: e.to_string() })?
}
