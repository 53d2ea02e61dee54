//! The sync rules, shared by the laptop and the hub: version vectors, the
//! wire format of event batches, applying a batch to the local store, the
//! laptop's enrolment, and sync bundles for USB sticks.
//!
//! The rules are symmetric and pure; the network is someone else's job
//! (kalamu-client on the laptop, kalamu-hub on the hub). See `docs/sync.md`.

pub mod bundle;
pub mod codes;
pub mod engine;
pub mod enrolment;
pub mod link;
pub mod proof;
pub mod protocol;
pub mod rejoin;
pub mod seal;
pub mod vector;
pub mod wire;

pub use bundle::{BundleHeader, BundleImport, BundleProblem, BundleReader, BundleSource};
pub use codes::WireCode;
pub use engine::Applied;
pub use link::{HubAddress, HubLink};
pub use vector::VersionVector;
pub use wire::{Batch, LearnerRecord};
