//! `kalamu enroll` and `kalamu sync`: the laptop's side of the hub.

use std::time::Duration;

use anyhow::{Context, Result};
use kalamu_client::SyncReport;
use kalamu_core::Store;

use crate::cli::{BundleCommand, SyncArgs};

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the network runtime")
}

/// `kalamu enroll`
pub fn enroll(store: &Store, hub: &str, code: &str, name: Option<&str>, as_new: bool) -> Result<()> {
    let name = name.map(str::to_owned).unwrap_or_else(kalamu_client::host_name);
    let copy = as_new || store.identity_clash()?;
    let joined = if as_new {
        runtime()?.block_on(kalamu_client::enroll_as_new(store, hub, code, &name))
    } else {
        runtime()?.block_on(kalamu_client::enroll(store, hub, code, &name))
    };
    let link = match joined {
        Err(e) if e.wire_code() == Some(kalamu_core::sync::WireCode::RevokedForGood) => {
            anyhow::bail!("{e}; staff who take it back enrol it with `kalamu enroll --as-new-laptop`");
        }
        joined => joined?,
    };
    out!("Enrolled with {} ({}) at {}", link.center_name, link.center_id, link.hub_url);
    let device = store.device()?.id;
    out!("  this laptop: {device} ({name})");
    if copy {
        let moved = store.own_vector()?.get(&device);
        out!(
            "  This copy goes on as a new laptop: the {moved} events only it recorded go with it and reach the hub at the next sync."
        );
    }
    Ok(())
}

/// `kalamu sync …`
pub fn sync(store: &Store, args: &SyncArgs) -> Result<()> {
    match &args.bundle {
        Some(BundleCommand::Export { out }) => {
            let events = store.export_bundle(out)?;
            out!("Wrote {events} events to {}; import it on the hub with `kalamu hub import`", out.display());
            Ok(())
        }
        Some(BundleCommand::Import { file }) => {
            let done = store.import_bundle(file)?;
            out!("Imported {}: {} events, {} new here", file.display(), done.received, done.new);
            Ok(())
        }
        None => run(store, args),
    }
}

fn run(store: &Store, args: &SyncArgs) -> Result<()> {
    if let Some(url) = &args.hub {
        store.set_hub_url(url)?;
    }
    let timeout = Duration::from_secs(args.timeout.max(1));
    let bar = crate::progress::Bar::events("Sending");
    let result = runtime()?.block_on(kalamu_client::sync(store, timeout, |r| {
        bar.set(kalamu_core::pack::Progress { done: r.pushed, total: r.pushed + r.pending })
    }));
    bar.finish();
    match result {
        Ok(report) => {
            if args.json {
                out!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print_report(&report);
            }
            keep_up(store);
            Ok(())
        }
        Err(err) => {
            let pending = store.pending().unwrap_or(0);
            let err = anyhow::Error::from(err);
            Err(match pending {
                0 => err,
                n => err.context(format!("{n} events are waiting for the hub")),
            })
        }
    }
}

fn print_report(r: &SyncReport) {
    out!("Sent {} events, received {} events in {} batches.", r.pushed, r.pulled, r.batches);
    match r.pending {
        0 => out!("Nothing is waiting for the hub."),
        n => out!("{n} events recorded during the sync are waiting for the next one."),
    }
    if r.identity_clash {
        out!(
            "Another copy of this laptop's disk is in use (a cloned disk, or a restored backup): the hub holds other events under this laptop's identity. Work here is safe and recording goes on. To send it, enrol this copy again with a new code from the staff (`kalamu enroll --hub HUB --code CODE`): it goes on as a new laptop."
        );
    }
    if let Some(room) = r.waiting_for_space {
        out!(
            "Stopped receiving other laptops' progress: {} MB are free and {} MB are kept for learners' own work. Free some disk space; the next sync goes on.",
            room.free >> 20,
            room.reserve.div_ceil(1 << 20)
        );
    }
    if r.clock_offset_ms.abs() > 5 * 60 * 1000 {
        out!(
            "This laptop's clock is {} from the hub's; progress is safe, but set the clock right.",
            human_offset(r.clock_offset_ms)
        );
    }
}

fn human_offset(ms: i64) -> String {
    let (sign, s) = if ms < 0 { ("behind", -ms / 1000) } else { ("ahead", ms / 1000) };
    let text = match s {
        s if s >= 86_400 * 365 => format!("{} years", s / (86_400 * 365)),
        s if s >= 86_400 => format!("{} days", s / 86_400),
        s if s >= 3_600 => format!("{} hours", s / 3_600),
        s => format!("{} minutes", s / 60),
    };
    format!("{text} {sign}")
}

/// After a sync: the courses the center requires, fetched (or resumed).
/// Progress has reached the hub whatever happens here, so a failure is a warning.
fn keep_up(store: &Store) {
    let fetching = crate::progress::Bar::new("Fetching");
    let kept = runtime().and_then(|rt| {
        rt.block_on(kalamu_client::download::keep_up(store, |_, p| {
            if let kalamu_client::download::DownloadProgress::Fetching { done, total } = p {
                fetching.set(kalamu_core::pack::Progress { done, total })
            }
        }))
        .map_err(anyhow::Error::from)
    });
    fetching.finish();
    match kept {
        Ok(kept) => {
            for r in &kept.fetched {
                out!("Fetched the required course {} ({}) {}", r.pack.title, r.pack.id, r.pack.version);
            }
            for (id, e) in &kept.failed {
                eprintln!("kalamu: the required course {id} is not installed yet: {e}");
            }
        }
        Err(e) => eprintln!("kalamu: the center's required courses were not checked: {e}"),
    }
}

/// `kalamu catalog`: what the hub offers, marked against this laptop's packs.
pub fn catalog(store: &Store, list: &crate::cli::ListArgs) -> Result<()> {
    let offers = runtime()?.block_on(kalamu_client::download::catalog(store))?;
    crate::commands::print_list(list, &offers, "The hub offers no courses yet.", |o| {
        use kalamu_client::download::OfferStatus;
        let status = match (o.status, &o.installed) {
            (OfferStatus::NotInstalled, _) => "not installed".to_owned(),
            (OfferStatus::Installed, _) => "installed".to_owned(),
            (OfferStatus::Newer, Some(v)) => format!("newer than the installed {v}"),
            (OfferStatus::Older, Some(v)) => format!("older than the installed {v}"),
            (_, None) => String::new(),
        };
        let e = &o.entry;
        format!(
            "{}\t{}\t{}\t{:.1} MB\t{status}\tsigned by {}",
            e.id,
            e.version,
            e.title,
            e.bytes as f64 / 1e6,
            e.signer
        )
    })
}

/// `kalamu download PACK_ID`: fetch (or resume) and install a course from the hub.
pub fn download(
    store: &Store,
    pack_id: &str,
    options: kalamu_core::pack::import::ImportOptions,
) -> Result<()> {
    let fetching = crate::progress::Bar::new("Fetching");
    let installing = crate::progress::Bar::new("Installing");
    let report =
        runtime()?.block_on(kalamu_client::download::download(store, pack_id, options, |p| match p {
            kalamu_client::download::DownloadProgress::Fetching { done, total } => {
                fetching.set(kalamu_core::pack::Progress { done, total })
            }
            kalamu_client::download::DownloadProgress::Installing { done, total } => {
                installing.set(kalamu_core::pack::Progress { done, total })
            }
        }));
    fetching.finish();
    installing.finish();
    crate::commands::print_import(&report?);
    Ok(())
}
