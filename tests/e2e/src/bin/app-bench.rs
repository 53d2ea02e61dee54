//! App benchmark: cold start to the library, and the PSS of the app's whole
//! process tree (the app and the WebKit processes it starts, read from
//! `/proc/PID/smaps_rollup`) at the library and with a lesson and its video
//! playing, side by side.
//!
//! Run: `cargo build --release -p kalamu-app && cargo run -p kalamu-e2e --bin app-bench`
//! (`KALAMU_APP_BIN` picks another binary).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use kalamu_e2e::{App, Display, data_with_learner, spawn_group, target_dir};

const NETWORKS: &str = "[data-pack-id='org.kalamu.samples.networks-intro']";

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let binary = std::env::var_os("KALAMU_APP_BIN").map(PathBuf::from).unwrap_or_else(|| {
        let release = target_dir().join("release/kalamu-app");
        if release.is_file() { release } else { target_dir().join("debug/kalamu-app") }
    });
    let (data, _) = data_with_learner("Benchmark")?;
    println!("Kalamu app benchmark: {}", binary.display());

    let display = Display::start()?;
    let mut starts = Vec::new();
    for _ in 0..5 {
        let (ms, _) = start_to_library(&binary, data.path(), &display.name, false)?;
        starts.push(ms);
    }
    starts.sort_unstable();
    println!(
        "cold start to the library: median {} ms, best {} ms, worst {} ms (target < 1500 ms)",
        starts[2], starts[0], starts[4]
    );

    let (_, library_pss) = start_to_library(&binary, data.path(), &display.name, true)?;

    // With a lesson and its video playing, driven as a learner would.
    let app = App::start_binary(&binary, data.path(), &[]).await?;
    app.click(&format!("{NETWORKS} [data-testid=open-pack]")).await?;
    app.click("[data-lesson-id=packets-and-routing]").await?;
    app.enter_lesson_frame("video").await?;
    app.client
        .execute("const v = document.querySelector('video'); v.muted = true; v.play(); return true;", vec![])
        .await?;
    tokio::time::sleep(Duration::from_secs(6)).await;
    let played = app
        .client
        .execute(
            "const v = document.querySelector('video'); return { at: v.currentTime, ready: v.readyState, network: v.networkState, error: v.error && v.error.code, paused: v.paused };",
            vec![],
        )
        .await?;
    app.client.enter_parent_frame().await?;
    let pid = find_app_pid(&binary).context("the app's process was not found")?;
    let lesson_pss = print_tree("with a lesson open and its video playing", pid);
    println!("  video after 6 s of playback: {played}");
    app.close().await?;

    println!(
        "PSS: library {:.1} MiB, lesson + video {:.1} MiB (target ≤ 300 MiB with the lesson open)",
        library_pss as f64 / 1024.0,
        lesson_pss as f64 / 1024.0
    );
    Ok(())
}

/// Starts the app, waits for its start-up probe, optionally measures the
/// tree after the page settles; returns (milliseconds to the library, PSS KiB).
fn start_to_library(binary: &Path, data: &Path, display: &str, measure: bool) -> Result<(u64, u64)> {
    let mut cmd = Command::new(binary);
    cmd.arg("--data")
        .arg(data)
        .env("DISPLAY", display)
        .env("KALAMU_STARTUP_PROBE", "1")
        .stderr(Stdio::piped());
    let mut app = spawn_group(&mut cmd)?;
    let stderr = app.take_stderr().context("no stderr")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(ms) = line.strip_prefix("kalamu-ready-ms ").and_then(|n| n.trim().parse::<u64>().ok())
            {
                let _ = tx.send(ms);
            }
        }
    });
    let ms = rx.recv_timeout(Duration::from_secs(30)).context("the app never reported the library shown")?;
    let mut pss = 0;
    if measure {
        std::thread::sleep(Duration::from_secs(5));
        pss = print_tree("at the library (2 packs installed)", app.pid());
    }
    drop(app);
    Ok((ms, pss))
}

fn find_app_pid(binary: &Path) -> Option<u32> {
    let name: String = binary.file_name()?.to_string_lossy().chars().take(15).collect();
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        for entry in std::fs::read_dir("/proc").ok()?.flatten() {
            if let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>()
                && comm(pid) == name
            {
                return Some(pid);
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

/// Prints each process of the tree under `pid` and returns the total PSS in KiB.
fn print_tree(when: &str, pid: u32) -> u64 {
    println!("process tree {when}:");
    let mut total = 0;
    for p in tree(pid) {
        let (pss, rss) = memory(p);
        total += pss;
        println!(
            "  {:>7} {:<16} PSS {:>6.1} MiB  RSS {:>6.1} MiB",
            p,
            comm(p),
            pss as f64 / 1024.0,
            rss as f64 / 1024.0
        );
    }
    println!("  total PSS {:.1} MiB", total as f64 / 1024.0);
    total
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

fn comm(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm")).map(|s| s.trim().to_owned()).unwrap_or_default()
}

/// PSS and RSS in KiB.
fn memory(pid: u32) -> (u64, u64) {
    let field = |key| kalamu_e2e::proc_field(pid, "smaps_rollup", key);
    (field("Pss:"), field("Rss:"))
}
