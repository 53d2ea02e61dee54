//! The Kalamu hub: one per training center (SQLite) or per country
//! (PostgreSQL). It enrols devices, syncs progress with them and publishes
//! a catalog of packs.
//!
//! The service itself arrives with the sync work; this crate fixes its
//! place in the workspace so that kalamu-core stays free of server code.
