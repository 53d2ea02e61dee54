//! Staff accounts, their sessions and failed sign-ins, trusted publishers
//! and published packs, as PostgreSQL.

use std::io::Read;
use std::path::Path;

use kalamu_core::pack::Manifest;
use tokio_postgres::Row;

use super::conn::Conn;
use crate::error::{HubError, Result};
use crate::storage::{PublishedPack, StaffAccount, StaffSession};

const PIECE: usize = crate::storage::PACK_PIECE as usize;

const STAFF_COLUMNS: &str = "s.id, s.name, s.center_id, s.must_change, s.created_at";

fn read_staff(r: &Row) -> Result<StaffAccount> {
    Ok(StaffAccount {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        center_id: r.try_get(2)?,
        must_change: r.try_get(3)?,
        created_at: r.try_get(4)?,
    })
}

pub(super) fn add(conn: &mut Conn, a: &StaffAccount, hash: &str) -> Result<()> {
    let added = conn.exec(
        "INSERT INTO staff (id, name, center_id, password_hash, must_change, created_at)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (name) DO NOTHING",
        &[&a.id, &a.name, &a.center_id, &hash, &a.must_change, &a.created_at],
    )?;
    if added == 0 {
        return Err(HubError::StaffExists(a.name.clone()));
    }
    Ok(())
}

pub(super) fn list(conn: &mut Conn) -> Result<Vec<StaffAccount>> {
    conn.query(&format!("SELECT {STAFF_COLUMNS} FROM staff s ORDER BY s.name"), &[])?
        .iter()
        .map(read_staff)
        .collect()
}

pub(super) fn login(conn: &mut Conn, name: &str) -> Result<Option<(StaffAccount, String)>> {
    conn.opt(&format!("SELECT {STAFF_COLUMNS}, s.password_hash FROM staff s WHERE s.name = $1"), &[&name])?
        .map(|r| Ok((read_staff(&r)?, r.try_get(5)?)))
        .transpose()
}

pub(super) fn remove(conn: &mut Conn, name: &str) -> Result<StaffAccount> {
    let (account, _) = login(conn, name)?.ok_or_else(|| HubError::NoSuchStaff(name.to_owned()))?;
    conn.exec("DELETE FROM staff_sessions WHERE staff_id = $1", &[&account.id])?;
    conn.exec("DELETE FROM staff WHERE id = $1", &[&account.id])?;
    Ok(account)
}

pub(super) fn set_password(conn: &mut Conn, id: &str, hash: &str, must_change: bool) -> Result<()> {
    conn.exec(
        "UPDATE staff SET password_hash = $2, must_change = $3 WHERE id = $1",
        &[&id, &hash, &must_change],
    )?;
    conn.exec("DELETE FROM staff_sessions WHERE staff_id = $1", &[&id])?;
    Ok(())
}

pub(super) fn add_session(conn: &mut Conn, token: &str, staff: &str, csrf: &str, expires: i64) -> Result<()> {
    conn.exec(
        "INSERT INTO staff_sessions (token_hash, staff_id, csrf, expires_at) VALUES ($1, $2, $3, $4)",
        &[&token, &staff, &csrf, &expires],
    )?;
    Ok(())
}

pub(super) fn session(conn: &mut Conn, token: &str, now: i64) -> Result<Option<StaffSession>> {
    conn.opt(
        &format!(
            "SELECT {STAFF_COLUMNS}, x.csrf, x.expires_at FROM staff_sessions x JOIN staff s ON s.id = x.staff_id
             WHERE x.token_hash = $1 AND x.expires_at > $2"
        ),
        &[&token, &now],
    )?
    .map(|r| Ok(StaffSession { account: read_staff(&r)?, csrf: r.try_get(5)?, expires_at: r.try_get(6)? }))
    .transpose()
}

pub(super) fn end_session(conn: &mut Conn, token: &str) -> Result<()> {
    conn.exec("DELETE FROM staff_sessions WHERE token_hash = $1", &[&token])?;
    Ok(())
}

pub(super) fn failures(conn: &mut Conn, keys: &[String], since: i64) -> Result<u32> {
    let mut most = 0;
    for key in keys {
        let n = conn.opt(
            "SELECT failures FROM signin_failures WHERE key = $1 AND window_start > $2",
            &[key, &since],
        )?;
        if let Some(row) = n {
            most = most.max(row.try_get::<_, i64>(0)? as u32);
        }
    }
    Ok(most)
}

pub(super) fn note_failure(conn: &mut Conn, keys: &[String], since: i64, now: i64) -> Result<()> {
    for key in keys {
        conn.exec(
            "INSERT INTO signin_failures AS f (key, window_start, failures) VALUES ($1, $3, 1)
             ON CONFLICT (key) DO UPDATE SET
               failures = CASE WHEN f.window_start > $2 THEN f.failures + 1 ELSE 1 END,
               window_start = CASE WHEN f.window_start > $2 THEN f.window_start ELSE $3 END",
            &[key, &since, &now],
        )?;
    }
    Ok(())
}

