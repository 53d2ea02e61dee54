//! The laptop's side of the network: the hub's API over HTTP, and the sync
//! loop that drives kalamu-core's rules with it. Shared by the `kalamu`
//! command and the app.

pub mod download;
pub mod error;
mod growing;
pub mod http;
pub mod sync;
pub mod tls;

pub use error::{ClientError, Result};
pub use http::HubClient;
pub use sync::{DEFAULT_TIMEOUT, SyncReport, enroll, enroll_as_new, host_name, sync};
