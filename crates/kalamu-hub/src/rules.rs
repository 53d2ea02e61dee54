//! The hub's rules, in one place every storage backend calls: a backend
//! reads what a rule needs inside its transaction, asks the rule, and writes
//! what the rule decided. Backends hold no rule of their own.

use std::collections::HashSet;

use kalamu_core::progress::event::Event;
use kalamu_core::sync::enrolment;
use kalamu_core::sync::proof::{Chain, check_run, past_head};
use kalamu_core::sync::{Applied, Batch, LearnerRecord, VersionVector};

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

/// The code an enrolment's `proof` was made with, among the hub's code
/// keys (hex), over the hub's TLS key `hub_key`: as stored, and as the key
/// the hub's own proof is made with. None if no code matches, as when a
/// machine in the middle presented its own key.
pub fn code_of_proof(keys: &[String], proof: &str, hub_key: &str, nonce: &str) -> Option<(String, [u8; 32])> {
    keys.iter().find_map(|k| {
        let mut key = [0u8; 32];
        hex::decode_to_slice(k.as_str(), &mut key).ok()?;
        enrolment::proof_holds(proof, enrolment::Side::Laptop, &key, hub_key, nonce).then(|| (k.clone(), key))
    })
}

/// What a laptop may send, by network or by its USB bundle: its own events
/// only, describing a bounded number of learners.
pub fn from_laptop(caller_device: &str, batch: &Batch) -> Result<()> {
    own_events_only(caller_device, batch)?;
    bounded_learners(batch)
}

/// Refuses a push that introduces events of another device: only a laptop
/// itself may add its events to the hub, so no laptop can speak for another.
fn own_events_only(caller_device: &str, batch: &Batch) -> Result<()> {
    match batch.events.iter().find(|e| e.device_id != caller_device) {
        Some(e) => Err(HubError::NotYourEvent { device: e.device_id.clone(), seq: e.seq }),
        None => Ok(()),
    }
}

/// Refuses a push that describes more learners than one push may, so one
/// laptop cannot flood every laptop's learner list in one go.
fn bounded_learners(batch: &Batch) -> Result<()> {
    let n = batch.learners.len();
    if n > kalamu_core::sync::wire::MAX_PUSH_LEARNERS {
        return Err(HubError::TooManyLearners(n));
    }
    // Every laptop of the center shows these names, and `hub devices` prints them.
    if let Some(l) = batch.learners.iter().find(|l| l.name.chars().any(char::is_control)) {
        return Err(HubError::BadRequest(format!("learner {} has control characters in their name", l.id)));
    }
    Ok(())
}

/// The reads and writes a push needs, inside one transaction of a storage
/// backend: plain storage, no rule of its own.
pub trait PushTx {
    /// A device's center and the highest sequence number held of it (0 if none), if enrolled.
    fn device_head(&mut self, device: &str) -> Result<Option<(String, u64)>>;
    /// A learner as stored, with the center it belongs to.
    fn learner(&mut self, id: &str) -> Result<Option<(String, LearnerRecord)>>;
    /// Stores a learner new to the hub in a center, as added by `device` at `now`.
    fn add_learner(&mut self, center_id: &str, learner: &LearnerRecord, device: &str, now: i64)
    -> Result<()>;
    /// How many learners `device` added since `since` (unix ms).
    fn learners_added_since(&mut self, device: &str, since: i64) -> Result<u64>;
    /// Claims an event's id for it; false if the id is held already (by it or another event).
    fn claim_event_id(&mut self, event: &Event) -> Result<bool>;
    /// Claims the ids of `events` (each a distinct device and sequence
    /// number), in order; returns the device and sequence number of those
    /// claimed. A backend whose every statement is a round trip claims them
    /// in one.
    fn claim_event_ids(&mut self, events: &[&Event]) -> Result<HashSet<(String, u64)>> {
        let mut claimed = HashSet::new();
        for e in events {
            if self.claim_event_id(e)? {
                claimed.insert((e.device_id.clone(), e.seq));
            }
        }
        Ok(claimed)
    }
    /// The device and sequence number an event id is held by.
    fn id_holder(&mut self, id: &str) -> Result<Option<(String, u64)>>;
    /// A device's stored events with sequence numbers in `(from, to]`.
    fn stored_events(&mut self, device: &str, from: u64, to: u64) -> Result<Vec<Event>>;
    /// The key a device signs with, if it gave one.
    fn device_key(&mut self, device: &str) -> Result<Option<[u8; 32]>>;
    /// Registers the key of a device that enrolled before keys were given.
    fn set_device_key(&mut self, device: &str, key: &[u8; 32]) -> Result<()>;
    /// A device's chain through the sequence number kept with it, if kept.
    fn chain(&mut self, device: &str) -> Result<Option<(u64, Chain)>>;
    /// A device's head, chain as kept and key, as a signature check needs them.
    fn signing_state(&mut self, device: &str) -> Result<SigningState> {
        Ok(SigningState {
            head: self.device_head(device)?.map_or(0, |(_, seq)| seq),
            chain: self.chain(device)?,
            key: self.device_key(device)?,
        })
    }
    /// Keeps a device's chain through its new head.
    fn set_chain(&mut self, device: &str, seq: u64, chain: &Chain) -> Result<()>;
    /// Raises a device's head.
    fn raise_head(&mut self, device: &str, center_id: &str, seq: u64) -> Result<()>;
    /// Keeps the events a push added (from `before` to `after`), and the
    /// pushed bytes when they say exactly what the hub now holds.
    fn record(
        &mut self,
        center_id: &str,
        before: &VersionVector,
        after: &VersionVector,
        batch: &Batch,
        as_pushed: Option<Vec<u8>>,
        now: i64,
    ) -> Result<()>;
}

