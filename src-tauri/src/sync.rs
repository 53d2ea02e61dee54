//! Sync by itself: a background thread that syncs with the hub whenever
//! there is something to send, retries with exponential backoff and jitter
//! when the hub is away, checks cheaply whether the hub answers again (and
//! syncs at once when it does), and tells the window what is pending.

use std::path::PathBuf;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use kalamu_client::HubClient;
use kalamu_core::Store;
use serde::Serialize;
use tauri::{AppHandle, Emitter};

/// How often a healthy laptop syncs when nothing new happens.
const EVERY: Duration = Duration::from_secs(120);
/// A recorded event is sent after this pause, so a burst of clicks makes one sync.
const SETTLE: Duration = Duration::from_secs(2);
/// While the hub is away, how often to check whether it answers again.
const PROBE: Duration = Duration::from_secs(3);
/// Backoff between full sync attempts: from the first value, doubling, up to the second.
const BACKOFF: (Duration, Duration) = (Duration::from_secs(2), Duration::from_secs(300));

/// What the status bar shows.
#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS), ts(export))]
pub struct SyncStatus {
    /// Whether this laptop is enrolled with a hub.
    pub enrolled: bool,
    /// The center's name.
    pub center: Option<String>,
    /// The hub's address.
    pub hub_url: Option<String>,
    /// A sync is running now.
    pub syncing: bool,
    /// Events the hub has not acknowledged.
    pub pending: u64,
    /// When the last sync finished (unix ms).
    pub last_sync_at: Option<i64>,
    /// The last failure, if the last attempt failed.
    pub error: Option<SyncError>,
    /// Seconds until the next full attempt, while failing.
    pub retry_in_s: Option<u64>,
    /// Set when the last sync stopped receiving to keep disk space for learners' work.
    pub low_space: Option<LowSpace>,
    /// The hub holds events under this laptop's identity that it did not
    /// record: another copy of this laptop's disk is in use.
    pub identity_clash: bool,
}

/// Disk space when receiving stopped, in MB.
#[derive(Debug, Clone, Copy, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS), ts(export))]
pub struct LowSpace {
    /// Free.
    pub free_mb: u64,
    /// Kept for learners' own work.
    pub reserve_mb: u64,
}

/// A failed sync, with a stable code for the UI to pick its words by.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS), ts(export))]
pub struct SyncError {
    /// Stable code (`unreachable`, `revoked`, …).
    pub code: String,
    /// The technical sentence, for staff.
    pub message: String,
}

/// The window's handle on the sync thread.
pub struct SyncHandle {
    nudge: Mutex<mpsc::Sender<Nudge>>,
    status: Mutex<SyncStatus>,
}

enum Nudge {
    /// Something was recorded: sync soon.
    Recorded,
    /// The learner asked: sync now.
    Now,
}

impl SyncHandle {
    /// Starts the sync thread over its own connection to the store in `dir`.
    pub fn start(app: AppHandle, dir: Option<PathBuf>) -> std::sync::Arc<SyncHandle> {
        let (nudge, nudges) = mpsc::channel();
        let handle = std::sync::Arc::new(SyncHandle {
            nudge: Mutex::new(nudge),
            status: Mutex::new(SyncStatus::default()),
        });
        if let Some(dir) = dir {
            let h = handle.clone();
            let _ = std::thread::Builder::new()
                .name("kalamu-sync".into())
                .spawn(move || run(&app, &h, &dir, nudges));
        }
        handle
    }

    /// Something was recorded.
    pub fn recorded(&self) {
        let _ = self.nudge.lock().unwrap_or_else(PoisonError::into_inner).send(Nudge::Recorded);
    }

    /// Sync now (the learner pressed the button, or the laptop was just enrolled).
    pub fn now(&self) {
        let _ = self.nudge.lock().unwrap_or_else(PoisonError::into_inner).send(Nudge::Now);
    }

