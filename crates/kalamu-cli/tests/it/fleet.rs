//! A real hub process on loopback and laptops with real data directories,
//! driven through the `kalamu` binary as staff and the app would.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use kalamu_core::Store;
use kalamu_core::progress::event::EventBody;

use crate::{kalamu, stderr, stdout};

/// The sample pack every test laptop studies.
pub const PACK: &str = "org.kalamu.samples.networks-intro";
const LESSONS: &[&str] = &["what-is-a-network", "switches-and-routers", "ip-addresses"];

/// Which database a test hub serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// A SQLite file in the hub's data directory.
    Sqlite,
    /// A fresh database on a real PostgreSQL server.
    Postgres,
}

/// A hub's PostgreSQL database, and the server it lives on if this test started it.
pub struct PgDb {
    /// The database's URL.
    pub url: String,
    _server: Option<crate::pg::Server>,
}

impl PgDb {
    /// A fresh database.
    pub fn fresh() -> PgDb {
        let (url, server) = crate::pg::fresh_database();
        PgDb { url, _server: server }
    }
}

/// A hub process serving a SQLite file in its own data directory, or a PostgreSQL database.
pub struct Hub {
    /// The hub's data directory.
    pub dir: tempfile::TempDir,
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    tls: bool,
    pg: Option<std::sync::Arc<PgDb>>,
}

impl Hub {
    /// Starts `kalamu hub serve` on a free loopback port.
    pub fn start() -> Hub {
        let dir = tempfile::tempdir().unwrap();
        Self::start_in(dir)
    }

    /// Starts `kalamu hub serve --plain-http` on the engine named, on a fresh database.
    pub fn start_on(engine: Engine) -> Hub {
        match engine {
            Engine::Sqlite => Hub::start(),
            Engine::Postgres => {
                Hub::serve(tempfile::tempdir().unwrap(), true, &[], Some(std::sync::Arc::new(PgDb::fresh())))
            }
        }
    }

    /// A center's hub (SQLite) that relays to the hub above every second, once `hub upstream` links it.
    pub fn start_relaying() -> Hub {
        Hub::serve(tempfile::tempdir().unwrap(), true, &["--relay-every", "1"], None)
    }

    /// Another hub process serving this hub's PostgreSQL database (from a data directory of its own).
    pub fn another_on_same_database(&self) -> Hub {
        Hub::serve(tempfile::tempdir().unwrap(), !self.tls, &[], self.pg.clone())
    }

    /// Starts `kalamu hub serve` over TLS, with the key the hub makes itself.
    pub fn start_tls() -> Hub {
        Self::start_with(tempfile::tempdir().unwrap(), false)
    }

    /// Starts `kalamu hub serve --plain-http` behind a TLS proxy that presents `cert_pem`.
    pub fn start_behind_proxy(cert_pem: &Path) -> Hub {
        let proxy = format!("--proxy-cert={}", cert_pem.display());
        Self::start_with_args(tempfile::tempdir().unwrap(), true, &[&proxy])
    }

    fn start_in(dir: tempfile::TempDir) -> Hub {
        Self::start_with(dir, true)
    }

    fn start_with(dir: tempfile::TempDir, plain_http: bool) -> Hub {
        Self::start_with_args(dir, plain_http, &[])
    }

    fn start_with_args(dir: tempfile::TempDir, plain_http: bool, extra: &[&str]) -> Hub {
        Self::serve(dir, plain_http, extra, None)
    }

    fn serve(
        dir: tempfile::TempDir,
        plain_http: bool,
        extra: &[&str],
        pg: Option<std::sync::Arc<PgDb>>,
    ) -> Hub {
        // What the hub logs, kept beside its database (outside it: the database's dir holds only its files).
        let log = std::fs::OpenOptions::new().create(true).append(true).open(log_path(dir.path())).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_kalamu"))
            .arg("--data")
            .arg(dir.path())
            .args(["hub", "serve", "--listen", "127.0.0.1:0"])
            .args(pg.iter().flat_map(|db| ["--db", db.url.as_str()]))
            .args(plain_http.then_some("--plain-http"))
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let addr = line.trim().rsplit("://").next().unwrap().parse().unwrap_or_else(|_| panic!("{line}"));
        Hub { dir, child, addr, tls: !plain_http, pg }
    }

