//! `kalamu stick write|load`: a center's setup stick.

use anyhow::{Result, bail};
use kalamu_core::Store;
use kalamu_core::learner::printable;
use kalamu_core::stick::{self, Loaded};

use crate::cli::StickCommand;

/// Runs one `kalamu stick` command.
pub fn run(store: &Store, command: &StickCommand) -> Result<()> {
    match command {
        StickCommand::Write { dir, packs, packages } => {
            let publishers = store.trust_list()?;
            let debs = match packages {
                None => Vec::new(),
                Some(folder) => {
                    let mut debs: Vec<_> = std::fs::read_dir(folder)?
                        .filter_map(|e| e.ok().map(|e| e.path()))
                        .filter(|p| p.extension().is_some_and(|e| e == "deb"))
                        .collect();
                    debs.sort();
                    if debs.is_empty() {
                        bail!(
                            "{} holds no .deb package: build them with `bash scripts/package.sh`",
                            folder.display()
                        );
                    }
                    debs
                }
            };
            let written = stick::write(dir, packs, &publishers, &debs)?;
            out!(
                "Wrote {}/{}: {} packages, {} courses, {} publishers, and GUIDE.txt (English, French)",
                dir.display(),
                stick::FOLDER,
                written.packages.len(),
                written.packs.len(),
                written.publishers.len()
            );
            if written.packages.is_empty() {
                eprintln!(
                    "No packages on the stick: add them with --packages DIR to install Kalamu from it."
                );
            }
            Ok(())
        }
        StickCommand::Load { dir, accept_publishers } => match stick::load(store, dir, *accept_publishers)? {
            Loaded::NeedsConsent(publishers) => {
                eprintln!("The stick's courses are signed by publishers this laptop does not trust yet:");
                for p in &publishers {
                    eprintln!("  {}\t{}", printable(&p.name), p.public_key);
                }
                bail!(
                    "nothing was installed: compare these keys with the stick's GUIDE.txt, then run `kalamu stick load {} --accept-publishers`",
                    dir.display()
                )
            }
            Loaded::Done { trusted, packs } => {
                for p in &trusted {
                    out!("Trusted {} ({})", printable(&p.name), p.public_key);
                }
                let mut refused = 0;
                for loaded in &packs {
                    match &loaded.outcome {
                        Ok(report) => match &report.upgraded_from {
                            Some(old) => {
                                out!("Upgraded {} {old} → {}", report.pack.title, report.pack.version)
                            }
                            None => out!("Installed {} {}", report.pack.title, report.pack.version),
                        },
                        Err(kalamu_core::Error::NotNewer { installed, .. }) => {
                            out!("Already installed: {} {installed}", loaded.pack.title)
                        }
                        Err(e) => {
                            refused += 1;
                            eprintln!("Not installed: {}: {e}", loaded.pack.file);
                        }
                    }
                }
                if refused > 0 {
                    bail!("{refused} of the stick's {} courses were not installed", packs.len());
                }
                Ok(())
            }
        },
    }
}
