//! The one error type of kalamu-core, with messages a person can act on.

use std::path::PathBuf;

/// Everything that can go wrong in kalamu-core.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The store file exists but was not written by Kalamu.
    #[error("{path} is not a Kalamu store (it is {what}); choose another data directory")]
    NotAStore {
        /// The file that was opened.
        path: PathBuf,
        /// What the file appears to be instead.
        what: String,
    },
    /// The store was written by a newer Kalamu than this one.
    #[error(
        "the store at {path} was written by a newer Kalamu (schema {found}, this version knows up to {supported}); update Kalamu to open it"
    )]
    NewerStore {
        /// The file that was opened.
        path: PathBuf,
        /// The schema version found in the file.
        found: u32,
        /// The newest schema version this build knows.
        supported: u32,
    },
    /// No data directory was given and the platform has none.
    #[error("no data directory: pass --data DIR or set KALAMU_DATA")]
    NoDataDir,
    /// A name that must not be empty was empty.
    #[error("a learner's name cannot be empty")]
    EmptyName,
    /// A name holding control characters.
    #[error("a name cannot hold control characters")]
    ControlInName,
    /// A PIN that is not four digits.
    #[error("a PIN is exactly four digits")]
    BadPin,
    /// The PIN given does not match the learner's.
    #[error("that PIN is not right for this learner")]
    WrongPin,
    /// Too many wrong PINs in a row: the next guess must wait.
    #[error("too many wrong PINs in a row: try again in {seconds} s, or ask the staff")]
    PinWait {
        /// Seconds left to wait.
        seconds: u64,
    },
    /// A learner id that is not in the store.
    #[error("no learner with id {0}")]
    NoSuchLearner(String),
    /// A setting was given a value it cannot take.
    #[error("{key} cannot be set to {value:?}; allowed: {allowed}")]
    BadSetting {
        /// The setting's key.
        key: &'static str,
        /// The value that was refused.
        value: String,
        /// The allowed values, for the message.
        allowed: &'static str,
    },
    /// A pack or a pack's source folder has a problem.
    #[error("{pack}: {problem}")]
    Pack {
        /// The pack file or source folder.
        pack: PathBuf,
        /// The specific problem.
        problem: crate::pack::Problem,
    },
    /// The pack is unsigned and the person has not accepted that.
    #[error("{pack} is not signed; import it only if you trust where it came from (--allow-unsigned)")]
    Unsigned {
        /// The pack file.
        pack: PathBuf,
    },
    /// The pack's signer is not in the trust store and the person has not accepted that.
    #[error(
        "{pack} is signed by an unknown publisher (key {key}); trust the key with `kalamu trust add` or import with --allow-unsigned"
    )]
    UnknownPublisher {
        /// The pack file.
        pack: PathBuf,
        /// The signer's public key.
        key: String,
    },
    /// The installed version is the same or newer.
    #[error("{id} {installed} is already installed; {offered} is not newer")]
    NotNewer {
        /// Pack id.
        id: String,
        /// Installed version.
        installed: String,
        /// Version offered.
        offered: String,
    },
    /// Not enough free disk space.
    #[error(
        "not enough free space in {dir}: the import needs {needed} MB and {available} MB are free, of which {reserve} MB are kept for learners' own progress; free some space and try again"
    )]
    NoSpace {
        /// Where the space is needed.
        dir: PathBuf,
        /// Megabytes needed.
        needed: u64,
        /// Megabytes free.
        available: u64,
        /// Megabytes kept free for this laptop's own recording.
        reserve: u64,
    },
    /// No installed pack with this id.
    #[error("no installed pack with id {0}")]
    NoSuchPack(String),
    /// An upgrade is signed by another publisher than the installed version.
    #[error(
        "the upgrade of {id} is signed by {offered}, but the installed version by {installed}: it would replace the course and its answer key; import it only if you trust the change (--accept-new-publisher)"
    )]
    PublisherChanged {
        /// Pack id.
        id: String,
        /// Who signed the installed version.
        installed: String,
        /// Who signed the upgrade.
        offered: String,
    },
    /// A downloaded pack is not the one its source offered.
    #[error("{pack} is {found}, but {offered} was offered; it is not installed")]
    NotAsOffered {
        /// The pack file.
        pack: PathBuf,
        /// What was offered: id, version and signer.
        offered: String,
        /// What the file holds.
        found: String,
    },
    /// A patch needs files this laptop does not hold.
    #[error("{0}")]
    PatchNeedsBase(Box<crate::pack::patch::MissingBase>),
    /// No file at this path in the pack.
    #[error("pack {pack} has no file {path}")]
    NoSuchFile {
        /// Pack id.
        pack: String,
        /// Path asked for.
        path: String,
    },
    /// A byte range outside the file.
    #[error("bytes {start}..{end} are outside {path} ({size} bytes)")]
    BadRange {
        /// Path.
        path: String,
        /// Start asked for.
        start: u64,
        /// End asked for.
        end: u64,
        /// The file's size.
        size: u64,
    },
    /// A key that cannot be used.
    #[error("{what}")]
    BadKey {
        /// What is wrong with it.
        what: String,
    },
    /// A stored chunk is missing or damaged.
    #[error("the stored content of {path} is damaged; remove the pack and import it again")]
    DamagedContent {
        /// The file affected.
        path: String,
    },
    /// A stored progress event cannot be read.
    #[error("progress event {id} is damaged ({why})")]
    DamagedEvent {
        /// Event id.
        id: String,
        /// What is wrong.
        why: String,
    },
    /// No lesson with this id in the pack.
    #[error("pack {pack} has no lesson {lesson}")]
    NoSuchLesson {
        /// Pack id.
        pack: String,
        /// Lesson id asked for.
        lesson: String,
    },
    /// The lesson has no quiz to answer.
    #[error("lesson {0} has no quiz")]
    NoQuiz(String),
    /// A sync batch that cannot be used.
    #[error("the sync batch was refused: {0}")]
    BadBatch(String),
    /// An event whose body breaks the bounds every store applies.
    #[error("event {event} was refused: {why}")]
    BadEvent {
        /// The event's id.
        event: String,
        /// What is wrong.
        why: String,
    },
    /// An event stamped past the sane range (beyond the year 2200).
    #[error(
        "the sync batch was refused: event {event} is stamped {millis} ms after 1970, past the year 2200; a damaged or forged event"
    )]
    BadStamp {
        /// The event's id as it came.
        event: String,
        /// The stamp's wall-clock part.
        millis: u64,
    },
    /// A batch that would leave a hole in a device's sequence of events.
    #[error(
        "the sync batch skips events of device {device}: this side holds up to {have}, the batch starts at {got}"
    )]
    SyncGap {
        /// The recording device.
        device: String,
        /// Highest sequence number held.
        have: u64,
        /// The sequence number that came.
        got: u64,
    },
    /// Two different events claim the same device and sequence number.
    #[error("event {seq} of device {device} differs from the one already stored; nothing was changed")]
    SyncConflict {
        /// The recording device.
        device: String,
        /// The sequence number.
        seq: u64,
    },
    /// Sync needs an enrolment first.
    #[error("this laptop is not enrolled with a hub yet; run `kalamu enroll --hub URL --code CODE`")]
    NotEnrolled,
    /// Events whose signature does not hold: changed, added or dropped on the way.
    #[error("events of device {device} cannot be traced to it ({why}); nothing was changed")]
    BadProof {
        /// The device they claim.
        device: String,
        /// What did not hold.
        why: String,
    },
    /// A new identity for this laptop that this store already holds events of.
    #[error("this store already holds events of device {0}; it cannot become that laptop")]
    DeviceIdHeld(String),
    /// The laptop already belongs to another center.
    #[error("this laptop belongs to center {ours}; it cannot also join {theirs}")]
    OtherCenter {
        /// The center it belongs to.
        ours: String,
        /// The center it was asked to join.
        theirs: String,
    },
    /// This laptop does not hold its hub's bundle key yet.
    #[error(
        "this laptop does not know its hub's bundle key yet (it enrolled before bundles were sealed): sync it once \
         over the network, or enrol it again"
    )]
    NoBundleKey,
    /// A bundle to make that no one could read.
    #[error("no enrolled laptop of this center could read a bundle yet: enrol a laptop first")]
    NoBundleReaders,
    /// A sync bundle that cannot be imported.
    #[error("{path}: {problem}")]
    Bundle {
        /// The bundle file.
        path: PathBuf,
        /// What is wrong with it.
        problem: crate::sync::BundleProblem,
    },
    /// A setup stick whose folder or `stick.toml` cannot be used.
    #[error("{path} is not a usable Kalamu setup stick: {reason}")]
    BadStick {
        /// The stick's folder.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A folder to write into does not exist (nor the folder around it).
    #[error("the folder {0} does not exist; plug in the USB stick, or choose or create another folder")]
    NoFolder(PathBuf),
    /// A file system operation failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done, e.g. "cannot create".
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// SQLite failed in a way this crate did not expect.
    #[error("the local store failed: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

impl Error {
    /// A stable, machine-readable code for the UI and scripts to tell kinds apart.
    pub fn code(&self) -> &'static str {
        match self {
            Error::NotAStore { .. } => "not_a_store",
            Error::NewerStore { .. } => "newer_store",
            Error::NoDataDir => "no_data_dir",
            Error::EmptyName => "empty_name",
            Error::ControlInName => "control_in_name",
            Error::BadPin => "bad_pin",
            Error::WrongPin => "wrong_pin",
            Error::PinWait { .. } => "pin_wait",
            Error::NoSuchLearner(_) => "no_such_learner",
            Error::BadSetting { .. } => "bad_setting",
            Error::Pack { problem, .. } => problem.code(),
            Error::Unsigned { .. } => "unsigned",
            Error::UnknownPublisher { .. } => "unknown_publisher",
            Error::NotNewer { .. } => "not_newer",
            Error::NoSpace { .. } => "no_space",
            Error::NoSuchPack(_) => "no_such_pack",
            Error::NotAsOffered { .. } => "not_as_offered",
            Error::PublisherChanged { .. } => "publisher_changed",
            Error::PatchNeedsBase(_) => "patch_needs_base",
            Error::NoSuchFile { .. } => "no_such_file",
            Error::BadRange { .. } => "bad_range",
            Error::BadKey { .. } => "bad_key",
            Error::DamagedContent { .. } => "damaged_content",
            Error::DamagedEvent { .. } => "damaged_event",
            Error::NoSuchLesson { .. } => "no_such_lesson",
            Error::NoQuiz(_) => "no_quiz",
            Error::BadBatch(_) => "bad_batch",
            Error::BadStamp { .. } => "bad_stamp",
            Error::BadEvent { .. } => "bad_event",
            Error::SyncGap { .. } => "sync_gap",
            Error::SyncConflict { .. } => "sync_conflict",
            Error::NotEnrolled => "not_enrolled",
            Error::BadProof { .. } => "bad_proof",
            Error::DeviceIdHeld(_) => "device_id_held",
            Error::OtherCenter { .. } => "enrolled_elsewhere",
            Error::NoBundleKey => "no_bundle_key",
            Error::NoBundleReaders => "no_bundle_readers",
            Error::Bundle { problem, .. } => problem.code(),
            Error::BadStick { .. } => "bad_stick",
            Error::NoFolder(_) => "no_folder",
            Error::Io { .. } => "io",
            Error::Sqlite(_) => "store",
        }
    }

    /// The wire code of the sync rules' refusals, which a hub sends on to laptops.
    pub fn wire_code(&self) -> Option<crate::sync::WireCode> {
        use crate::sync::WireCode;
        Some(match self {
            Error::BadBatch(_) => WireCode::BadBatch,
            Error::BadStamp { .. } => WireCode::BadStamp,
            Error::BadEvent { .. } => WireCode::BadEvent,
            Error::SyncGap { .. } => WireCode::SyncGap,
            Error::SyncConflict { .. } => WireCode::SyncConflict,
            Error::BadProof { .. } => WireCode::BadProof,
            Error::Sqlite(_) => WireCode::Database,
            Error::Io { .. } => WireCode::Io,
            _ => return None,
        })
    }

    pub(crate) fn pack(pack: impl Into<PathBuf>, problem: crate::pack::Problem) -> Self {
        Error::Pack { pack: pack.into(), problem }
    }

    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { action, path: path.into(), source }
    }
}

/// Result with kalamu-core's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
