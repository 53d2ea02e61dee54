//! What the benchmarks share: a real `kalamu hub serve` process on loopback,
//! the `kalamu` binary, and CPU time from `/proc`.

#![allow(dead_code)] // each benchmark uses its own part

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub mod fleet;

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
    /// Whether it speaks TLS.
    pub tls: bool,
}

impl HubProcess {
    /// Starts a hub on `dir`.
    pub fn start(dir: &Path) -> HubProcess {
        HubProcess::start_with(dir, &[])
    }

    /// Starts a hub on `dir` over TLS, with the key it makes itself.
    pub fn start_tls(dir: &Path) -> HubProcess {
        HubProcess::spawn(dir, &[], true)
    }

    /// Starts a hub on `dir` with more `hub serve` arguments.
    pub fn start_with(dir: &Path, args: &[&str]) -> HubProcess {
        HubProcess::spawn(dir, args, false)
    }

    fn spawn(dir: &Path, args: &[&str], tls: bool) -> HubProcess {
        let mut child = Command::new(env!("CARGO_BIN_EXE_kalamu"))
            .arg("--data")
            .arg(dir)
            .args(["hub", "serve", "--listen", "127.0.0.1:0"])
            .args((!tls).then_some("--plain-http"))
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let addr = line.trim().rsplit("://").next().unwrap().parse().unwrap();
        HubProcess { child, addr, dir: dir.to_owned(), tls }
    }

    /// Its base URL.
    pub fn url(&self) -> String {
        format!("{}://{}", if self.tls { "https" } else { "http" }, self.addr)
    }

    /// User and system CPU time the hub process has used.
    pub fn cpu_seconds(&self) -> f64 {
        cpu_seconds(self.child.id())
    }

    /// The most memory the hub process has held at once (VmHWM), in MiB.
    pub fn peak_rss_mib(&self) -> f64 {
        peak_rss_mib(self.child.id())
    }
}

/// The most memory a process has held at once (VmHWM), in MiB.
pub fn peak_rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
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

/// User and system CPU time of this process's children that have ended.
pub fn ended_children_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let ticks: f64 = [13, 14].iter().filter_map(|&i| fields.get(i)?.parse::<f64>().ok()).sum();
    ticks / 100.0
}

/// A TCP relay that counts the bytes it carries, and can cut the link after
/// a number of bytes sent to the hub, or carry it as a slow line.
pub struct Relay {
    addr: SocketAddr,
    up: Arc<AtomicU64>,
    down: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

/// How a relay carries bytes.
#[derive(Clone, Copy)]
pub struct Line {
    /// Bytes sent to the hub after which the link is cut.
    cut_after: Option<u64>,
    /// Bytes a second each way, and the delay a burst after an idle line meets (half the round trip).
    slow: Option<(u64, Duration)>,
}

impl Relay {
    pub fn start(upstream: SocketAddr, cut_after: Option<u64>) -> Relay {
        Relay::start_line(upstream, Line { cut_after, slow: None })
    }

    /// A relay that carries `rate` bytes a second each way, each burst
    /// arriving `delay` after it was sent (half the round trip).
    pub fn start_slow(upstream: SocketAddr, rate: u64, delay: Duration) -> Relay {
        Relay::start_line(upstream, Line { cut_after: None, slow: Some((rate, delay)) })
    }

    pub fn start_line(upstream: SocketAddr, line: Line) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let (up, down, stop) =
            (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)), Arc::new(AtomicBool::new(false)));
        let (u, d, s) = (up.clone(), down.clone(), stop.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                let Ok((client, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(2));
                    continue;
                };
                client.set_nonblocking(false).unwrap();
                let server = TcpStream::connect(upstream).unwrap();
                let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                let (u, d) = (u.clone(), d.clone());
                std::thread::spawn(move || copy(client, server, &u, line));
                std::thread::spawn(move || copy(s2, c2, &d, Line { cut_after: None, ..line }));
            }
        });
        Relay { addr, up, down, stop }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Its URL towards a hub that speaks TLS (the relay passes the bytes as they are).
    pub fn tls_url(&self) -> String {
        format!("https://{}", self.addr)
    }

    pub fn bytes(&self) -> (u64, u64) {
        (self.up.load(Ordering::Relaxed), self.down.load(Ordering::Relaxed))
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn copy(mut from: TcpStream, mut to: TcpStream, count: &AtomicU64, line: Line) {
    // Small reads on a slow line, so its pace is even.
    let mut buf = vec![0u8; if line.slow.is_some() { 1024 } else { 64 * 1024 }];
    let mut line_free = Instant::now();
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let so_far = count.fetch_add(n as u64, Ordering::Relaxed) + n as u64;
        if line.cut_after.is_some_and(|c| so_far >= c) {
            break;
        }
        if let Some((rate, delay)) = line.slow {
            // A burst after an idle line pays the delay; a chunk read while
            // the line is still busy (or just freed by it) follows straight on.
            let now = Instant::now();
            let idle = now > line_free + Duration::from_millis(5);
            let start = if idle { now + delay } else { line_free.max(now) };
            line_free = start + Duration::from_secs_f64(n as f64 / rate as f64);
            std::thread::sleep(line_free.saturating_duration_since(Instant::now()));
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}
