//! Courses from the hub: what it offers next to what this laptop holds, and
//! a download that resumes where it stopped (a cut link, a sleeping laptop,
//! a closed app) and installs through the very import a USB stick's pack
//! goes through, so nothing is installed unless every byte checks out and
//! the laptop's own trust rules allow it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use kalamu_core::Store;
use kalamu_core::pack::Progress;
use kalamu_core::pack::arriving::Offered;
use kalamu_core::pack::import::{ImportOptions, ImportReport};
use kalamu_core::sync::protocol::CatalogEntry;
use serde::Serialize;

use crate::error::{ClientError, Result};
use crate::growing::{GrowingReader, Growth};
use crate::http::HubClient;

/// The largest patch a laptop takes in memory (the hub makes none larger).
const PATCH_LIMIT: u64 = 320 << 20;
/// A required course that failed is tried again after this long.
const RETRY_AFTER: Duration = Duration::from_secs(3600);

/// A read that waits this long for the next bytes counts the link as cut.
const STALL: Duration = Duration::from_secs(60);
/// Written to the file (and shown to the import and the progress bar) in steps of this size.
const WRITE_BYTES: usize = 256 << 10;

/// A pack the hub offers, next to this laptop's copy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Offer {
    /// What the hub offers.
    #[serde(flatten)]
    pub entry: CatalogEntry,
    /// The version installed here, if any.
    pub installed: Option<String>,
    /// How the two compare.
    pub status: OfferStatus,
}

/// How a hub's pack compares with this laptop's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub enum OfferStatus {
    /// Not on this laptop.
    NotInstalled,
    /// The hub's is newer: an upgrade.
    Newer,
    /// The same version is installed.
    Installed,
    /// This laptop holds a newer one than the hub.
    Older,
}

/// Where a download has got to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub enum DownloadProgress {
    /// Bytes of the pack file on this laptop, of its size.
    Fetching {
        /// Held so far (including what an earlier, cut download fetched).
        done: u64,
        /// The pack file's size.
        total: u64,
    },
    /// Verifying and installing, as an import does: content bytes done, of all.
    Installing {
        /// Content bytes checked and stored.
        done: u64,
        /// Content bytes in all.
        total: u64,
    },
}

fn installing(p: Progress) -> DownloadProgress {
    DownloadProgress::Installing { done: p.done, total: p.total }
}

/// What the hub offers, each marked against this laptop's packs.
pub async fn catalog(store: &Store) -> Result<Vec<Offer>> {
    let client = client(store)?;
    let installed = store.packs()?;
    Ok(client
        .catalog()
        .await?
        .into_iter()
        .map(|entry| {
            let mine = installed.iter().find(|p| p.id == entry.id).map(|p| p.version.clone());
            let status = match &mine {
                None => OfferStatus::NotInstalled,
                Some(v) => match (semver::Version::parse(v), semver::Version::parse(&entry.version)) {
                    (Ok(mine), Ok(theirs)) if theirs > mine => OfferStatus::Newer,
                    (Ok(mine), Ok(theirs)) if theirs < mine => OfferStatus::Older,
                    _ => OfferStatus::Installed,
                },
            };
            Offer { entry, installed: mine, status }
        })
        .collect())
}

fn client(store: &Store) -> Result<HubClient> {
    let link = store.require_hub_link()?;
    HubClient::pinned(&link.address(), Some(link.device_token), crate::DEFAULT_TIMEOUT)
}

/// The file a download of `entry` is kept in until it is installed.
fn partial_path(store: &Store, entry: &CatalogEntry) -> PathBuf {
    let safe = safe_id(&entry.id);
    let tag: String =
        entry.etag.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '-').collect();
    // Complete once it has the size the catalog gives; until then, a download resumes onto it.
    store.dir().join("downloads").join(format!("{safe}-{tag}.kpack"))
}

