//! The sync wire format: a batch of events and the learners they belong to,
//! as zstd-compressed JSON laid out by column.
//!
//! Columns (every id in one list, every stamp as a difference from the one
//! before, strings once in a table) let zstd find the repetition between
//! events; a batch of progress events costs about 20 bytes per event on the
//! wire. Decoding treats the bytes as hostile: sizes are capped before and
//! after decompression, and every field is checked before anything is stored.

use std::collections::HashMap;
use std::io::Read;

use serde::{Deserialize, Serialize};

use super::proof::Proof;
use crate::progress::event::{Event, EventBody, IdDeriver, is_derived_form};
use crate::progress::hlc::Hlc;
use crate::{Error, Result};

/// Most events in one batch.
pub const MAX_BATCH_EVENTS: usize = 20_000;
/// Most bytes of one compressed batch.
pub const MAX_BATCH_BYTES: usize = 8 << 20;
/// Most bytes of one batch once decompressed.
pub const MAX_BATCH_RAW_BYTES: u64 = 64 << 20;
/// Most bytes of a pull answer: a batch's worth, plus the length before each batch in it.
pub const MAX_PULL_BYTES: usize = MAX_BATCH_BYTES + (1 << 20);
/// Most learners one pushed batch may describe: a laptop cannot flood its
/// center's learner lists (a sender cuts its batches to fit).
pub const MAX_PUSH_LEARNERS: usize = 256;
/// Longest id, name or path string in a batch.
const MAX_STRING: usize = 200;
const FORMAT: u32 = 1;
const ZSTD_LEVEL: i32 = 3;

/// A learner as it travels with their events, so a learner can sign in on
/// another laptop (with the same PIN, if they have one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LearnerRecord {
    /// Stable id (UUID).
    pub id: String,
    /// Display name.
    pub name: String,
    /// When the learner was created (unix ms).
    pub created_at: i64,
    /// The keyed PIN hash, if the learner has a PIN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin_hash: Option<String>,
}

/// Events and the learners they refer to.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Batch {
    /// Every learner an event of the batch refers to.
    pub learners: Vec<LearnerRecord>,
    /// Events, each device's in sequence order.
    pub events: Vec<Event>,
    /// The recording devices' signatures over their chains, at least at
    /// each device's last event in the batch ([`super::proof`]).
    pub proofs: Vec<Proof>,
}

/// A proof as it travels: the device by its index in the strings.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireProof {
    device: u32,
    seq: u64,
    key: String,
    signature: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Columns {
    format: u32,
    learners: Vec<LearnerRecord>,
    /// Device, pack and lesson ids, each once.
    strings: Vec<String>,
    id: Vec<String>,
    learner: Vec<u32>,
    device: Vec<u32>,
    /// Sequence number minus the previous event's.
    seq: Vec<i64>,
    /// Stamp minus the previous event's.
    hlc: Vec<i64>,
    pack: Vec<u32>,
    lesson: Vec<u32>,
    body: Vec<EventBody>,
    #[serde(default)]
    proofs: Vec<WireProof>,
}

/// The same columns, borrowed from a batch for encoding without copies.
#[derive(Serialize)]
struct ColumnsOut<'a> {
    format: u32,
    learners: &'a [LearnerRecord],
    strings: Vec<&'a str>,
    id: Vec<Undashed<'a>>,
    learner: Vec<u32>,
    device: Vec<u32>,
    seq: Vec<i64>,
    hlc: Vec<i64>,
    pack: Vec<u32>,
    lesson: Vec<u32>,
    body: Vec<&'a EventBody>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    proofs: Vec<WireProof>,
}

/// A UUID written without its hyphens (they cost zstd about 2 bytes per event),
/// straight into the output without a copy.
struct Undashed<'a>(&'a str);

impl std::fmt::Display for Undashed<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.split('-').try_for_each(|part| f.write_str(part))
    }
}