/// The one laptop whose events a center's hub `relay` relays in `batch`: a
/// relayed batch is one laptop's run, as the center's hub stores it, and
/// never the relay's own.
pub fn relayed_device(relay: &str, batch: &Batch) -> Result<String> {
    let Some(first) = batch.events.first() else {
        return Err(HubError::BadRequest("a relayed batch holds events".into()));
    };
    if batch.events.iter().any(|e| e.device_id != first.device_id) {
        return Err(HubError::BadRequest("a relayed batch holds the events of one laptop".into()));
    }
    if first.device_id == relay {
        return Err(HubError::BadRequest(
            "a center's hub relays its laptops' events, it records none".into(),
        ));
    }
    bounded_learners(batch)?;
    Ok(first.device_id.clone())
}

/// What the hub knows of a device a relay names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayedKnown {
    /// Its center.
    pub center_id: String,
    /// Whether it is itself a relay.
    pub relay: bool,
    /// When it was revoked, if it was.
    pub revoked_at: Option<i64>,
    /// It enrolled here itself (it holds a credential of this hub), without giving a key yet.
    pub enrolled_here_keyless: bool,
}

/// Laptops one center's relay may make known to the hub in a day: far more
/// than a center has, and a bound on what a relay's made-up laptops could add.
pub const MAX_DAY_RELAYED_DEVICES: u64 = 1_000;

/// Whether a relay of `center_id` may speak for a device the hub knows as
/// `known` (none: a laptop new here, to be made a device of that center).
/// A relay writes only its own center's laptops, never another relay's
/// events, nor a revoked laptop's, nor those of a laptop enrolled here that
/// has not given its key yet (its first signed push registers the key, and
/// only the laptop may make it). `made_today` counts the laptops the
/// center's relays made known in the last day.
pub fn relayed_device_row(
    center_id: &str,
    device: &str,
    known: Option<&RelayedKnown>,
    made_today: u64,
) -> Result<bool> {
    match known {
        None if made_today >= MAX_DAY_RELAYED_DEVICES => Err(HubError::BadRequest(format!(
            "this center's hub made {made_today} laptops known here today; the rest wait until tomorrow"
        ))),
        None => Ok(true),
        Some(k) if k.enrolled_here_keyless => Err(HubError::BadRequest(format!(
            "laptop {device} enrolled here and has not sent its key yet: only it sends its first events"
        ))),
        Some(k) if k.center_id != center_id => Err(HubError::OtherCenter(format!("device {device}"))),
        Some(k) if k.relay => Err(HubError::BadRequest(format!("device {device} is a center's hub"))),
        Some(k) if k.revoked_at.is_some() => Err(HubError::BadRequest(format!(
            "laptop {device} was removed from the center here: its events are not taken"
        ))),
        Some(_) => Ok(false),
    }
}

/// Most learners one laptop may add to the hub in a day: a class or two a
/// day is plenty, and no laptop can flood its center's learner lists.
pub const MAX_DAY_LEARNERS: u64 = 1_000;
/// A day, in ms.
const DAY_MS: i64 = 24 * 3600 * 1000;

/// A push's signature, checked before its transaction against the chain and
/// key the hub held then: the writer, which every push waits for, then only
/// checks that the device's head has not moved since.
#[derive(Debug, Clone)]
pub struct Prechecked {
    /// The device's head the check started from.
    head: u64,
    /// What the check found.
    signed: Signed,
}

/// A checked signature: what the write transaction keeps of it.
#[derive(Debug, Clone, Copy)]
struct Signed {
    /// The device's chain through the push's last new event, and that event.
    after: Option<(u64, Chain)>,
    /// The key that signed.
    key: Option<[u8; 32]>,
    /// Whether that key was the device's registered one (else it registers now).
    registered: bool,
}

