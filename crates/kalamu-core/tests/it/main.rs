//! Behaviour of kalamu-core across its parts, on real SQLite files.

mod invariants;
mod store;
