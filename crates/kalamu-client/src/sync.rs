//! Enrolment and one sync run: push what the hub lacks, then pull what this
//! laptop lacks, one acknowledged batch at a time.
//!
//! Every batch is stored (and acknowledged) before the next is sent, so a
//! run cut at any point resumes from the last acknowledged batch: the next
//! run starts from what the hub acknowledged.

use std::time::Duration;

use kalamu_core::Store;
use kalamu_core::sync::protocol::PullRequest;
use kalamu_core::sync::{Batch, VersionVector};
use serde::Serialize;

use crate::error::{ClientError, Result};
use crate::http::HubClient;

/// Events per batch: about 50 KB on the wire, well within every limit.
pub const BATCH_EVENTS: usize = 5_000;
/// Default time a request may take before the link counts as cut.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Acknowledged batches after which the hub's vector is noted durably…
const NOTE_EVERY: usize = 8;
/// …or time, whichever comes first.
const NOTE_AFTER: Duration = Duration::from_secs(1);

/// What a sync run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SyncReport {
    /// Events sent that the hub did not have.
    pub pushed: u64,
    /// Events received that this laptop did not have.
    pub pulled: u64,
    /// Batches acknowledged, both ways.
    pub batches: u64,
    /// Events still waiting for the hub (0 after a complete run).
    pub pending: u64,
    /// This laptop's clock minus the hub's, in ms, as seen at the start.
    pub clock_offset_ms: i64,
    /// The hub holds events under this laptop's own id that it did not
    /// record, or other events under the sequence numbers it recorded: another
    /// copy of this laptop's disk is in use (a cloned disk, or a store restored
    /// from a backup). This laptop goes on recording and receiving; its events
    /// that clash wait, and staff should enrol one copy again as a new laptop.
    pub identity_clash: bool,
    /// Set when receiving stopped to keep disk space for learners' own
    /// work: what is free and what is kept. The next sync goes on.
    pub waiting_for_space: Option<kalamu_core::store::space::Room>,
}

/// Room a pulled batch may take in the store, at most, before it is decoded.
const PULL_HEADROOM: u64 = 8 << 20;

/// Room an event takes in the store at most: its text plus the row and
/// indexes around it, four times over (in the write-ahead log, in the
/// database, and the pages around both).
fn stored_size(e: &kalamu_core::progress::event::Event) -> u64 {
    4 * (256 + e.id.len() as u64 + e.lesson_id.len() as u64 + body_size(&e.body))
}

/// How many of the first events of `batch` fit in `room` and still leave
/// the reserve free. Each device's events stay gap-free: a batch holds each
/// device's events together, in order, so a prefix cuts at most one run.
fn fitting(batch: &Batch, room: &kalamu_core::store::space::Room) -> usize {
    let mut used = 0;
    batch
        .events
        .iter()
        .take_while(|e| {
            used += stored_size(e);
            room.allows(used)
        })
        .count()
}

fn body_size(body: &kalamu_core::progress::event::EventBody) -> u64 {
    serde_json::to_vec(body).map_or(0, |b| b.len() as u64)
}

/// A name staff will recognise this laptop by: its host name.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "laptop".to_owned())
}

/// Enrols this laptop with a hub using a one-time code from the center's staff.
///
/// A copy of another laptop's disk (it saw its identity in use elsewhere)
/// joins as a new laptop, with a new id: what only this copy recorded goes
/// with it, and reaches the hub at the next sync.
pub async fn enroll(
    store: &Store,
    hub_url: &str,
    code: &str,
    device_name: &str,
) -> Result<kalamu_core::sync::HubLink> {
    join(store, hub_url, code, device_name, false).await
}

/// Enrols this laptop as a new laptop, with a new id and key, whatever it
/// was before: how staff take back a laptop they revoked. What it recorded
/// that the hub never acknowledged goes with it.
pub async fn enroll_as_new(
    store: &Store,
    hub_url: &str,
    code: &str,
    device_name: &str,
) -> Result<kalamu_core::sync::HubLink> {
    join(store, hub_url, code, device_name, true).await
}

async fn join(
    store: &Store,
    hub_url: &str,
    code: &str,
    device_name: &str,
    as_new: bool,
) -> Result<kalamu_core::sync::HubLink> {
    let client = HubClient::new(hub_url, None, DEFAULT_TIMEOUT)?;
    let copy = as_new || store.identity_clash()?;
    let (device_id, seed) = if copy {
        (kalamu_core::progress::event::fresh_device_id(), Some(Store::fresh_signing_seed()?))
    } else {
        (store.device()?.id, None)
    };
    let device_key = match &seed {
        Some(seed) => kalamu_core::sync::proof::public_key_hex(seed),
        None => store.public_key_hex()?,
    };
    let (answer, hub) = client.enroll(code, &device_id, device_name, &device_key).await?;
    match seed {
        Some(seed) => store.continue_as_new_laptop(&device_id, &seed, &hub, &answer).map(drop)?,
        None => store.set_hub_link(&hub, &answer)?,
    }
    Ok(store.require_hub_link()?)
}