/// Downloads pack `pack_id` from the hub (resuming an earlier download of the
/// same file) and installs or upgrades it as an import with `options` would.
pub async fn download(
    store: &Store,
    pack_id: &str,
    options: ImportOptions,
    mut progress: impl FnMut(DownloadProgress),
) -> Result<ImportReport> {
    let client = client(store)?;
    let entry = client
        .catalog()
        .await?
        .into_iter()
        .find(|e| e.id == pack_id)
        .ok_or_else(|| ClientError::NotOffered(pack_id.to_owned()))?;
    let downloads = store.dir().join("downloads");
    kalamu_core::private::make_dir(&downloads).map_err(|source| kalamu_core::Error::Io {
        action: "cannot make the downloads folder",
        path: downloads.clone(),
        source,
    })?;
    // One download of a pack at a time on this laptop (the app's own, a
    // required course fetched meanwhile, the command line).
    let _lock = lock(&downloads, &entry.id)?;
    // An upgrade fetches only the files whose content this laptop lacks;
    // when a patch does not work out, the whole pack comes instead.
    let older = store.packs()?.into_iter().find(|p| p.id == entry.id).is_some_and(|p| {
        matches!((semver::Version::parse(&p.version), semver::Version::parse(&entry.version)), (Ok(a), Ok(b)) if b > a)
    });
    if older {
        match upgrade(store, &client, &entry, options, &mut progress).await {
            Ok(report) => return Ok(report),
            Err(e) if person_or_disk(&e) => return Err(e),
            Err(_) => {}
        }
    }
    let path = partial_path(store, &entry);
    // Other versions' leftovers only take space.
    clear_other_downloads(&path, &entry.id);
    let mut held = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    if held > entry.bytes {
        held = 0;
    }
    // Room for the file and for what it installs, before a byte is fetched.
    store.check_room_for_download(entry.bytes - held, entry.bytes)?;
    let offered =
        Offered { id: entry.id.clone(), version: entry.version.clone(), signer: entry.signer.clone() };
    if held < entry.bytes {
        let imported =
            fetch_and_import(store, &client, &entry, &offered, &path, held, options, &mut progress);
        if let Some(report) = imported.await? {
            let _ = std::fs::remove_file(&path);
            return Ok(report);
        }
    }
    progress(DownloadProgress::Fetching { done: entry.bytes, total: entry.bytes });
    // A file already whole (kept for a person's decision), or a pack not laid
    // out front to back: imported from the whole file.
    if let Err(e) = kalamu_core::pack::verify::OpenedPack::open(&path)
        .and_then(|opened| offered.check(&path, &opened.manifest, opened.signer.as_deref()))
    {
        let _ = std::fs::remove_file(&path);
        return Err(e.into());
    }
    let report = store.import_pack(&path, options, &mut |p| progress(installing(p)));
    match report {
        Ok(report) => {
            let _ = std::fs::remove_file(&path);
            Ok(report)
        }
        Err(e) => {
            if not_worth_resuming(&e) {
                let _ = std::fs::remove_file(&path);
            }
            Err(e.into())
        }
    }
}

/// Whether a download that failed this way is better fetched again than
/// resumed: bytes that do not check out, or a pack other than the one offered.
fn not_worth_resuming(e: &kalamu_core::Error) -> bool {
    matches!(e, kalamu_core::Error::Pack { .. } | kalamu_core::Error::NotAsOffered { .. })
}

/// Fetches the rest of `entry`'s file into `path` (which holds its first
/// `held` bytes) while a second thread imports the file as it grows, so the
/// import ends soon after the last byte. `None` when the pack is not laid
/// out front to back: the file is then whole, and imports as any pack.
#[allow(clippy::too_many_arguments)]
async fn fetch_and_import(
    store: &Store,
    client: &HubClient,
    entry: &CatalogEntry,
    offered: &Offered,
    path: &Path,
    held: u64,
    options: ImportOptions,
    progress: &mut impl FnMut(DownloadProgress),
) -> Result<Option<ImportReport>> {
    let response = client.pack_file(&entry.id, held, &entry.etag).await?;
    // A 200 is the whole file: the hub's copy changed since the first part came.
    let from = if response.status().as_u16() == 206 { held } else { 0 };
    let io = |source| kalamu_core::Error::Io {
        action: "cannot write the download",
        path: path.to_owned(),
        source,
    };
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(from > 0)
        .write(true)
        .truncate(from == 0)
        .open(path)
        .map_err(io)?;
    let growth = Growth::new(from);
    let mut arriving =
        std::io::BufReader::with_capacity(1 << 16, GrowingReader::open(path, growth.clone()).map_err(io)?);
    let installed = Arc::new((AtomicU64::new(0), AtomicU64::new(0)));
    let importer = {
        let (store_path, path, offered, growth, installed) =
            (store.path().to_owned(), path.to_owned(), offered.clone(), growth.clone(), installed.clone());
        tokio::task::spawn_blocking(move || {
            let imported = Store::open(&store_path).and_then(|store| {
                store.import_arriving(&mut arriving, &path, &offered, options, &mut |p| {
                    installed.0.store(p.done, Ordering::Relaxed);
                    installed.1.store(p.total, Ordering::Relaxed);
                })
            });
            // A read cut short is the link's doing; anything else the rest cannot mend.
            let cut = |e: &kalamu_core::Error| {
                matches!(
                    e,
                    kalamu_core::Error::Pack { problem: kalamu_core::pack::Problem::Truncated { .. }, .. }
                )
            };
            if imported.as_ref().is_err_and(|e| not_worth_resuming(e) && !cut(e)) {
                growth.stop();
            }
            imported
        })
    };
    let fetched = fetch(client, entry, response, file, path, from, &growth, progress).await;
    growth.end(fetched.is_ok());
    let mut importer = std::pin::pin!(importer);
    let imported = loop {
        tokio::select! {
            done = &mut importer => break done,
            () = tokio::time::sleep(Duration::from_millis(100)), if fetched.is_ok() => {
                let (done, total) = (installed.0.load(Ordering::Relaxed), installed.1.load(Ordering::Relaxed));
                progress(DownloadProgress::Installing { done, total });
            }
        }
    };
    let imported = imported.map_err(|e| ClientError::Protocol {
        url: path.display().to_string(),
        detail: format!("the import stopped: {e}"),
    })?;
    match (fetched, imported) {
        (_, Err(e)) if growth.stopped() => {
            let _ = std::fs::remove_file(path);
            Err(e.into())
        }
        // A cut link: the file resumes from where it stopped.
        (Err(cut), _) => Err(cut),
        (Ok(()), Ok(report)) => Ok(report),
        (Ok(()), Err(e)) => {
            if not_worth_resuming(&e) {
                let _ = std::fs::remove_file(path);
            }
            Err(e.into())
        }
    }
}

