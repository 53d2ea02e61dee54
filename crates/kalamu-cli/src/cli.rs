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
    /// Make, check and look into course packs (for publishers).
    #[command(subcommand)]
    Pack(PackCommand),
    /// Manage the publishers whose packs this laptop accepts.
    #[command(subcommand)]
    Trust(TrustCommand),
    /// Install a course pack, or upgrade an installed one.
    Import {
        /// The .kpack file (from a USB stick, a download…).
        file: PathBuf,
        /// Accept a pack that is unsigned or signed by a publisher not in the trust store.
        #[arg(long)]
        allow_unsigned: bool,
    },
    /// List installed packs.
    Packs(ListArgs),
    /// Uninstall a pack (learners' progress is kept).
    Remove {
        /// The pack's id, as `kalamu packs` shows it.
        pack_id: String,
    },
    /// Manage the learners on this laptop.
    #[command(subcommand)]
    Learner(LearnerCommand),
    /// Record and show learners' progress.
    #[command(subcommand)]
    Progress(ProgressCommand),
}

/// `kalamu progress …`
#[derive(Debug, Subcommand)]
pub enum ProgressCommand {
    /// Record an event exactly as the app does.
    Record {
        /// The learner's id.
        #[arg(long)]
        learner: String,
        /// The pack's id.
        #[arg(long)]
        pack: String,
        /// The lesson's id.
        #[arg(long)]
        lesson: String,
        /// What happened.
        #[command(subcommand)]
        event: RecordEvent,
    },
    /// Show progress: every learner's, or one learner's.
    Show {
        /// Only this learner.
        #[arg(long)]
        learner: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// The events `progress record` can record.
#[derive(Debug, Subcommand)]
pub enum RecordEvent {
    /// The learner opened the lesson.
    Opened,
    /// The learner's position: seconds into a video or audio, or a page's scroll fraction.
    Position {
        /// Seconds (media) or fraction 0–1 (page).
        at: f64,
        /// The media file's path in the pack, for a video or audio position.
        #[arg(long)]
        media: Option<String>,
    },
    /// The learner finished the lesson.
    Completed,
    /// Time spent in the lesson.
    Time {
        /// Seconds.
        seconds: u32,
    },
    /// A quiz attempt: answers as JSON, e.g. '{"q1": 1, "q2": [0, 2], "q3": 8, "q4": "router"}'.
    Quiz {
        /// The answers by item id.
        answers: String,
    },
}

/// Options shared by list commands.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `kalamu pack …`
#[derive(Debug, Subcommand)]
pub enum PackCommand {
    /// Write a new publisher secret key and print its public key.
    Keygen {
        /// Where to write the secret key (never overwritten).
        #[arg(long)]
        out: PathBuf,
    },
    /// Build a pack from a source folder (pack.toml, lessons, media, quizzes).
    Build {
        /// The source folder.
        src: PathBuf,
        /// The .kpack file to write.
        #[arg(long)]
        out: PathBuf,
        /// Secret key to sign the pack with.
        #[arg(long)]
        key: Option<PathBuf>,
    },
    /// Check every byte and the signature of a pack; exit 0 only if all check out.
    Verify {
        /// The .kpack file.
        file: PathBuf,
        /// Accept a pack without a signature.
        #[arg(long)]
        allow_unsigned: bool,
    },
    /// Show a pack's id, version, title, signer, sizes and lessons.
    Inspect {
        /// The .kpack file.
        file: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `kalamu trust …`
#[derive(Debug, Subcommand)]
pub enum TrustCommand {
    /// Trust a publisher's public key.
    Add {
        /// The public key (64 hex digits, as `pack keygen` prints it).
        public_key: String,
        /// A name for the publisher, shown when a pack they signed is imported.
        #[arg(long)]
        name: String,
    },
    /// List trusted publishers.
    List(ListArgs),
    /// Stop trusting a publisher's key.
    Remove {
        /// The public key.
        public_key: String,
    },
}

/// `kalamu learner …`
#[derive(Debug, Subcommand)]
pub enum LearnerCommand {
    /// Add a learner and print their id.
    Add {
        /// The learner's name as shown in the learner picker.
        name: String,
        /// A four-digit PIN the learner types to sign in on this laptop.
        #[arg(long)]
        pin: Option<String>,
    },
    /// List learners.
    List(ListArgs),
}
