//! Command bodies: open the store, call kalamu-core, print.

use anyhow::Result;
use kalamu_core::{Store, datadir};
use serde::Serialize;

use crate::cli::{Cli, Command, LearnerCommand, ListArgs};

/// Runs one parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    let store = || -> Result<Store> { Ok(Store::open_dir(&datadir::resolve(cli.data.as_deref())?)?) };
    match &cli.command {
        Command::Packs(list) => {
            let packs = store()?.packs()?;
            print_list(list, &packs, "No packs installed. Import one with: kalamu import FILE.kpack", |p| {
                format!("{}\t{}\t{}", p.id, p.version, p.title)
            })
        }
        Command::Learner(LearnerCommand::Add { name }) => {
            let learner = store()?.add_learner(name)?;
            println!("{}", learner.id);
            Ok(())
        }
        Command::Learner(LearnerCommand::List(list)) => {
            let learners = store()?.learners()?;
            print_list(list, &learners, "No learners yet. Add one with: kalamu learner add NAME", |l| {
                format!("{}\t{}", l.id, l.name)
            })
        }
    }
}

/// Prints a list as JSON, or one line per item, or a hint when it is empty.
fn print_list<T: Serialize>(
    args: &ListArgs,
    items: &[T],
    empty: &str,
    line: impl Fn(&T) -> String,
) -> Result<()> {
    if args.json {
        println!("{}", serde_json::to_string_pretty(items)?);
    } else if items.is_empty() {
        eprintln!("{empty}");
    } else {
        for item in items {
            println!("{}", line(item));
        }
    }
    Ok(())
}