    /// The status as last published.
    pub fn status(&self) -> SyncStatus {
        self.status.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn publish(&self, app: &AppHandle, status: SyncStatus) {
        *self.status.lock().unwrap_or_else(PoisonError::into_inner) = status.clone();
        let _ = app.emit(crate::names::SYNC_STATUS, status);
    }
}

fn run(app: &AppHandle, handle: &SyncHandle, dir: &std::path::Path, nudges: mpsc::Receiver<Nudge>) {
    let Ok(store) = Store::open_dir(dir) else { return };
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
    let mut failures = 0u32;
    let mut wait = Duration::ZERO;
    // Building a client loads the TLS roots; the probe, every few seconds while
    // the hub is away (possibly for days), keeps one.
    let mut probe: Option<HubClient> = None;
    loop {
        // Wait for the time to come, a nudge, or (while failing) the hub answering again.
        let deadline = Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let slice = if failures > 0 { left.min(PROBE) } else { left };
            match nudges.recv_timeout(slice) {
                Ok(Nudge::Now) => break,
                Ok(Nudge::Recorded) => {
                    // Show the new pending count at once, then let a burst of
                    // records settle into one sync.
                    let status = handle.status();
                    handle.publish(
                        app,
                        SyncStatus { pending: store.pending().unwrap_or(status.pending), ..status },
                    );
                    std::thread::sleep(SETTLE);
                    while nudges.try_recv().is_ok() {}
                    break;
                }
                Err(RecvTimeoutError::Disconnected) => return,
                Err(RecvTimeoutError::Timeout) => {
                    if failures > 0 && hub_answers(&store, &runtime, &mut probe) {
                        break;
                    }
                }
            }
        }
        let mut status = base_status(&store);
        if !status.enrolled {
            handle.publish(app, status);
            failures = 0;
            wait = EVERY;
            continue;
        }
        handle.publish(app, SyncStatus { syncing: true, ..status.clone() });
        let result = runtime.block_on(kalamu_client::sync(&store, Duration::from_secs(30), |report| {
            handle.publish(app, SyncStatus { syncing: true, pending: report.pending, ..status.clone() });
        }));
        status = base_status(&store);
        match result {
            Ok(report) => {
                status.identity_clash = report.identity_clash;
                status.low_space = report
                    .waiting_for_space
                    .map(|r| LowSpace { free_mb: r.free >> 20, reserve_mb: r.reserve.div_ceil(1 << 20) });
                failures = 0;
                wait = EVERY;
                keep_up(app, dir);
            }
            Err(e) => {
                failures = failures.saturating_add(1);
                wait = backoff(failures);
                status.retry_in_s = Some(wait.as_secs());
                status.error = Some(SyncError { code: e.code().to_owned(), message: e.to_string() });
            }
        }
        handle.publish(app, status);
    }
}

/// Fetches the courses the center requires, on a thread of its own so a
/// long download never holds up progress reaching the hub; one at a time.
fn keep_up(app: &AppHandle, dir: &std::path::Path) {
    static RUNNING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if RUNNING.swap(true, std::sync::atomic::Ordering::AcqRel) {
        return;
    }
    let (app, dir) = (app.clone(), dir.to_owned());
    let spawned = std::thread::Builder::new().name("kalamu-courses".into()).spawn(move || {
        if let (Ok(store), Ok(runtime)) =
            (Store::open_dir(&dir), tokio::runtime::Builder::new_current_thread().enable_all().build())
        {
            match runtime.block_on(kalamu_client::download::keep_up(&store, |_, _| {})) {
                Ok(kept) => {
                    if !kept.fetched.is_empty() {
                        // The library shows the course without anyone asking.
                        let _ = app.emit(crate::names::LIBRARY_CHANGED, ());
                    }
                    for (id, e) in kept.failed {
                        eprintln!("kalamu-app: the required course {id} is not installed yet: {e}");
                    }
                }
                Err(e) => eprintln!("kalamu-app: the center's required courses were not checked: {e}"),
            }
        }
        RUNNING.store(false, std::sync::atomic::Ordering::Release);
    });
    if spawned.is_err() {
        RUNNING.store(false, std::sync::atomic::Ordering::Release);
    }
}

/// The status that needs no network: enrolment, pending count, last sync.
fn base_status(store: &Store) -> SyncStatus {
    let link = store.hub_link().ok().flatten();
    SyncStatus {
        enrolled: link.is_some(),
        center: link.as_ref().map(|l| l.center_name.clone()),
        hub_url: link.as_ref().map(|l| l.hub_url.clone()),
        pending: store.pending().unwrap_or(0),
        last_sync_at: link.and_then(|l| l.last_sync_at),
        ..SyncStatus::default()
    }
}

/// A cheap check that the hub is there again, reusing the probe's client while the hub's address stays.
fn hub_answers(store: &Store, runtime: &tokio::runtime::Runtime, probe: &mut Option<HubClient>) -> bool {
    let Ok(Some(link)) = store.hub_link() else { return false };
    if probe.as_ref().is_none_or(|c| c.url() != link.hub_url.trim_end_matches('/')) {
        *probe = HubClient::new(&link.hub_url, None, Duration::from_secs(3)).ok();
    }
    probe.as_ref().is_some_and(|client| runtime.block_on(client.health()).is_ok())
}

/// Exponential backoff with jitter: 2 s, 4 s, 8 s … up to 5 min, each
/// scaled by a random factor in [0.5, 1) so a room of laptops does not
/// come back at the same instant.
fn backoff(failures: u32) -> Duration {
    let (base, cap) = BACKOFF;
    let full = base.saturating_mul(1u32 << failures.saturating_sub(1).min(16)).min(cap);
    let mut byte = [0u8; 1];
    let _ = getrandom::fill(&mut byte);
    full.mul_f64(0.5 + f64::from(byte[0]) / 512.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_stops_at_the_cap() {
        for (failures, full) in [(1, 2.0), (2, 4.0), (3, 8.0), (9, 300.0), (40, 300.0)] {
            for _ in 0..20 {
                let d = backoff(failures).as_secs_f64();
                assert!(d >= full * 0.5 && d < full, "{failures}: {d}");
            }
        }
    }
}
