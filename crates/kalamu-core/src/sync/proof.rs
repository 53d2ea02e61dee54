//! Proof of origin: every event can be traced to the laptop that recorded
//! it, and only that laptop can introduce it.
//!
//! Each device's events form a chain: a digest over its events 1..n, one
//! after the other. A device signs the chain's digest at the end of each
//! batch it sends, with an Ed25519 key made on first use; the signature
//! (one per batch, not one per event, so a slow link hardly notices) travels
//! in the batch and is kept and relayed with it unchanged. A receiver that
//! holds the device's events up to some point extends the chain over what
//! it receives and checks the signature, so no relay can change, add or
//! drop an event of a device without the proof failing. A device's key is
//! pinned the first time it is seen: the hub learns it at enrolment; a
//! laptop, from the first proof of that device it receives.

pub use ed25519_dalek::SigningKey;
use ed25519_dalek::{Signer, Verifier, VerifyingKey};
use rusqlite::OptionalExtension;

use crate::progress::event::{Answer, EVENT_COLUMNS, Event, EventBody, read_event};
use crate::{Error, Result, Store};

/// The digest of a device's events from the first through some event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chain(pub [u8; 32]);

impl Chain {
    /// The chain of a device before its first event.
    pub fn start(device_id: &str) -> Chain {
        Chain(blake3::derive_key("kalamu 2026 event chain", device_id.as_bytes()))
    }

    /// The chain extended by the device's next event.
    pub fn then(&self, e: &Event) -> Chain {
        let mut h = blake3::Hasher::new();
        h.update(&self.0);
        h.update(&e.seq.to_le_bytes());
        h.update(&e.hlc.0.to_le_bytes());
        for s in [&e.id, &e.learner_id, &e.pack_id, &e.lesson_id] {
            text(&mut h, s);
        }
        body(&mut h, &e.body);
        Chain(*h.finalize().as_bytes())
    }
}

fn text(h: &mut blake3::Hasher, s: &str) {
    h.update(&(s.len() as u32).to_le_bytes());
    h.update(s.as_bytes());
}

/// An event's details as the chain reads them: its kind, then each field in
/// a fixed order and width, so both ends hash the same bytes without JSON.
fn body(h: &mut blake3::Hasher, b: &EventBody) {
    text(h, b.kind());
    match b {
        EventBody::LessonOpened | EventBody::LessonCompleted | EventBody::LearnerAdded => {}
        EventBody::Position { media, at } => {
            text(h, media.as_deref().unwrap_or(""));
            h.update(&[u8::from(media.is_some())]);
            h.update(&at.to_bits().to_le_bytes());
        }
        EventBody::QuizAttempt { answers, score, max } => {
            h.update(&score.to_le_bytes());
            h.update(&max.to_le_bytes());
            h.update(&(answers.len() as u32).to_le_bytes());
            for (item, answer) in answers {
                text(h, item);
                match answer {
                    Answer::Choice(c) => {
                        h.update(b"c");
                        h.update(&(*c as u64).to_le_bytes());
                    }
                    Answer::Choices(cs) => {
                        h.update(b"m");
                        h.update(&(cs.len() as u32).to_le_bytes());
                        for c in cs {
                            h.update(&(*c as u64).to_le_bytes());
                        }
                    }
                    Answer::Number(n) => {
                        h.update(b"n");
                        h.update(&n.to_bits().to_le_bytes());
                    }
                    Answer::Text(t) => {
                        h.update(b"t");
                        text(h, t);
                    }
                }
            }
        }
        EventBody::TimeSpent { seconds } => {
            h.update(&seconds.to_le_bytes());
        }
    }
}

/// A device's signature over its chain at one of its events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proof {
    /// The device.
    pub device_id: String,
    /// The event the chain runs through.
    pub seq: u64,
    /// The device's public key.
    pub key: [u8; 32],
    /// Ed25519 over the device, the event number and the chain's digest.
    pub signature: [u8; 64],
}

