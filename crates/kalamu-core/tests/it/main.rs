//! Behaviour of kalamu-core across its parts, on real SQLite files.

mod invariants;
mod pack_build;
mod pack_hostile;
mod pack_import;
mod progress;
mod rawzip;
mod store;
mod support;
mod sync;
