//! Joining the center's hub from the window, with the code the staff give.

use kalamu_core::Store;
use kalamu_core::sync::HubLink;
use serde::Serialize;
use tauri::State;

use crate::error::{CommandError, CommandResult};
use crate::state::AppState;
use crate::sync::SyncHandle;

/// What the window shows once enrolled.
#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS), ts(export))]
pub struct Enrolled {
    /// The center's name.
    pub center: String,
    /// The hub's address.
    pub hub_url: String,
}

/// Enrols this laptop with the hub at `hub_url`, then syncs at once.
#[tauri::command]
pub async fn enroll(
    state: State<'_, AppState>,
    sync: State<'_, std::sync::Arc<SyncHandle>>,
    hub_url: String,
    code: String,
) -> CommandResult<Enrolled> {
    let dir = state
        .data_dir
        .clone()
        .ok_or(CommandError { code: "no_data_dir", message: "no data directory".into() })?;
    // The network call runs on its own connection to the store, so the
    // window's commands never wait behind it.
    let link: HubLink = tauri::async_runtime::spawn_blocking(move || -> CommandResult<HubLink> {
        let store = Store::open_dir(&dir)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| CommandError { code: "internal", message: e.to_string() })?;
        runtime
            .block_on(kalamu_client::enroll(&store, &hub_url, &code, &kalamu_client::host_name()))
            .map_err(CommandError::from)
    })
    .await
    .map_err(|e| CommandError { code: "internal", message: e.to_string() })??;
    sync.now();
    Ok(Enrolled { center: link.center_name, hub_url: link.hub_url })
}

/// Points this enrolled laptop at another address of its hub (the hub
/// moved, or got a new name), then syncs at once.
#[tauri::command(async)]
pub fn set_hub_url(
    state: State<'_, AppState>,
    sync: State<'_, std::sync::Arc<SyncHandle>>,
    hub_url: String,
) -> CommandResult<String> {
    let client = kalamu_client::HubClient::new(&hub_url, None, kalamu_client::DEFAULT_TIMEOUT)
        .map_err(CommandError::from)?;
    state.store()?.set_hub_url(client.url())?;
    sync.now();
    Ok(client.url().to_owned())
}
