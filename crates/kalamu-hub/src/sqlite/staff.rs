//! Staff accounts, their sessions and failed sign-ins, trusted publishers
//! and published packs, as SQL.

use std::io::Read;
use std::path::Path;

use kalamu_core::pack::Manifest;
use rusqlite::{Connection, OptionalExtension};

use crate::error::{HubError, Result};
use crate::storage::{PublishedPack, StaffAccount, StaffSession};

const PIECE: usize = crate::storage::PACK_PIECE as usize;

const STAFF_COLUMNS: &str = "s.id, s.name, s.center_id, s.must_change, s.created_at";

fn read_staff(r: &rusqlite::Row<'_>) -> rusqlite::Result<StaffAccount> {
    Ok(StaffAccount {
        id: r.get(0)?,
        name: r.get(1)?,
        center_id: r.get(2)?,
        must_change: r.get(3)?,
        created_at: r.get(4)?,
    })
}

pub(super) fn add(conn: &Connection, a: &StaffAccount, hash: &str) -> Result<()> {
    let added = conn.execute(
        "INSERT INTO staff (id, name, center_id, password_hash, must_change, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (name) DO NOTHING",
        (&a.id, &a.name, &a.center_id, hash, a.must_change, a.created_at),
    )?;
    if added == 0 {
        return Err(HubError::StaffExists(a.name.clone()));
    }
    Ok(())
}

pub(super) fn list(conn: &Connection) -> Result<Vec<StaffAccount>> {
    let mut stmt = conn.prepare_cached(&format!("SELECT {STAFF_COLUMNS} FROM staff s ORDER BY s.name"))?;
    Ok(stmt.query_map([], read_staff)?.collect::<rusqlite::Result<_>>()?)
}

pub(super) fn login(conn: &Connection, name: &str) -> Result<Option<(StaffAccount, String)>> {
    Ok(conn
        .prepare_cached(&format!("SELECT {STAFF_COLUMNS}, s.password_hash FROM staff s WHERE s.name = ?1"))?
        .query_row([name], |r| Ok((read_staff(r)?, r.get(5)?)))
        .optional()?)
}

pub(super) fn remove(conn: &Connection, name: &str) -> Result<StaffAccount> {
    let (account, _) = login(conn, name)?.ok_or_else(|| HubError::NoSuchStaff(name.to_owned()))?;
    conn.execute("DELETE FROM staff_sessions WHERE staff_id = ?1", [&account.id])?;
    conn.execute("DELETE FROM staff WHERE id = ?1", [&account.id])?;
    Ok(account)
}

pub(super) fn set_password(conn: &Connection, id: &str, hash: &str, must_change: bool) -> Result<()> {
    conn.execute(
        "UPDATE staff SET password_hash = ?2, must_change = ?3 WHERE id = ?1",
        (id, hash, must_change),
    )?;
    conn.execute("DELETE FROM staff_sessions WHERE staff_id = ?1", [id])?;
    Ok(())
}

pub(super) fn add_session(
    conn: &Connection,
    token: &str,
    staff: &str,
    csrf: &str,
    expires: i64,
) -> Result<()> {
    conn.execute(
        "INSERT INTO staff_sessions (token_hash, staff_id, csrf, expires_at) VALUES (?1, ?2, ?3, ?4)",
        (token, staff, csrf, expires),
    )?;
    Ok(())
}

pub(super) fn session(conn: &Connection, token: &str, now: i64) -> Result<Option<StaffSession>> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {STAFF_COLUMNS}, x.csrf, x.expires_at FROM staff_sessions x JOIN staff s ON s.id = x.staff_id
             WHERE x.token_hash = ?1 AND x.expires_at > ?2"
        ))?
        .query_row((token, now), |r| {
            Ok(StaffSession { account: read_staff(r)?, csrf: r.get(5)?, expires_at: r.get(6)? })
        })
        .optional()?)
}

pub(super) fn end_session(conn: &Connection, token: &str) -> Result<()> {
    conn.execute("DELETE FROM staff_sessions WHERE token_hash = ?1", [token])?;
    Ok(())
}

pub(super) fn failures(conn: &Connection, keys: &[String], since: i64) -> Result<u32> {
    let mut stmt =
        conn.prepare_cached("SELECT failures FROM signin_failures WHERE key = ?1 AND window_start > ?2")?;
    let mut most = 0;
    for key in keys {
        let n: Option<u32> = stmt.query_row((key, since), |r| r.get(0)).optional()?;
        most = most.max(n.unwrap_or(0));
    }
    Ok(most)
}

pub(super) fn note_failure(conn: &Connection, keys: &[String], since: i64, now: i64) -> Result<()> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO signin_failures (key, window_start, failures) VALUES (?1, ?3, 1)
         ON CONFLICT (key) DO UPDATE SET
           failures = CASE WHEN window_start > ?2 THEN failures + 1 ELSE 1 END,
           window_start = CASE WHEN window_start > ?2 THEN window_start ELSE ?3 END",
    )?;
    for key in keys {
        stmt.execute((key, since, now))?;
    }
    Ok(())
}

