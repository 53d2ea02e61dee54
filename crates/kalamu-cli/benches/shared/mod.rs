//! What the benchmarks share: a real `kalamu hub serve` process on loopback,
//! the `kalamu` binary, and CPU time from `/proc`.

#![allow(dead_code)] // each benchmark uses its own part

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// Runs the `kalamu` binary on `data`; its trimmed stdout.
pub fn kalamu(data: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_kalamu")).arg("--data").arg(data).args(args).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// A `kalamu hub serve` process, killed on drop.
pub struct HubProcess {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its data dir (`hub.db` inside).
    pub dir: PathBuf,
}

impl HubProcess {
    /// Starts a hub on `dir`.
    pub fn start(dir: &Path) -> HubProcess {
        HubProcess::start_with(dir, &[])
    }

    /// Starts a hub on `dir` with more `hub serve` arguments.
    pub fn start_with(dir: &Path, args: &[&str]) -> HubProcess {
        let mut child = Command::new(env!("CARGO_BIN_EXE_kalamu"))
            .arg("--data")
            .arg(dir)
            .args(["hub", "serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let addr = line.trim().rsplit("http://").next().unwrap().parse().unwrap();
        HubProcess { child, addr, dir: dir.to_owned() }
    }

    /// User and system CPU time the hub process has used.
    pub fn cpu_seconds(&self) -> f64 {
        cpu_seconds(self.child.id())
    }
}

impl Drop for HubProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// User and system CPU time a process has used.
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let ticks: f64 = [11, 12].iter().filter_map(|&i| fields.get(i)?.parse::<f64>().ok()).sum();
    ticks / 100.0
}
