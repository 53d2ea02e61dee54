//! The names the window and the Rust side share: the events the app emits,
//! and (read from `main.rs`'s handler list) the commands the window invokes.
//! Both are written to `ui/src/lib/bindings/names.ts` with the types, so a
//! renamed command or event breaks the UI's type-check instead of failing
//! at run time.

/// Progress of a pack import from a file.
pub const IMPORT_PROGRESS: &str = "import-progress";
/// Progress of a course download from the hub.
pub const DOWNLOAD_PROGRESS: &str = "download-progress";
/// The sync status, whenever it changes.
pub const SYNC_STATUS: &str = "sync-status";
/// Installed packs changed behind the window's back (a required course arrived).
pub const LIBRARY_CHANGED: &str = "library-changed";
/// Files to open arrived from a later start of the app (`opened_files` has them).
pub const FILES_OPENED: &str = "files-opened";

#[cfg(test)]
mod tests {
    /// Every event, by the name the window's constant takes.
    const EVENTS: &[(&str, &str)] = &[
        ("IMPORT_PROGRESS_EVENT", super::IMPORT_PROGRESS),
        ("DOWNLOAD_PROGRESS_EVENT", super::DOWNLOAD_PROGRESS),
        ("SYNC_STATUS_EVENT", super::SYNC_STATUS),
        ("LIBRARY_CHANGED_EVENT", super::LIBRARY_CHANGED),
        ("FILES_OPENED_EVENT", super::FILES_OPENED),
    ];

    /// The commands in `generate_handler![…]`, by their function names.
    fn commands() -> Vec<&'static str> {
        let main = include_str!("main.rs");
        let start = main.find("generate_handler![").expect("main.rs registers its commands") + 18;
        let list = &main[start..start + main[start..].find(']').expect("the list ends")];
        list.split(',')
            .map(|path| path.trim())
            .filter(|path| !path.is_empty())
            .map(|path| path.rsplit("::").next().unwrap_or(path))
            .collect()
    }

    #[test]
    fn export_bindings_names() {
        let mut ts = String::from("// Generated from src-tauri/src/names.rs and main.rs. Do not edit.\n\n");
        ts.push_str("/** The commands the window may invoke. */\nexport const COMMAND = {\n");
        for c in commands() {
            ts.push_str(&format!("  {c}: \"{c}\",\n"));
        }
        ts.push_str("} as const;\n\n");
        for (name, value) in EVENTS {
            ts.push_str(&format!("export const {name} = \"{value}\";\n"));
        }
        let dir =
            std::path::PathBuf::from(std::env::var("TS_RS_EXPORT_DIR").expect("set in .cargo/config.toml"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("names.ts"), ts).unwrap();
    }

    #[test]
    fn every_registered_command_is_named_once() {
        let commands = commands();
        assert!(commands.contains(&"download_course") && commands.contains(&"app_info"), "{commands:?}");
        let unique: std::collections::BTreeSet<_> = commands.iter().collect();
        assert_eq!(unique.len(), commands.len(), "{commands:?}");
    }
}
