//! A real PostgreSQL server for the hub's tests: the one the suite started
//! (`KALAMU_TEST_POSTGRES`, a URL without a database), or a throw-away one
//! made here with Debian's `initdb` and `pg_ctl` in a temporary directory
//! and stopped when the test is done. Each hub gets a database of its own.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A server this test started, stopped when dropped.
pub struct Server {
    dir: tempfile::TempDir,
    bin: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = as_postgres(&self.bin.join("pg_ctl"))
            .args(["stop", "-m", "immediate", "-D"])
            .arg(self.dir.path().join("data"))
            .output();
    }
}

/// A fresh, empty database: its URL, and the server to keep alive while it is used (if this test started one).
pub fn fresh_database() -> (String, Option<Server>) {
    let (base, server) = match std::env::var("KALAMU_TEST_POSTGRES") {
        Ok(url) if !url.is_empty() => (url, None),
        _ => {
            let (url, server) = start();
            (url, Some(server))
        }
    };
    (database_on(&base), server)
}

/// A fresh, empty database on the server at `base` (a URL without a database): its URL.
pub fn database_on(base: &str) -> String {
    let name = format!("hub_{}", uuid::Uuid::now_v7().simple());
    let mut admin = postgres::Client::connect(&format!("{base}/postgres"), postgres::NoTls)
        .unwrap_or_else(|e| panic!("PostgreSQL at {base}: {e}"));
    admin.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
    format!("{base}/{name}")
}

/// A client of a hub's database, for a test's own look into it.
pub fn client(url: &str) -> postgres::Client {
    postgres::Client::connect(url, postgres::NoTls).unwrap()
}

/// The newest PostgreSQL's programs Debian installed.
fn bin_dir() -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL's server is installed (Debian's postgresql package; scripts/test.sh installs it)")
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|b| b.join("initdb").exists())
        .collect();
    versions.sort();
    versions.pop().expect("initdb is installed")
}

/// Runs a PostgreSQL program as the `postgres` user when the test runs as
/// root (the server refuses root), else as the test's own user.
fn as_postgres(program: &Path) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("Uid:")).map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// Starts a throw-away server on a free loopback port, without durability (tests only).
fn start() -> (String, Server) {
    let bin = bin_dir();
    let dir = tempfile::tempdir().unwrap();
    if is_root() {
        let ok = Command::new("chown").args(["-R", "postgres"]).arg(dir.path()).status().unwrap();
        assert!(ok.success());
    }
    let data = dir.path().join("data");
    let init = as_postgres(&bin.join("initdb"))
        .args(["-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8", "--locale=C", "-D"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(init.status.success(), "initdb: {}", String::from_utf8_lossy(&init.stderr));
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let options = format!(
        "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off \
         -c full_page_writes=off -c max_connections=300",
        dir.path().display()
    );
    let started = as_postgres(&bin.join("pg_ctl"))
        .args(["start", "-w", "-o", &options, "-l"])
        .arg(dir.path().join("log"))
        .arg("-D")
        .arg(&data)
        .output()
        .unwrap();
    assert!(started.status.success(), "pg_ctl: {}", String::from_utf8_lossy(&started.stderr));
    (format!("postgres://postgres@127.0.0.1:{port}"), Server { dir, bin })
}
