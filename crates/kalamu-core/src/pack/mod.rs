//! Course packs (`.kpack`): the format, building, signing, verifying and
//! importing them. See `course-packs/FORMAT.md` for the specification.

pub mod arriving;
pub mod build;
mod chunker;
pub mod import;
pub mod locate;
pub mod manifest;
pub mod media;
pub mod outline;
pub mod patch;
pub mod path;
pub mod preview;
pub mod problem;
mod references;
pub mod sign;
pub mod sniff;
pub mod trust;
pub mod verify;

pub use manifest::Manifest;
pub use problem::Problem;

/// Name of the manifest entry at the root of every pack.
pub const MANIFEST_NAME: &str = "kalamu-manifest.json";
/// Name of the signature entry at the root of a signed pack.
pub const SIGNATURE_NAME: &str = "kalamu-signature.json";
/// The pack format version this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;

/// Largest manifest accepted, in bytes.
pub const MAX_MANIFEST_BYTES: u64 = 8 << 20;
/// Largest single file accepted in a pack.
pub const MAX_FILE_BYTES: u64 = 8 << 30;
/// Largest total content accepted in a pack.
pub const MAX_PACK_BYTES: u64 = 64 << 30;
/// Most files accepted in a pack.
pub const MAX_FILES: usize = 50_000;

/// Where a long operation (build, verify, import) has got to, for progress bars.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Progress {
    /// Content bytes done so far.
    pub done: u64,
    /// Content bytes in all.
    pub total: u64,
}