fn message(device_id: &str, seq: u64, chain: &Chain) -> Vec<u8> {
    let mut m = b"kalamu 2026 proof\0".to_vec();
    m.extend_from_slice(device_id.as_bytes());
    m.push(0);
    m.extend_from_slice(&seq.to_le_bytes());
    m.extend_from_slice(&chain.0);
    m
}

impl Proof {
    /// Signs device `device_id`'s chain `chain` through its event `seq`.
    pub fn sign(key: &SigningKey, device_id: &str, seq: u64, chain: &Chain) -> Proof {
        Proof {
            device_id: device_id.to_owned(),
            seq,
            key: key.verifying_key().to_bytes(),
            signature: key.sign(&message(device_id, seq, chain)).to_bytes(),
        }
    }

    /// Whether this proof's key signed `chain`.
    pub fn holds_for(&self, chain: &Chain) -> bool {
        let Ok(key) = VerifyingKey::from_bytes(&self.key) else { return false };
        let signature = ed25519_dalek::Signature::from_bytes(&self.signature);
        key.verify(&message(&self.device_id, self.seq, chain), &signature).is_ok()
    }
}

/// The events of `device` among `events` (each with its place in the batch)
/// that extend its head `head`: each next number once, in order. The others
/// repeat what is held, and are compared by content, not chained.
pub fn past_head<'a>(
    device: &str,
    head: u64,
    events: impl IntoIterator<Item = (usize, &'a Event)>,
) -> Vec<(usize, &'a Event)> {
    let mut next = head + 1;
    events
        .into_iter()
        .filter(|(_, e)| {
            let extends = e.device_id == device && e.seq == next;
            next += u64::from(extends);
            extends
        })
        .collect()
}

/// Extends `chain` (through event `from` of `device`) over `events`, that
/// device's events from `from + 1` on, in order, and checks every proof of
/// that device among `proofs` that falls among them. A proof must close the
/// events when `must_sign`, when the device's key is `pinned`, or when the
/// device signs any of them (events of devices that never signed, from
/// before proofs, are taken as they come). Returns the chain after each
/// event, and the key that signed.
pub fn check_run(
    device: &str,
    mut chain: Chain,
    events: &[&Event],
    proofs: &[Proof],
    pinned: Option<[u8; 32]>,
    must_sign: bool,
) -> std::result::Result<(Vec<Chain>, Option<[u8; 32]>), String> {
    let mine: Vec<&Proof> = proofs.iter().filter(|p| p.device_id == device).collect();
    let mut chains = Vec::with_capacity(events.len());
    let mut key = pinned;
    for e in events {
        chain = chain.then(e);
        chains.push(chain);
        for p in mine.iter().filter(|p| p.seq == e.seq) {
            if key.is_some_and(|k| k != p.key) {
                return Err(format!(
                    "event {} of device {device} is signed with another key than its own",
                    e.seq
                ));
            }
            if !p.holds_for(&chain) {
                return Err(format!("the signature at event {} of device {device} does not hold", e.seq));
            }
            key = Some(p.key);
        }
    }
    if let Some(last) = events.last()
        && (must_sign || key.is_some() || !mine.is_empty())
        && !mine.iter().any(|p| p.seq == last.seq)
    {
        return Err(format!("events of device {device} up to {} come without their signature", last.seq));
    }
    Ok((chains, key))
}