pub(super) fn clear_failures(conn: &Connection, key: &str) -> Result<()> {
    conn.execute("DELETE FROM signin_failures WHERE key = ?1", [key])?;
    Ok(())
}

pub(super) fn add_publisher(conn: &Connection, key: &str, name: &str, now: i64) -> Result<()> {
    conn.execute(
        "INSERT INTO publishers (public_key, name, added_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (public_key) DO UPDATE SET name = excluded.name",
        (key, name, now),
    )?;
    Ok(())
}

pub(super) fn publishers(conn: &Connection) -> Result<Vec<(String, String)>> {
    let mut stmt = conn.prepare_cached("SELECT public_key, name FROM publishers ORDER BY name")?;
    Ok(stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<rusqlite::Result<_>>()?)
}

pub(super) fn remove_publisher(conn: &Connection, key: &str) -> Result<bool> {
    Ok(conn.execute("DELETE FROM publishers WHERE public_key = ?1", [key])? > 0)
}

/// Stores a pack and its file's bytes, read from `file` piece by piece, in the caller's transaction.
pub(super) fn publish(conn: &Connection, pack: &PublishedPack, file: &Path) -> Result<()> {
    let m = &pack.manifest;
    conn.execute("DELETE FROM packs WHERE id = ?1", [&m.id])?;
    conn.execute(
        "INSERT INTO packs (id, version, title, manifest, signer, bytes, published_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        (
            &m.id,
            &m.version,
            &m.title,
            &pack.manifest_bytes,
            &pack.signer,
            pack.bytes as i64,
            pack.published_at,
        ),
    )?;
    let mut reader = std::fs::File::open(file)?.take(pack.bytes);
    let mut stmt = conn.prepare_cached("INSERT INTO pack_pieces (pack_id, n, bytes) VALUES (?1, ?2, ?3)")?;
    let mut buf = vec![0u8; PIECE];
    for n in 0.. {
        let mut filled = 0;
        while filled < PIECE {
            let got = reader.read(&mut buf[filled..])?;
            if got == 0 {
                break;
            }
            filled += got;
        }
        if filled == 0 {
            break;
        }
        stmt.execute((&m.id, n, &buf[..filled]))?;
    }
    Ok(())
}

pub(super) fn packs(conn: &Connection) -> Result<Vec<PublishedPack>> {
    let mut stmt =
        conn.prepare_cached("SELECT id, manifest, signer, bytes, published_at FROM packs ORDER BY title")?;
    let rows = stmt.query_map([], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?, r.get(2)?, r.get::<_, i64>(3)?, r.get(4)?))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (id, manifest_bytes, signer, bytes, published_at) = row?;
        let manifest = Manifest::from_bytes(&manifest_bytes)
            .map_err(|p| HubError::Damaged(format!("the stored manifest of pack {id} does not read: {p}")))?;
        out.push(PublishedPack { manifest, manifest_bytes, signer, bytes: bytes as u64, published_at });
    }
    Ok(out)
}

pub(super) fn pack_piece(conn: &Connection, id: &str, n: u64) -> Result<Option<Vec<u8>>> {
    Ok(conn
        .prepare_cached("SELECT bytes FROM pack_pieces WHERE pack_id = ?1 AND n = ?2")?
        .query_row((id, n as i64), |r| r.get(0))
        .optional()?)
}

pub(super) fn unpublish(conn: &Connection, id: &str) -> Result<bool> {
    conn.execute("DELETE FROM pack_pieces WHERE pack_id = ?1", [id])?;
    Ok(conn.execute("DELETE FROM packs WHERE id = ?1", [id])? > 0)
}

pub(super) fn set_required(conn: &Connection, center: &str, pack: &str, required: bool) -> Result<()> {
    if required {
        conn.execute(
            "INSERT OR IGNORE INTO required_packs (center_id, pack_id) VALUES (?1, ?2)",
            (center, pack),
        )?;
    } else {
        conn.execute("DELETE FROM required_packs WHERE center_id = ?1 AND pack_id = ?2", (center, pack))?;
    }
    Ok(())
}

pub(super) fn required(conn: &Connection, center: &str) -> Result<Vec<String>> {
    let mut stmt =
        conn.prepare_cached("SELECT pack_id FROM required_packs WHERE center_id = ?1 ORDER BY pack_id")?;
    Ok(stmt.query_map([center], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?)
}

pub(super) fn set_held(conn: &Connection, device: &str, packs: &[(String, String)], now: i64) -> Result<()> {
    conn.execute("DELETE FROM held_packs WHERE device_id = ?1", [device])?;
    let mut stmt = conn.prepare_cached(
        "INSERT OR REPLACE INTO held_packs (device_id, pack_id, version, told_at) VALUES (?1, ?2, ?3, ?4)",
    )?;
    for (pack, version) in packs {
        stmt.execute((device, pack, version, now))?;
    }
    Ok(())
}

pub(super) fn held(conn: &Connection, center: &str) -> Result<Vec<(String, String, String)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT h.device_id, h.pack_id, h.version FROM held_packs h JOIN devices d ON d.id = h.device_id
         WHERE d.center_id = ?1 ORDER BY h.device_id, h.pack_id",
    )?;
    Ok(stmt
        .query_map([center], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?)
}
