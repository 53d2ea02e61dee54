//! The hub's rules, in one place every storage backend calls: a backend
//! reads what a rule needs inside its transaction, asks the rule, and writes
//! what the rule decided. Backends hold no rule of their own.

use kalamu_core::sync::Batch;

use crate::error::{HubError, Result};

/// An enrolment code as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeRow {
    /// The center it enrols into.
    pub center_id: String,
    /// When it stops working (unix ms).
    pub expires_at: i64,
    /// When it was used, if it was.
    pub used_at: Option<i64>,
    /// The one laptop it was made for, if staff made it for one.
    pub device_id: Option<String>,
}

/// A device the hub already knows, as enrolment needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownDevice {
    /// Its center.
    pub center_id: String,
    /// When staff revoked it, if they did.
    pub revoked_at: Option<i64>,
}

/// What an enrolment does, once allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enrolment {
    /// A laptop the hub has never seen joins the center.
    New,
    /// A laptop staff made the code for gets a new credential (the old one stops working).
    NewCredential,
}

/// Whether `code` may enrol `device_id`. A plain code enrols a new laptop
/// only, so nobody can take over a laptop's identity by claiming its id; a
/// known laptop gets a new credential only with a code staff made for it;
/// no enrolment lifts a revocation (a revoked laptop comes back only as a
/// new laptop, with a new id, by staff decision).
pub fn enrolment(
    code: Option<&CodeRow>,
    known: Option<&KnownDevice>,
    device_id: &str,
    now: i64,
) -> Result<Enrolment> {
    let code = code.ok_or(HubError::BadCode)?;
    if code.used_at.is_some() {
        return Err(HubError::CodeUsed);
    }
    if now > code.expires_at {
        return Err(HubError::CodeExpired);
    }
    match (known, code.device_id.as_deref()) {
        (_, Some(for_device)) if for_device != device_id => Err(HubError::CodeForAnotherDevice),
        (None, Some(_)) => Err(HubError::BadCode),
        (None, None) => Ok(Enrolment::New),
        (Some(d), _) if d.center_id != code.center_id => Err(HubError::DeviceInOtherCenter),
        (Some(d), _) if d.revoked_at.is_some() => Err(HubError::RevokedForGood),
        (Some(_), None) => Err(HubError::DeviceKnown),
        (Some(_), Some(_)) => Ok(Enrolment::NewCredential),
    }
}

/// Refuses a push that introduces events of another device: only a laptop
/// itself may add its events to the hub, so no laptop can speak for another.
pub fn own_events_only(caller_device: &str, batch: &Batch) -> Result<()> {
    match batch.events.iter().find(|e| e.device_id != caller_device) {
        Some(e) => Err(HubError::NotYourEvent { device: e.device_id.clone(), seq: e.seq }),
        None => Ok(()),
    }
}

/// Refuses a push that describes more learners than one push may, so one
/// laptop cannot flood every laptop's learner list in one go.
pub fn bounded_learners(batch: &Batch) -> Result<()> {
    let n = batch.learners.len();
    if n > kalamu_core::sync::wire::MAX_PUSH_LEARNERS {
        return Err(HubError::TooManyLearners(n));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(device: Option<&str>) -> CodeRow {
        CodeRow {
            center_id: "c".into(),
            expires_at: 100,
            used_at: None,
            device_id: device.map(str::to_owned),
        }
    }

    fn known(revoked: bool) -> KnownDevice {
        KnownDevice { center_id: "c".into(), revoked_at: revoked.then_some(5) }
    }

    #[test]
    fn a_plain_code_enrols_only_a_new_laptop() {
        assert_eq!(enrolment(Some(&code(None)), None, "d", 10).unwrap(), Enrolment::New);
        assert!(matches!(
            enrolment(Some(&code(None)), Some(&known(false)), "d", 10),
            Err(HubError::DeviceKnown)
        ));
    }

    #[test]
    fn a_code_for_a_laptop_renews_that_laptop_only_and_never_lifts_a_revocation() {
        let for_d = code(Some("d"));
        assert_eq!(enrolment(Some(&for_d), Some(&known(false)), "d", 10).unwrap(), Enrolment::NewCredential);
        assert!(matches!(
            enrolment(Some(&for_d), Some(&known(false)), "e", 10),
            Err(HubError::CodeForAnotherDevice)
        ));
        assert!(matches!(
            enrolment(Some(&for_d), Some(&known(true)), "d", 10),
            Err(HubError::RevokedForGood)
        ));
        assert!(matches!(
            enrolment(Some(&code(None)), Some(&known(true)), "d", 10),
            Err(HubError::RevokedForGood)
        ));
    }

    #[test]
    fn used_expired_and_unknown_codes_are_refused() {
        let used = CodeRow { used_at: Some(3), ..code(None) };
        assert!(matches!(enrolment(Some(&used), None, "d", 10), Err(HubError::CodeUsed)));
        assert!(matches!(enrolment(Some(&code(None)), None, "d", 101), Err(HubError::CodeExpired)));
        assert!(matches!(enrolment(None, None, "d", 10), Err(HubError::BadCode)));
    }
}