pub(super) fn clear_failures(conn: &mut Conn, key: &str) -> Result<()> {
    conn.exec("DELETE FROM signin_failures WHERE key = $1", &[&key])?;
    Ok(())
}

pub(super) fn add_publisher(conn: &mut Conn, key: &str, name: &str, now: i64) -> Result<()> {
    conn.exec(
        "INSERT INTO publishers (public_key, name, added_at) VALUES ($1, $2, $3)
         ON CONFLICT (public_key) DO UPDATE SET name = excluded.name",
        &[&key, &name, &now],
    )?;
    Ok(())
}

pub(super) fn publishers(conn: &mut Conn) -> Result<Vec<(String, String)>> {
    conn.query("SELECT public_key, name FROM publishers ORDER BY name", &[])?
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect()
}

pub(super) fn remove_publisher(conn: &mut Conn, key: &str) -> Result<bool> {
    Ok(conn.exec("DELETE FROM publishers WHERE public_key = $1", &[&key])? > 0)
}

/// Stores a pack and its file's bytes, read from `file` piece by piece, in the caller's transaction.
pub(super) fn publish(conn: &mut Conn, pack: &PublishedPack, file: &Path) -> Result<()> {
    let m = &pack.manifest;
    conn.exec("DELETE FROM packs WHERE id = $1", &[&m.id])?;
    conn.exec(
        "INSERT INTO packs (id, version, title, manifest, signer, bytes, published_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[
            &m.id,
            &m.version,
            &m.title,
            &pack.manifest_bytes,
            &pack.signer,
            &(pack.bytes as i64),
            &pack.published_at,
        ],
    )?;
    let mut reader = std::fs::File::open(file)?.take(pack.bytes);
    let mut buf = vec![0u8; PIECE];
    for n in 0i64.. {
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
        conn.exec(
            "INSERT INTO pack_pieces (pack_id, n, bytes) VALUES ($1, $2, $3)",
            &[&m.id, &n, &&buf[..filled]],
        )?;
    }
    Ok(())
}

pub(super) fn packs(conn: &mut Conn) -> Result<Vec<PublishedPack>> {
    let rows =
        conn.query("SELECT id, manifest, signer, bytes, published_at FROM packs ORDER BY title", &[])?;
    rows.iter()
        .map(|r| {
            let id: String = r.try_get(0)?;
            let manifest_bytes: Vec<u8> = r.try_get(1)?;
            let manifest = Manifest::from_bytes(&manifest_bytes).map_err(|p| {
                HubError::Damaged(format!("the stored manifest of pack {id} does not read: {p}"))
            })?;
            Ok(PublishedPack {
                manifest,
                manifest_bytes,
                signer: r.try_get(2)?,
                bytes: r.try_get::<_, i64>(3)? as u64,
                published_at: r.try_get(4)?,
            })
        })
        .collect()
}

pub(super) fn pack_piece(conn: &mut Conn, id: &str, n: u64) -> Result<Option<Vec<u8>>> {
    conn.opt("SELECT bytes FROM pack_pieces WHERE pack_id = $1 AND n = $2", &[&id, &(n as i64)])?
        .map(|r| Ok(r.try_get(0)?))
        .transpose()
}

pub(super) fn unpublish(conn: &mut Conn, id: &str) -> Result<bool> {
    conn.exec("DELETE FROM pack_pieces WHERE pack_id = $1", &[&id])?;
    Ok(conn.exec("DELETE FROM packs WHERE id = $1", &[&id])? > 0)
}

pub(super) fn set_required(conn: &mut Conn, center: &str, pack: &str, required: bool) -> Result<()> {
    if required {
        conn.exec(
            "INSERT INTO required_packs (center_id, pack_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&center, &pack],
        )?;
    } else {
        conn.exec("DELETE FROM required_packs WHERE center_id = $1 AND pack_id = $2", &[&center, &pack])?;
    }
    Ok(())
}

pub(super) fn required(conn: &mut Conn, center: &str) -> Result<Vec<String>> {
    conn.query("SELECT pack_id FROM required_packs WHERE center_id = $1 ORDER BY pack_id", &[&center])?
        .iter()
        .map(|r| Ok(r.try_get(0)?))
        .collect()
}

pub(super) fn set_held(conn: &mut Conn, device: &str, packs: &[(String, String)], now: i64) -> Result<()> {
    conn.exec("DELETE FROM held_packs WHERE device_id = $1", &[&device])?;
    for (pack, version) in packs {
        conn.exec(
            "INSERT INTO held_packs (device_id, pack_id, version, told_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (device_id, pack_id) DO UPDATE SET version = excluded.version, told_at = excluded.told_at",
            &[&device, pack, version, &now],
        )?;
    }
    Ok(())
}

pub(super) fn held(conn: &mut Conn, center: &str) -> Result<Vec<(String, String, String)>> {
    conn.query(
        "SELECT h.device_id, h.pack_id, h.version FROM held_packs h JOIN devices d ON d.id = h.device_id
         WHERE d.center_id = $1 ORDER BY h.device_id, h.pack_id",
        &[&center],
    )?
    .iter()
    .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
    .collect()
}
