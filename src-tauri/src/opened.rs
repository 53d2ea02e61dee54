//! Files the app is asked to open: a pack, a patch or a bundle double-clicked in the
//! file manager. They come on the command line, or from a second start of
//! the app while a window is open: that start hands its files to the open
//! window over a socket in the data directory and ends, so a laptop has
//! one window, and the file goes to the dialog a person is looking at.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tauri::{AppHandle, Emitter, Manager, State};

/// The kinds of file the window opens, by extension.
const OPENED_KINDS: &[&str] = &["kpack", "kpatch", "kbundle"];

/// Files waiting for the window, oldest first.
#[derive(Default)]
pub struct Opened(Mutex<Vec<String>>);

impl Opened {
    /// Starts with the files on the app's own command line.
    pub fn new(files: Vec<PathBuf>) -> Opened {
        let opened = Opened::default();
        opened.push(files);
        opened
    }

    fn push(&self, files: Vec<PathBuf>) {
        let mut queue = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        queue.extend(files.into_iter().map(|f| f.to_string_lossy().into_owned()));
    }
}

/// The files waiting to be opened; asking empties the list.
#[tauri::command]
pub fn opened_files(opened: State<'_, Opened>) -> Vec<String> {
    std::mem::take(&mut *opened.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
}

/// The files named on a command line that the window can open: existing
/// files of a kind it knows, as absolute paths. Options and their values
/// (`--data DIR`) are not files.
pub fn files_in(args: impl IntoIterator<Item = OsString>) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut args = args.into_iter().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--data" {
            args.next();
            continue;
        }
        let path = PathBuf::from(&arg);
        if arg.to_string_lossy().starts_with("--") || !is_openable(&path) {
            continue;
        }
        if let Ok(path) = path.canonicalize() {
            files.push(path);
        }
    }
    files
}

fn is_openable(path: &Path) -> bool {
    let kind = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    kind.is_some_and(|k| OPENED_KINDS.contains(&k.as_str())) && path.is_file()
}

#[cfg(unix)]
mod handoff {
    use std::io::{Read, Write};
    use std::os::unix::net::{UnixListener, UnixStream};
    use std::path::{Path, PathBuf};
    use std::time::Duration;

    /// A handed-over message is a list of paths, one per line; more is refused.
    const MAX_MESSAGE: u64 = 64 * 1024;

    fn socket(data_dir: &Path) -> PathBuf {
        data_dir.join("window.sock")
    }

    /// Gives `files` to the window already open on `data_dir`; false if none is.
    pub fn to_open_window(data_dir: &Path, files: &[PathBuf]) -> bool {
        let Ok(mut stream) = UnixStream::connect(socket(data_dir)) else { return false };
        let message: Vec<String> = files.iter().map(|f| f.to_string_lossy().into_owned()).collect();
        stream.write_all(message.join("\n").as_bytes()).is_ok()
    }

    /// Listens for later starts of the app; each hands over its files to `received`.
    pub fn listen(data_dir: &Path, received: impl Fn(Vec<PathBuf>) + Send + 'static) -> std::io::Result<()> {
        let path = socket(data_dir);
        // A socket left by a window that was killed answers no one.
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path)?;
        std::thread::Builder::new().name("window-handoff".into()).spawn(move || {
            for stream in listener.incoming().flatten() {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
                let mut text = String::new();
                if stream.take(MAX_MESSAGE).read_to_string(&mut text).is_err() {
                    continue;
                }
                let args = std::iter::once("kalamu-app".into()).chain(text.lines().map(Into::into));
                received(super::files_in(args));
            }
        })?;
        Ok(())
    }
}

/// Hands `files` to a window already open on `data_dir`, if there is one:
/// then this start has nothing more to do.
pub fn handed_over(data_dir: &Path, files: &[PathBuf]) -> bool {
    #[cfg(unix)]
    return handoff::to_open_window(data_dir, files);
    #[cfg(not(unix))]
    {
        let _ = (data_dir, files);
        false
    }
}

/// Makes this window the one later starts hand their files to.
pub fn receive(app: &AppHandle, data_dir: &Path) {
    #[cfg(unix)]
    {
        let app = app.clone();
        let listening = handoff::listen(data_dir, move |files| {
            if let Some(window) = app.get_webview_window("main") {
                let _ = window.unminimize();
                let _ = window.set_focus();
            }
            if files.is_empty() {
                return;
            }
            app.state::<Opened>().push(files);
            let _ = app.emit(crate::names::FILES_OPENED, ());
        });
        if let Err(e) = listening {
            // The window works without it; later starts open windows of their own.
            eprintln!("kalamu-app: files opened later will open another window: {e}");
        }
    }
    #[cfg(not(unix))]
    let _ = (app, data_dir);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_existing_packs_and_bundles_are_files_to_open() {
        let dir = tempfile::tempdir().unwrap();
        let pack = dir.path().join("Maths.KPACK");
        let bundle = dir.path().join("centre.kbundle");
        let other = dir.path().join("notes.txt");
        for f in [&pack, &bundle, &other] {
            std::fs::write(f, b"x").unwrap();
        }
        let args: Vec<OsString> = ["kalamu-app", "--data"]
            .iter()
            .map(OsString::from)
            .chain([pack.clone().into(), bundle.clone().into(), other.into()])
            .chain([dir.path().join("gone.kpack").into(), "--help".into()])
            .collect();
        // The value of --data is not a file to open, even a pack.
        let files = files_in(args);
        assert_eq!(files, vec![bundle.canonicalize().unwrap()]);
    }
}