/// What the hub holds of a device that a signature check needs.
#[derive(Debug, Clone, Copy)]
pub struct SigningState {
    /// Its head.
    pub head: u64,
    /// Its chain as kept, and the sequence number it runs through.
    pub chain: Option<(u64, Chain)>,
    /// The key it signs with, if it gave one.
    pub key: Option<[u8; 32]>,
}

/// Checks the signature of a push by laptop `device` on plain reads (`tx`
/// may be a reader's, outside the write transaction), as
/// the write transaction would ([`push`]): many pushes are checked at once this way.
pub fn precheck(tx: &mut impl PushTx, device: &str, batch: &Batch) -> Result<Prechecked> {
    let state = tx.signing_state(device)?;
    let head = state.head;
    let events: Vec<&Event> =
        past_head(device, head, batch.events.iter().enumerate()).into_iter().map(|(_, e)| e).collect();
    let signed = check_signature(tx, device, head, state, &events, batch)?;
    Ok(Prechecked { head, signed })
}

/// Stores a batch pushed by laptop `device` of `center_id` by the hub's
/// rules, in the backend's transaction `tx`: every device and learner must
/// be the center's; the laptop adds at most [`MAX_DAY_LEARNERS`] learners a
/// day; the batch must continue each device's events without a gap; a
/// repeat must be, field by field, the event held. Returns what it did and
/// the hub's vector for the batch's devices after it.
pub fn push(
    tx: &mut impl PushTx,
    center_id: &str,
    device: &str,
    batch: &Batch,
    wire: Vec<u8>,
    checked: Option<&Prechecked>,
    now: i64,
) -> Result<(Applied, VersionVector)> {
    let mut held = VersionVector::default();
    for device in batch.events.iter().map(|e| &e.device_id) {
        if held.0.contains_key(device) {
            continue;
        }
        match tx.device_head(device)? {
            Some((c, seq)) if c == center_id => held.0.insert(device.clone(), seq),
            _ => return Err(HubError::OtherCenter(format!("device {device}"))),
        };
    }
    let after = held.check_extends(batch)?;
    // The pushed bytes are kept to be pulled as they are only if they say what the hub holds.
    let mut as_stored = true;
    let mut new_learners = Vec::new();
    for l in &batch.learners {
        match tx.learner(&l.id)? {
            Some((c, _)) if c != center_id => return Err(HubError::OtherCenter(format!("learner {}", l.id))),
            Some((_, stored)) => as_stored &= stored == *l,
            None => new_learners.push(l),
        }
    }
    // An event speaks for a learner of this center only, described in the batch or held.
    let described: HashSet<&str> = batch.learners.iter().map(|l| l.id.as_str()).collect();
    let mut checked_learners = HashSet::new();
    for e in batch.events.iter().filter(|e| !described.contains(e.learner_id.as_str())) {
        if checked_learners.insert(e.learner_id.as_str())
            && let Some((c, _)) = tx.learner(&e.learner_id)?
            && c != center_id
        {
            return Err(HubError::OtherCenter(format!("learner {}", e.learner_id)));
        }
    }
    if !new_learners.is_empty() {
        let today = tx.learners_added_since(device, now - DAY_MS)?;
        if today + new_learners.len() as u64 > MAX_DAY_LEARNERS {
            return Err(HubError::TooManyLearnersToday { today, more: new_learners.len() });
        }
        for l in new_learners {
            tx.add_learner(center_id, l, device, now)?;
        }
    }
    // A batch may repeat events, its own or stored ones: each is new only
    // past the head so far, and anything else must be what is held.
    let mut new = 0;
    let mut head = held.clone();
    let mut repeats = Vec::new();
    let mut fresh: std::collections::BTreeMap<&str, Vec<&Event>> = Default::default();
    // Past the held head, each device and sequence number is new at its first
    // occurrence in the batch, if its id is free: those are claimed at once.
    let mut first = HashSet::new();
    let candidates: Vec<&Event> = batch
        .events
        .iter()
        .filter(|e| e.seq > held.get(&e.device_id) && first.insert((e.device_id.as_str(), e.seq)))
        .collect();
    let claimed = tx.claim_event_ids(&candidates)?;
    for e in &batch.events {
        if e.seq > head.get(&e.device_id) && claimed.contains(&(e.device_id.clone(), e.seq)) {
            head.raise(&e.device_id, e.seq);
            fresh.entry(&e.device_id).or_default().push(e);
            new += 1;
        } else {
            if tx.id_holder(&e.id)? != Some((e.device_id.clone(), e.seq)) {
                return Err(
                    kalamu_core::Error::SyncConflict { device: e.device_id.clone(), seq: e.seq }.into()
                );
            }
            if e.seq <= held.get(&e.device_id) {
                repeats.push(e);
            }
        }
    }
    same_content(tx, &repeats)?;
    for (device, events) in fresh {
        let head = held.get(device);
        let signed = match checked {
            // Checked on these very events from this very head: only the key may have been registered since.
            Some(c)
                if c.head == head && c.signed.after.map(|(seq, _)| seq) == events.last().map(|e| e.seq) =>
            {
                c.signed
            }
            _ => {
                let state = tx.signing_state(device)?;
                check_signature(tx, device, head, state, &events, batch)?
            }
        };
        keep_signature(tx, device, signed)?;
    }
    for (device, &seq) in &after.0 {
        tx.raise_head(device, center_id, seq)?;
    }
    // A run is pulled as it is: it must describe every learner its events
    // name, or a laptop would refuse it (and with it every pull that brings it).
    // Likewise every signature it carries must close one of its own events.
    let describes_all = batch.events.iter().all(|e| described.contains(e.learner_id.as_str()))
        && batch
            .proofs
            .iter()
            .all(|p| batch.events.iter().any(|e| e.device_id == p.device_id && e.seq == p.seq));
    let as_pushed = (as_stored && describes_all && new == batch.events.len()).then_some(wire);
    tx.record(center_id, &held, &after, batch, as_pushed, now)?;
    Ok((Applied { received: batch.events.len(), new, ..Applied::default() }, after))
}

