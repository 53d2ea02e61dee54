//! The hub's storage on PostgreSQL: a country's hub, or any hub that
//! outgrows one SQLite file. Several hub processes serve one database: each
//! keeps nothing but connections, and the database orders what they do.
//!
//! A push locks its device's row for its transaction, so two pushes of one
//! laptop that reach two hub processes at once (a retry landing on another)
//! run one after the other, and the second sees what the first stored: the
//! rules layer then counts nothing twice and leaves no gap. A push is
//! acknowledged only once its transaction has committed.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use kalamu_core::progress::event::Event;
use kalamu_core::sync::proof::Chain;
use kalamu_core::sync::{Applied, Batch, LearnerRecord, VersionVector};
use tokio_postgres::Row;

use crate::error::{HubError, Result};
use crate::rules::{self, CodeRow, Enrolment, KnownDevice};
use crate::sqlite::Folding;
use crate::storage::{
    Caller, Center, Committing, DeviceInfo, Incoming, PublishedPack, Pulled, StaffAccount, StaffSession,
    Storage,
};

mod conn;
mod migrate;
mod projection;
mod runs;
mod staff;

use conn::{Conn, Pool};

/// Connections one hub process opens at most: PostgreSQL's default allows 100
/// in all, and a few hub processes must fit.
const CONNECTIONS: usize = 24;

/// How often a hub process folds new events into the staff reports when it folds while idle.
const FOLD_EVERY: Duration = Duration::from_secs(1);
/// How often it stores when laptops were last seen.
const NOTE_EVERY: Duration = Duration::from_millis(200);

/// The PostgreSQL implementation of [`Storage`].
pub struct PgStorage {
    shared: Arc<Shared>,
}

struct Shared {
    pool: Pool,
    stopping: AtomicBool,
    folding: Folding,
    /// Devices seen since the notes were last stored: their time and clock offset.
    seen: Mutex<HashMap<String, (i64, Option<i64>)>>,
}

impl PgStorage {
    /// Connects to the database `url` names and brings its schema up to date.
    pub fn open(url: &str, described: &str, folding: Folding) -> Result<PgStorage> {
        let pool = Pool::open(url, CONNECTIONS)
            .map_err(|e| HubError::BadDatabase(described.to_owned(), e.to_string()))?;
        migrate::migrate(&pool, described)?;
        let shared =
            Arc::new(Shared { pool, stopping: AtomicBool::new(false), folding, seen: Default::default() });
        let weak = Arc::downgrade(&shared);
        std::thread::Builder::new().name("hub-background".into()).spawn(move || background(weak))?;
        Ok(PgStorage { shared })
    }

    fn pool(&self) -> &Pool {
        &self.shared.pool
    }
}

impl Drop for PgStorage {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::Relaxed);
        // A hub that is stopped keeps the notes it took.
        store_seen(&self.shared);
    }
}

/// Stores the "last seen" notes every [`NOTE_EVERY`], and folds new events
/// into the staff reports every [`FOLD_EVERY`] if the hub folds while idle,
/// until the storage is dropped.
fn background(shared: Weak<Shared>) {
    let mut folded = std::time::Instant::now();
    loop {
        std::thread::sleep(NOTE_EVERY);
        let Some(shared) = shared.upgrade() else { return };
        if shared.stopping.load(Ordering::Relaxed) {
            return;
        }
        store_seen(&shared);
        if shared.folding != Folding::WhenIdle || folded.elapsed() < FOLD_EVERY {
            continue;
        }
        folded = std::time::Instant::now();
        loop {
            match project(&shared.pool, crate::projection::STEP_EVENTS) {
                Ok((_, true)) if !shared.stopping.load(Ordering::Relaxed) => continue,
                Ok(_) => break,
                Err(e) => {
                    tracing::error!("the staff reports could not be brought up to date: {e}");
                    break;
                }
            }
        }
    }
}

