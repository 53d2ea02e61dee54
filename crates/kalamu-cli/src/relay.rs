//! A center's hub relaying to a country's: `kalamu hub upstream` links it
//! once, with a code the upper hub's staff made for that center; from then
//! on the serving hub sends up, by itself and with backoff like a laptop,
//! every event of the center's laptops the upper hub lacks (the stored runs,
//! each still signed by its laptop), and brings down the center's
//! revocations and required courses. The center's hub works the same
//! whether the uplink is there or not.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use kalamu_client::HubClient;
use kalamu_core::progress::event::Event;
use kalamu_core::sync::Batch;
use kalamu_core::sync::wire::{MAX_BATCH_EVENTS, MAX_PUSH_LEARNERS};
use kalamu_hub::storage::{Storage, Upstream};

/// Events sent up per round trip at most (about a batch).
const ROUND_EVENTS: usize = 5_000;
/// Longest wait between tries while the upper hub cannot be reached.
const MOST_BACKOFF: Duration = Duration::from_secs(300);

/// Links this hub's center `center` to the hub at `url` with a relay code; returns the upper center's name.
pub fn link(store: &dyn Storage, center: &str, url: &str, code: &str) -> Result<String> {
    let center = store.center(center)?;
    let seed = kalamu_core::Store::fresh_signing_seed()?;
    let device = kalamu_core::progress::event::fresh_device_id();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let (answer, hub) = runtime.block_on(async {
        let client = HubClient::new(url, None, Duration::from_secs(30))?;
        let name = format!("hub of {}", center.name);
        client.enroll(code, &device, &name, &kalamu_core::sync::proof::public_key_hex(&seed)).await
    })?;
    let now = kalamu_core::store::now_millis();
    store.set_upstream(&Upstream {
        center_id: center.id,
        hub,
        token: answer.device_token,
        linked_at: now,
    })?;
    Ok(answer.center_name)
}

/// Relays every `every` while the hub serves: sooner after new events, later (up to five minutes) while the upper hub is away.
pub async fn relay_forever(store: Arc<dyn Storage>, every: Duration) {
    let mut wait = every;
    loop {
        tokio::time::sleep(wait).await;
        match relay_once(store.clone()).await {
            Ok(sent) => {
                if sent > 0 {
                    tracing::info!("relayed {sent} events to the hub above");
                }
                wait = every;
            }
            Err(e) => {
                tracing::warn!(
                    "the hub above could not be reached: {e:#}; trying again in {} s",
                    wait.as_secs()
                );
                wait = (wait * 2).min(MOST_BACKOFF).max(every);
            }
        }
    }
}

/// One round: everything the upper hub lacks goes up, then its word comes down. Returns the events it took as new.
async fn relay_once(store: Arc<dyn Storage>) -> Result<u64> {
    let Some(link) = blocking(&store, |s| Ok(s.upstream()?)).await? else { return Ok(0) };
    let client = HubClient::pinned(&link.hub, Some(link.token.clone()), Duration::from_secs(60))?;
    let mut theirs = client.vector().await?.vector;
    let mut sent = 0;
    // A round reads about ROUND_EVENTS events the hub above lacks (whole
    // runs, signed) and sends them as one batch per laptop: memory holds one
    // round's worth whatever the backlog.
    loop {
        let (center, asked) = (link.center_id.clone(), theirs.clone());
        let round = blocking(&store, move |s| Ok(s.events_after(&center, &asked, ROUND_EVENTS)?)).await?;
        if round.events.is_empty() {
            break;
        }
        for batch in per_laptop(round) {
            let device = batch.events[0].device_id.clone();
            match client.push(batch.encode()).await {
                Ok(ack) => {
                    sent += ack.new as u64;
                    for (device, seq) in &ack.vector.0 {
                        theirs.raise(device, *seq);
                    }
                }
                Err(kalamu_client::ClientError::Refused { code, message, .. }) => {
                    // That laptop's events are refused above (revoked there, say): the others go on.
                    tracing::warn!("the hub above refused laptop {device}'s events ({code:?}): {message}");
                    theirs.raise(&device, u64::MAX);
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
    apply_down(&store, &link, client.relay_down().await?).await?;
    Ok(sent)
}

/// The upper hub's revocations and required courses, applied to the center here.
async fn apply_down(
    store: &Arc<dyn Storage>,
    link: &Upstream,
    down: kalamu_core::sync::protocol::RelayDown,
) -> Result<()> {
    let center = link.center_id.clone();
    blocking(store, move |s| {
        let now = kalamu_core::store::now_millis();
        for device in s.devices(Some(&center))? {
            if device.revoked_at.is_none() && down.revoked.contains(&device.id) {
                s.revoke(&device.id, now)?;
                tracing::info!("revoked laptop {} ({}), as the hub above did", device.id, device.name);
            }
        }
        let required = s.required(&center)?;
        for pack in down.required.iter().filter(|p| !required.contains(p)) {
            s.set_required(&center, pack, true)?;
        }
        Ok(())
    })
    .await
}

/// A round's events split by laptop, each with its learners and its
/// signatures, as the hub above takes them: a batch ends at a signature (the
/// end of a stored run) and holds at most a batch's events.
fn per_laptop(round: Batch) -> Vec<Batch> {
    let signed: std::collections::HashSet<(&str, u64)> =
        round.proofs.iter().map(|p| (p.device_id.as_str(), p.seq)).collect();
    // Cut after each signed event where the laptop changes or the next run would not fit.
    let mut runs: Vec<Vec<Event>> = Vec::new();
    let mut run = Vec::new();
    for e in round.events.iter() {
        let end = signed.contains(&(e.device_id.as_str(), e.seq));
        run.push(e.clone());
        if end {
            runs.push(std::mem::take(&mut run));
        }
    }
    if !run.is_empty() {
        runs.push(run);
    }
    // A batch also names at most as many learners as a push may describe.
    let mut out: Vec<(Vec<Event>, std::collections::HashSet<String>)> = Vec::new();
    for run in runs {
        let named: std::collections::HashSet<String> = run.iter().map(|e| e.learner_id.clone()).collect();
        match out.last_mut() {
            Some((b, seen))
                if b[0].device_id == run[0].device_id
                    && b.len() + run.len() <= MAX_BATCH_EVENTS
                    && seen.union(&named).count() <= MAX_PUSH_LEARNERS =>
            {
                b.extend(run);
                seen.extend(named);
            }
            _ => out.push((run, named)),
        }
    }
    out.into_iter()
        .map(|(events, _)| {
            let device = events[0].device_id.clone();
            let (first, last) = (events[0].seq, events[events.len() - 1].seq);
            let named: std::collections::HashSet<&str> =
                events.iter().map(|e| e.learner_id.as_str()).collect();
            let learners = round.learners.iter().filter(|l| named.contains(l.id.as_str())).cloned().collect();
            let proofs = round
                .proofs
                .iter()
                .filter(|p| p.device_id == device && p.seq >= first && p.seq <= last)
                .cloned()
                .collect();
            Batch { learners, events, proofs }
        })
        .collect()
}

/// Runs a storage call off the async threads.
async fn blocking<T: Send + 'static>(
    store: &Arc<dyn Storage>,
    f: impl FnOnce(&dyn Storage) -> Result<T> + Send + 'static,
) -> Result<T> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || f(store.as_ref()))
        .await
        .context("the relay's storage call stopped")?
}
