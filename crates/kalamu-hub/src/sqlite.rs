//! The hub's storage in one SQLite file: the default for a center's hub.
//!
//! One writer connection and a few readers, in WAL mode, so syncs that only
//! read (vectors, pulls) never wait behind one that writes.

use std::path::Path;
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use kalamu_core::progress::event::Event;
use kalamu_core::sync::proof::Chain;
use kalamu_core::sync::{Applied, Batch, LearnerRecord, VersionVector};
use rusqlite::{Connection, OptionalExtension};

use crate::error::{HubError, Result};
use crate::rules::{self, CodeRow, Enrolment, KnownDevice};
use crate::storage::{
    Caller, Center, Committing, DeviceInfo, Incoming, PublishedPack, Pulled, StaffAccount, StaffSession,
    Storage,
};

mod migrate;
mod projection;
mod runs;
mod staff;

/// Reader connections kept open: one per storage worker, plus the runtime's
/// threads checking credentials.
const READERS: usize = 16;

/// The SQLite implementation of [`Storage`].
pub struct SqliteStorage {
    writer: Mutex<mpsc::Sender<Message>>,
    /// Joined when the storage is dropped, so what it still holds is committed before the process ends.
    writer_thread: Option<std::thread::JoinHandle<()>>,
    readers: Mutex<Vec<Connection>>,
    path: std::path::PathBuf,
    /// Devices seen since the writer last stored it: their time and clock offset.
    seen: Arc<Mutex<Seen>>,
    /// Runs read lately, for pulls.
    runs: Mutex<runs::RunCache>,
}

type Seen = std::collections::HashMap<String, (i64, Option<i64>)>;

/// Called once the group a job ran in has committed (or failed to).
type Deliver = Box<dyn FnOnce(Result<(), String>) + Send>;
/// A write, run inside its own savepoint; says whether it succeeded.
type Job = Box<dyn FnOnce(&Connection) -> (bool, Deliver) + Send>;

/// What the writer thread is sent.
enum Message {
    Write(Job),
    /// A device was seen while no note was waiting: store the notes soon.
    Seen,
}

/// Most writes committed together.
pub const GROUP: usize = 256;

/// How long the writer is idle before it folds new events into the
/// projection: long enough that a burst of laptops, whose pulls follow their
/// pushes, is over (pages fold what is left when they are viewed).
const PROJECT_DELAY: Duration = Duration::from_secs(1);
/// How often a writer that is never idle folds some events into the projection.
const PROJECT_LAG: Duration = Duration::from_secs(2);
/// Events it folds then: about 1 % of its time.
const BUSY_STEP_EVENTS: usize = 2_000;

/// Longest a "last seen" note waits for a write to ride with before it gets
/// a commit of its own.
const SEEN_DELAY: Duration = Duration::from_millis(200);

/// The one writer: runs the writes that queued up meanwhile in one
/// transaction, each in its own savepoint (a failing write undoes only
/// itself), and answers them all after a single durable commit. A thousand
/// laptops syncing at once cost a few dozen fsyncs, not a thousand.
fn writer_loop(conn: Connection, jobs: mpsc::Receiver<Message>, seen: Arc<Mutex<Seen>>, folding: Folding) {
    let mut seen_due: Option<Instant> = None;
    // Since when the projection lacks stored events (a hub that opens may).
    let mut behind: Option<Instant> = (folding == Folding::WhenIdle).then(Instant::now);
    // Folding while idle goes on step after step until a write comes.
    let mut folding_idle = false;
    loop {
        let delay = if folding_idle { Duration::ZERO } else { PROJECT_DELAY };
        let project_due = behind.map(|_| Instant::now() + delay);
        let first = match seen_due.into_iter().chain(project_due).min() {
            None => jobs.recv().map_err(|_| mpsc::RecvTimeoutError::Disconnected),
            Some(due) => jobs.recv_timeout(due.saturating_duration_since(Instant::now())),
        };
        let mut group = Vec::new();
        folding_idle &= first.is_err();
        match first {
            Ok(Message::Write(job)) => group.push(job),
            Ok(Message::Seen) => {
                seen_due.get_or_insert_with(|| Instant::now() + SEEN_DELAY);
                continue;
            }
            Err(mpsc::RecvTimeoutError::Timeout) if seen_due.is_none_or(|d| d > Instant::now()) => {
                // Idle: fold what the last writes stored into the staff's reports.
                behind = project_step(&conn, crate::projection::STEP_EVENTS).then(Instant::now);
                folding_idle = behind.is_some();
                continue;
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                commit_group(&conn, Vec::new(), &seen);
                return;
            }
        }
        while group.len() < GROUP {
            match jobs.try_recv() {
                Ok(Message::Write(job)) => group.push(job),
                Ok(Message::Seen) => {}
                Err(_) => break,
            }
        }
        // Every group stores the notes taken meanwhile, so they cost no commit of their own.
        seen_due = None;
        if folding == Folding::WhenIdle && !group.is_empty() {
            behind.get_or_insert_with(Instant::now);
        }
        commit_group(&conn, group, &seen);
        // A writer that is never idle still moves the reports on, a little
        // at a time so that the pushes it serves hardly notice.
        if behind.is_some_and(|since| since.elapsed() > PROJECT_LAG) {
            behind = project_step(&conn, BUSY_STEP_EVENTS).then(Instant::now);
        }
    }
}