/// Stores when each device was last seen, and its clock offset if it sent one, in one statement.
fn store_seen(shared: &Shared) {
    let notes = std::mem::take(&mut *shared.seen.lock().unwrap_or_else(|p| p.into_inner()));
    if notes.is_empty() {
        return;
    }
    let mut notes: Vec<(String, (i64, Option<i64>))> = notes.into_iter().collect();
    // One order for every process, so that two storing at once never wait on each other in a circle.
    notes.sort();
    let ids: Vec<&str> = notes.iter().map(|(d, _)| d.as_str()).collect();
    let at: Vec<i64> = notes.iter().map(|(_, (t, _))| *t).collect();
    let offsets: Vec<Option<i64>> = notes.iter().map(|(_, (_, o))| *o).collect();
    // Rows a push holds locked are passed over, not waited for (nor are pushes
    // made to wait behind this): their notes go back for the next time.
    let stored = shared.pool.with(|conn| {
        let rows = conn.query(
            "UPDATE devices d SET last_seen_at = greatest(d.last_seen_at, v.at),
             clock_offset_ms = coalesce(v.offset_ms, d.clock_offset_ms)
             FROM unnest($1::text[], $2::bigint[], $3::bigint[]) AS v(id, at, offset_ms),
                  (SELECT id FROM devices WHERE id = ANY($1) ORDER BY id FOR UPDATE SKIP LOCKED) AS l
             WHERE d.id = v.id AND d.id = l.id RETURNING d.id",
            &[&ids, &at, &offsets],
        )?;
        rows.iter()
            .map(|r| Ok(r.try_get::<_, String>(0)?))
            .collect::<Result<std::collections::HashSet<String>>>()
    });
    let stored = stored.unwrap_or_else(|e| {
        tracing::warn!("when {} laptops were last seen could not be stored: {e}", notes.len());
        Default::default()
    });
    let mut seen = shared.seen.lock().unwrap_or_else(|p| p.into_inner());
    for (device, note) in notes.into_iter().filter(|(d, _)| !stored.contains(d)) {
        // A newer note taken meanwhile wins.
        seen.entry(device).or_insert(note);
    }
}

/// Folds up to `budget` events into the projection, one hub process at a time.
fn project(pool: &Pool, budget: usize) -> Result<(usize, bool)> {
    pool.tx(|conn| {
        conn.exec("SELECT pg_advisory_xact_lock($1)", &[&projection::FOLD_LOCK])?;
        crate::projection::step(&mut projection::PgProject(conn), budget)
    })
}

fn read_center(r: &Row) -> Result<Center> {
    Ok(Center { id: r.try_get(0)?, name: r.try_get(1)? })
}

const DEVICE_COLUMNS: &str =
    "d.id, d.center_id, d.name, d.enrolled_at, d.revoked_at, d.last_seen_at, d.clock_offset_ms,
     coalesce((SELECT seq FROM heads h WHERE h.device_id = d.id), 0), d.public_key";

fn read_device(r: &Row) -> Result<DeviceInfo> {
    Ok(DeviceInfo {
        id: r.try_get(0)?,
        center_id: r.try_get(1)?,
        name: r.try_get(2)?,
        enrolled_at: r.try_get(3)?,
        revoked_at: r.try_get(4)?,
        last_seen_at: r.try_get(5)?,
        clock_offset_ms: r.try_get(6)?,
        events: r.try_get::<_, i64>(7)? as u64,
        public_key: r.try_get::<_, Option<Vec<u8>>>(8)?.and_then(|k| k.try_into().ok()),
    })
}

fn vector_of(conn: &mut Conn, center_id: &str) -> Result<VersionVector> {
    let rows = conn.query("SELECT device_id, seq FROM heads WHERE center_id = $1", &[&center_id])?;
    Ok(VersionVector(
        rows.iter()
            .map(|r| Ok((r.try_get::<_, String>(0)?, r.try_get::<_, i64>(1)? as u64)))
            .collect::<Result<_>>()?,
    ))
}

/// Stores a laptop's batches in one transaction, after locking its row.
fn push_now(
    conn: &mut Conn,
    center: &str,
    device: &str,
    batches: Vec<Incoming>,
    now: i64,
) -> Result<(Applied, VersionVector)> {
    conn.exec("SELECT 1 FROM devices WHERE id = $1 FOR UPDATE", &[&device])?;
    let mut done = (Applied::default(), VersionVector::default());
    for Incoming { batch, wire, checked } in batches {
        let (applied, after) =
            rules::push(&mut PgPush(conn), center, device, &batch, wire, checked.as_ref(), now)?;
        done.0.received += applied.received;
        done.0.new += applied.new;
        for (d, seq) in &after.0 {
            done.1.raise(d, *seq);
        }
    }
    Ok(done)
}

