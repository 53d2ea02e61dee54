//! Command bodies: open the store, call kalamu-core, print.

use anyhow::{Result, bail};
use kalamu_core::learner::printable;
use kalamu_core::pack::import::ImportOptions;
use kalamu_core::pack::sign::SecretKey;
use kalamu_core::pack::verify::{Discard, OpenedPack};
use kalamu_core::pack::{Progress, build};
use kalamu_core::{Store, datadir};
use serde::Serialize;

use crate::cli::{
    Cli, Command, LearnerCommand, ListArgs, PackCommand, ProgressCommand, RecordEvent, TrustCommand,
};
use crate::progress::Bar;

/// Runs one parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    let store = || -> Result<Store> { Ok(Store::open_dir(&datadir::resolve(cli.data.as_deref())?)?) };
    // Looking into a pack must not create a store as a side effect.
    let existing_store = || -> Result<Store> {
        let dir = datadir::resolve(cli.data.as_deref())?;
        if !dir.join(kalamu_core::store::FILE_NAME).is_file() {
            bail!("no store in {}", dir.display());
        }
        Ok(Store::open_dir(&dir)?)
    };
    match &cli.command {
        Command::Pack(cmd) => pack(cmd, existing_store),
        Command::Trust(cmd) => trust(cmd, &store()?),
        Command::Import { file, allow_unsigned, accept_new_publisher } => {
            let store = store()?;
            let bar = Bar::new("Importing");
            let options = ImportOptions {
                allow_unsigned: *allow_unsigned,
                accept_new_publisher: *accept_new_publisher,
            };
            let report = store.import_file(file, options, &mut |p: Progress| bar.set(p))?;
            bar.finish();
            print_import(&report);
            Ok(())
        }
        Command::Packs(list) => {
            let packs = store()?.packs()?;
            print_list(list, &packs, "No packs installed. Import one with: kalamu import FILE.kpack", |p| {
                format!("{}\t{}\t{}", p.id, p.version, p.title)
            })
        }
        Command::Remove { pack_id } => {
            store()?.remove_pack(pack_id)?;
            out!("Removed {pack_id}; learners' progress in it is kept.");
            Ok(())
        }
        Command::Learner(LearnerCommand::Add { name, pin }) => {
            let learner = store()?.add_learner_with_pin(name, pin.as_deref())?;
            out!("{}", learner.id);
            Ok(())
        }
        Command::Progress(cmd) => progress(cmd, &store()?),
        Command::Enroll { hub, code, name, as_new_laptop } => {
            crate::sync::enroll(&store()?, hub, code, name.as_deref(), *as_new_laptop)
        }
        Command::Sync(args) => crate::sync::sync(&store()?, args),
        Command::Catalog(list) => crate::sync::catalog(&store()?, list),
        Command::Stick(command) => crate::stick::run(&store()?, command),
        Command::Download { pack_id, allow_unsigned, accept_new_publisher } => {
            let options = ImportOptions {
                allow_unsigned: *allow_unsigned,
                accept_new_publisher: *accept_new_publisher,
            };
            crate::sync::download(&store()?, pack_id, options)
        }
        Command::Hub(args) => crate::hub::run(args, &datadir::resolve(cli.data.as_deref())?),
        Command::Learner(LearnerCommand::List(list)) => {
            let learners = store()?.learners()?;
            print_list(list, &learners, "No learners yet. Add one with: kalamu learner add NAME", |l| {
                format!("{}\t{}", l.id, printable(&l.name))
            })
        }
    }
}

