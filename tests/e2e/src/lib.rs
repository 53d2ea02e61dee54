//! Harness for end-to-end tests: the real `kalamu-app` binary in a real
//! WebKit webview, driven over WebDriver (tauri-driver + WebKitWebDriver)
//! on its own Xvfb display.
//!
//! Every process a test starts runs in a process group that is killed when
//! the [`App`] is dropped, so a failing test leaves nothing behind. Every
//! wait is bounded.

pub mod browser;

use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use fantoccini::{Client, ClientBuilder, Locator};
use std::os::unix::process::CommandExt;

/// How long any single wait in these tests may take.
pub const WAIT: Duration = Duration::from_secs(30);

/// The workspace's root folder.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("workspace root exists")
}

/// The cargo target folder.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| workspace_root().join("target"))
}

/// The app binary under test: `$KALAMU_APP_BIN`, else the debug build.
pub fn app_binary() -> Result<PathBuf> {
    let path = std::env::var_os("KALAMU_APP_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join("debug/kalamu-app"));
    if !path.is_file() {
        bail!("{} is missing: build the app first (cargo build -p kalamu-app)", path.display());
    }
    Ok(path)
}

/// Builds the sample pack `name` from `course-packs/` into `out_dir`, signed with `key`.
pub fn build_sample_pack(
    name: &str,
    out_dir: &Path,
    key: &kalamu_core::pack::sign::SecretKey,
) -> Result<PathBuf> {
    let pack = out_dir.join(format!("{name}.kpack"));
    kalamu_core::pack::build::build(
        &workspace_root().join("course-packs").join(name),
        &pack,
        Some(key),
        &mut |_| {},
    )?;
    Ok(pack)
}

/// Builds the sample packs, signed with a fresh key that the store trusts,
/// and imports them into the store in `data_dir`.
pub fn install_sample_packs(data_dir: &Path) -> Result<()> {
    use kalamu_core::pack::{import::ImportOptions, sign::SecretKey};
    let store = kalamu_core::Store::open_dir(data_dir)?;
    let key = SecretKey::generate()?;
    store.trust_add(&key.public_hex(), "Kalamu samples")?;
    let out = tempfile::tempdir()?;
    for name in ["networks-intro", "bases-informatique"] {
        let pack = build_sample_pack(name, out.path(), &key)?;
        store.import_pack(&pack, ImportOptions::default(), &mut |_| {})?;
    }
    Ok(())
}

/// A fresh data dir with the sample packs installed and `name` signed in
/// as the current learner.
pub fn data_with_learner(name: &str) -> Result<(tempfile::TempDir, kalamu_core::learner::Learner)> {
    let data = tempfile::tempdir()?;
    install_sample_packs(data.path())?;
    let store = kalamu_core::Store::open_dir(data.path())?;
    let learner = store.add_learner(name)?;
    store.set_current_learner(&learner.id)?;
    Ok((data, learner))
}

/// Runs the `kalamu` command line (debug build) on `data`; its trimmed stdout, or why it failed.
pub fn kalamu(data: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new(target_dir().join("debug/kalamu")).arg("--data").arg(data).args(args).output()?;
    if !out.status.success() {
        bail!("kalamu {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8(out.stdout)?.trim().to_owned())
}

/// A number field of `/proc/PID/FILE` (`status`, `smaps_rollup`): kB, or a count; 0 if absent.
pub fn proc_field(pid: u32, file: &str, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/{file}"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

/// A process group that is killed, whole, on drop.
pub struct Group(Child);

impl Group {
    /// The group leader's process id.
    pub fn pid(&self) -> u32 {
        self.0.id()
    }

    /// The leader's standard error, when it was piped.
    pub fn take_stderr(&mut self) -> Option<std::process::ChildStderr> {
        self.0.stderr.take()
    }

    /// The group leader's standard output, if it was piped.
    pub fn take_stdout(&mut self) -> Option<std::process::ChildStdout> {
        self.0.stdout.take()
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        let pgid = self.0.id();
        // The group holds the process and everything it started (WebKitWebDriver,
        // the app, WebKit's helper processes), so one signal reaches them all.
        let _ = Command::new("kill")
            .args(["-s", "KILL", "--", &format!("-{pgid}")])
            .stderr(Stdio::null())
            .status();
        let _ = self.0.wait();
    }
}

/// Starts `cmd` as the leader of a new process group.
pub fn spawn_group(cmd: &mut Command) -> Result<Group> {
    let child =
        cmd.process_group(0).stdin(Stdio::null()).spawn().with_context(|| format!("cannot start {cmd:?}"))?;
    Ok(Group(child))
}

/// A virtual X display of the size of a common school laptop screen.
pub struct Display {
    /// The `DISPLAY` value, e.g. `:93`.
    pub name: String,
    _xvfb: Group,
}

/// Whether an X lock file names a process that is still running.
fn lock_is_live(lock: &Path) -> bool {
    match std::fs::read_to_string(lock) {
        Ok(text) => text.trim().parse::<u32>().is_ok_and(|pid| Path::new(&format!("/proc/{pid}")).exists()),
        Err(_) => false,
    }
}

impl Display {
    /// Starts Xvfb on the first free display number.
    pub fn start() -> Result<Display> {
        let first = 90 + (std::process::id() % 400);
        for n in (first..first + 200).map(|n| n % 600 + 90) {
            let socket = PathBuf::from(format!("/tmp/.X11-unix/X{n}"));
            let lock = PathBuf::from(format!("/tmp/.X{n}-lock"));
            // A lock whose process is gone is stale (a test killed on timeout
            // leaves one); Xvfb replaces it itself.
            if lock_is_live(&lock) {
                continue;
            }
            if lock.exists() {
                // Best effort: without its stale socket, the readiness check below means something.
                let _ = std::fs::remove_file(&socket);
                let _ = std::fs::remove_file(&lock);
            }
            let mut xvfb = spawn_group(
                Command::new("Xvfb")
                    .arg(format!(":{n}"))
                    .args(["-screen", "0", "1366x768x24", "-nolisten", "tcp", "-noreset"])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null()),
            )?;
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if socket.exists() {
                    return Ok(Display { name: format!(":{n}"), _xvfb: xvfb });
                }
                if xvfb.0.try_wait()?.is_some() {
                    break; // lost a race for this number; try the next
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        bail!("no free X display found for Xvfb")
    }
}

/// Waits (bounded) for an element matching `css` in `client`'s page and returns its text.
pub(crate) async fn text_when_there(client: &Client, css: &str) -> Result<String> {
    let el = client
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css(css))
        .await
        .with_context(|| format!("no element {css} appeared within {WAIT:?}"))?;
    Ok(el.text().await?)
}

pub(crate) fn free_port() -> Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()?.port())
}

/// The running app with a WebDriver session on it.
pub struct App {
    /// The WebDriver client (one keep-alive connection).
    pub client: Client,
    /// The data directory the app was started on.
    pub data_dir: PathBuf,
    /// The X display the window is on.
    pub display: String,
    _driver: Group,
    _display: Display,
    _log: DriverLog,
}

/// tauri-driver's log: kept in `target/` when a test fails, removed when it passes.
struct DriverLog(PathBuf);

impl Drop for DriverLog {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

impl App {
    /// Starts the app on `data_dir` under a fresh display and opens a session.
    pub async fn start(data_dir: &Path) -> Result<App> {
        App::start_with_env(data_dir, &[]).await
    }

    /// Like [`App::start`], with extra environment variables for the app.
    pub async fn start_with_env(data_dir: &Path, env: &[(&str, &std::ffi::OsStr)]) -> Result<App> {
        App::start_binary(&app_binary()?, data_dir, env).await
    }

    /// Starts a given app binary on `data_dir` with extra environment variables.
    pub async fn start_binary(
        binary: &Path,
        data_dir: &Path,
        env: &[(&str, &std::ffi::OsStr)],
    ) -> Result<App> {
        App::start_opening(binary, data_dir, env, &[]).await
    }

    /// Starts the app as a file manager does for a double-clicked file: with `files` after its options.
    pub async fn start_opening(
        binary: &Path,
        data_dir: &Path,
        env: &[(&str, &std::ffi::OsStr)],
        files: &[&Path],
    ) -> Result<App> {
        // On a loaded 2-core machine the WebDriver server now and then drops
        // the session request; one more try, with a fresh display, driver
        // and ports. An app that cannot start fails both.
        match Self::start_once(binary, data_dir, env, files).await {
            Ok(app) => Ok(app),
            Err(first) => Self::start_once(binary, data_dir, env, files)
                .await
                .with_context(|| format!("a second try, after: {first:#}")),
        }
    }

    async fn start_once(
        binary: &Path,
        data_dir: &Path,
        env: &[(&str, &std::ffi::OsStr)],
        files: &[&Path],
    ) -> Result<App> {
        let display = Display::start()?;
        let port = free_port()?;
        let native_port = free_port()?;
        let driver_bin = std::env::var_os("TAURI_DRIVER").unwrap_or_else(|| "tauri-driver".into());
        let log_path = target_dir().join(format!("tauri-driver-{port}.log"));
        let log = std::fs::File::create(&log_path)?;
        let driver = spawn_group(
            Command::new(&driver_bin)
                .args(["--port", &port.to_string(), "--native-port", &native_port.to_string()])
                .env("DISPLAY", &display.name)
                .env_remove("WAYLAND_DISPLAY")
                .envs(env.iter().copied())
                .stdout(log.try_clone()?)
                .stderr(log),
        )
        .context("tauri-driver is needed for end-to-end tests (cargo install tauri-driver --locked)")?;
        // tauri-driver listens before the WebKitWebDriver behind it does, and
        // forwards a session request to a closed port as a dropped connection.
        wait_for_port(port).await?;
        wait_for_port(native_port).await?;

        let args: Vec<&Path> =
            [Path::new("--data"), data_dir].into_iter().chain(files.iter().copied()).collect();
        let mut caps = serde_json::Map::new();
        caps.insert(
            "tauri:options".into(),
            serde_json::json!({
                "application": binary,
                "args": args,
            }),
        );
        let url = format!("http://127.0.0.1:{port}");
        let mut builder = ClientBuilder::native();
        builder.capabilities(caps);
        let client = tokio::time::timeout(WAIT, builder.connect(&url))
            .await
            .context("the app did not open a WebDriver session in time")?
            .context("cannot open a WebDriver session on the app")?;
        Ok(App {
            client,
            data_dir: data_dir.to_path_buf(),
            display: display.name.clone(),
            _driver: driver,
            _display: display,
            // Kept if the app never opened a session: it says why.
            _log: DriverLog(log_path),
        })
    }

    /// Waits (bounded) for an element matching `css` and returns its text.
    pub async fn text_of(&self, css: &str) -> Result<String> {
        text_when_there(&self.client, css).await
    }

    /// Waits (bounded) until the element matching `css` has exactly `expected` as text.
    pub async fn wait_for_text(&self, css: &str, expected: &str) -> Result<()> {
        let deadline = Instant::now() + WAIT;
        let mut last = String::new();
        while Instant::now() < deadline {
            if let Ok(el) = self.client.find(Locator::Css(css)).await {
                last = el.text().await.unwrap_or_default();
                if last.trim() == expected {
                    return Ok(());
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("{css} shows {last:?}, expected {expected:?}")
    }

    /// Waits (bounded) for the element matching `css`.
    pub async fn element(&self, css: &str) -> Result<fantoccini::elements::Element> {
        self.client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
            .with_context(|| format!("no element {css} appeared within {WAIT:?}"))
    }

    /// Replaces the text of the field matching `css` with `text`.
    pub async fn fill(&self, css: &str, text: &str) -> Result<()> {
        let field = self.element(css).await?;
        field.clear().await?;
        field.send_keys(text).await?;
        Ok(())
    }

    /// Switches into the lesson frame once its page shows `ready_css`;
    /// leave with `client.enter_parent_frame()`.
    pub async fn enter_lesson_frame(&self, ready_css: &str) -> Result<()> {
        self.element("[data-testid=lesson-frame]").await?.enter_frame().await?;
        self.element(ready_css).await?;
        Ok(())
    }

    /// Waits (bounded) until no element matches `css`: a form closed, a sign-in done.
    pub async fn wait_gone(&self, css: &str) -> Result<()> {
        let deadline = Instant::now() + WAIT;
        while !self.client.find_all(Locator::Css(css)).await?.is_empty() {
            if Instant::now() > deadline {
                bail!("{css} was still there after {WAIT:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }

    /// Clicks the element matching `css`, waiting (bounded) for it first.
    pub async fn click(&self, css: &str) -> Result<()> {
        let el = self.client.wait().at_most(WAIT).for_element(Locator::Css(css)).await?;
        el.click().await?;
        Ok(())
    }

    /// Saves a screenshot as `target/e2e-screenshots/NAME.png`.
    pub async fn screenshot(&self, name: &str) -> Result<PathBuf> {
        // WebKit paints after the DOM settles; give the frame time to reach the screen.
        tokio::time::sleep(Duration::from_millis(400)).await;
        // Without GPU compositing, WebKit's snapshot waits for a fresh paint:
        // nudge one, so a page that stands still is captured too.
        self.client
            .execute(
                "const s = document.documentElement.style; s.outline = '1px solid transparent'; \
                 requestAnimationFrame(() => requestAnimationFrame(() => { s.outline = ''; }));",
                vec![],
            )
            .await?;
        let png = tokio::time::timeout(Duration::from_secs(20), self.client.screenshot())
            .await
            .context("WebKit did not take the screenshot within 20 s")??;
        let dir = target_dir().join("e2e-screenshots");
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png)?;
        Ok(path)
    }

    /// Kills the app and everything it started with SIGKILL, as a power cut
    /// or a crash would, without closing the session first.
    pub fn kill(self) {
        drop(self);
    }

    /// Ends the session (the app closes) and cleans up every process.
    pub async fn close(self) -> Result<()> {
        let App { client, _driver, _display, .. } = self;
        // Closing can fail if the app is already gone; the group kill below covers that.
        let _ = tokio::time::timeout(WAIT, client.close()).await;
        drop(_driver);
        Ok(())
    }
}

pub(crate) async fn wait_for_port(port: u16) -> Result<()> {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        if TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("the WebDriver server did not listen on port {port} within {WAIT:?}")
}

/// Writes a pack straight from `files`, without the builder's source checks
/// (a hostile publisher's tool would not run them): one module, one lesson
/// whose page is `entry`. Imports it (unsigned, accepted) into `data_dir`.
pub fn install_raw_pack(data_dir: &Path, id: &str, entry: &str, files: &[(&str, &[u8])]) -> Result<()> {
    use kalamu_core::pack::manifest::{FileEntry, Lesson, Manifest, Module, media_type_for};
    let manifest = Manifest {
        format: 1,
        id: id.into(),
        version: "1.0.0".into(),
        title: format!("Pack {id}"),
        description: String::new(),
        language: "en".into(),
        publisher: "Someone".into(),
        licence: String::new(),
        modules: vec![Module {
            id: "m".into(),
            title: "Module".into(),
            lessons: vec![Lesson {
                id: "lesson".into(),
                title: "Lesson".into(),
                entry: Some(entry.into()),
                quiz: None,
            }],
        }],
        files: files
            .iter()
            .map(|(path, data)| FileEntry {
                path: (*path).into(),
                size: data.len() as u64,
                blake3: blake3::hash(data).to_hex().to_string(),
                media_type: media_type_for(path).into(),
            })
            .collect(),
    };
    let dir = tempfile::tempdir()?;
    let pack = dir.path().join("raw.kpack");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&pack)?);
    let opts = zip::write::SimpleFileOptions::default();
    zip.start_file("kalamu-manifest.json", opts)?;
    std::io::Write::write_all(&mut zip, &manifest.to_bytes())?;
    for (path, data) in files {
        zip.start_file(*path, opts)?;
        std::io::Write::write_all(&mut zip, data)?;
    }
    zip.finish()?;
    let store = kalamu_core::Store::open_dir(data_dir)?;
    store.import_pack(
        &pack,
        kalamu_core::pack::import::ImportOptions { allow_unsigned: true, ..Default::default() },
        &mut |_| {},
    )?;
    Ok(())
}
