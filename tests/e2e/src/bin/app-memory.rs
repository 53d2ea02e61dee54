//! Memory of the running app: starts `kalamu-app` (release build if there
//! is one) on a data dir holding the sample packs, under Xvfb, waits for
//! the library to settle, and prints the PSS of the app and every WebKit
//! process it started, read from `/proc/PID/smaps_rollup`.
//!
//! Run: `cargo build --release -p kalamu-app && cargo run -p kalamu-e2e --bin app-memory`

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use kalamu_e2e::{Display, install_sample_packs, spawn_group, target_dir};

fn main() -> Result<()> {
    let binary = std::env::var_os("KALAMU_APP_BIN").map(PathBuf::from).unwrap_or_else(|| {
        let release = target_dir().join("release/kalamu-app");
        if release.is_file() { release } else { target_dir().join("debug/kalamu-app") }
    });
    let data = tempfile::tempdir()?;
    install_sample_packs(data.path())?;
    let display = Display::start()?;
    let started = Instant::now();
    let app = spawn_group(Command::new(&binary).arg("--data").arg(data.path()).env("DISPLAY", &display.name))
        .with_context(|| format!("cannot start {}", binary.display()))?;

    // The window is up once WebKit's web process exists; then let the page settle.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !tree(app.pid()).iter().any(|p| name(*p).contains("WebKitWebProces")) {
        anyhow::ensure!(Instant::now() < deadline, "the app started no web process");
        std::thread::sleep(Duration::from_millis(20));
    }
    let web_up = started.elapsed();
    std::thread::sleep(Duration::from_secs(8));

    println!(
        "{} at the library (2 packs installed), web process up after {:.2} s",
        binary.display(),
        web_up.as_secs_f64()
    );
    let mut total = 0;
    for pid in tree(app.pid()) {
        let (pss, rss) = memory(pid);
        total += pss;
        println!(
            "  {:>7} {:<24} PSS {:>6.1} MiB  RSS {:>6.1} MiB",
            pid,
            name(pid),
            pss as f64 / 1024.0,
            rss as f64 / 1024.0
        );
    }
    println!("  total PSS of the process tree: {:.1} MiB", total as f64 / 1024.0);
    Ok(())
}

/// `pid` and all its descendants.
fn tree(pid: u32) -> Vec<u32> {
    let mut parents: Vec<(u32, u32)> = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(p) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else { continue };
        // The command name may hold spaces; the parent id follows the closing parenthesis.
        if let Some(ppid) =
            stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse().ok())
        {
            parents.push((p, ppid));
        }
    }
    let mut out = vec![pid];
    let mut i = 0;
    while i < out.len() {
        let parent = out[i];
        out.extend(parents.iter().filter(|(_, pp)| *pp == parent).map(|(p, _)| *p));
        i += 1;
    }
    out
}

fn name(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm")).map(|s| s.trim().to_owned()).unwrap_or_default()
}

/// PSS and RSS in KiB.
fn memory(pid: u32) -> (u64, u64) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
    let field = |key: &str| {
        text.lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            .unwrap_or(0)
    };
    (field("Pss:"), field("Rss:"))
}