    /// Stops the hub (as a power cut would) and starts it again on the same
    /// database, after `meanwhile` has had its way with the database's files.
    pub fn restart(mut self, meanwhile: impl FnOnce(&Path)) -> Hub {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap());
        let (pg, plain_http) = (self.pg.take(), !self.tls);
        drop(self);
        meanwhile(dir.path());
        Self::serve(dir, plain_http, &[], pg)
    }

    /// Kills the hub process at once, as a crash or a power cut would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Asks the hub to stop, as its service manager would (SIGTERM), and waits until it has.
    pub fn stop(&mut self) {
        let status = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(status.success());
        let exited = self.child.wait().unwrap();
        assert!(exited.success(), "the hub stops cleanly: {exited}");
    }

    /// The hub's URL.
    pub fn url(&self) -> String {
        format!("{}://{}", if self.tls { "https" } else { "http" }, self.addr)
    }

    /// Runs `kalamu hub ARGS` against this hub's database.
    pub fn run(&self, args: &[&str]) -> Output {
        let mut all = vec!["hub"];
        if let Some(db) = &self.pg {
            all.extend(["--db", db.url.as_str()]);
        }
        all.extend_from_slice(args);
        kalamu(self.dir.path(), &all)
    }

    /// Adds a center; returns its id.
    pub fn add_center(&self, name: &str) -> String {
        ok(self.run(&["center", "add", name])).trim().to_owned()
    }

    /// A fresh enrolment code for a center.
    pub fn code(&self, center: &str) -> String {
        ok(self.run(&["enroll-code", center])).trim().to_owned()
    }

    /// A read-only look into the hub's SQLite database.
    pub fn db(&self) -> rusqlite::Connection {
        assert!(self.pg.is_none(), "this look is for SQLite; use scalar() on either engine");
        rusqlite::Connection::open_with_flags(
            self.dir.path().join("hub.db"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap()
    }

    /// One number from the hub's database, on either engine (`CAST(… AS BIGINT)` reads the same on both).
    pub fn scalar(&self, sql: &str) -> i64 {
        match &self.pg {
            Some(db) => crate::pg::client(&db.url).query_one(sql, &[]).unwrap().get(0),
            None => self.db().query_row(sql, [], |r| r.get(0)).unwrap(),
        }
    }

    /// The stored runs' bytes, on either engine.
    fn runs(&self) -> Vec<Vec<u8>> {
        match &self.pg {
            Some(db) => crate::pg::client(&db.url)
                .query("SELECT bytes FROM runs", &[])
                .unwrap()
                .iter()
                .map(|r| r.get(0))
                .collect(),
            None => {
                let db = self.db();
                let mut stmt = db.prepare("SELECT bytes FROM runs").unwrap();
                stmt.query_map([], |r| r.get::<_, Vec<u8>>(0)).unwrap().map(Result::unwrap).collect()
            }
        }
    }

    /// Every event id the hub holds, read from its stored runs, with how many events in them carry one.
    pub fn event_ids(&self) -> (BTreeSet<String>, usize) {
        let ids: Vec<String> = self
            .runs()
            .iter()
            .flat_map(|run| kalamu_core::sync::Batch::decode(run).unwrap().events)
            .map(|e| e.id)
            .collect();
        let rows = ids.len();
        (ids.into_iter().collect(), rows)
    }

    /// What the hub process wrote to its log (stderr) so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(log_path(self.dir.path())).unwrap_or_default()
    }

    /// Sends one raw HTTP/1.1 request; returns the status and the body.
    pub fn request(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, Vec<u8>) {
        raw_request(self.addr, method, path, headers, body)
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The log file of a hub whose data dir is `dir`.
fn log_path(dir: &Path) -> PathBuf {
    dir.join("hub.log")
}

/// One HTTP/1.1 request on a fresh connection, without any client library in between.
pub fn raw_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Vec<u8>) {
    let (status, response) = raw_request_with_head(addr, method, path, headers, body);
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").map_or(response.len(), |p| p + 4);
    (status, response[split..].to_vec())
}

/// One HTTP/1.1 request on a fresh connection; returns the status and the whole response, head included.
pub fn raw_request_with_head(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Vec<u8>) {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    // The hub may refuse an oversized body before reading all of it.
    let _ = s.write_all(body);
    let mut response = Vec::new();
    let _ = s.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response);
    let status = text.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, response)
}

