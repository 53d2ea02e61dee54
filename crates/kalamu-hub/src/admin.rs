//! What staff do on the hub: centers, enrolment codes, devices, and the
//! center's sync bundles for laptops that never reach the hub.

use std::path::Path;

use kalamu_core::store::now_millis;
use kalamu_core::sync::bundle::{BundleHeader, BundleReader, BundleSource};
use kalamu_core::sync::enrolment::code_key;
use kalamu_core::sync::seal::{Opening, Sealing, VerifyingKey};
use kalamu_core::sync::{BundleImport, BundleProblem, VersionVector};
use serde::Serialize;

use crate::error::{HubError, Result};
use crate::storage::{Center, DeviceInfo, Storage};

/// Characters of enrolment codes: no 0/O, 1/I/L, easy to read aloud and type.
const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";
const CODE_LEN: usize = 8;
const BUNDLE_BATCH: usize = 5_000;

/// A fresh enrolment code, as staff read it out.
#[derive(Debug, Clone, Serialize)]
pub struct EnrollCode {
    /// The code, e.g. `K7PQ-9XMW`.
    pub code: String,
    /// The center it enrols into.
    pub center: String,
    /// When it stops working (unix ms).
    pub expires_at: i64,
}

/// What the hub keeps of a code: its slow key ([`code_key`]), in hex.
pub fn code_hash(code: &str) -> String {
    hex::encode(code_key(code))
}

/// The longest an enrolment code lasts.
pub const MAX_CODE_MINUTES: u32 = 7 * 24 * 60;

/// Issues a single-use code that enrols one new laptop into `center` within
/// `ttl_minutes`, or, with `device`, gives that enrolled laptop a new credential.
pub fn new_enroll_code(
    store: &dyn Storage,
    center: &str,
    ttl_minutes: u32,
    device: Option<&str>,
) -> Result<EnrollCode> {
    check_ttl(ttl_minutes)?;
    let center = store.center(center)?;
    if let Some(id) = device {
        let info = store.device(id)?;
        if info.center_id != center.id {
            return Err(HubError::DeviceInOtherCenter);
        }
        if info.revoked_at.is_some() {
            return Err(HubError::RevokedForGood);
        }
    }
    let code = fresh_code();
    let expires_at = now_millis() + i64::from(ttl_minutes) * 60_000;
    store.add_enroll_code(&center.id, &code_hash(&code), expires_at, device)?;
    Ok(EnrollCode { code, center: center.name, expires_at })
}

/// Makes a one-time code with which a center's hub enrols here to relay that
/// center's laptops' progress (`kalamu hub upstream`).
pub fn new_relay_code(store: &dyn Storage, center: &str, ttl_minutes: u32) -> Result<EnrollCode> {
    check_ttl(ttl_minutes)?;
    let center = store.center(center)?;
    let code = fresh_code();
    let expires_at = now_millis() + i64::from(ttl_minutes) * 60_000;
    store.add_relay_code(&center.id, &code_hash(&code), expires_at)?;
    Ok(EnrollCode { code, center: center.name, expires_at })
}

/// A code lives at most [`MAX_CODE_MINUTES`].
fn check_ttl(ttl_minutes: u32) -> Result<()> {
    if ttl_minutes > MAX_CODE_MINUTES {
        return Err(HubError::BadRequest(format!(
            "a code lasts at most 7 days ({MAX_CODE_MINUTES} minutes): one read aloud must not stay good for long"
        )));
    }
    Ok(())
}

/// A new code, as people read it aloud: two groups of four.
fn fresh_code() -> String {
    let mut raw = [0u8; CODE_LEN];
    getrandom::fill(&mut raw).expect("the OS has randomness");
    // 31 symbols: the modulo bias is under 1 %, irrelevant for a code that lives minutes.
    let chars: String =
        raw.iter().map(|b| CODE_ALPHABET[*b as usize % CODE_ALPHABET.len()] as char).collect();
    format!("{}-{}", &chars[..4], &chars[4..])
}