/// One full sync with the hub this laptop is enrolled with.
///
/// It pushes from what the hub last acknowledged holding, without asking
/// first: one round trip fewer on every sync. Should the hub hold less than
/// that (restored from a backup, or replaced), it refuses the first batch as
/// a gap or says so in its pull answer; the run then asks what it holds and
/// pushes again, once.
pub async fn sync(
    store: &Store,
    timeout: Duration,
    mut progress: impl FnMut(&SyncReport),
) -> Result<SyncReport> {
    let link = store.require_hub_link()?;
    let client = HubClient::pinned(&link.address(), Some(link.device_token.clone()), timeout)?;
    let mut report = SyncReport::default();
    let mut theirs = store.hub_vector()?;
    let mut asked = false;
    report.identity_clash = store.identity_clash()?;
    loop {
        if report.identity_clash {
            // A copy of this laptop's identity syncs elsewhere: sending would
            // take its sequence numbers. Receiving goes on.
            pull(store, &client, &link.hub_url, &mut report, &mut progress).await?;
            break;
        }
        match push(store, &client, &mut theirs, &mut report, &mut progress).await {
            Err(e) if e.wire_code() == Some(kalamu_core::sync::WireCode::SyncGap) && !asked => {
                theirs = ask(store, &client, &mut report).await?;
                asked = true;
                continue;
            }
            // This laptop sends only its own events: the hub holding others
            // under the same numbers means another copy of this disk synced.
            Err(e) if e.wire_code() == Some(kalamu_core::sync::WireCode::SyncConflict) => {
                // The hub names the first event it holds otherwise: this copy's own history starts there.
                let from = match e {
                    ClientError::Refused { seq: Some(seq), .. } => seq,
                    _ => theirs.get(&store.device()?.id) + 1,
                };
                store.note_identity_clash(from)?;
                report.identity_clash = true;
                continue;
            }
            pushed => pushed?,
        }
        let behind = pull(store, &client, &link.hub_url, &mut report, &mut progress).await?;
        if !behind || asked {
            break;
        }
        theirs = ask(store, &client, &mut report).await?;
        asked = true;
    }
    report.pending = store.pending()?;
    store.mark_synced()?;
    rotate_token(store, &client).await;
    Ok(report)
}

/// Offers the hub this laptop's next credential when it is time, and
/// switches to it once the hub has it. A failure changes nothing that
/// matters: the current credential still works, and the same next one is
/// offered at the next sync.
async fn rotate_token(store: &Store, client: &HubClient) {
    let Ok(Some(next)) = store.token_to_offer() else { return };
    if client.offer_token(&kalamu_core::sync::bundle::token_hash(&next)).await.is_ok() {
        let _ = store.adopt_token(&next);
    }
}

/// Asks the hub what it holds.
async fn ask(store: &Store, client: &HubClient, report: &mut SyncReport) -> Result<VersionVector> {
    let start = kalamu_core::store::now_millis();
    let answer = client.vector().await?;
    report.clock_offset_ms = start - answer.hub_time_ms;
    store.note_hub_vector(&answer.vector)?;
    if let Some(key) = &answer.hub_bundle_key {
        store.learn_bundle_key(key)?;
    }
    Ok(answer.vector)
}