/// Folds the next events into the projection in a transaction of its own;
/// says whether more wait.
fn project_step(conn: &Connection, budget: usize) -> bool {
    let stepped = exec(conn, "BEGIN IMMEDIATE").map_err(HubError::from).and_then(|()| {
        let (_, more) = crate::projection::step(&mut projection::SqliteProject(conn), budget)?;
        exec(conn, "COMMIT")?;
        Ok(more)
    });
    stepped.unwrap_or_else(|e| {
        let _ = conn.execute_batch("ROLLBACK");
        // The reports stay as they were; the next write tries again.
        tracing::error!("the staff reports could not be brought up to date: {e}");
        false
    })
}

/// Runs `group` and the waiting "last seen" notes in one transaction, then
/// tells each write whether it committed.
fn commit_group(conn: &Connection, group: Vec<Job>, seen: &Mutex<Seen>) {
    if group.is_empty() && seen.lock().unwrap_or_else(|p| p.into_inner()).is_empty() {
        return;
    }
    let began = exec(conn, "BEGIN IMMEDIATE");
    let mut delivers = Vec::with_capacity(group.len());
    for job in group {
        delivers.push(in_savepoint(conn, || job(conn)));
    }
    let notes = std::mem::take(&mut *seen.lock().unwrap_or_else(|p| p.into_inner()));
    if !notes.is_empty() {
        in_savepoint(conn, || (store_seen(conn, notes).is_ok(), ()));
    }
    let committed = began.and_then(|()| exec(conn, "COMMIT")).map_err(|e| e.to_string());
    if committed.is_err() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    for deliver in delivers {
        deliver(committed.clone());
    }
}

/// Runs a write in a savepoint, so that a failing write undoes only itself.
fn in_savepoint<T>(conn: &Connection, write: impl FnOnce() -> (bool, T)) -> T {
    let _ = exec(conn, "SAVEPOINT job");
    let (ok, out) = write();
    let _ = if ok { exec(conn, "RELEASE job") } else { conn.execute_batch("ROLLBACK TO job; RELEASE job") };
    out
}

/// Runs a statement without parameters. Prepared once: a burst runs each thousands of times.
fn exec(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([])?;
    Ok(())
}

/// Stores when each device was last seen, and its clock offset if it sent one.
fn store_seen(conn: &Connection, notes: Seen) -> Result<()> {
    let mut stmt = conn.prepare_cached(
        "UPDATE devices SET last_seen_at = ?2, clock_offset_ms = coalesce(?3, clock_offset_ms) WHERE id = ?1",
    )?;
    for (device_id, (now, offset)) in notes {
        stmt.execute((&device_id, now, offset))?;
    }
    Ok(())
}

/// When the staff reports fold in new events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Folding {
    /// Whenever the writer is idle (or 2 s behind a busy one): pages are fresh and quick.
    #[default]
    WhenIdle,
    /// Only when a page is viewed: the writer does nothing for reports while
    /// nobody reads them.
    WhenViewed,
}

impl SqliteStorage {
    /// Opens (creating if needed) a hub database file and brings its schema up to date.
    pub fn open(path: &Path) -> Result<SqliteStorage> {
        SqliteStorage::open_with(path, Folding::default())
    }

