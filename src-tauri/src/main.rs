//! The Kalamu desktop app: a window over kalamu-core. Commands are thin;
//! everything they do lives in kalamu-core.

#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

mod bundle;
mod commands;
mod courses;
mod enroll;
mod error;
mod import;
mod lesson;
mod media;
mod names;
mod opened;
mod state;
mod sync;

const USAGE: &str = "\
Kalamu: offline-first learning. Opens the Kalamu window.

Usage: kalamu-app [--data DIR] [FILE.kpack | FILE.kbundle]...

  --data DIR     data directory (else $KALAMU_DATA, else the platform's)
  FILE           a course pack to import or a sync bundle to load; with a
                 window already open, the file goes to that window
  -h, --help     print this help
  -V, --version  print the version

Staff, publishers and scripts use the `kalamu` command line.";

fn main() -> std::process::ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.iter().skip(1).any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return std::process::ExitCode::SUCCESS;
    }
    if args.iter().skip(1).any(|a| a == "--version" || a == "-V") {
        println!("kalamu-app {}", env!("CARGO_PKG_VERSION"));
        return std::process::ExitCode::SUCCESS;
    }
    if cfg!(target_os = "linux")
        && !["DISPLAY", "WAYLAND_DISPLAY"].iter().any(|v| std::env::var_os(v).is_some())
    {
        eprintln!(
            "kalamu-app: no display to open the window on (neither DISPLAY nor WAYLAND_DISPLAY is set); start it from the desktop, or use the `kalamu` command line."
        );
        return std::process::ExitCode::FAILURE;
    }
    commands::mark_process_start();
    let explicit = state::data_dir_arg(args.iter().cloned());
    let files = opened::files_in(args);
    if let Ok(dir) = kalamu_core::datadir::resolve(explicit.as_deref())
        && opened::handed_over(&dir, &files)
    {
        return std::process::ExitCode::SUCCESS;
    }
    let state = state::AppState::open(explicit);
    let data_dir = state.data_dir.clone();
    tauri::Builder::default()
        .manage(state)
        .manage(opened::Opened::new(files))
        .setup(move |app| {
            if let Some(dir) = &data_dir {
                opened::receive(app.handle(), dir);
            }
            let server = media::MediaServer::start(app.handle().clone())?;
            tauri::Manager::manage(app, server);
            tauri::Manager::manage(app, sync::SyncHandle::start(app.handle().clone(), data_dir.clone()));
            light_webview(app)?;
            Ok(())
        })
        .register_asynchronous_uri_scheme_protocol(lesson::SCHEME, lesson::handle)
        .invoke_handler(tauri::generate_handler![
            commands::app_info,
            opened::opened_files,
            commands::ready,
            commands::library,
            commands::learners,
            commands::add_learner,
            commands::select_learner,
            commands::set_language,
            import::find_packs,
            import::preview_pack,
            import::import_pack,
            courses::hub_courses,
            courses::download_course,
            commands::outline,
            commands::progress,
            commands::record,
            commands::answer_quiz,
            commands::sync_status,
            commands::sync_now,
            enroll::enroll,
            enroll::set_hub_url,
            bundle::find_bundles,
            bundle::bundle_destination,
            bundle::export_bundle,
            bundle::import_bundle,
        ])
        .run(tauri::generate_context!())
        .expect("the Kalamu window could not be created");
    std::process::ExitCode::SUCCESS
}

/// Turns off WebKit's GPU compositing. The laptops Kalamu runs on have no
/// GPU worth the name, so compositing falls back to software GL, which cost
/// about 100 MiB in the web process (measured by `app-bench`) and made pages
/// no faster; lessons and video play the same without it.
#[cfg(target_os = "linux")]
fn light_webview(app: &tauri::App) -> tauri::Result<()> {
    use webkit2gtk::{CacheModel, HardwareAccelerationPolicy, SettingsExt, WebContextExt, WebViewExt};
    for window in tauri::Manager::webview_windows(app).values() {
        window.with_webview(|webview| {
            if let Some(settings) = webview.inner().settings() {
                settings.set_hardware_acceleration_policy(HardwareAccelerationPolicy::Never);
            }
            // Every page comes from the binary or a pack on this disk: a
            // browser's memory caches of pages and resources buy nothing.
            if let Some(context) = webview.inner().context() {
                context.set_cache_model(CacheModel::DocumentViewer);
            }
        })?;
    }
    Ok(())
}

#[cfg(not(target_os = "linux"))]
fn light_webview(_app: &tauri::App) -> tauri::Result<()> {
    Ok(())
}