impl Storage for PgStorage {
    fn add_center(&self, name: &str) -> Result<Center> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 120 {
            return Err(HubError::BadRequest("a center's name is 1 to 120 characters".into()));
        }
        self.pool().tx(|conn| {
            let center = Center { id: uuid::Uuid::now_v7().to_string(), name: name.to_owned() };
            let added = conn.exec(
                "INSERT INTO centers (id, name, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING",
                &[&center.id, &center.name, &kalamu_core::store::now_millis()],
            )?;
            if added == 0 {
                return Err(HubError::CenterExists(name.to_owned()));
            }
            Ok(center)
        })
    }

    fn centers(&self) -> Result<Vec<Center>> {
        self.pool().with(|conn| {
            conn.query("SELECT id, name FROM centers ORDER BY name", &[])?.iter().map(read_center).collect()
        })
    }

    fn center(&self, id_or_name: &str) -> Result<Center> {
        self.pool().with(|conn| {
            // An id before a name, should one center be named another's id.
            conn.opt(
                "SELECT id, name FROM centers WHERE id = $1 OR name = $1 ORDER BY id = $1 DESC LIMIT 1",
                &[&id_or_name],
            )?
            .map(|r| read_center(&r))
            .transpose()?
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
        self.pool().with(|conn| {
            conn.exec(
                "INSERT INTO enroll_codes (code_hash, center_id, expires_at, device_id) VALUES ($1, $2, $3, $4)",
                &[&code_hash, &center_id, &expires_at, &device_id],
            )?;
            Ok(())
        })
    }

    fn add_relay_code(&self, center_id: &str, code_hash: &str, expires_at: i64) -> Result<()> {
        self.pool().with(|conn| {
            conn.exec(
                "INSERT INTO enroll_codes (code_hash, center_id, expires_at, relay) VALUES ($1, $2, $3, true)",
                &[&code_hash, &center_id, &expires_at],
            )?;
            Ok(())
        })
    }

    fn relayed_devices(&self, center_id: &str, devices: &[String], now: i64) -> Result<()> {
        self.pool().tx(|conn| {
            for device in devices {
                let known = conn
                    .opt(
                        "SELECT center_id, relay, revoked_at, public_key IS NULL AND token_hash NOT LIKE 'relayed:%'
                         FROM devices WHERE id = $1",
                        &[device],
                    )?
                    .map(|r| {
                        Ok::<_, HubError>(rules::RelayedKnown {
                            center_id: r.try_get(0)?,
                            relay: r.try_get(1)?,
                            revoked_at: r.try_get(2)?,
                            enrolled_here_keyless: r.try_get(3)?,
                        })
                    })
                    .transpose()?;
                // Counted only when it matters: for a laptop new here.
                let made_today: i64 = match known {
                    Some(_) => 0,
                    None => conn
                        .one(
                            "SELECT count(*) FROM devices WHERE center_id = $1 AND token_hash LIKE 'relayed:%'
                             AND enrolled_at > $2",
                            &[&center_id, &(now - 24 * 3600 * 1000)],
                        )?
                        .try_get(0)?,
                };
                if rules::relayed_device_row(center_id, device, known.as_ref(), made_today as u64)? {
                    // No credential: it is known here only through its center's hub. Two
                    // relayed pushes naming it at once: the second finds it made.
                    conn.exec(
                        "INSERT INTO devices (id, center_id, name, token_hash, enrolled_at)
                         VALUES ($1, $2, 'relayed', 'relayed:' || $1, $3) ON CONFLICT (id) DO NOTHING",
                        &[device, &center_id, &now],
                    )?;
                }
            }
            Ok(())
        })
    }

    fn upstream(&self) -> Result<Option<crate::storage::Upstream>> {
        self.pool().with(|conn| {
            conn.opt("SELECT center_id, url, hub_key, token, linked_at FROM upstream", &[])?
                .map(|r| {
                    Ok(crate::storage::Upstream {
                        center_id: r.try_get(0)?,
                        hub: kalamu_core::sync::link::HubAddress { url: r.try_get(1)?, key: r.try_get(2)? },
                        token: r.try_get(3)?,
                        linked_at: r.try_get(4)?,
                    })
                })
                .transpose()
        })
    }

    fn set_upstream(&self, link: &crate::storage::Upstream) -> Result<()> {
        self.pool().with(|conn| {
            conn.exec(
                "INSERT INTO upstream (singleton, center_id, url, hub_key, token, linked_at)
                 VALUES (1, $1, $2, $3, $4, $5)
                 ON CONFLICT (singleton) DO UPDATE SET center_id = excluded.center_id, url = excluded.url,
                 hub_key = excluded.hub_key, token = excluded.token, linked_at = excluded.linked_at",
                &[&link.center_id, &link.hub.url, &link.hub.key, &link.token, &link.linked_at],
            )?;
            Ok(())
        })
    }

    fn enroll_code_keys(&self, since: i64) -> Result<Vec<String>> {
        self.pool().with(|conn| {
            conn.query("SELECT code_hash FROM enroll_codes WHERE expires_at > $1", &[&since])?
                .iter()
                .map(|r| Ok(r.try_get(0)?))
                .collect()
        })
    }

    fn tls_identity(&self) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        self.pool().with(|conn| {
            conn.opt("SELECT certificate, private_key FROM tls_identity", &[])?
                .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
                .transpose()
        })
    }

    fn keep_tls_identity(
        &self,
        certificate: &[u8],
        private_key: &[u8],
        now: i64,
    ) -> Result<(Vec<u8>, Vec<u8>)> {
        self.pool().tx(|conn| {
            conn.exec(
                "INSERT INTO tls_identity (singleton, certificate, private_key, made_at) VALUES (1, $1, $2, $3)
                 ON CONFLICT (singleton) DO NOTHING",
                &[&certificate, &private_key, &now],
            )?;
            let kept = conn.one("SELECT certificate, private_key FROM tls_identity", &[])?;
            Ok((kept.try_get(0)?, kept.try_get(1)?))
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
        let key = key.map(|k| k.to_vec());
        self.pool().tx(|conn| {
            // Two processes given one code at once: the second waits here, then sees it used.
            let code = conn
                .opt(
                    "SELECT center_id, expires_at, used_at, device_id, relay FROM enroll_codes
                     WHERE code_hash = $1 FOR UPDATE",
                    &[&code_hash],
                )?
                .map(|r| {
                    let row = CodeRow {
                        center_id: r.try_get(0)?,
                        expires_at: r.try_get(1)?,
                        used_at: r.try_get(2)?,
                        device_id: r.try_get(3)?,
                    };
                    Ok::<_, HubError>((row, r.try_get::<_, bool>(4)?))
                })
                .transpose()?;
            let (code, relay) = match code {
                Some((row, relay)) => (Some(row), relay),
                None => (None, false),
            };
            let known = conn
                .opt("SELECT center_id, revoked_at FROM devices WHERE id = $1 FOR UPDATE", &[&device_id])?
                .map(|r| Ok::<_, HubError>(KnownDevice { center_id: r.try_get(0)?, revoked_at: r.try_get(1)? }))
                .transpose()?;
            let center_id = code.as_ref().map(|c| c.center_id.clone()).unwrap_or_default();
            match rules::enrolment(code.as_ref(), known.as_ref(), device_id, now)? {
                Enrolment::NewCredential => {
                    conn.exec(
                        "UPDATE devices SET token_hash = $2, next_token_hash = NULL, name = $3, enrolled_at = $4,
                             public_key = coalesce($5, public_key) WHERE id = $1",
                        &[&device_id, &token_hash, &name, &now, &key],
                    )?;
                }
                Enrolment::New => {
                    conn.exec(
                        "INSERT INTO devices (id, center_id, name, token_hash, enrolled_at, public_key, relay)
                         VALUES ($1, $2, $3, $4, $5, $6, $7)",
                        &[&device_id, &center_id, &name, &token_hash, &now, &key, &relay],
                    )?;
                }
            }
            conn.exec(
                "UPDATE enroll_codes SET used_at = $2, used_by = $3 WHERE code_hash = $1",
                &[&code_hash, &now, &device_id],
            )?;
            read_center(&conn.one("SELECT id, name FROM centers WHERE id = $1", &[&center_id])?)
        })
    }

    fn authenticate(&self, token_hash: &str) -> Result<Caller> {
        self.pool().with(|conn| {
            let row = conn.opt(
                "SELECT id, center_id, revoked_at, token_hash <> $1, relay FROM devices
                 WHERE token_hash = $1 OR next_token_hash = $1",
                &[&token_hash],
            )?;
            let Some(row) = row else { return Err(HubError::UnknownDevice) };
            if row.try_get::<_, Option<i64>>(2)?.is_some() {
                return Err(HubError::Revoked);
            }
            Ok(Caller {
                device_id: row.try_get(0)?,
                center_id: row.try_get(1)?,
                by_next_token: row.try_get(3)?,
                relay: row.try_get(4)?,
            })
        })
    }

    fn offer_token(&self, device_id: &str, next_token_hash: &str) -> Result<()> {
        self.pool().with(|conn| {
            conn.exec(
                "UPDATE devices SET next_token_hash = $2 WHERE id = $1 AND revoked_at IS NULL",
                &[&device_id, &next_token_hash],
            )?;
            Ok(())
        })
    }

    fn adopt_token(&self, device_id: &str) -> Result<()> {
        self.pool().with(|conn| {
            conn.exec(
                "UPDATE devices SET token_hash = next_token_hash, next_token_hash = NULL
                 WHERE id = $1 AND next_token_hash IS NOT NULL",
                &[&device_id],
            )?;
            Ok(())
        })
    }

    fn note_seen(&self, device_id: &str, now: i64, clock_offset_ms: Option<i64>) -> Result<()> {
        // Staff read this, no sync waits for it: the notes are stored together
        // by the background thread, at most NOTE_EVERY later, never on a
        // request's path (where they would wait on a push's lock of the row).
        let mut seen = self.shared.seen.lock().unwrap_or_else(|p| p.into_inner());
        let entry = seen.entry(device_id.to_owned()).or_insert((now, clock_offset_ms));
        *entry = (now.max(entry.0), clock_offset_ms.or(entry.1));
        Ok(())
    }

    fn devices(&self, center_id: Option<&str>) -> Result<Vec<DeviceInfo>> {
        self.pool().with(|conn| {
            conn.query(
                &format!(
                    "SELECT {DEVICE_COLUMNS} FROM devices d WHERE $1::text IS NULL OR d.center_id = $1
                     ORDER BY d.center_id, d.name"
                ),
                &[&center_id],
            )?
            .iter()
            .map(read_device)
            .collect()
        })
    }

    fn device(&self, device_id: &str) -> Result<DeviceInfo> {
        self.pool().with(|conn| {
            conn.opt(&format!("SELECT {DEVICE_COLUMNS} FROM devices d WHERE d.id = $1"), &[&device_id])?
                .map(|r| read_device(&r))
                .transpose()?
                .ok_or_else(|| HubError::NoSuchDevice(device_id.to_owned()))
        })
    }

    fn revoke(&self, device_id: &str, now: i64) -> Result<DeviceInfo> {
        self.pool().with(|conn| {
            conn.exec(
                "UPDATE devices SET revoked_at = coalesce(revoked_at, $2) WHERE id = $1",
                &[&device_id, &now],
            )
        })?;
        self.device(device_id)
    }

    fn vector(&self, center_id: &str) -> Result<VersionVector> {
        self.pool().with(|conn| vector_of(conn, center_id))
    }

    fn push(
        &self,
        center_id: &str,
        device: &str,
        batches: Vec<Incoming>,
        now: i64,
    ) -> Committing<(Applied, VersionVector)> {
        // Several processes write at once: each push commits on its own, here,
        // on the caller's thread (the HTTP layer calls this off its async threads).
        let (reply, answer) = tokio::sync::oneshot::channel();
        let _ = reply.send(self.pool().tx(|conn| push_now(conn, center_id, device, batches, now)));
        answer
    }

    fn precheck(&self, device: &str, batch: &Batch) -> Result<rules::Prechecked> {
        self.pool().with(|conn| rules::precheck(&mut PgPush(conn), device, batch))
    }

    fn pull(&self, center_id: &str, theirs: &VersionVector, limit: usize) -> Result<Pulled> {
        // No transaction: a device's runs are committed with its head, so the
        // runs read after the heads hold at least what the heads say.
        self.pool().with(|conn| {
            let held = vector_of(conn, center_id)?;
            runs::pull(conn, &held, theirs, limit)
        })
    }

    fn events_after(&self, center_id: &str, theirs: &VersionVector, limit: usize) -> Result<Batch> {
        self.pool().snapshot(|conn| {
            let held = vector_of(conn, center_id)?;
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
                let (more, signed) = runs::signed_events_in(conn, device, from, seq, room, true)?;
                events.extend(more);
                proofs.extend(signed);
            }
            let learners = runs::learner_records(conn, &events)?;
            Ok(Batch { learners, events, proofs })
        })
    }

    fn add_staff(&self, account: &StaffAccount, password_hash: &str) -> Result<()> {
        self.pool().tx(|conn| staff::add(conn, account, password_hash))
    }

    fn staff(&self) -> Result<Vec<StaffAccount>> {
        self.pool().with(staff::list)
    }

    fn staff_login(&self, name: &str) -> Result<Option<(StaffAccount, String)>> {
        self.pool().with(|conn| staff::login(conn, name))
    }

    fn remove_staff(&self, name: &str) -> Result<StaffAccount> {
        self.pool().tx(|conn| staff::remove(conn, name))
    }

    fn set_password(&self, staff_id: &str, password_hash: &str, must_change: bool) -> Result<()> {
        self.pool().tx(|conn| staff::set_password(conn, staff_id, password_hash, must_change))
    }

    fn add_session(&self, token_hash: &str, staff_id: &str, csrf: &str, expires_at: i64) -> Result<()> {
        self.pool().with(|conn| staff::add_session(conn, token_hash, staff_id, csrf, expires_at))
    }

    fn session(&self, token_hash: &str, now: i64) -> Result<Option<StaffSession>> {
        self.pool().with(|conn| staff::session(conn, token_hash, now))
    }

    fn end_session(&self, token_hash: &str) -> Result<()> {
        self.pool().with(|conn| staff::end_session(conn, token_hash))
    }

    fn signin_failures(&self, keys: &[String], since: i64) -> Result<u32> {
        self.pool().with(|conn| staff::failures(conn, keys, since))
    }

    fn note_signin_failure(&self, keys: &[String], since: i64, now: i64) -> Result<()> {
        self.pool().tx(|conn| staff::note_failure(conn, keys, since, now))
    }

    fn clear_signin_failures(&self, key: &str) -> Result<()> {
        self.pool().with(|conn| staff::clear_failures(conn, key))
    }

    fn add_publisher(&self, public_key: &str, name: &str, now: i64) -> Result<()> {
        self.pool().with(|conn| staff::add_publisher(conn, public_key, name, now))
    }

    fn publishers(&self) -> Result<Vec<(String, String)>> {
        self.pool().with(staff::publishers)
    }

    fn remove_publisher(&self, public_key: &str) -> Result<bool> {
        self.pool().with(|conn| staff::remove_publisher(conn, public_key))
    }

    fn publish(&self, pack: &PublishedPack, file: &Path) -> Result<()> {
        self.pool().tx(|conn| staff::publish(conn, pack, file))
    }

    fn packs(&self) -> Result<Vec<PublishedPack>> {
        self.pool().with(staff::packs)
    }

    fn pack_piece(&self, pack_id: &str, n: u64) -> Result<Option<Vec<u8>>> {
        self.pool().with(|conn| staff::pack_piece(conn, pack_id, n))
    }

    fn unpublish(&self, pack_id: &str) -> Result<bool> {
        self.pool().tx(|conn| staff::unpublish(conn, pack_id))
    }

    fn set_required(&self, center_id: &str, pack_id: &str, required: bool) -> Result<()> {
        self.pool().with(|conn| staff::set_required(conn, center_id, pack_id, required))
    }

    fn required(&self, center_id: &str) -> Result<Vec<String>> {
        self.pool().with(|conn| staff::required(conn, center_id))
    }

    fn set_held_packs(&self, device_id: &str, packs: &[(String, String)], now: i64) -> Result<()> {
        self.pool().tx(|conn| staff::set_held(conn, device_id, packs, now))
    }

    fn held_packs(&self, center_id: &str) -> Result<Vec<(String, String, String)>> {
        self.pool().with(|conn| staff::held(conn, center_id))
    }

    fn project(&self, budget: usize) -> Result<(usize, bool)> {
        project(self.pool(), budget)
    }

    fn rebuild_projection(&self) -> Result<usize> {
        self.pool().tx(|conn| {
            conn.exec("SELECT pg_advisory_xact_lock($1)", &[&projection::FOLD_LOCK])?;
            crate::projection::rebuild(&mut projection::PgProject(conn))
        })
    }

    fn learners(&self, center_id: &str) -> Result<Vec<(String, String)>> {
        self.pool().with(|conn| {
            conn.query("SELECT id, name FROM learners WHERE center_id = $1 ORDER BY name", &[&center_id])?
                .iter()
                .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
                .collect()
        })
    }

    fn tallies(&self, center_id: &str, learner: Option<&str>) -> Result<Vec<crate::report::TallyRow>> {
        self.pool().with(|conn| projection::tallies(conn, center_id, learner))
    }

    fn answers(&self, center_id: &str, pack: &str, lesson: &str) -> Result<Vec<crate::report::AnswerCount>> {
        self.pool().with(|conn| projection::answers(conn, center_id, pack, lesson))
    }

    fn activity(
        &self,
        center_id: &str,
        learner: &str,
        limit: usize,
    ) -> Result<Vec<crate::projection::Activity>> {
        self.pool().with(|conn| projection::activity(conn, center_id, learner, limit))
    }

    fn active_since(&self, center_id: &str, since: i64) -> Result<u64> {
        self.pool().with(|conn| projection::active_since(conn, center_id, since))
    }
}

/// The PostgreSQL side of a push: plain reads and writes in its transaction.
struct PgPush<'a>(&'a mut Conn);

