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
    /// Install a course pack, or upgrade an installed one (from a .kpack, or a .kpatch).
    Import {
        /// The .kpack or .kpatch file (from a USB stick, a download…).
        file: PathBuf,
        /// Accept a pack that is unsigned or signed by a publisher not in the trust store.
        #[arg(long)]
        allow_unsigned: bool,
        /// Accept an upgrade signed by another publisher than the installed version (it replaces the course and its answer key).
        #[arg(long)]
        accept_new_publisher: bool,
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
    /// Join this laptop to a center's hub with a one-time code from its staff.
    Enroll {
        /// The hub's address, e.g. http://192.168.1.10:7878.
        #[arg(long)]
        hub: String,
        /// The enrolment code (`kalamu hub enroll-code` on the hub prints one).
        #[arg(long)]
        code: String,
        /// A name staff will recognise this laptop by (default: its host name).
        #[arg(long)]
        name: Option<String>,
        /// Join as a new laptop, with a new id: how staff take back a laptop
        /// they revoked. What it recorded and the hub never acknowledged goes with it.
        #[arg(long)]
        as_new_laptop: bool,
    },
    /// Push and pull progress with the hub now; print what moved and what is pending.
    Sync(SyncArgs),
    /// List the courses the hub offers, marked against this laptop's.
    Catalog(ListArgs),
    /// Download a course from the hub and install or upgrade it (a cut download resumes).
    Download {
        /// The pack's id, as `kalamu catalog` shows it.
        pack_id: String,
        /// Accept a pack that is unsigned or signed by a publisher not in the trust store.
        #[arg(long)]
        allow_unsigned: bool,
        /// Accept an upgrade signed by another publisher than the installed version (it replaces the course and its answer key).
        #[arg(long)]
        accept_new_publisher: bool,
    },
    /// Run and manage a center's hub.
    Hub(HubArgs),
    /// Write or load a center's setup stick (packages, courses, publishers, guide).
    #[command(subcommand)]
    Stick(StickCommand),
}

/// `kalamu stick …`
#[derive(Debug, Subcommand)]
pub enum StickCommand {
    /// Put on a USB stick the packages, these packs and this laptop's trusted publishers, with a guide.
    Write {
        /// The stick's folder (its root).
        dir: PathBuf,
        /// A course pack to carry (verified first; signed by a publisher this laptop trusts).
        #[arg(long = "pack", value_name = "F.kpack")]
        packs: Vec<PathBuf>,
        /// A folder holding the Debian packages to carry (`target/packages` after `scripts/package.sh`).
        #[arg(long, value_name = "DIR")]
        packages: Option<PathBuf>,
    },
    /// Install a setup stick's courses on this laptop, trusting its publishers once a person accepts them.
    Load {
        /// The stick's folder (its root, or its kalamu-setup folder).
        dir: PathBuf,
        /// Trust the publishers the stick lists (check their keys against the stick's guide first).
        #[arg(long)]
        accept_publishers: bool,
    },
}

/// `kalamu sync [export|import]`
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct SyncArgs {
    /// Use this hub address from now on (the hub moved).
    #[arg(long)]
    pub hub: Option<String>,
    /// Seconds a request may take before the link counts as cut.
    #[arg(long, default_value_t = 30)]
    pub timeout: u64,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Carry progress on a USB stick instead.
    #[command(subcommand)]
    pub bundle: Option<BundleCommand>,
}

/// `kalamu sync export|import`
#[derive(Debug, Subcommand)]
pub enum BundleCommand {
    /// Write this laptop's progress to a sync bundle for the hub.
    Export {
        /// The bundle file to write.
        #[arg(long)]
        out: PathBuf,
    },
    /// Import a sync bundle the center's hub made.
    Import {
        /// The bundle file.
        file: PathBuf,
    },
}

/// `kalamu hub …`
#[derive(Debug, Args)]
pub struct HubArgs {
    /// The hub's database: sqlite:PATH or postgres://USER@HOST/DB (default: hub.db in the data directory).
    #[arg(long, global = true, value_name = "URL")]
    pub db: Option<String>,
    /// The hub's settings file (the package's is /etc/kalamu/hub.toml); flags override it.
    #[arg(long, global = true, value_name = "FILE", env = "KALAMU_HUB_CONFIG")]
    pub config: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: HubCommand,
}