impl Store {
    /// This device's signing key, made on first use.
    pub fn signing_key(&self) -> Result<SigningKey> {
        let stored: Option<Vec<u8>> =
            self.conn().query_row("SELECT signing_key FROM device", [], |r| r.get(0)).optional()?.flatten();
        if let Some(seed) = stored.and_then(|s| <[u8; 32]>::try_from(s).ok()) {
            return Ok(SigningKey::from_bytes(&seed));
        }
        self.device()?;
        let seed = Store::fresh_signing_seed()?;
        self.conn().execute("UPDATE device SET signing_key = ?1 WHERE signing_key IS NULL", [&seed[..]])?;
        let seed: Vec<u8> = self.conn().query_row("SELECT signing_key FROM device", [], |r| r.get(0))?;
        let seed: [u8; 32] = seed
            .try_into()
            .map_err(|_| Error::BadKey { what: "this laptop's signing key is damaged".into() })?;
        Ok(SigningKey::from_bytes(&seed))
    }

    /// A new signing key's seed, for a copy that goes on as a new laptop.
    pub fn fresh_signing_seed() -> Result<[u8; 32]> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed)
            .map_err(|e| Error::BadKey { what: format!("no randomness for a new key: {e}") })?;
        Ok(seed)
    }

    /// This device's public key, hex, as the hub registers it at enrolment.
    pub fn public_key_hex(&self) -> Result<String> {
        Ok(hex::encode(self.signing_key()?.verifying_key().to_bytes()))
    }
}

/// Device `device`'s chain through its event `seq`, from the nearest mark
/// kept before it and the events stored after that mark.
pub(crate) fn chain_at(conn: &rusqlite::Connection, device: &str, seq: u64) -> Result<Chain> {
    let mark: Option<(i64, Vec<u8>)> = conn
        .prepare_cached(
            "SELECT seq, digest FROM chain_marks WHERE device_id = ?1 AND seq <= ?2 ORDER BY seq DESC LIMIT 1",
        )?
        .query_row((device, seq as i64), |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let (from, mut chain) = match mark.and_then(|(s, d)| Some((s as u64, Chain(d.try_into().ok()?)))) {
        Some(mark) => mark,
        None => (0, Chain::start(device)),
    };
    if from == seq {
        return Ok(chain);
    }
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {EVENT_COLUMNS} FROM events WHERE device_id = ?1 AND seq > ?2 AND seq <= ?3 ORDER BY seq"
    ))?;
    for e in stmt.query_map((device, from as i64, seq as i64), read_event)? {
        chain = chain.then(&e??);
    }
    Ok(chain)
}

/// Keeps `chain` as device `device`'s chain through its event `seq`.
pub(crate) fn mark(conn: &rusqlite::Connection, device: &str, seq: u64, chain: &Chain) -> Result<()> {
    conn.prepare_cached("INSERT OR REPLACE INTO chain_marks (device_id, seq, digest) VALUES (?1, ?2, ?3)")?
        .execute((device, seq as i64, &chain.0[..]))?;
    Ok(())
}

/// The key pinned for `device`, if one was seen.
pub(crate) fn pinned_key(conn: &rusqlite::Connection, device: &str) -> Result<Option<[u8; 32]>> {
    let key: Option<Vec<u8>> = conn
        .prepare_cached("SELECT public_key FROM device_keys WHERE device_id = ?1")?
        .query_row([device], |r| r.get(0))
        .optional()?;
    Ok(key.and_then(|k| k.try_into().ok()))
}

/// Pins `key` for `device`.
pub(crate) fn pin_key(conn: &rusqlite::Connection, device: &str, key: &[u8; 32]) -> Result<()> {
    conn.prepare_cached("INSERT OR IGNORE INTO device_keys (device_id, public_key) VALUES (?1, ?2)")?
        .execute((device, &key[..]))?;
    Ok(())
}

/// The public key of a signing seed, hex.
pub fn public_key_hex(seed: &[u8; 32]) -> String {
    hex::encode(SigningKey::from_bytes(seed).verifying_key().to_bytes())
}

/// A public key from its hex, if it is an Ed25519 key.
pub fn parse_public_key(hex_key: &str) -> Option<[u8; 32]> {
    let key: [u8; 32] = hex::decode(hex_key).ok()?.try_into().ok()?;
    VerifyingKey::from_bytes(&key).is_ok().then_some(key)
}