/// Failures a whole-pack download would meet again: a person's decision, or disk space.
fn person_or_disk(e: &ClientError) -> bool {
    matches!(
        e,
        ClientError::Core(
            kalamu_core::Error::UnknownPublisher { .. }
                | kalamu_core::Error::Unsigned { .. }
                | kalamu_core::Error::NoSpace { .. }
        )
    )
}

/// Holds the lock on downloads of pack `id` until dropped.
fn lock(downloads: &Path, id: &str) -> Result<std::fs::File> {
    let path = downloads.join(format!("{}.lock", safe_id(id)));
    let io =
        |source| kalamu_core::Error::Io { action: "cannot lock the download", path: path.clone(), source };
    let file =
        std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&path).map_err(io)?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(ClientError::Busy(id.to_owned())),
        Err(std::fs::TryLockError::Error(e)) => Err(io(e).into()),
    }
}

/// Upgrades the installed pack to `entry` from a patch of what this laptop lacks.
async fn upgrade(
    store: &Store,
    client: &HubClient,
    entry: &CatalogEntry,
    options: ImportOptions,
    progress: &mut impl FnMut(DownloadProgress),
) -> Result<ImportReport> {
    let have: Vec<String> = store.held_contents(&entry.id)?.into_iter().collect();
    let bytes = client.pack_patch(&entry.id, have, entry.bytes.min(PATCH_LIMIT)).await?;
    store.check_room_for_download(bytes.len() as u64, entry.bytes)?;
    let path = partial_path(store, entry).with_extension("kpatch");
    std::fs::write(&path, &bytes).map_err(|source| kalamu_core::Error::Io {
        action: "cannot write the patch",
        path: path.clone(),
        source,
    })?;
    progress(DownloadProgress::Fetching { done: bytes.len() as u64, total: bytes.len() as u64 });
    let report = store.import_patch(&path, options, &mut |p| progress(installing(p)));
    let _ = std::fs::remove_file(&path);
    Ok(report?)
}

/// A pack id as a file name's start.
fn safe_id(id: &str) -> String {
    id.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '_' }).collect()
}

