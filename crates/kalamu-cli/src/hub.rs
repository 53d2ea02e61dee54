//! `kalamu hub …`: serve a center's hub and manage it.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use kalamu_core::learner::printable;
use kalamu_hub::admin;
use kalamu_hub::db::{self, DbUrl};
use kalamu_hub::storage::Storage;

use crate::cli::{CenterCommand, HubArgs, HubCommand, ReportsWhen, StaffCommand, TrustCommand};
use crate::settings::HubSettings;
use kalamu_hub::sqlite::Folding;

/// Runs one hub command against the database `--db` names (default: hub.db in the data dir).
pub fn run(args: &HubArgs, data_dir: &Path) -> Result<()> {
    let settings = match &args.config {
        Some(path) => HubSettings::read(path)?,
        None => HubSettings::default(),
    };
    let url = match args.db.as_ref().or(settings.db.as_ref()) {
        Some(db) => DbUrl::parse(db)?,
        None => DbUrl::Sqlite(data_dir.join("hub.db")),
    };
    // A one-off command leaves the reports to the serving hub.
    let folding = match &args.command {
        HubCommand::Serve { reports, .. } => {
            match reports.or(settings.reports).unwrap_or(ReportsWhen::Idle) {
                ReportsWhen::Idle => Folding::WhenIdle,
                ReportsWhen::Viewed => Folding::WhenViewed,
            }
        }
        _ => Folding::WhenViewed,
    };
    if let HubCommand::Serve { .. } = &args.command {
        crate::settings::start_log(settings.log.unwrap_or_default());
    }
    let store = db::open_with(&url, folding)?;
    match &args.command {
        HubCommand::Serve { listen, plain_http, proxy_cert, relay_every, .. } => {
            let listen = listen.as_deref().or(settings.listen.as_deref()).unwrap_or("127.0.0.1:7878");
            let plain_http = *plain_http || settings.plain_http.unwrap_or(false);
            let proxy_cert = proxy_cert.as_deref().or(settings.proxy_cert.as_deref());
            if proxy_cert.is_some() && !plain_http {
                anyhow::bail!(
                    "a proxy certificate goes with plain HTTP: the hub serves plain HTTP behind the proxy (--plain-http, or plain_http = true)"
                );
            }
            tracing::info!("database {}", url.describe());
            serve(
                store,
                listen,
                plain_http,
                proxy_cert,
                std::time::Duration::from_secs((*relay_every).max(1)),
            )
        }
        HubCommand::Center(CenterCommand::Add { name }) => {
            let center = store.add_center(name)?;
            out!("{}", center.id);
            eprintln!(
                "Added center {}. Enrol its laptops with codes from `kalamu hub enroll-code`.",
                center.name
            );
            Ok(())
        }
        HubCommand::Center(CenterCommand::List(list)) => {
            let centers = store.centers()?;
            crate::commands::print_list(
                list,
                &centers,
                "No centers yet. Add one with: kalamu hub center add NAME",
                |c| format!("{}\t{}", c.id, printable(&c.name)),
            )
        }
        HubCommand::EnrollCode { center, ttl_minutes, relay: true, .. } => {
            let code = admin::new_relay_code(store.as_ref(), center, *ttl_minutes)?;
            out!("{}", code.code);
            eprintln!(
                "Links {}'s own hub to this one within {ttl_minutes} minutes: kalamu hub upstream --hub URL --code {} --center CENTER",
                code.center, code.code
            );
            Ok(())
        }
        HubCommand::Upstream { hub, code, center } => {
            let above = crate::relay::link(store.as_ref(), center, hub, code)?;
            out!(
                "This hub now relays {center} to {above} at {hub}; `kalamu hub serve` sends its progress up by itself."
            );
            Ok(())
        }
        HubCommand::EnrollCode { center, ttl_minutes, device, .. } => {
            let code = admin::new_enroll_code(store.as_ref(), center, *ttl_minutes, device.as_deref())?;
            out!("{}", code.code);
            eprintln!(
                "Enrols one laptop into {} within {ttl_minutes} minutes: kalamu enroll --hub URL --code {}",
                code.center, code.code
            );
            Ok(())
        }
        HubCommand::Devices { center, json } => devices(store.as_ref(), center.as_deref(), *json),
        HubCommand::Revoke { device } => {
            let d = store.revoke(device, kalamu_core::store::now_millis())?;
            out!("Revoked {} ({}); its next request is refused.", d.id, printable(&d.name));
            Ok(())
        }
        HubCommand::Export { center, out } => {
            let n = admin::export_bundle(store.as_ref(), center, out)?;
            out!("Wrote {n} events to {}; import it on a laptop with `kalamu sync import`", out.display());
            Ok(())
        }
        HubCommand::Import { file } => {
            let done = admin::import_bundle(store.as_ref(), file)?;
            out!("Imported {}: {} events, {} new here", file.display(), done.received, done.new);
            Ok(())
        }
        HubCommand::Staff(command) => staff(store.as_ref(), command),
        HubCommand::Trust(command) => trust(store.as_ref(), command),
        HubCommand::Publish { file } => {
            let pack = kalamu_hub::catalog::publish(store.as_ref(), file)?;
            let m = &pack.manifest;
            out!(
                "Published {} {} ({}): {} lessons, {} bytes",
                m.id,
                m.version,
                m.title,
                m.lesson_count(),
                pack.bytes
            );
            Ok(())
        }
        HubCommand::Catalog(list) => {
            let entries = kalamu_hub::catalog::entries(store.as_ref(), None)?;
            crate::commands::print_list(
                list,
                &entries,
                "The hub offers no packs. Publish one with: kalamu hub publish FILE.kpack",
                |e| {
                    format!("{}\t{}\t{}\t{} bytes\tsigned by {}", e.id, e.version, e.title, e.bytes, e.signer)
                },
            )
        }
        HubCommand::Require { pack_id, center, no_longer } => {
            kalamu_hub::catalog::require(store.as_ref(), pack_id, center, !no_longer)?;
            if *no_longer {
                out!("{center} no longer requires {pack_id}; laptops keep what they installed.");
            } else {
                out!(
                    "{center} requires {pack_id}: its laptops fetch it by themselves when they reach the hub."
                );
            }
            Ok(())
        }
        HubCommand::Unpublish { pack_id } => {
            kalamu_hub::catalog::unpublish(store.as_ref(), pack_id)?;
            out!("The hub no longer offers {pack_id}; laptops keep what they installed.");
            Ok(())
        }
        HubCommand::RebuildReports => {
            let n = store.rebuild_projection()?;
            out!("Rebuilt the staff reports from {n} events");
            Ok(())
        }
    }
}