impl Serialize for Undashed<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl Batch {
    /// Compressed wire bytes of this batch.
    pub fn encode(&self) -> Vec<u8> {
        let learner_index: HashMap<&str, u32> =
            self.learners.iter().enumerate().map(|(i, l)| (l.id.as_str(), i as u32)).collect();
        let mut strings = Interner::default();
        let n = self.events.len();
        let mut cols = ColumnsOut {
            format: FORMAT,
            learners: &self.learners,
            strings: Vec::new(),
            id: Vec::with_capacity(n),
            learner: Vec::with_capacity(n),
            device: Vec::with_capacity(n),
            seq: Vec::with_capacity(n),
            hlc: Vec::with_capacity(n),
            pack: Vec::with_capacity(n),
            lesson: Vec::with_capacity(n),
            body: Vec::with_capacity(n),
            proofs: Vec::new(),
        };
        let (mut prev_seq, mut prev_hlc) = (0i64, 0i64);
        let mut derivers: HashMap<&str, IdDeriver> = HashMap::new();
        for e in &self.events {
            // A derived id travels as nothing: the receiver derives it again.
            let derived = is_derived_form(&e.id) && {
                let deriver =
                    derivers.entry(e.device_id.as_str()).or_insert_with(|| IdDeriver::new(&e.device_id));
                deriver.id(e.seq) == e.id
            };
            cols.id.push(Undashed(if derived { "" } else { &e.id }));
            cols.learner.push(learner_index.get(e.learner_id.as_str()).copied().unwrap_or(u32::MAX));
            cols.device.push(strings.index(&e.device_id));
            cols.pack.push(strings.index(&e.pack_id));
            cols.lesson.push(strings.index(&e.lesson_id));
            cols.seq.push(e.seq as i64 - prev_seq);
            // Differences modulo 2^64: exact for every stamp, and never an
            // overflow, whatever a store holds (decoding refuses insane stamps).
            cols.hlc.push((e.hlc.0 as i64).wrapping_sub(prev_hlc));
            cols.body.push(&e.body);
            prev_seq = e.seq as i64;
            prev_hlc = e.hlc.0 as i64;
        }
        for p in &self.proofs {
            cols.proofs.push(WireProof {
                device: strings.index(&p.device_id),
                seq: p.seq,
                key: hex::encode(p.key),
                signature: hex::encode(p.signature),
            });
        }
        cols.strings = strings.list;
        let json = serde_json::to_vec(&cols).expect("batches serialize");
        zstd::bulk::compress(&json, ZSTD_LEVEL).expect("zstd compresses in memory")
    }

    /// Reads and checks a batch from wire bytes.
    pub fn decode(bytes: &[u8]) -> Result<Batch> {
        if bytes.len() > MAX_BATCH_BYTES {
            return Err(bad(format!(
                "{} bytes is more than the {} a batch may have",
                bytes.len(),
                MAX_BATCH_BYTES
            )));
        }
        let mut json = Vec::new();
        // One decompression context per thread: making one per batch costs
        // more than decoding a small batch (a hub decodes thousands a second).
        thread_local! {
            static DCTX: std::cell::RefCell<zstd::zstd_safe::DCtx<'static>> =
                std::cell::RefCell::new(zstd::zstd_safe::DCtx::create());
        }
        DCTX.with_borrow_mut(|dctx| {
            zstd::stream::read::Decoder::with_context(bytes, dctx)
                .take(MAX_BATCH_RAW_BYTES.min(max_expansion(bytes.len())) + 1)
                .read_to_end(&mut json)
        })
        .map_err(|e| bad(format!("it is not zstd data, or the compressed data is damaged ({e})")))?;
        if json.len() as u64 > MAX_BATCH_RAW_BYTES {
            return Err(bad(format!("it expands beyond {MAX_BATCH_RAW_BYTES} bytes")));
        }
        if json.len() as u64 > max_expansion(bytes.len()) {
            return Err(bad(format!(
                "its {} bytes expand to {}, more than real progress ever compresses",
                bytes.len(),
                json.len()
            )));
        }
        let cols: Columns = serde_json::from_slice(&json).map_err(|e| bad(format!("not a batch ({e})")))?;
        cols.into_batch()
    }
}