impl rules::PushTx for PgPush<'_> {
    fn device_head(&mut self, device: &str) -> Result<Option<(String, u64)>> {
        self.0
            .opt(
                "SELECT d.center_id, coalesce(h.seq, 0) FROM devices d
                 LEFT JOIN heads h ON h.device_id = d.id WHERE d.id = $1",
                &[&device],
            )?
            .map(|r| Ok((r.try_get(0)?, r.try_get::<_, i64>(1)? as u64)))
            .transpose()
    }

    fn learner(&mut self, id: &str) -> Result<Option<(String, LearnerRecord)>> {
        self.0
            .opt("SELECT center_id, name, created_at, pin_hash FROM learners WHERE id = $1", &[&id])?
            .map(|r| {
                Ok((
                    r.try_get(0)?,
                    LearnerRecord {
                        id: id.to_owned(),
                        name: r.try_get(1)?,
                        created_at: r.try_get(2)?,
                        pin_hash: r.try_get(3)?,
                    },
                ))
            })
            .transpose()
    }

    fn add_learner(&mut self, center_id: &str, l: &LearnerRecord, device: &str, now: i64) -> Result<()> {
        self.0.exec(
            "INSERT INTO learners (id, center_id, name, created_at, pin_hash, added_by, added_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[&l.id, &center_id, &l.name, &l.created_at, &l.pin_hash, &device, &now],
        )?;
        Ok(())
    }

    fn learners_added_since(&mut self, device: &str, since: i64) -> Result<u64> {
        Ok(self
            .0
            .one("SELECT count(*) FROM learners WHERE added_by = $1 AND added_at > $2", &[&device, &since])?
            .try_get::<_, i64>(0)? as u64)
    }

    fn claim_event_id(&mut self, e: &Event) -> Result<bool> {
        Ok(self.0.exec(
            "INSERT INTO event_ids (id, device_id, seq) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            &[&e.id, &e.device_id, &(e.seq as i64)],
        )? == 1)
    }

    fn claim_event_ids(&mut self, events: &[&Event]) -> Result<std::collections::HashSet<(String, u64)>> {
        if events.is_empty() {
            return Ok(Default::default());
        }
        let ids: Vec<&str> = events.iter().map(|e| e.id.as_str()).collect();
        let devices: Vec<&str> = events.iter().map(|e| e.device_id.as_str()).collect();
        let seqs: Vec<i64> = events.iter().map(|e| e.seq as i64).collect();
        // One statement for the whole batch; a repeated id claims once, at its first row.
        self.0
            .query(
                "INSERT INTO event_ids (id, device_id, seq)
                 SELECT id, device_id, seq FROM unnest($1::text[], $2::text[], $3::bigint[]) WITH ORDINALITY AS e(id, device_id, seq, n)
                 ORDER BY n
                 ON CONFLICT DO NOTHING RETURNING device_id, seq",
                &[&ids, &devices, &seqs],
            )?
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get::<_, i64>(1)? as u64)))
            .collect()
    }

    fn id_holder(&mut self, id: &str) -> Result<Option<(String, u64)>> {
        self.0
            .opt("SELECT device_id, seq FROM event_ids WHERE id = $1", &[&id])?
            .map(|r| Ok((r.try_get(0)?, r.try_get::<_, i64>(1)? as u64)))
            .transpose()
    }

    fn stored_events(&mut self, device: &str, from: u64, to: u64) -> Result<Vec<Event>> {
        runs::events_in(self.0, device, from, to, (to - from) as usize)
    }

    fn device_key(&mut self, device: &str) -> Result<Option<[u8; 32]>> {
        let key = self.0.opt("SELECT public_key FROM devices WHERE id = $1", &[&device])?;
        Ok(match key {
            Some(r) => r.try_get::<_, Option<Vec<u8>>>(0)?.and_then(|k| k.try_into().ok()),
            None => None,
        })
    }

    fn set_device_key(&mut self, device: &str, key: &[u8; 32]) -> Result<()> {
        self.0.exec(
            "UPDATE devices SET public_key = $2 WHERE id = $1 AND public_key IS NULL",
            &[&device, &&key[..]],
        )?;
        Ok(())
    }

    fn chain(&mut self, device: &str) -> Result<Option<(u64, Chain)>> {
        let kept = self.0.opt("SELECT seq, digest FROM chains WHERE device_id = $1", &[&device])?;
        let Some(r) = kept else { return Ok(None) };
        let (seq, digest): (i64, Vec<u8>) = (r.try_get(0)?, r.try_get(1)?);
        Ok(digest.try_into().ok().map(|d| (seq as u64, Chain(d))))
    }

    fn signing_state(&mut self, device: &str) -> Result<rules::SigningState> {
        let row = self.0.opt(
            "SELECT coalesce(h.seq, 0), c.seq, c.digest, d.public_key FROM devices d
             LEFT JOIN heads h ON h.device_id = d.id LEFT JOIN chains c ON c.device_id = d.id
             WHERE d.id = $1",
            &[&device],
        )?;
        let Some(r) = row else {
            return Ok(rules::SigningState { head: 0, chain: None, key: None });
        };
        let head: i64 = r.try_get(0)?;
        let (seq, digest): (Option<i64>, Option<Vec<u8>>) = (r.try_get(1)?, r.try_get(2)?);
        let key: Option<Vec<u8>> = r.try_get(3)?;
        let chain = seq.zip(digest.and_then(|d| d.try_into().ok())).map(|(s, d)| (s as u64, Chain(d)));
        Ok(rules::SigningState { head: head as u64, chain, key: key.and_then(|k| k.try_into().ok()) })
    }

    fn set_chain(&mut self, device: &str, seq: u64, chain: &Chain) -> Result<()> {
        self.0.exec(
            "INSERT INTO chains (device_id, seq, digest) VALUES ($1, $2, $3)
             ON CONFLICT (device_id) DO UPDATE SET seq = excluded.seq, digest = excluded.digest",
            &[&device, &(seq as i64), &&chain.0[..]],
        )?;
        Ok(())
    }

    fn raise_head(&mut self, device: &str, center_id: &str, seq: u64) -> Result<()> {
        self.0.exec(
            "INSERT INTO heads AS h (device_id, center_id, seq) VALUES ($1, $2, $3)
             ON CONFLICT (device_id) DO UPDATE SET seq = greatest(h.seq, excluded.seq)",
            &[&device, &center_id, &(seq as i64)],
        )?;
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