    /// [`SqliteStorage::open`], folding the reports as `folding` says.
    pub fn open_with(path: &Path, folding: Folding) -> Result<SqliteStorage> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            kalamu_core::private::make_dir(dir)?;
        }
        let mut writer = connect(path)?;
        // The writer's cache stays valid between its commits (nobody else writes):
        // big enough for the indexes' hot pages. Not much bigger: SQLite scans
        // the whole cache at many commits (when a B-tree page split has moved
        // pages), so a 64 MiB cache cost more than it saved.
        writer.pragma_update(None, "cache_size", -16 * 1024)?;
        // A burst rewrites the same index pages group after group: checkpoints
        // every 32 MiB of WAL, not the default 4, copy each page once, not ~8 times.
        writer.pragma_update(None, "wal_autocheckpoint", 8000)?;
        // Each write runs in a savepoint, whose journal of first-touched pages
        // would otherwise go through a temporary file.
        writer.pragma_update(None, "temp_store", "MEMORY")?;
        migrate::migrate(&mut writer, path)?;
        // Every center's keys and every device's credential: for the hub's OS account only.
        kalamu_core::private::restrict_database(path)?;
        let (jobs, queue) = mpsc::channel();
        let seen: Arc<Mutex<Seen>> = Default::default();
        let notes = seen.clone();
        let writer_thread = std::thread::Builder::new()
            .name("hub-writer".into())
            .spawn(move || writer_loop(writer, queue, notes, folding))?;
        Ok(SqliteStorage {
            writer: Mutex::new(jobs),
            writer_thread: Some(writer_thread),
            readers: Mutex::new(Vec::new()),
            path: path.to_owned(),
            seen,
            runs: Default::default(),
        })
    }

    fn send(&self, message: Message) {
        // If the writer is gone, the message is dropped; a queued job's
        // receiver then says so.
        let _ = self.writer.lock().unwrap_or_else(|p| p.into_inner()).send(message);
    }

    /// Runs a write on the writer thread; returns once it is durably committed.
    fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        crate::storage::wait(self.queue(f))
    }

    /// Queues a write on the writer thread; its answer arrives once it is durably committed.
    fn queue<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T> + Send + 'static,
    ) -> Committing<T> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let out = f(conn);
            let ok = out.is_ok();
            let deliver: Deliver = Box::new(move |committed| {
                let _ = reply.send(match committed {
                    Ok(()) => out,
                    Err(e) => Err(HubError::Commit(e)),
                });
            });
            (ok, deliver)
        });
        self.send(Message::Write(job));
        answer
    }

    fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let taken = self.readers.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let conn = match taken {
            Some(c) => c,
            None => connect(&self.path)?,
        };
        let out = f(&conn);
        let mut pool = self.readers.lock().unwrap_or_else(|p| p.into_inner());
        if pool.len() < READERS {
            pool.push(conn);
        }
        out
    }
}

impl Drop for SqliteStorage {
    fn drop(&mut self) {
        // Closing the queue makes the writer commit the writes and "last seen"
        // notes still waiting, then stop: a hub that is stopped keeps them.
        let (closed, _) = mpsc::channel();
        drop(std::mem::replace(self.writer.get_mut().unwrap_or_else(|p| p.into_inner()), closed));
        if let Some(thread) = self.writer_thread.take() {
            let _ = thread.join();
        }
    }
}

fn connect(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // An acknowledged batch must survive a power cut: the laptop forgets it was pending.
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", true)?;
    Ok(conn)
}

fn read_center(r: &rusqlite::Row<'_>) -> rusqlite::Result<Center> {
    Ok(Center { id: r.get(0)?, name: r.get(1)? })
}

const DEVICE_COLUMNS: &str =
    "d.id, d.center_id, d.name, d.enrolled_at, d.revoked_at, d.last_seen_at, d.clock_offset_ms,
     coalesce((SELECT seq FROM heads h WHERE h.device_id = d.id), 0), d.public_key";

fn read_device(r: &rusqlite::Row<'_>) -> rusqlite::Result<DeviceInfo> {
    Ok(DeviceInfo {
        id: r.get(0)?,
        center_id: r.get(1)?,
        name: r.get(2)?,
        enrolled_at: r.get(3)?,
        revoked_at: r.get(4)?,
        last_seen_at: r.get(5)?,
        clock_offset_ms: r.get(6)?,
        events: r.get::<_, i64>(7)? as u64,
        public_key: r.get::<_, Option<Vec<u8>>>(8)?.and_then(|k| k.try_into().ok()),
    })
}