fn pack(cmd: &PackCommand, store: impl Fn() -> Result<Store>) -> Result<()> {
    match cmd {
        PackCommand::Diff { old, new, out } => {
            let stats = kalamu_core::pack::patch::diff(old, new, out)?;
            let size = std::fs::metadata(out).map(|m| m.len()).unwrap_or(0);
            out!(
                "Wrote {} ({size} bytes): {} of {} files changed, {} of {} content bytes",
                out.display(),
                stats.files,
                stats.of_files,
                stats.content_bytes,
                stats.of_content_bytes
            );
        }
        PackCommand::Keygen { out } => {
            let key = SecretKey::generate()?;
            key.save(out)?;
            eprintln!("Secret key written to {}; keep it private.", out.display());
            out!("{}", key.public_hex());
        }
        PackCommand::Build { src, out, key } => {
            let key = key.as_deref().map(SecretKey::load).transpose()?;
            let bar = Bar::new("Building");
            let report = build::build(src, out, key.as_ref(), &mut |p| bar.set(p))?;
            bar.finish();
            let m = &report.manifest;
            out!(
                "Built {} ({} {}): {} lessons, {} files, {} bytes",
                out.display(),
                m.id,
                m.version,
                m.lesson_count(),
                m.files.len(),
                report.pack_bytes
            );
            match report.signer {
                Some(k) => out!("  signed by {k}"),
                None => out!("  unsigned (pass --key to sign it)"),
            }
        }
        PackCommand::Verify { file, allow_unsigned } => {
            let mut pack = OpenedPack::open(file)?;
            let bar = Bar::new("Verifying");
            pack.stream(&mut Discard, &mut |p| bar.set(p))?;
            bar.finish();
            match &pack.signer {
                Some(key) => out!("OK: every byte checks out; signed by {key}"),
                None if *allow_unsigned => out!("OK: every byte checks out; the pack is not signed"),
                None => bail!("{}: every byte checks out, but the pack is not signed", file.display()),
            }
        }
        PackCommand::Inspect { file, json } => {
            let pack = OpenedPack::open(file)?;
            let trusted = match (&pack.signer, store()) {
                (Some(key), Ok(store)) => store.trusted_name(key)?,
                _ => None,
            };
            inspect(&pack, trusted, *json)?;
        }
    }
    Ok(())
}

fn inspect(pack: &OpenedPack, trusted: Option<String>, json: bool) -> Result<()> {
    let m = &pack.manifest;
    if json {
        #[derive(Serialize)]
        struct Inspect<'a> {
            signer: &'a Option<String>,
            trusted_as: Option<String>,
            total_bytes: u64,
            manifest: &'a kalamu_core::pack::Manifest,
        }
        let out =
            Inspect { signer: &pack.signer, trusted_as: trusted, total_bytes: m.total_bytes(), manifest: m };
        out!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    out!("id:          {}", m.id);
    out!("version:     {}", m.version);
    out!("title:       {}", m.title);
    out!("language:    {}", m.language);
    out!("publisher:   {}", m.publisher);
    out!("licence:     {}", m.licence);
    let signer = match (&pack.signer, trusted) {
        (Some(key), Some(name)) => format!("{key} (trusted as {name})"),
        (Some(key), None) => format!("{key} (not in this laptop's trust store)"),
        (None, _) => "none: the pack is unsigned".into(),
    };
    out!("signer:      {signer}");
    out!("files:       {} ({} bytes)", m.files.len(), m.total_bytes());
    out!("lessons:     {}", m.lesson_count());
    for module in &m.modules {
        out!("  {} — {}", module.id, module.title);
        for lesson in &module.lessons {
            let kind = match (&lesson.entry, &lesson.quiz) {
                (Some(_), Some(q)) => format!("page + quiz of {}", q.items.len()),
                (Some(_), None) => "page".into(),
                (None, Some(q)) => format!("quiz of {}", q.items.len()),
                (None, None) => String::new(),
            };
            out!("    {} — {} [{kind}]", lesson.id, lesson.title);
        }
    }
    Ok(())
}