/// Most bytes `compressed` bytes may expand to: real batches of progress
/// compress about 25 to 1; a bomb of repeated text, thousands to 1.
fn max_expansion(compressed: usize) -> u64 {
    (1 << 20) + 256 * compressed as u64
}

/// Appends one encoded batch to a pull answer: its length (u32 LE), then its bytes.
pub fn append_frame(out: &mut Vec<u8>, batch: &[u8]) {
    out.extend_from_slice(&(batch.len() as u32).to_le_bytes());
    out.extend_from_slice(batch);
}

impl Batch {
    /// Reads and checks a pull answer (batches one after another, each after
    /// its length) as one batch: every batch's events in order, each learner once.
    pub fn decode_frames(mut bytes: &[u8]) -> Result<Batch> {
        if bytes.len() > MAX_PULL_BYTES {
            return Err(bad(format!(
                "{} bytes is more than the {MAX_PULL_BYTES} a pull may send",
                bytes.len()
            )));
        }
        let mut all = Batch::default();
        let mut known = std::collections::HashSet::new();
        while !bytes.is_empty() {
            let (len, rest) =
                bytes.split_first_chunk::<4>().ok_or_else(|| bad("it ends inside a length".into()))?;
            let len = u32::from_le_bytes(*len) as usize;
            let frame = rest.get(..len).ok_or_else(|| bad("it ends inside a batch".into()))?;
            bytes = &rest[len..];
            let batch = Batch::decode(frame)?;
            if all.events.len() + batch.events.len() > MAX_BATCH_EVENTS {
                return Err(bad(format!("it holds more than the {MAX_BATCH_EVENTS} events a pull may send")));
            }
            all.events.extend(batch.events);
            all.proofs.extend(batch.proofs);
            for l in batch.learners {
                if known.insert(l.id.clone()) {
                    all.learners.push(l);
                }
            }
        }
        Ok(all)
    }
}