fn staff(store: &dyn Storage, command: &StaffCommand) -> Result<()> {
    match command {
        StaffCommand::Add { name, center, admin: _ } => {
            let made = kalamu_hub::staff::add(store, name, center.as_deref())?;
            out!("{}", made.password);
            eprintln!(
                "Added {}. Hand over this one-time password; it must be changed at the first sign-in at the hub's address.",
                made.account.name
            );
            Ok(())
        }
        StaffCommand::List(list) => {
            let centers = store.centers()?;
            let accounts = store.staff()?;
            crate::commands::print_list(
                list,
                &accounts,
                "No staff accounts yet. Add one with: kalamu hub staff add NAME --admin",
                |a| {
                    let role = match &a.center_id {
                        None => "admin of every center".to_owned(),
                        Some(id) => {
                            let name =
                                centers.iter().find(|c| &c.id == id).map_or(id.as_str(), |c| c.name.as_str());
                            format!("coach of {name}")
                        }
                    };
                    let pending = if a.must_change { "\t(one-time password not yet changed)" } else { "" };
                    format!("{}\t{role}{pending}", printable(&a.name))
                },
            )
        }
        StaffCommand::Remove { name } => {
            let gone = store.remove_staff(name)?;
            out!("Removed {}; their sessions ended.", gone.name);
            Ok(())
        }
        StaffCommand::Reset { name } => {
            let made = kalamu_hub::staff::reset(store, name)?;
            out!("{}", made.password);
            eprintln!("New one-time password for {}; their sessions ended.", made.account.name);
            Ok(())
        }
    }
}

fn trust(store: &dyn Storage, command: &TrustCommand) -> Result<()> {
    match command {
        TrustCommand::Add { public_key, name } => {
            let key = kalamu_hub::catalog::trust(store, public_key, name)?;
            out!("The hub now accepts packs signed by {name} ({key})");
            Ok(())
        }
        TrustCommand::List(list) => {
            #[derive(serde::Serialize)]
            struct Publisher {
                public_key: String,
                name: String,
            }
            let publishers: Vec<Publisher> = store
                .publishers()?
                .into_iter()
                .map(|(public_key, name)| Publisher { public_key, name })
                .collect();
            crate::commands::print_list(
                list,
                &publishers,
                "No trusted publishers yet. Add one with: kalamu hub trust add KEY --name NAME",
                |p| format!("{}\t{}", p.public_key, printable(&p.name)),
            )
        }
        TrustCommand::Remove { public_key } => {
            if store.remove_publisher(public_key.trim())? {
                out!("The hub no longer accepts new packs signed by {public_key}");
                Ok(())
            } else {
                anyhow::bail!(
                    "the hub does not trust {public_key}; list its publishers with `kalamu hub trust list`"
                )
            }
        }
    }
}