/// Pushes what a hub holding `theirs` lacks, raising `theirs` with each acknowledgement.
async fn push(
    store: &Store,
    client: &HubClient,
    theirs: &mut VersionVector,
    report: &mut SyncReport,
    progress: &mut impl FnMut(&SyncReport),
) -> Result<()> {
    // A second connection to the store reads and encodes the next batches
    // while the hub stores the current one (two batches ahead at most, so
    // memory stays bounded). The run is bounded by what was pending when it
    // began, plus slack for events recorded meanwhile.
    let rounds = theirs.lacks_from(&store.own_vector()?) / BATCH_EVENTS as u64 + 4;
    let (sender, mut batches) = tokio::sync::mpsc::channel(2);
    let reader = {
        let (dir, from) = (store.dir().to_owned(), theirs.clone());
        std::thread::spawn(move || encode_batches(&dir, from, rounds, &sender))
    };
    let (mut unnoted, mut noted_at) = (0, std::time::Instant::now());
    let pushed = async {
        while let Some(next) = batches.recv().await {
            let ack = client.push(next?).await?;
            for (device, seq) in &ack.vector.0 {
                theirs.raise(device, *seq);
            }
            report.pushed += ack.new as u64;
            report.batches += 1;
            report.pending = theirs.lacks_from(&store.own_vector()?);
            // Noting the hub's vector costs a durable write; it only feeds the
            // pending count and the next run's start, so it is batched: every
            // 8 batches on a fast link, every second on a slow one, so that a
            // laptop switched off mid-sync sends again about a second's worth.
            unnoted += 1;
            if unnoted == NOTE_EVERY || noted_at.elapsed() >= NOTE_AFTER {
                store.note_hub_vector(theirs)?;
                (unnoted, noted_at) = (0, std::time::Instant::now());
            }
            progress(report);
        }
        Ok(())
    }
    .await;
    drop(batches);
    let _ = reader.join();
    store.note_hub_vector(theirs)?;
    pushed
}

/// Pulls everything this laptop lacks from the hub, however many rounds it takes;
/// returns whether the hub says this laptop holds events it lacks.
async fn pull(
    store: &Store,
    client: &HubClient,
    url: &str,
    report: &mut SyncReport,
    progress: &mut impl FnMut(&SyncReport),
) -> Result<bool> {
    // Until the hub says it has no more: each answer must bring events this
    // laptop lacks (checked below), so the loop ends.
    let mut behind = false;
    let reserve = store.reserve()?;
    // This laptop's own events come back only from another copy of it: not
    // noted as held by the hub, so what this copy recorded still counts as waiting.
    let own = store.device()?.id;
    loop {
        let room = store.room_keeping(reserve)?;
        if !room.allows(PULL_HEADROOM) {
            report.waiting_for_space = Some(room);
            break;
        }
        let request = PullRequest { vector: store.sync_vector()?, limit: BATCH_EVENTS };
        let start = kalamu_core::store::now_millis();
        let answer = client.pull(&request).await?;
        if let Some(hub_time) = answer.hub_time_ms {
            report.clock_offset_ms = start - hub_time;
        }
        behind |= answer.behind;
        let batch = Batch::decode_frames(&answer.batches)?;
        if batch.events.iter().any(|e| e.seq <= request.vector.get(&e.device_id)) {
            return Err(ClientError::Protocol {
                url: url.to_owned(),
                detail: "it sent events this laptop already holds".into(),
            });
        }
        let room = store.room_keeping(reserve)?;
        let keep = fitting(&batch, &room);
        let cut = keep < batch.events.len();
        if cut {
            report.waiting_for_space = Some(room);
        }
        let applied = store.apply_prefix(&batch, keep)?;
        let mut held = VersionVector::default();
        for e in batch.events[..keep].iter().filter(|e| e.device_id != own) {
            held.raise(&e.device_id, e.seq);
        }
        // The hub sent these, so it holds them.
        store.note_hub_vector(&held)?;
        report.pulled += applied.new as u64;
        if applied.not_recorded_here > 0 && !report.identity_clash {
            // Everything this copy pushed, the hub acknowledged as it is here.
            store.note_identity_clash(store.hub_vector()?.get(&own) + 1)?;
            report.identity_clash = true;
        }
        report.batches += 1;
        progress(report);
        // Nothing new (only events refused as not recorded here): asking again would bring the same.
        if cut || !answer.more || applied.new == 0 {
            break;
        }
    }
    Ok(behind)
}

/// Reads and encodes the batches of this laptop's own events a hub holding `from` lacks, in order, until
/// none are left, `rounds` are sent, or the receiver is gone.
fn encode_batches(
    dir: &std::path::Path,
    mut from: VersionVector,
    rounds: u64,
    sender: &tokio::sync::mpsc::Sender<Result<Vec<u8>>>,
) {
    let store = match Store::open_dir(dir) {
        Ok(store) => store,
        Err(e) => {
            let _ = sender.blocking_send(Err(e.into()));
            return;
        }
    };
    for _ in 0..rounds {
        let batch = match store.own_batch_after(&from, BATCH_EVENTS) {
            Ok(batch) if batch.events.is_empty() => return,
            Ok(batch) => batch,
            Err(e) => {
                let _ = sender.blocking_send(Err(e.into()));
                return;
            }
        };
        for e in &batch.events {
            from.raise(&e.device_id, e.seq);
        }
        if sender.blocking_send(Ok(batch.encode())).is_err() {
            return;
        }
    }
}