/// The hub's commands.
#[derive(Debug, Subcommand)]
pub enum HubCommand {
    /// Serve the hub (on loopback unless told otherwise).
    Serve {
        /// Address to listen on (default 127.0.0.1:7878); 0.0.0.0:7878 serves the whole network.
        #[arg(long)]
        listen: Option<String>,
        /// When the staff reports take in new progress: while the hub is
        /// idle (pages open at once; the default), or only when a page is viewed.
        #[arg(long, value_enum)]
        reports: Option<ReportsWhen>,
        /// Serve plain HTTP instead of TLS: for loopback tests, or behind a
        /// proxy that speaks TLS for the hub. Laptops then pin nothing, and
        /// anyone on the network can read their credentials.
        #[arg(long)]
        plain_http: bool,
        /// Behind a proxy that speaks TLS for the hub: the certificate it
        /// presents (PEM). Laptops pin its key at enrolment, and the
        /// enrolment proofs cover it, as they cover the hub's own.
        #[arg(long, value_name = "PEM")]
        proxy_cert: Option<std::path::PathBuf>,
        /// Seconds between relays to the hub above (see `hub upstream`), when it can be reached.
        #[arg(long, value_name = "SECONDS", default_value_t = 10)]
        relay_every: u64,
    },
    /// Relay a center's progress to the hub above this one (a country's),
    /// with a code its staff made (`kalamu hub enroll-code CENTER --relay`):
    /// from then on the serving hub does so by itself whenever it is reachable.
    Upstream {
        /// The hub above: its URL.
        #[arg(long)]
        hub: String,
        /// The relay code its staff gave.
        #[arg(long)]
        code: String,
        /// This hub's center whose progress goes up (name or id).
        #[arg(long)]
        center: String,
    },
    /// Manage centers.
    #[command(subcommand)]
    Center(CenterCommand),
    /// Print a single-use code that enrols one laptop into a center.
    EnrollCode {
        /// The center's name or id.
        center: String,
        /// Minutes until the code stops working.
        #[arg(long, default_value_t = 30)]
        ttl_minutes: u32,
        /// Make the code for this enrolled laptop (its device id), to give it a
        /// new credential; without it, the code enrols a new laptop only.
        #[arg(long, value_name = "ID", conflicts_with = "relay")]
        device: Option<String>,
        /// Make the code for a center's own hub, which will relay that
        /// center's laptops' progress here (`kalamu hub upstream` on it).
        #[arg(long)]
        relay: bool,
    },
    /// List enrolled laptops, their last contact and whether their clock is off.
    Devices {
        /// Only this center's laptops (name or id).
        #[arg(long)]
        center: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Refuse a laptop from now on (lost, stolen or given away).
    Revoke {
        /// The laptop's device id, as `hub devices` shows it.
        device: String,
    },
    /// Write a center's progress to a sync bundle for laptops that never reach the hub.
    Export {
        /// The center's name or id.
        center: String,
        /// The bundle file to write.
        #[arg(long)]
        out: PathBuf,
    },
    /// Import a sync bundle a laptop made.
    Import {
        /// The bundle file.
        file: PathBuf,
    },
    /// Manage the staff accounts that sign in to the hub's pages.
    #[command(subcommand)]
    Staff(StaffCommand),
    /// Manage the publishers whose packs the hub accepts.
    #[command(subcommand)]
    Trust(TrustCommand),
    /// Verify a pack as an import does and store it on the hub, for reports and laptops.
    Publish {
        /// The `.kpack` file.
        file: PathBuf,
    },
    /// Build the staff reports again from every stored event.
    RebuildReports,
    /// List the packs the hub offers its laptops.
    Catalog(ListArgs),
    /// Require a published pack of a center's laptops: they fetch it by themselves.
    Require {
        /// The pack's id.
        pack_id: String,
        /// The center (name or id).
        #[arg(long)]
        center: String,
        /// No longer require it.
        #[arg(long)]
        no_longer: bool,
    },
    /// Stop offering a pack (laptops keep what they installed).
    Unpublish {
        /// The pack's id.
        pack_id: String,
    },
}

/// When `hub serve` folds new progress into the staff reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReportsWhen {
    /// Whenever the hub is idle.
    Idle,
    /// Only when a staff page is viewed.
    Viewed,
}

/// `kalamu hub staff …`
#[derive(Debug, Subcommand)]
pub enum StaffCommand {
    /// Add a staff account and print its one-time password.
    Add {
        /// The name they sign in with.
        name: String,
        /// A coach of this center (name or id).
        #[arg(long, required_unless_present = "admin", conflicts_with = "admin")]
        center: Option<String>,
        /// An admin of every center.
        #[arg(long)]
        admin: bool,
    },
    /// List staff accounts.
    List(ListArgs),
    /// Remove a staff account; its sessions end.
    Remove {
        /// The account's name.
        name: String,
    },
    /// Give an account a new one-time password; its sessions end.
    Reset {
        /// The account's name.
        name: String,
    },
}

/// `kalamu hub center …`
#[derive(Debug, Subcommand)]
pub enum CenterCommand {
    /// Add a center and print its id.
    Add {
        /// The center's name.
        name: String,
    },
    /// List centers.
    List(ListArgs),
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
        /// The learner's PIN, for a learner who has one.
        #[arg(long)]
        pin: Option<String>,
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
    /// Write a patch (.kpatch) with only what NEW changed since OLD, for a USB stick.
    Diff {
        /// The version laptops have.
        old: PathBuf,
        /// The version they should get.
        new: PathBuf,
        /// The .kpatch file to write.
        #[arg(long)]
        out: PathBuf,
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