fn serve(
    store: Arc<dyn Storage>,
    listen: &str,
    plain_http: bool,
    proxy_cert: Option<&std::path::Path>,
    relay_every: std::time::Duration,
) -> Result<()> {
    let tls = if plain_http { None } else { Some(kalamu_hub::tls::identity(store.as_ref())?) };
    let pinned = match (&tls, proxy_cert) {
        (Some(tls), _) => tls.fingerprint.clone(),
        (None, Some(cert)) => kalamu_hub::tls::proxy_fingerprint(cert)?,
        (None, None) => String::new(),
    };
    let keys = kalamu_hub::api::Keys {
        tls: kalamu_hub::api::HubKey(pinned.clone()),
        bundle: kalamu_hub::api::BundleKey::of(store.as_ref())?,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        // Scripts and tests read the address from this line (the port may have been 0).
        out!("Kalamu hub listening on {scheme}://{}", listener.local_addr()?);
        tracing::info!(
            "Kalamu hub {} listening on {scheme}://{}",
            env!("CARGO_PKG_VERSION"),
            listener.local_addr()?
        );
        match &tls {
            Some(tls) => tracing::info!(
                "TLS key {}; laptops pin it when they enrol, with a code that proves it is this hub's",
                tls.fingerprint
            ),
            None if !pinned.is_empty() => {
                tracing::info!("plain HTTP behind a TLS proxy whose key {pinned} laptops pin when they enrol")
            }
            None => tracing::warn!("serving plain HTTP: credentials cross the network readable"),
        }
        // Relays to the hub above, if `hub upstream` linked one (now or later).
        tokio::spawn(crate::relay::relay_forever(store.clone(), relay_every));
        kalamu_hub::api::serve(listener, store, tls, keys).await?;
        anyhow::Ok(())
    })
}

fn devices(store: &dyn Storage, center: Option<&str>, json: bool) -> Result<()> {
    let center_id = center.map(|c| store.center(c)).transpose()?.map(|c| c.id);
    let devices = store.devices(center_id.as_deref())?;
    // Which course versions each laptop said it holds.
    let mut held: std::collections::HashMap<String, Vec<String>> = Default::default();
    let centers: Vec<String> = match &center_id {
        Some(c) => vec![c.clone()],
        None => store.centers()?.into_iter().map(|c| c.id).collect(),
    };
    for c in centers {
        for (device, pack, version) in store.held_packs(&c)? {
            held.entry(device).or_default().push(format!("{pack}@{version}"));
        }
    }
    if json {
        #[derive(serde::Serialize)]
        struct Row<'a> {
            #[serde(flatten)]
            device: &'a kalamu_hub::storage::DeviceInfo,
            clock_is_off: bool,
            packs: &'a [String],
        }
        let rows: Vec<Row> = devices
            .iter()
            .map(|d| Row {
                device: d,
                clock_is_off: d.clock_is_off(),
                packs: held.get(&d.id).map_or(&[][..], Vec::as_slice),
            })
            .collect();
        out!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    if devices.is_empty() {
        eprintln!("No laptops enrolled yet.");
    }
    let now = kalamu_core::store::now_millis();
    for d in &devices {
        let mut flags = Vec::new();
        if d.revoked_at.is_some() {
            flags.push("REVOKED".to_owned());
        }
        if d.clock_is_off() {
            let off = d.clock_offset_ms.unwrap_or(0);
            let way = if off > 0 { "ahead" } else { "behind" };
            flags.push(format!("CLOCK OFF: {} {way}", ago(off.abs()).trim_end_matches(" ago")));
        }
        let seen =
            d.last_seen_at.map_or("never synced".to_owned(), |t| format!("last seen {}", ago(now - t)));
        let packs = held.get(&d.id).map(|p| p.join(" ")).unwrap_or_default();
        out!("{}\t{}\t{} events\t{seen}\t{}\t{packs}", d.id, printable(&d.name), d.events, flags.join(" "));
    }
    Ok(())
}

/// A duration in words staff read at a glance: "4 min ago", "3 days ago".
fn ago(ms: i64) -> String {
    let s = (ms / 1000).max(0);
    match s {
        s if s < 60 => "just now".to_owned(),
        s if s < 3_600 => format!("{} min ago", s / 60),
        s if s < 86_400 => format!("{} h ago", s / 3_600),
        s if s < 86_400 * 365 => format!("{} days ago", s / 86_400),
        s => format!("{} years ago", s / (86_400 * 365)),
    }
}