impl Columns {
    fn into_batch(self) -> Result<Batch> {
        if self.format != FORMAT {
            return Err(bad(format!(
                "format {} is not one this Kalamu reads (it reads {FORMAT})",
                self.format
            )));
        }
        let n = self.id.len();
        if n > MAX_BATCH_EVENTS {
            return Err(bad(format!("{n} events is more than the {MAX_BATCH_EVENTS} a batch may have")));
        }
        let lens = [
            self.learner.len(),
            self.device.len(),
            self.seq.len(),
            self.hlc.len(),
            self.pack.len(),
            self.lesson.len(),
            self.body.len(),
        ];
        if lens.iter().any(|&l| l != n) {
            return Err(bad("its columns have different lengths".into()));
        }
        for l in &self.learners {
            check_uuid(&l.id, "learner id")?;
            let name_len = l.name.chars().count();
            if l.name.trim().is_empty() || name_len > crate::learner::MAX_NAME_CHARS {
                return Err(bad(format!("learner {} has no usable name", l.id)));
            }
            if let Some(h) = &l.pin_hash
                && !crate::pin::valid_hash(h)
            {
                return Err(bad(format!("learner {} has a malformed PIN hash", l.id)));
            }
        }
        for s in &self.strings {
            // Empty only as the pack and lesson of a learner's addition, checked with each event.
            if s.len() > MAX_STRING || s.chars().any(char::is_control) {
                return Err(bad(format!(
                    "the id {:?} is not usable",
                    s.chars().take(40).collect::<String>()
                )));
            }
        }
        let string = |i: u32| -> Result<String> {
            self.strings
                .get(i as usize)
                .cloned()
                .ok_or_else(|| bad(format!("string index {i} is out of range")))
        };
        let mut events = Vec::with_capacity(n);
        let mut derivers: HashMap<u32, IdDeriver> = HashMap::new();
        let (mut seq, mut hlc) = (0i64, 0i64);
        let mut body = self.body.into_iter();
        for i in 0..n {
            seq = seq.checked_add(self.seq[i]).ok_or_else(|| bad("a sequence number overflows".into()))?;
            hlc = hlc.wrapping_add(self.hlc[i]);
            if seq < 1 {
                return Err(bad(format!("event {} has sequence {seq}", self.id[i])));
            }
            if !Hlc(hlc as u64).is_sane() {
                return Err(Error::BadStamp { event: self.id[i].clone(), millis: Hlc(hlc as u64).millis() });
            }
            let learner = self.learners.get(self.learner[i] as usize).ok_or_else(|| {
                bad(format!("event {} refers to a learner the batch does not describe", self.id[i]))
            })?;
            let device_id = string(self.device[i])?;
            let deriver = derivers.entry(self.device[i]).or_insert_with(|| IdDeriver::new(&device_id));
            let id = if self.id[i].is_empty() {
                deriver.id(seq as u64)
            } else {
                let id = check_uuid(&self.id[i], "event id")?;
                // Nobody may claim the derived id of another event.
                if is_derived_form(&id) && id != deriver.id(seq as u64) {
                    return Err(bad(format!("event id {id} is not the id of event {seq} of its device")));
                }
                id
            };
            let body = body.next().expect("lengths checked");
            body.check().map_err(|why| Error::BadEvent { event: id.clone(), why })?;
            check_uuid(&device_id, "device id")?;
            let (pack_id, lesson_id) = (string(self.pack[i])?, string(self.lesson[i])?);
            let named = [&pack_id, &lesson_id].map(|s| !s.is_empty());
            let fits = if body == EventBody::LearnerAdded { named == [false; 2] } else { named == [true; 2] };
            if !fits {
                return Err(bad(format!("event {id} names no pack or lesson, or names one it cannot have")));
            }
            events.push(Event {
                id,
                learner_id: learner.id.clone(),
                device_id,
                seq: seq as u64,
                hlc: Hlc(hlc as u64),
                pack_id,
                lesson_id,
                body,
            });
        }
        let mut proofs = Vec::with_capacity(self.proofs.len());
        for p in &self.proofs {
            let key = hex::decode(&p.key).ok().and_then(|k| k.try_into().ok());
            let signature = hex::decode(&p.signature).ok().and_then(|s| s.try_into().ok());
            let (Some(key), Some(signature)) = (key, signature) else {
                return Err(bad(format!("the signature at event {} is malformed", p.seq)));
            };
            let device_id = string(p.device)?;
            check_uuid(&device_id, "device id")?;
            proofs.push(Proof { device_id, seq: p.seq, key, signature });
        }
        if proofs.len() > n + 1 {
            return Err(bad(format!("{} signatures for {n} events", proofs.len())));
        }
        Ok(Batch { learners: self.learners, events, proofs })
    }
}

/// Each distinct string once, by first appearance.
#[derive(Default)]
struct Interner<'a> {
    list: Vec<&'a str>,
    index: HashMap<&'a str, u32>,
}

impl<'a> Interner<'a> {
    fn index(&mut self, s: &'a str) -> u32 {
        let next = self.list.len() as u32;
        *self.index.entry(s).or_insert_with(|| {
            self.list.push(s);
            next
        })
    }
}

/// Parses a UUID in any of its usual spellings; returns the hyphenated form.
fn check_uuid(s: &str, what: &str) -> Result<String> {
    uuid::Uuid::try_parse(s)
        .map(|u| u.hyphenated().to_string())
        .map_err(|_| bad(format!("the {what} {:?} is not a UUID", s.chars().take(40).collect::<String>())))
}

fn bad(why: String) -> Error {
    Error::BadBatch(why)
}