/// Writes every event of a center to a bundle that only its laptops
/// enrolled now can read, signed with the hub's bundle key.
pub fn export_bundle(store: &dyn Storage, center: &str, path: &Path) -> Result<u64> {
    let center: Center = store.center(center)?;
    // A revoked laptop is no reader: it can open no bundle made after its revocation.
    let readers: Vec<VerifyingKey> = store
        .devices(Some(&center.id))?
        .iter()
        .filter(|d| d.revoked_at.is_none())
        .filter_map(DeviceInfo::verifying_key)
        .collect();
    let maker = crate::tls::bundle_key(store)?;
    let total = VersionVector::default().lacks_from(&store.vector(&center.id)?);
    let header = BundleHeader {
        format: kalamu_core::sync::bundle::FORMAT,
        center_id: center.id.clone(),
        from: BundleSource::Hub,
        created_at: now_millis(),
        events: total,
    };
    let sealing = Sealing { maker: &maker, readers: &readers };
    let mut sent = VersionVector::default();
    let mut failure = None;
    let written = kalamu_core::sync::bundle::write_bundle(path, &header, &sealing, || {
        match store.events_after(&center.id, &sent, BUNDLE_BATCH) {
            Ok(batch) if batch.events.is_empty() => Ok(None),
            Ok(batch) => {
                for e in &batch.events {
                    sent.raise(&e.device_id, e.seq);
                }
                Ok(Some(batch))
            }
            Err(e) => {
                // Stops the writer, which removes its partial file; the real error is reported below.
                failure = Some(e);
                Err(kalamu_core::Error::NotEnrolled)
            }
        }
    });
    match (failure, written) {
        (Some(e), _) => Err(e),
        (None, Err(e)) => Err(e.into()),
        (None, Ok(())) => Ok(total),
    }
}

/// Imports a laptop's bundle: it must be encrypted to this hub and signed
/// by that laptop's device key, the laptop must be enrolled here and not
/// revoked, and the same rules as a network push apply. Importing it again
/// changes nothing.
pub fn import_bundle(store: &dyn Storage, path: &Path) -> Result<BundleImport> {
    let reader = BundleReader::open(path)?;
    let BundleSource::Device(device_id) = reader.header.from.clone() else {
        return Err(bundle_error(path, BundleProblem::Tampered));
    };
    let device = store.device(&device_id).map_err(|e| match e {
        HubError::NoSuchDevice(_) => {
            HubError::OtherCenter(format!("the laptop {device_id} that made {}", path.display()))
        }
        e => e,
    })?;
    if device.center_id != reader.header.center_id {
        return Err(bundle_error(
            path,
            BundleProblem::OtherCenter { ours: device.center_id, theirs: reader.header.center_id.clone() },
        ));
    }
    if device.revoked_at.is_some() {
        return Err(HubError::Revoked);
    }
    // One read of the file: every batch is checked, and the seal with them,
    // before any is stored.
    let mut frames = Vec::new();
    // A laptop that never gave its key has no bundle this hub could trust.
    let maker = device.verifying_key().ok_or_else(|| bundle_error(path, BundleProblem::Tampered))?;
    let hub = crate::tls::bundle_key(store)?;
    let opening = Opening { reader: &hub, maker: &maker };
    reader.read_sealed(&opening, |batch, wire| {
        frames.push((batch, wire));
        Ok(())
    })?;
    for (batch, _) in &frames {
        crate::rules::from_laptop(&device_id, batch)?;
    }
    // One transaction for the whole bundle: applied whole or not at all.
    let batches =
        frames.into_iter().map(|(batch, wire)| crate::storage::Incoming::unchecked(batch, wire)).collect();
    let (applied, _) =
        crate::storage::wait(store.push(&device.center_id, &device_id, batches, now_millis()))?;
    Ok(BundleImport { received: applied.received as u64, new: applied.new as u64 })
}

fn bundle_error(path: &Path, problem: BundleProblem) -> HubError {
    HubError::Sync(kalamu_core::Error::Bundle { path: path.to_owned(), problem })
}