fn progress(cmd: &ProgressCommand, store: &Store) -> Result<()> {
    use kalamu_core::progress::event::EventBody;
    match cmd {
        ProgressCommand::Record { learner, pack, lesson, pin, event } => {
            // A PIN keeps a classmate from studying under someone's name, here as in the app.
            store.check_pin(learner, pin.as_deref())?;
            let body = match event {
                RecordEvent::Opened => EventBody::LessonOpened,
                RecordEvent::Position { at, media } => EventBody::Position { media: media.clone(), at: *at },
                RecordEvent::Completed => EventBody::LessonCompleted,
                RecordEvent::Time { seconds } => EventBody::TimeSpent { seconds: *seconds },
                RecordEvent::Quiz { answers } => {
                    let answers = serde_json::from_str(answers).map_err(|e| {
                        anyhow::anyhow!("the answers are not a JSON object of item ids to answers: {e}")
                    })?;
                    let graded = store.answer_quiz(learner, pack, lesson, answers)?;
                    out!("{}", serde_json::to_string(&graded)?);
                    return Ok(());
                }
            };
            store.lesson(pack, lesson)?; // only lessons of installed packs take progress
            let event = store.record(learner, pack, lesson, body)?;
            out!("{}", serde_json::to_string(&event)?);
        }
        ProgressCommand::Show { learner, json } => {
            let learners = match learner {
                Some(id) => vec![store.learner(id)?],
                None => store.learners()?,
            };
            let mut all = Vec::new();
            for l in learners {
                let p = store.progress(&l.id)?;
                if !json {
                    out!("{} ({})", printable(&l.name), l.id);
                    for pack in &p.packs {
                        out!(
                            "  {}: {}/{} lessons, {} min",
                            pack.pack_id,
                            pack.completed,
                            pack.total,
                            pack.seconds / 60
                        );
                    }
                    if let Some(r) = &p.resume {
                        out!("  resume: {} / {}", r.pack_id, r.lesson_id);
                    }
                }
                all.push(serde_json::json!({ "learner": l, "progress": p }));
            }
            if *json {
                out!("{}", serde_json::to_string_pretty(&all)?);
            }
        }
    }
    Ok(())
}

fn trust(cmd: &TrustCommand, store: &Store) -> Result<()> {
    match cmd {
        TrustCommand::Add { public_key, name } => {
            let p = store.trust_add(public_key, name)?;
            out!("Trusted {} ({})", p.name, p.public_key);
        }
        TrustCommand::List(list) => {
            let publishers = store.trust_list()?;
            print_list(
                list,
                &publishers,
                "No trusted publishers. Add one with: kalamu trust add KEY --name NAME",
                |p| format!("{}\t{}", p.public_key, printable(&p.name)),
            )?;
        }
        TrustCommand::Remove { public_key } => {
            if !store.trust_remove(public_key)? {
                bail!("{public_key} was not trusted");
            }
            out!("No longer trusted: {public_key}");
        }
    }
    Ok(())
}

/// Prints a list as JSON, or one line per item, or a hint when it is empty.
pub(crate) fn print_list<T: Serialize>(
    args: &ListArgs,
    items: &[T],
    empty: &str,
    line: impl Fn(&T) -> String,
) -> Result<()> {
    if args.json {
        out!("{}", serde_json::to_string_pretty(items)?);
    } else if items.is_empty() {
        eprintln!("{empty}");
    } else {
        for item in items {
            out!("{}", line(item));
        }
    }
    Ok(())
}

/// What an import or download installed, for people.
pub(crate) fn print_import(report: &kalamu_core::pack::import::ImportReport) {
    let p = &report.pack;
    match &report.upgraded_from {
        Some(old) => out!("Upgraded {} ({}) from {old} to {}", p.title, p.id, p.version),
        None => out!("Installed {} ({}) {}", p.title, p.id, p.version),
    }
    let signer = match (&report.signer_name, &p.signer) {
        (Some(name), Some(key)) => format!("signed by {name} ({key})"),
        (None, Some(key)) => format!("signed by an untrusted key {key}, accepted by you"),
        _ => "unsigned, accepted by you".to_owned(),
    };
    out!("  {signer}");
    out!(
        "  {} files, {} bytes; {} bytes written, {} chunks already stored",
        report.files,
        report.bytes,
        report.bytes_written,
        report.chunks_reused
    );
}
