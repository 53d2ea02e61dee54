//! Courses from the hub in the window: what the hub offers, and a download
//! (resuming one that was cut) with progress events, installed by the same
//! checks as a pack from a USB stick.

use kalamu_client::download::{self, DownloadProgress, Offer};
use kalamu_core::Store;
use kalamu_core::pack::import::{ImportOptions, ImportReport};
use tauri::{AppHandle, Emitter, Manager, State};

use crate::error::{CommandError, CommandResult};
use crate::state::AppState;

/// Runs `f` with a store of its own and a network runtime, off the window's threads.
async fn with_network<T: Send + 'static>(
    app: AppHandle,
    f: impl FnOnce(&AppHandle, &Store, &tokio::runtime::Runtime) -> CommandResult<T> + Send + 'static,
) -> CommandResult<T> {
    tauri::async_runtime::spawn_blocking(move || {
        let dir = app
            .state::<AppState>()
            .data_dir
            .clone()
            .ok_or(CommandError { code: "no_data_dir", message: "there is no data directory".into() })?;
        let store = Store::open_dir(&dir)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| CommandError { code: "internal", message: e.to_string() })?;
        f(&app, &store, &runtime)
    })
    .await
    .map_err(|e| CommandError { code: "internal", message: e.to_string() })?
}

/// The courses the hub offers, marked against this laptop's.
#[tauri::command]
pub async fn hub_courses(app: AppHandle, _state: State<'_, AppState>) -> CommandResult<Vec<Offer>> {
    with_network(app, |_, store, runtime| Ok(runtime.block_on(download::catalog(store))?)).await
}

/// Downloads and installs a course from the hub, emitting progress;
/// `allow_unsigned` and `accept_new_publisher` are the person's explicit decisions about its signer.
#[tauri::command]
pub async fn download_course(
    app: AppHandle,
    pack_id: String,
    allow_unsigned: bool,
    accept_new_publisher: bool,
) -> CommandResult<ImportReport> {
    with_network(app, move |app, store, runtime| {
        let mut last = (0u64, 0u64);
        let progress = |p: DownloadProgress| {
            let (DownloadProgress::Fetching { done, total } | DownloadProgress::Installing { done, total }) =
                p;
            // A few hundred events at most, whatever the size.
            if done == total || done.abs_diff(last.0) >= (total / 200).max(1 << 20) || total != last.1 {
                last = (done, total);
                let _ = app.emit(crate::names::DOWNLOAD_PROGRESS, p);
            }
        };
        let options = ImportOptions { allow_unsigned, accept_new_publisher };
        Ok(runtime.block_on(download::download(store, &pack_id, options, progress))?)
    })
    .await
}
