//! Tauri commands: parse, call kalamu-core, map the error. Nothing more.
//!
//! Every command that touches the store is `command(async)`, off the main
//! thread: the store may wait up to 10 s for another writer (the `kalamu`
//! command on the same laptop) and a PIN check takes about 0.3 s; on the
//! main thread either froze the whole window.

use std::collections::BTreeMap;
use std::sync::Arc;

use kalamu_core::learner::Learner;
use kalamu_core::library::PackSummary;
use kalamu_core::pack::outline::Outline;
use kalamu_core::progress::event::{Answer, EventBody};
use kalamu_core::progress::grade::Graded;
use kalamu_core::progress::views::LearnerProgress;
use kalamu_core::settings::Settings;
use serde::Serialize;
use tauri::State;

use crate::error::CommandResult;
use crate::state::AppState;
use crate::sync::{SyncHandle, SyncStatus};

static PROCESS_START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();

/// Notes when the process started, for the start-up probe.
pub fn mark_process_start() {
    PROCESS_START.get_or_init(std::time::Instant::now);
}

/// The window has shown the library. With `KALAMU_STARTUP_PROBE` set, prints
/// how long that took after the process started (for the start-up benchmark).
#[tauri::command]
pub fn ready() {
    if std::env::var_os("KALAMU_STARTUP_PROBE").is_some()
        && let Some(start) = PROCESS_START.get()
    {
        eprintln!("kalamu-ready-ms {}", start.elapsed().as_millis());
    }
}

/// What the UI needs at start-up.
#[derive(Debug, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS), ts(export))]
pub struct AppInfo {
    /// App version.
    pub version: &'static str,
    /// The data directory in use.
    pub data_dir: Option<String>,
    /// Device settings (language, current learner).
    pub settings: Settings,
}

/// Version, data dir and settings; fails if the store could not be opened.
#[tauri::command(async)]
pub fn app_info(state: State<'_, AppState>) -> CommandResult<AppInfo> {
    let settings = state.store()?.settings()?;
    Ok(AppInfo {
        version: env!("CARGO_PKG_VERSION"),
        data_dir: state.data_dir.as_ref().map(|d| d.display().to_string()),
        settings,
    })
}

/// The installed packs.
#[tauri::command(async)]
pub fn library(state: State<'_, AppState>) -> CommandResult<Vec<PackSummary>> {
    Ok(state.store()?.packs()?)
}

/// The learners on this laptop.
#[tauri::command(async)]
pub fn learners(state: State<'_, AppState>) -> CommandResult<Vec<Learner>> {
    Ok(state.store()?.learners()?)
}

/// Adds a learner (with an optional four-digit PIN) and makes them the current one.
#[tauri::command(async)]
pub fn add_learner(
    state: State<'_, AppState>,
    sync: State<'_, Arc<SyncHandle>>,
    name: String,
    pin: Option<String>,
) -> CommandResult<Learner> {
    let store = state.store()?;
    let learner = store.add_learner_with_pin(&name, pin.as_deref().filter(|p| !p.is_empty()))?;
    store.set_current_learner(&learner.id)?;
    // A new learner is an event: the center's other laptops learn of them with the next sync.
    sync.recorded();
    Ok(learner)
}

/// Makes a learner the current one, checking their PIN if they have one.
#[tauri::command(async)]
pub fn select_learner(state: State<'_, AppState>, id: String, pin: Option<String>) -> CommandResult<Learner> {
    Ok(state.store()?.sign_in(&id, pin.as_deref())?)
}

/// Switches the interface language.
#[tauri::command(async)]
pub fn set_language(state: State<'_, AppState>, language: String) -> CommandResult<()> {
    Ok(state.store()?.set_language(&language)?)
}

/// The modules, lessons and quiz questions of an installed pack.
#[tauri::command(async)]
pub fn outline(state: State<'_, AppState>, pack_id: String) -> CommandResult<Outline> {
    Ok(state.store()?.outline(&pack_id)?)
}

/// A learner's progress in every installed pack.
#[tauri::command(async)]
pub fn progress(state: State<'_, AppState>, learner_id: String) -> CommandResult<LearnerProgress> {
    Ok(state.store()?.progress(&learner_id)?)
}

/// Records what a learner did in a lesson.
#[tauri::command(async)]
pub fn record(
    state: State<'_, AppState>,
    sync: State<'_, Arc<SyncHandle>>,
    learner_id: String,
    pack_id: String,
    lesson_id: String,
    body: EventBody,
) -> CommandResult<()> {
    let store = state.store()?;
    if matches!(body, EventBody::QuizAttempt { .. }) {
        // A score the window made up would count as the learner's: only grading records attempts.
        return Err(kalamu_core::Error::BadEvent {
            event: "(new)".into(),
            why: "a quiz attempt is recorded only by grading its answers (answer_quiz)".into(),
        }
        .into());
    }
    store.lesson(&pack_id, &lesson_id)?;
    // A position changes every few seconds while a video plays; it travels
    // with the next sync instead of starting one.
    let worth_a_sync = !matches!(body, EventBody::Position { .. });
    store.record(&learner_id, &pack_id, &lesson_id, body)?;
    if worth_a_sync {
        sync.recorded();
    }
    Ok(())
}

/// Grades and records a quiz attempt.
#[tauri::command(async)]
pub fn answer_quiz(
    state: State<'_, AppState>,
    sync: State<'_, Arc<SyncHandle>>,
    learner_id: String,
    pack_id: String,
    lesson_id: String,
    answers: BTreeMap<String, Answer>,
) -> CommandResult<Graded> {
    let graded = state.store()?.answer_quiz(&learner_id, &pack_id, &lesson_id, answers)?;
    sync.recorded();
    Ok(graded)
}

/// What the status bar shows about sync.
#[tauri::command]
pub fn sync_status(sync: State<'_, Arc<SyncHandle>>) -> SyncStatus {
    sync.status()
}

/// Syncs now instead of at the next turn.
#[tauri::command]
pub fn sync_now(sync: State<'_, Arc<SyncHandle>>) {
    sync.now();
}