/// Checks that `events`, device `device`'s events past its head `head`,
/// are closed by its signature over its chain (the hub holds the chain
/// through its head), made with the key it enrolled with; a laptop that
/// enrolled before keys were given registers its key with its first
/// signed push (only it holds its credential). Returns the chain after
/// them, and the key that signed.
fn check_signature(
    tx: &mut impl PushTx,
    device: &str,
    head: u64,
    state: SigningState,
    events: &[&Event],
    batch: &Batch,
) -> Result<Signed> {
    if events.is_empty() {
        return Ok(Signed { after: None, key: None, registered: true });
    }
    let start = match state.chain {
        Some((seq, chain)) if seq == head => chain,
        // Events stored before proofs: the chain is made once from them.
        kept => {
            let (from, chain) = kept.filter(|(seq, _)| *seq < head).unwrap_or((0, Chain::start(device)));
            tx.stored_events(device, from, head)?.iter().fold(chain, |c, e| c.then(e))
        }
    };
    let (chains, key) = check_run(device, start, events, &batch.proofs, state.key, true)
        .map_err(|why| kalamu_core::Error::BadProof { device: device.to_owned(), why })?;
    let after = events.last().map(|e| e.seq).zip(chains.last().copied());
    Ok(Signed { after, key, registered: state.key.is_some() })
}

/// Keeps a checked signature's outcome in the write transaction: the
/// device's chain through its new head, and its key if it had none yet.
fn keep_signature(tx: &mut impl PushTx, device: &str, signed: Signed) -> Result<()> {
    let Signed { after, key, registered } = signed;
    // Checked against the registered key: a key, once given, changes only
    // when staff enrol the same laptop again, so it need not be read again.
    let registered = if registered { key } else { tx.device_key(device)? };
    match (registered, key) {
        (Some(held), Some(key)) if held != key => {
            return Err(kalamu_core::Error::BadProof {
                device: device.to_owned(),
                why: "it is signed with another key than its own".into(),
            }
            .into());
        }
        (None, Some(key)) => tx.set_device_key(device, &key)?,
        _ => {}
    }
    if let Some((seq, chain)) = after {
        tx.set_chain(device, seq, &chain)?;
    }
    Ok(())
}

/// Checks that repeated events are, field by field, the events the hub
/// holds: a copy that differs in content is a conflict, not a repeat.
fn same_content(tx: &mut impl PushTx, repeats: &[&Event]) -> Result<()> {
    let mut by_device: std::collections::BTreeMap<&str, Vec<&Event>> = Default::default();
    for e in repeats {
        by_device.entry(e.device_id.as_str()).or_default().push(e);
    }
    for (device, events) in by_device {
        let (first, last) = events.iter().fold((u64::MAX, 0), |(lo, hi), e| (lo.min(e.seq), hi.max(e.seq)));
        let stored = tx.stored_events(device, first - 1, last)?;
        let stored: std::collections::HashMap<u64, &Event> = stored.iter().map(|e| (e.seq, e)).collect();
        if let Some(e) = events.iter().find(|e| stored.get(&e.seq) != Some(*e)) {
            return Err(kalamu_core::Error::SyncConflict { device: e.device_id.clone(), seq: e.seq }.into());
        }
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