/// An enrolment request as a laptop makes it for code `code`, to a hub on plain HTTP.
pub fn enrol_json(code: &str, device_id: &str, device_name: &str) -> serde_json::Value {
    use kalamu_core::sync::enrolment::{Side, code_key, fresh_nonce, proof};
    let nonce = fresh_nonce();
    serde_json::json!({
        "code_proof": proof(Side::Laptop, &code_key(code), "", &nonce),
        "nonce": nonce,
        "device_id": device_id,
        "device_name": device_name,
    })
}

/// A laptop: its own data directory with the sample pack installed.
pub struct Laptop {
    /// Its data directory.
    pub data: PathBuf,
    _dir: tempfile::TempDir,
}

impl Laptop {
    /// A laptop with the sample pack installed.
    pub fn new() -> Laptop {
        let dir = tempfile::tempdir().unwrap();
        let pack = dir.path().join("networks.kpack");
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../course-packs/networks-intro");
        ok(kalamu(dir.path(), &["pack", "build", src.to_str().unwrap(), "--out", pack.to_str().unwrap()]));
        let data = dir.path().join("data");
        ok(kalamu(&data, &["import", "--allow-unsigned", pack.to_str().unwrap()]));
        Laptop { data, _dir: dir }
    }

    /// Runs `kalamu ARGS` on this laptop.
    pub fn run(&self, args: &[&str]) -> Output {
        kalamu(&self.data, args)
    }

    /// Enrols with a hub.
    pub fn enroll(&self, url: &str, code: &str, name: &str) {
        ok(self.run(&["enroll", "--hub", url, "--code", code, "--name", name]));
    }

    /// The laptop's store, opened in this process.
    pub fn store(&self) -> Store {
        Store::open_dir(&self.data).unwrap()
    }

    /// This laptop's device id.
    pub fn device_id(&self) -> String {
        self.store().device().unwrap().id
    }

    /// Adds a learner; returns the id.
    pub fn add_learner(&self, name: &str) -> String {
        ok(self.run(&["learner", "add", name])).trim().to_owned()
    }

    /// Records `n` events of studying for a learner, as the app would.
    pub fn study(&self, learner: &str, n: usize) {
        let store = self.store();
        for i in 0..n {
            let lesson = LESSONS[i % LESSONS.len()];
            let body = match i % 3 {
                0 => EventBody::LessonOpened,
                1 => EventBody::TimeSpent { seconds: 20 + (i % 50) as u32 },
                _ => EventBody::Position { media: None, at: (i % 10) as f64 / 10.0 },
            };
            store.record(learner, PACK, lesson, body).unwrap();
        }
    }

    /// Every event id this laptop holds.
    pub fn event_ids(&self) -> BTreeSet<String> {
        let db = rusqlite::Connection::open(self.data.join("kalamu.db")).unwrap();
        let mut stmt = db.prepare("SELECT id FROM events").unwrap();
        stmt.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
    }

    /// `kalamu sync` (through `url` if given), with a short timeout.
    pub fn sync(&self, url: Option<&str>) -> Output {
        let mut args = vec!["sync", "--timeout", "3"];
        if let Some(u) = url {
            args.extend(["--hub", u]);
        }
        self.run(&args)
    }

    /// The credential this laptop shows the hub.
    pub fn token(&self) -> String {
        self.store().hub_link().unwrap().unwrap().device_token
    }
}

/// The command's stdout, after asserting that it succeeded.
pub fn ok(out: Output) -> String {
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    stdout(&out)
}
