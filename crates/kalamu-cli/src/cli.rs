//! The command line's grammar. Names here are stable: scripts and tests use them.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Kalamu: offline-first learning. Course packs, learners, progress and sync.
#[derive(Debug, Parser)]
#[command(name = "kalamu", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// Data directory (else $KALAMU_DATA, else the platform's data directory).
    #[arg(long, global = true, value_name = "DIR")]
    pub data: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

/// The top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List installed packs.
    Packs(ListArgs),
    /// Manage the learners on this laptop.
    #[command(subcommand)]
    Learner(LearnerCommand),
}

/// Options shared by list commands.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `kalamu learner …`
#[derive(Debug, Subcommand)]
pub enum LearnerCommand {
    /// Add a learner and print their id.
    Add {
        /// The learner's name as shown in the learner picker.
        name: String,
    },
    /// List learners.
    List(ListArgs),
}
