//! Everything that can be wrong with a pack or a pack's source folder, each
//! named specifically so that a publisher or staff member can act on it.

/// A specific problem found in a pack file or a source folder.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Problem {
    /// The file is not a zip archive at all, or its directory is unreadable.
    #[error("it is not a readable zip archive ({0})")]
    NotAZip(String),
    /// The archive ends before its data does: a partial copy or a pulled USB stick.
    #[error("the archive is truncated or damaged at {path} ({detail})")]
    Truncated {
        /// The entry being read.
        path: String,
        /// What the zip reader said.
        detail: String,
    },
    /// No manifest at the root.
    #[error("it has no {} at its root", super::MANIFEST_NAME)]
    MissingManifest,
    /// The manifest cannot be parsed or breaks a rule of the format.
    #[error("its manifest is invalid: {0}")]
    InvalidManifest(String),
    /// A format version this Kalamu does not know.
    #[error("it uses pack format {0}, which this Kalamu cannot read; update Kalamu")]
    UnsupportedFormat(u32),
    /// The signature entry is malformed.
    #[error("its signature entry is malformed: {0}")]
    MalformedSignature(String),
    /// The signature does not match the manifest: the pack was altered or forged.
    #[error("its signature does not match its manifest: the pack was altered after signing or is forged")]
    BadSignature,
    /// An entry path that could escape the pack or cannot exist on every system.
    #[error("the path {path:?} is unsafe: {why}")]
    UnsafePath {
        /// The path as written.
        path: String,
        /// Why it is refused.
        why: &'static str,
    },
    /// A symbolic link entry.
    #[error("{path:?} is a symbolic link; packs may not contain links")]
    Link {
        /// The entry.
        path: String,
    },
    /// Two entries with the same name.
    #[error("{path:?} appears more than once in the archive")]
    DuplicateEntry {
        /// The repeated name.
        path: String,
    },
    /// Two names that differ only by case, which collide on Windows and macOS.
    #[error("{a:?} and {b:?} differ only by case and would overwrite each other on Windows")]
    CaseCollision {
        /// One name.
        a: String,
        /// The other.
        b: String,
    },
    /// A file listed in the manifest is absent from the archive.
    #[error("{path:?} is listed in the manifest but missing from the archive")]
    MissingFile {
        /// The missing path.
        path: String,
    },
    /// An archive entry the manifest does not list.
    #[error("{path:?} is in the archive but not listed in the manifest")]
    UnlistedEntry {
        /// The extra entry.
        path: String,
    },
    /// An entry whose size is not the size the manifest promises (zip bombs, lying headers).
    #[error("{path:?} should be {expected} bytes but the archive holds {found}")]
    SizeMismatch {
        /// The entry.
        path: String,
        /// Bytes the manifest lists.
        expected: u64,
        /// Bytes found (or claimed by the zip header).
        found: u64,
    },
    /// An entry whose content hash differs from the manifest's.
    #[error("{path:?} does not match its hash in the manifest: the pack was altered or damaged")]
    HashMismatch {
        /// The entry.
        path: String,
    },
    /// Something exceeds a limit of the format.
    #[error("{what} exceeds the limit of {limit}")]
    TooLarge {
        /// What is too large.
        what: String,
        /// The limit, for the message.
        limit: String,
    },
    /// A file whose content is not of the type its name claims.
    #[error("{path:?} claims to be {claimed} but its content is not")]
    NotWhatItClaims {
        /// The file.
        path: String,
        /// The media type its name claims.
        claimed: &'static str,
    },
    /// An entry the importer cannot read (encrypted, unknown compression).
    #[error("{path:?} cannot be read: {why}")]
    UnreadableEntry {
        /// The entry.
        path: String,
        /// Why.
        why: String,
    },
    /// A problem in a pack's source folder, named by file.
    #[error("{file}: {problem}")]
    Source {
        /// The source file (relative to the folder) at fault.
        file: String,
        /// What is wrong with it.
        problem: String,
    },
}

impl Problem {
    /// A stable code for scripts and the UI.
    pub fn code(&self) -> &'static str {
        match self {
            Problem::NotAZip(_) => "not_a_zip",
            Problem::Truncated { .. } => "truncated",
            Problem::MissingManifest => "missing_manifest",
            Problem::InvalidManifest(_) => "invalid_manifest",
            Problem::UnsupportedFormat(_) => "unsupported_format",
            Problem::MalformedSignature(_) => "malformed_signature",
            Problem::BadSignature => "bad_signature",
            Problem::UnsafePath { .. } => "unsafe_path",
            Problem::Link { .. } => "link",
            Problem::DuplicateEntry { .. } => "duplicate_entry",
            Problem::CaseCollision { .. } => "case_collision",
            Problem::MissingFile { .. } => "missing_file",
            Problem::UnlistedEntry { .. } => "unlisted_entry",
            Problem::SizeMismatch { .. } => "size_mismatch",
            Problem::HashMismatch { .. } => "hash_mismatch",
            Problem::TooLarge { .. } => "too_large",
            Problem::NotWhatItClaims { .. } => "not_what_it_claims",
            Problem::UnreadableEntry { .. } => "unreadable_entry",
            Problem::Source { .. } => "source",
        }
    }

    pub(crate) fn source(file: impl Into<String>, problem: impl Into<String>) -> Self {
        Problem::Source { file: file.into(), problem: problem.into() }
    }
}