impl Storage for SqliteStorage {
    fn add_center(&self, name: &str) -> Result<Center> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 120 {
            return Err(HubError::BadRequest("a center's name is 1 to 120 characters".into()));
        }
        let name = name.to_owned();
        self.write(move |conn| {
            let center = Center { id: uuid::Uuid::now_v7().to_string(), name: name.clone() };
            let added = conn.execute(
                "INSERT INTO centers (id, name, created_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (name) DO NOTHING",
                (&center.id, &center.name, kalamu_core::store::now_millis()),
            )?;
            if added == 0 {
                return Err(HubError::CenterExists(name));
            }
            Ok(center)
        })
    }

    fn centers(&self) -> Result<Vec<Center>> {
        self.read(|conn| {
            let mut stmt = conn.prepare("SELECT id, name FROM centers ORDER BY name")?;
            Ok(stmt.query_map([], read_center)?.collect::<rusqlite::Result<_>>()?)
        })
    }

    fn center(&self, id_or_name: &str) -> Result<Center> {
        self.read(|conn| {
            conn.query_row(
                "SELECT id, name FROM centers WHERE id = ?1 OR name = ?1",
                [id_or_name],
                read_center,
            )
            .optional()?
            .ok_or_else(|| HubError::NoSuchCenter(id_or_name.to_owned()))
        })
    }

    fn add_enroll_code(
        &self,
        center_id: &str,
        code_hash: &str,
        expires_at: i64,
        device_id: Option<&str>,
    ) -> Result<()> {
        let (center_id, code_hash, device_id) =
            (center_id.to_owned(), code_hash.to_owned(), device_id.map(str::to_owned));
        self.write(move |conn| {
            conn.execute(
                "INSERT INTO enroll_codes (code_hash, center_id, expires_at, device_id) VALUES (?1, ?2, ?3, ?4)",
                (&code_hash, &center_id, expires_at, &device_id),
            )?;
            Ok(())
        })
    }

    fn add_relay_code(&self, center_id: &str, code_hash: &str, expires_at: i64) -> Result<()> {
        let (center_id, code_hash) = (center_id.to_owned(), code_hash.to_owned());
        self.write(move |conn| {
            conn.execute(
                "INSERT INTO enroll_codes (code_hash, center_id, expires_at, relay) VALUES (?1, ?2, ?3, 1)",
                (&code_hash, &center_id, expires_at),
            )?;
            Ok(())
        })
    }

    fn relayed_devices(&self, center_id: &str, devices: &[String], now: i64) -> Result<()> {
        // Most relayed pushes name laptops known already: a read says so without waiting for the writer.
        let known = self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT 1 FROM devices WHERE id = ?1 AND center_id = ?2 AND relay = 0 AND revoked_at IS NULL
                 AND (public_key IS NOT NULL OR token_hash LIKE 'relayed:%')",
            )?;
            devices.iter().try_fold(true, |all, d| Ok::<_, HubError>(all && stmt.exists((d, center_id))?))
        })?;
        if known {
            return Ok(());
        }
        let (center, devices) = (center_id.to_owned(), devices.to_vec());
        self.write(move |conn| {
            for device in &devices {
                let known = conn
                    .query_row(
                        "SELECT center_id, relay, revoked_at, public_key IS NULL AND token_hash NOT LIKE 'relayed:%'
                         FROM devices WHERE id = ?1",
                        [device],
                        |r| {
                            Ok(rules::RelayedKnown {
                                center_id: r.get(0)?,
                                relay: r.get(1)?,
                                revoked_at: r.get(2)?,
                                enrolled_here_keyless: r.get(3)?,
                            })
                        },
                    )
                    .optional()?;
                // Counted only when it matters: for a laptop new here.
                let made_today: i64 = match known {
                    Some(_) => 0,
                    None => conn.query_row(
                        "SELECT count(*) FROM devices WHERE center_id = ?1 AND token_hash LIKE 'relayed:%'
                         AND enrolled_at > ?2",
                        (&center, now - 24 * 3600 * 1000),
                        |r| r.get(0),
                    )?,
                };
                if rules::relayed_device_row(&center, device, known.as_ref(), made_today as u64)? {
                    // No credential: it is known here only through its center's hub.
                    conn.execute(
                        "INSERT INTO devices (id, center_id, name, token_hash, enrolled_at)
                         VALUES (?1, ?2, 'relayed', 'relayed:' || ?1, ?3)",
                        (device, &center, now),
                    )?;
                }
            }
            Ok(())
        })
    }

    fn upstream(&self) -> Result<Option<crate::storage::Upstream>> {
        self.read(|conn| {
            Ok(conn
                .query_row("SELECT center_id, url, hub_key, token, linked_at FROM upstream", [], |r| {
                    Ok(crate::storage::Upstream {
                        center_id: r.get(0)?,
                        hub: kalamu_core::sync::link::HubAddress { url: r.get(1)?, key: r.get(2)? },
                        token: r.get(3)?,
                        linked_at: r.get(4)?,
                    })
                })
                .optional()?)
        })
    }

    fn set_upstream(&self, link: &crate::storage::Upstream) -> Result<()> {
        let link = link.clone();
        self.write(move |conn| {
            conn.execute(
                "INSERT OR REPLACE INTO upstream (singleton, center_id, url, hub_key, token, linked_at)
                 VALUES (1, ?1, ?2, ?3, ?4, ?5)",
                (&link.center_id, &link.hub.url, &link.hub.key, &link.token, link.linked_at),
            )?;
            Ok(())
        })
    }

    fn enroll_code_keys(&self, since: i64) -> Result<Vec<String>> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached("SELECT code_hash FROM enroll_codes WHERE expires_at > ?1")?;
            let keys = stmt.query_map([since], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
            Ok(keys)
        })
    }

    fn tls_identity(&self) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        self.read(|conn| {
            Ok(conn
                .query_row("SELECT certificate, private_key FROM tls_identity", [], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()?)
        })
    }

    fn keep_tls_identity(
        &self,
        certificate: &[u8],
        private_key: &[u8],
        now: i64,
    ) -> Result<(Vec<u8>, Vec<u8>)> {
        let (certificate, private_key) = (certificate.to_vec(), private_key.to_vec());
        self.write(move |tx| {
            tx.execute(
                "INSERT INTO tls_identity (singleton, certificate, private_key, made_at) VALUES (1, ?1, ?2, ?3)
                 ON CONFLICT (singleton) DO NOTHING",
                (&certificate, &private_key, now),
            )?;
            Ok(tx.query_row("SELECT certificate, private_key FROM tls_identity", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?)
        })
    }

    fn enroll(
        &self,
        code_hash: &str,
        device_id: &str,
        name: &str,
        token_hash: &str,
        key: Option<[u8; 32]>,
        now: i64,
    ) -> Result<Center> {
        let owned = [code_hash, device_id, name, token_hash].map(str::to_owned);
        let key = key.map(|k| k.to_vec());
        self.write(move |tx| {
            let [code_hash, device_id, name, token_hash] = &owned;
            let (code_hash, device_id, name, token_hash) =
                (code_hash.as_str(), device_id.as_str(), name.as_str(), token_hash.as_str());
            let code: Option<(CodeRow, bool)> = tx
                .query_row(
                    "SELECT center_id, expires_at, used_at, device_id, relay FROM enroll_codes WHERE code_hash = ?1",
                    [code_hash],
                    |r| {
                        let row = CodeRow {
                            center_id: r.get(0)?,
                            expires_at: r.get(1)?,
                            used_at: r.get(2)?,
                            device_id: r.get(3)?,
                        };
                        Ok((row, r.get(4)?))
                    },
                )
                .optional()?;
            let (code, relay) = match code {
                Some((row, relay)) => (Some(row), relay),
                None => (None, false),
            };
            let known: Option<KnownDevice> = tx
                .query_row("SELECT center_id, revoked_at FROM devices WHERE id = ?1", [device_id], |r| {
                    Ok(KnownDevice { center_id: r.get(0)?, revoked_at: r.get(1)? })
                })
                .optional()?;
            let center_id = match rules::enrolment(code.as_ref(), known.as_ref(), device_id, now)? {
                Enrolment::NewCredential => {
                    tx.execute(
                        "UPDATE devices SET token_hash = ?2, next_token_hash = NULL, name = ?3, enrolled_at = ?4,
                             public_key = coalesce(?5, public_key) WHERE id = ?1",
                        (device_id, token_hash, name, now, &key),
                    )?;
                    code.map(|c| c.center_id).unwrap_or_default()
                }
                Enrolment::New => {
                    let center_id = code.map(|c| c.center_id).unwrap_or_default();
                    tx.execute(
                        "INSERT INTO devices (id, center_id, name, token_hash, enrolled_at, public_key, relay)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                        (device_id, &center_id, name, token_hash, now, &key, relay),
                    )?;
                    center_id
                }
            };
            tx.execute(
                "UPDATE enroll_codes SET used_at = ?2, used_by = ?3 WHERE code_hash = ?1",
                (code_hash, now, device_id),
            )?;
            let center =
                tx.query_row("SELECT id, name FROM centers WHERE id = ?1", [&center_id], read_center)?;
            Ok(center)
        })
    }

    fn authenticate(&self, token_hash: &str) -> Result<Caller> {
        self.read(|conn| {
            let row: Option<(Caller, Option<i64>)> = conn
                .prepare_cached(
                    "SELECT id, center_id, revoked_at, token_hash <> ?1, relay FROM devices
                     WHERE token_hash = ?1 OR next_token_hash = ?1",
                )?
                .query_row([token_hash], |r| {
                    let caller = Caller {
                        device_id: r.get(0)?,
                        center_id: r.get(1)?,
                        by_next_token: r.get(3)?,
                        relay: r.get(4)?,
                    };
                    Ok((caller, r.get(2)?))
                })
                .optional()?;
            match row {
                None => Err(HubError::UnknownDevice),
                Some((_, Some(_))) => Err(HubError::Revoked),
                Some((caller, None)) => Ok(caller),
            }
        })
    }

    fn offer_token(&self, device_id: &str, next_token_hash: &str) -> Result<()> {
        let (id, next) = (device_id.to_owned(), next_token_hash.to_owned());
        self.write(move |conn| {
            conn.execute(
                "UPDATE devices SET next_token_hash = ?2 WHERE id = ?1 AND revoked_at IS NULL",
                (&id, &next),
            )?;
            Ok(())
        })
    }

    fn adopt_token(&self, device_id: &str) -> Result<()> {
        let id = device_id.to_owned();
        self.write(move |conn| {
            conn.execute(
                "UPDATE devices SET token_hash = next_token_hash, next_token_hash = NULL
                 WHERE id = ?1 AND next_token_hash IS NOT NULL",
                [&id],
            )?;
            Ok(())
        })
    }

    fn note_seen(&self, device_id: &str, now: i64, clock_offset_ms: Option<i64>) -> Result<()> {
        // Not worth a durable commit for every sync to wait on, nor a write of
        // its own: the notes ride with the writer's next group, at most
        // SEEN_DELAY later.
        let first = {
            let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
            let entry = seen.entry(device_id.to_owned()).or_insert((now, clock_offset_ms));
            *entry = (now, clock_offset_ms.or(entry.1));
            seen.len() == 1
        };
        if first {
            self.send(Message::Seen);
        }
        Ok(())
    }

    fn devices(&self, center_id: Option<&str>) -> Result<Vec<DeviceInfo>> {
        self.read(|conn| {
            let mut stmt = conn.prepare(&format!(
                "SELECT {DEVICE_COLUMNS} FROM devices d WHERE ?1 IS NULL OR d.center_id = ?1 ORDER BY d.center_id, d.name"
            ))?;
            Ok(stmt.query_map([center_id], read_device)?.collect::<rusqlite::Result<_>>()?)
        })
    }

    fn device(&self, device_id: &str) -> Result<DeviceInfo> {
        self.read(|conn| {
            conn.query_row(
                &format!("SELECT {DEVICE_COLUMNS} FROM devices d WHERE d.id = ?1"),
                [device_id],
                read_device,
            )
            .optional()?
            .ok_or_else(|| HubError::NoSuchDevice(device_id.to_owned()))
        })
    }

    fn revoke(&self, device_id: &str, now: i64) -> Result<DeviceInfo> {
        let id = device_id.to_owned();
        self.write(move |conn| {
            conn.execute(
                "UPDATE devices SET revoked_at = coalesce(revoked_at, ?2) WHERE id = ?1",
                (&id, now),
            )?;
            Ok(())
        })?;
        self.device(device_id)
    }

    fn vector(&self, center_id: &str) -> Result<VersionVector> {
        self.read(|conn| vector_of(conn, center_id))
    }

    fn push(
        &self,
        center_id: &str,
        device: &str,
        batches: Vec<Incoming>,
        now: i64,
    ) -> Committing<(Applied, VersionVector)> {
        let (center, device) = (center_id.to_owned(), device.to_owned());
        self.queue(move |tx| {
            let mut done = (Applied::default(), VersionVector::default());
            for Incoming { batch, wire, checked } in batches {
                let (applied, after) =
                    rules::push(&mut SqlitePush(tx), &center, &device, &batch, wire, checked.as_ref(), now)?;
                done.0.received += applied.received;
                done.0.new += applied.new;
                for (d, seq) in &after.0 {
                    done.1.raise(d, *seq);
                }
            }
            Ok(done)
        })
    }

    fn precheck(&self, device: &str, batch: &Batch) -> Result<rules::Prechecked> {
        self.read(|conn| rules::precheck(&mut SqlitePush(conn), device, batch))
    }

    fn pull(&self, center_id: &str, theirs: &VersionVector, limit: usize) -> Result<Pulled> {
        self.read(|conn| {
            let tx = conn.unchecked_transaction()?;
            let held = vector_of(&tx, center_id)?;
            runs::pull(&tx, &self.runs, &held, theirs, limit)
        })
    }

    fn events_after(&self, center_id: &str, theirs: &VersionVector, limit: usize) -> Result<Batch> {
        self.read(|conn| {
            let tx = conn.unchecked_transaction()?;
            let held = vector_of(&tx, center_id)?;
            let (mut events, mut proofs) = (Vec::new(), Vec::new());
            for (device, &seq) in &held.0 {
                let from = theirs.get(device);
                let room = limit.saturating_sub(events.len());
                if seq <= from {
                    continue;
                }
                if room == 0 {
                    break;
                }
                // Whole runs, each ending at its device's signature.
                let (more, signed) = runs::signed_events_in(&tx, device, from, seq, room, true)?;
                events.extend(more);
                proofs.extend(signed);
            }
            let learners = runs::learner_records(&tx, &events)?;
            Ok(Batch { learners, events, proofs })
        })
    }

    fn add_staff(&self, account: &StaffAccount, password_hash: &str) -> Result<()> {
        let (account, hash) = (account.clone(), password_hash.to_owned());
        self.write(move |tx| staff::add(tx, &account, &hash))
    }

    fn staff(&self) -> Result<Vec<StaffAccount>> {
        self.read(staff::list)
    }

    fn staff_login(&self, name: &str) -> Result<Option<(StaffAccount, String)>> {
        self.read(|conn| staff::login(conn, name))
    }

    fn remove_staff(&self, name: &str) -> Result<StaffAccount> {
        let name = name.to_owned();
        self.write(move |tx| staff::remove(tx, &name))
    }

    fn set_password(&self, staff_id: &str, password_hash: &str, must_change: bool) -> Result<()> {
        let (id, hash) = (staff_id.to_owned(), password_hash.to_owned());
        self.write(move |tx| staff::set_password(tx, &id, &hash, must_change))
    }

    fn add_session(&self, token_hash: &str, staff_id: &str, csrf: &str, expires_at: i64) -> Result<()> {
        let (token, id, csrf) = (token_hash.to_owned(), staff_id.to_owned(), csrf.to_owned());
        self.write(move |tx| staff::add_session(tx, &token, &id, &csrf, expires_at))
    }

    fn session(&self, token_hash: &str, now: i64) -> Result<Option<StaffSession>> {
        self.read(|conn| staff::session(conn, token_hash, now))
    }

    fn end_session(&self, token_hash: &str) -> Result<()> {
        let token = token_hash.to_owned();
        self.write(move |tx| staff::end_session(tx, &token))
    }

    fn signin_failures(&self, keys: &[String], since: i64) -> Result<u32> {
        self.read(|conn| staff::failures(conn, keys, since))
    }

    fn note_signin_failure(&self, keys: &[String], since: i64, now: i64) -> Result<()> {
        let keys = keys.to_vec();
        self.write(move |tx| staff::note_failure(tx, &keys, since, now))
    }

    fn clear_signin_failures(&self, key: &str) -> Result<()> {
        let key = key.to_owned();
        self.write(move |tx| staff::clear_failures(tx, &key))
    }

    fn add_publisher(&self, public_key: &str, name: &str, now: i64) -> Result<()> {
        let (key, name) = (public_key.to_owned(), name.to_owned());
        self.write(move |tx| staff::add_publisher(tx, &key, &name, now))
    }

    fn publishers(&self) -> Result<Vec<(String, String)>> {
        self.read(staff::publishers)
    }

    fn remove_publisher(&self, public_key: &str) -> Result<bool> {
        let key = public_key.to_owned();
        self.write(move |tx| staff::remove_publisher(tx, &key))
    }

    fn publish(&self, pack: &PublishedPack, file: &Path) -> Result<()> {
        let (pack, file) = (pack.clone(), file.to_owned());
        self.write(move |tx| staff::publish(tx, &pack, &file))
    }

    fn packs(&self) -> Result<Vec<PublishedPack>> {
        self.read(staff::packs)
    }

    fn pack_piece(&self, pack_id: &str, n: u64) -> Result<Option<Vec<u8>>> {
        self.read(|conn| staff::pack_piece(conn, pack_id, n))
    }

    fn unpublish(&self, pack_id: &str) -> Result<bool> {
        let id = pack_id.to_owned();
        self.write(move |tx| staff::unpublish(tx, &id))
    }

    fn set_required(&self, center_id: &str, pack_id: &str, required: bool) -> Result<()> {
        let (center, pack) = (center_id.to_owned(), pack_id.to_owned());
        self.write(move |tx| staff::set_required(tx, &center, &pack, required))
    }

    fn required(&self, center_id: &str) -> Result<Vec<String>> {
        self.read(|conn| staff::required(conn, center_id))
    }

    fn set_held_packs(&self, device_id: &str, packs: &[(String, String)], now: i64) -> Result<()> {
        let (device, packs) = (device_id.to_owned(), packs.to_vec());
        self.write(move |tx| staff::set_held(tx, &device, &packs, now))
    }

    fn held_packs(&self, center_id: &str) -> Result<Vec<(String, String, String)>> {
        self.read(|conn| staff::held(conn, center_id))
    }

    fn project(&self, budget: usize) -> Result<(usize, bool)> {
        self.write(move |tx| crate::projection::step(&mut projection::SqliteProject(tx), budget))
    }

    fn rebuild_projection(&self) -> Result<usize> {
        self.write(|tx| crate::projection::rebuild(&mut projection::SqliteProject(tx)))
    }

    fn learners(&self, center_id: &str) -> Result<Vec<(String, String)>> {
        self.read(|conn| {
            let mut stmt =
                conn.prepare_cached("SELECT id, name FROM learners WHERE center_id = ?1 ORDER BY name")?;
            Ok(stmt
                .query_map([center_id], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?)
        })
    }

    fn tallies(&self, center_id: &str, learner: Option<&str>) -> Result<Vec<crate::report::TallyRow>> {
        self.read(|conn| projection::tallies(conn, center_id, learner))
    }

    fn answers(&self, center_id: &str, pack: &str, lesson: &str) -> Result<Vec<crate::report::AnswerCount>> {
        self.read(|conn| projection::answers(conn, center_id, pack, lesson))
    }

    fn activity(
        &self,
        center_id: &str,
        learner: &str,
        limit: usize,
    ) -> Result<Vec<crate::projection::Activity>> {
        self.read(|conn| projection::activity(conn, center_id, learner, limit))
    }

    fn active_since(&self, center_id: &str, since: i64) -> Result<u64> {
        self.read(|conn| projection::active_since(conn, center_id, since))
    }
}

fn vector_of(conn: &Connection, center_id: &str) -> Result<VersionVector> {
    let mut stmt = conn.prepare_cached("SELECT device_id, seq FROM heads WHERE center_id = ?1")?;
    let rows = stmt.query_map([center_id], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64)))?;
    Ok(VersionVector(rows.collect::<rusqlite::Result<_>>()?))
}