/// Removes downloads of other files of the same pack (older versions, a file republished since).
fn clear_other_downloads(keep: &Path, pack_id: &str) {
    let Some(dir) = keep.parent() else { return };
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let prefix = format!("{}-", safe_id(pack_id));
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        // Ours are ID-VERSION-STAMP.kpack; another pack whose id starts like ours is not.
        let ours = name
            .strip_prefix(&prefix)
            .and_then(|rest| rest.strip_suffix(".kpack"))
            .and_then(|rest| rest.rsplit_once('-'))
            .is_some_and(|(v, stamp)| {
                semver::Version::parse(v).is_ok() && stamp.bytes().all(|b| b.is_ascii_digit())
            });
        if e.path() != keep && ours {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Writes the body of `response` (the pack file from byte `from`) into
/// `file`, telling `growth` how far it got.
#[allow(clippy::too_many_arguments)]
async fn fetch(
    client: &HubClient,
    entry: &CatalogEntry,
    mut response: reqwest::Response,
    mut file: std::fs::File,
    path: &Path,
    from: u64,
    growth: &Growth,
    progress: &mut impl FnMut(DownloadProgress),
) -> Result<()> {
    let io = |source| kalamu_core::Error::Io {
        action: "cannot write the download",
        path: path.to_owned(),
        source,
    };
    // The file is never flushed to the disk on purpose: a cut link, a
    // sleeping laptop or a closed app loses nothing written (the system holds
    // it), and a file a power cut damaged fails the import's checks and is
    // fetched again. Flushing would write every byte to the disk once more
    // than the chunk store does, and the file is deleted once installed.
    let mut done = from;
    // The network hands over a few KiB at a time; the disk, the import
    // thread and the progress bar are told in larger steps.
    let mut pending: Vec<u8> = Vec::with_capacity(WRITE_BYTES);
    progress(DownloadProgress::Fetching { done, total: entry.bytes });
    let ended = loop {
        let chunk = match client.next_chunk(&mut response, STALL).await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => break Ok(()),
            Err(cut) => break Err(cut),
        };
        if done + (pending.len() + chunk.len()) as u64 > entry.bytes {
            drop(file);
            let _ = std::fs::remove_file(path);
            return Err(ClientError::Protocol {
                url: client.url().to_owned(),
                detail: format!("it sent more than the {} bytes of pack {}", entry.bytes, entry.id),
            });
        }
        pending.extend_from_slice(&chunk);
        if pending.len() < WRITE_BYTES {
            continue;
        }
        file.write_all(&pending).map_err(io)?;
        done += pending.len() as u64;
        pending.clear();
        growth.wrote(done);
        progress(DownloadProgress::Fetching { done, total: entry.bytes });
        if growth.stopped() {
            // The import found bytes that do not check out: the rest is not worth fetching.
            break Ok(());
        }
    };
    // What came before a cut is kept, to resume from.
    file.write_all(&pending).map_err(io)?;
    done += pending.len() as u64;
    growth.wrote(done);
    ended?;
    if done < entry.bytes {
        return Err(ClientError::Unreachable {
            url: client.url().to_owned(),
            detail: format!("the download stopped at {done} of {} bytes; it resumes from there", entry.bytes),
        });
    }
    progress(DownloadProgress::Fetching { done, total: entry.bytes });
    Ok(())
}

/// Required courses whose last try failed for a reason that a retry would meet again, and when.
static FAILED: std::sync::Mutex<std::collections::BTreeMap<(String, String), std::time::Instant>> =
    std::sync::Mutex::new(std::collections::BTreeMap::new());

/// What keeping up with the hub's courses did.
#[derive(Debug, Default)]
pub struct KeptUp {
    /// Required courses installed or upgraded.
    pub fetched: Vec<ImportReport>,
    /// Required courses that could not be, and why.
    pub failed: Vec<(String, ClientError)>,
}

/// Keeps this laptop up with its center: tells the hub which packs it holds
/// (when that changed), then fetches the courses the center requires that it
/// lacks or holds older, each resuming where an earlier try stopped. Trust
/// rules are the laptop's own: a pack by a publisher it does not trust waits
/// for a person.
pub async fn keep_up(store: &Store, mut progress: impl FnMut(&str, DownloadProgress)) -> Result<KeptUp> {
    let client = client(store)?;
    report_held(store, &client).await?;
    let offers = catalog(store).await?;
    let mut done = KeptUp::default();
    let wanted = offers
        .iter()
        .filter(|o| o.entry.required && matches!(o.status, OfferStatus::NotInstalled | OfferStatus::Newer));
    for o in wanted {
        // A course that failed (its signer untrusted, its file damaged) is
        // not fetched again at every sync; a new file of it is.
        let key = (o.entry.id.clone(), o.entry.etag.clone());
        if FAILED
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            .is_some_and(|t| t.elapsed() < RETRY_AFTER)
        {
            continue;
        }
        match download(store, &o.entry.id, ImportOptions::default(), |p| progress(&o.entry.id, p)).await {
            Ok(report) => done.fetched.push(report),
            Err(e) => {
                // A cut link is tried again at the next sync, from where it stopped.
                if !matches!(e, ClientError::Unreachable { .. } | ClientError::Busy(_)) {
                    FAILED.lock().unwrap_or_else(|p| p.into_inner()).insert(key, std::time::Instant::now());
                }
                done.failed.push((o.entry.id.clone(), e));
            }
        }
    }
    if !done.fetched.is_empty() {
        report_held(store, &client).await?;
    }
    Ok(done)
}

/// Tells the hub which packs this laptop holds, if that changed since it last did.
async fn report_held(store: &Store, client: &HubClient) -> Result<()> {
    let packs: Vec<(String, String)> = store.packs()?.into_iter().map(|p| (p.id, p.version)).collect();
    let said = packs.iter().map(|(id, v)| format!("{id}@{v}")).collect::<Vec<_>>().join(" ");
    if store.reported_packs()?.as_deref() != Some(said.as_str()) {
        client.held_packs(packs).await?;
        store.set_reported_packs(&said)?;
    }
    Ok(())
}
