//! The Kalamu hub: one per training center (SQLite) or per country
//! (PostgreSQL). It enrols laptops, syncs progress with them, and hands
//! staff sync bundles for laptops that never reach it.
//!
//! Handlers are thin ([`api`]); the sync rules come from kalamu-core; all
//! state lives behind [`storage::Storage`], so hub processes are interchangeable.

pub mod admin;
pub mod api;
pub mod catalog;
pub mod db;
pub mod enrol_limit;
pub mod error;
pub mod listener;
pub mod postgres;
pub mod projection;
pub mod report;
pub mod rules;
pub mod runs;
pub mod sqlite;
pub mod staff;
pub mod storage;
pub mod tls;
pub mod web;

pub use error::{HubError, Result};