/// The SQLite side of a push: plain reads and writes in the writer's transaction.
struct SqlitePush<'a>(&'a Connection);

impl rules::PushTx for SqlitePush<'_> {
    fn device_head(&mut self, device: &str) -> Result<Option<(String, u64)>> {
        Ok(self
            .0
            .prepare_cached(
                "SELECT d.center_id, coalesce(h.seq, 0) FROM devices d
                 LEFT JOIN heads h ON h.device_id = d.id WHERE d.id = ?1",
            )?
            .query_row([device], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))
            .optional()?)
    }

    fn learner(&mut self, id: &str) -> Result<Option<(String, LearnerRecord)>> {
        Ok(self
            .0
            .prepare_cached("SELECT center_id, name, created_at, pin_hash FROM learners WHERE id = ?1")?
            .query_row([id], |r| {
                Ok((
                    r.get(0)?,
                    LearnerRecord {
                        id: id.to_owned(),
                        name: r.get(1)?,
                        created_at: r.get(2)?,
                        pin_hash: r.get(3)?,
                    },
                ))
            })
            .optional()?)
    }

    fn add_learner(&mut self, center_id: &str, l: &LearnerRecord, device: &str, now: i64) -> Result<()> {
        self.0
            .prepare_cached(
                "INSERT INTO learners (id, center_id, name, created_at, pin_hash, added_by, added_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute((&l.id, center_id, &l.name, l.created_at, &l.pin_hash, device, now))?;
        Ok(())
    }

    fn device_key(&mut self, device: &str) -> Result<Option<[u8; 32]>> {
        let key: Option<Option<Vec<u8>>> = self
            .0
            .prepare_cached("SELECT public_key FROM devices WHERE id = ?1")?
            .query_row([device], |r| r.get(0))
            .optional()?;
        Ok(key.flatten().and_then(|k| k.try_into().ok()))
    }

    fn set_device_key(&mut self, device: &str, key: &[u8; 32]) -> Result<()> {
        self.0
            .prepare_cached("UPDATE devices SET public_key = ?2 WHERE id = ?1 AND public_key IS NULL")?
            .execute((device, &key[..]))?;
        Ok(())
    }

    fn chain(&mut self, device: &str) -> Result<Option<(u64, Chain)>> {
        let kept: Option<(i64, Vec<u8>)> = self
            .0
            .prepare_cached("SELECT seq, digest FROM chains WHERE device_id = ?1")?
            .query_row([device], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        Ok(kept.and_then(|(seq, d)| Some((seq as u64, Chain(d.try_into().ok()?)))))
    }

    fn signing_state(&mut self, device: &str) -> Result<rules::SigningState> {
        type Row = (i64, Option<i64>, Option<Vec<u8>>, Option<Vec<u8>>);
        let row: Option<Row> = self
            .0
            .prepare_cached(
                "SELECT coalesce(h.seq, 0), c.seq, c.digest, d.public_key FROM devices d
                 LEFT JOIN heads h ON h.device_id = d.id LEFT JOIN chains c ON c.device_id = d.id
                 WHERE d.id = ?1",
            )?
            .query_row([device], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .optional()?;
        let Some((head, seq, digest, key)) = row else {
            return Ok(rules::SigningState { head: 0, chain: None, key: None });
        };
        let chain = seq.zip(digest.and_then(|d| d.try_into().ok())).map(|(s, d)| (s as u64, Chain(d)));
        Ok(rules::SigningState { head: head as u64, chain, key: key.and_then(|k| k.try_into().ok()) })
    }

    fn set_chain(&mut self, device: &str, seq: u64, chain: &Chain) -> Result<()> {
        self.0
            .prepare_cached(
                "INSERT INTO chains (device_id, seq, digest) VALUES (?1, ?2, ?3)
                 ON CONFLICT (device_id) DO UPDATE SET seq = excluded.seq, digest = excluded.digest",
            )?
            .execute((device, seq as i64, &chain.0[..]))?;
        Ok(())
    }

    fn learners_added_since(&mut self, device: &str, since: i64) -> Result<u64> {
        Ok(self
            .0
            .prepare_cached("SELECT count(*) FROM learners WHERE added_by = ?1 AND added_at > ?2")?
            .query_row((device, since), |r| r.get::<_, i64>(0))? as u64)
    }

    fn claim_event_id(&mut self, e: &Event) -> Result<bool> {
        Ok(self
            .0
            .prepare_cached(
                "INSERT INTO event_ids (id, device_id, seq) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
            )?
            .execute((&e.id, &e.device_id, e.seq as i64))?
            == 1)
    }

    fn id_holder(&mut self, id: &str) -> Result<Option<(String, u64)>> {
        Ok(self
            .0
            .prepare_cached("SELECT device_id, seq FROM event_ids WHERE id = ?1")?
            .query_row([id], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))
            .optional()?)
    }

    fn stored_events(&mut self, device: &str, from: u64, to: u64) -> Result<Vec<Event>> {
        runs::events_in(self.0, device, from, to, (to - from) as usize)
    }

    fn raise_head(&mut self, device: &str, center_id: &str, seq: u64) -> Result<()> {
        self.0
            .prepare_cached(
                "INSERT INTO heads (device_id, center_id, seq) VALUES (?1, ?2, ?3)
                 ON CONFLICT (device_id) DO UPDATE SET seq = max(seq, excluded.seq)",
            )?
            .execute((device, center_id, seq as i64))?;
        Ok(())
    }

    fn record(
        &mut self,
        center_id: &str,
        before: &VersionVector,
        after: &VersionVector,
        batch: &Batch,
        as_pushed: Option<Vec<u8>>,
        now: i64,
    ) -> Result<()> {
        runs::record(self.0, center_id, before, after, batch, as_pushed, now)
    }
}
