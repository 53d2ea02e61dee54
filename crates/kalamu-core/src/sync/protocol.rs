//! The hub's HTTP API as both sides see it: paths, headers and JSON bodies.
//! Batches travel as raw [`super::wire`] bytes, everything else as JSON.

use serde::{Deserialize, Serialize};

use super::vector::VersionVector;

/// `GET`: is the hub there, and what time is it there.
pub const HEALTH: &str = "/v1/health";
/// `POST` [`EnrollRequest`] → [`EnrollResponse`].
pub const ENROLL: &str = "/v1/enroll";
/// `GET` → [`VectorResponse`]: what the hub holds of this center.
pub const VECTOR: &str = "/v1/sync/vector";
/// `POST` a batch → [`PushAck`].
pub const PUSH: &str = "/v1/sync/push";
/// `POST` [`PullRequest`] → batches ([`BATCHES_TYPE`]), with [`MORE_HEADER`].
pub const PULL: &str = "/v1/sync/pull";
/// `GET` → a list of [`CatalogEntry`]: the packs the hub offers.
pub const CATALOG: &str = "/v1/catalog";
/// `GET` a pack file by id (`/v1/packs/ID`), whole or from a `Range: bytes=N-`.
pub const PACKS: &str = "/v1/packs";
/// `POST` [`TokenOffer`]: the hash of the credential this laptop will use
/// next; the current one works until it does.
pub const TOKEN: &str = "/v1/token";
/// `POST` [`HeldPacks`]: which packs, at which versions, this laptop holds (for staff).
pub const HELD: &str = "/v1/held-packs";
/// What a center's hub that relays to this one learns from it: revocations and required courses.
pub const RELAY_DOWN: &str = "/v1/relay/down";
/// `POST` [`PatchRequest`] to `/v1/packs/ID/patch` → a patch (`kalamu-patch.json`,
/// the manifest, its signature, and only the files whose content the laptop lacks).
pub const PATCH_SUFFIX: &str = "patch";
/// The laptop's wall clock (unix ms) with every request, so the hub can flag clocks far off.
pub const CLOCK_HEADER: &str = "x-kalamu-clock";
/// On a pull response: `1` when the hub holds more than it sent.
pub const MORE_HEADER: &str = "x-kalamu-more";
/// On a pull response: `1` when the laptop holds events the hub lacks beyond
/// what it just pushed (the hub was restored from a backup, or events were
/// recorded meanwhile): ask for the vector and push again.
pub const BEHIND_HEADER: &str = "x-kalamu-behind";
/// On a pull response: the hub's clock (unix ms).
pub const TIME_HEADER: &str = "x-kalamu-time";
/// Content type of a batch.
pub const BATCH_TYPE: &str = "application/vnd.kalamu.batch+zstd";
/// Content type of a pull answer: batches one after another, each after its length (u32 LE).
pub const BATCHES_TYPE: &str = "application/vnd.kalamu.batches+zstd";
/// The credential's prefix, so a token pasted in the wrong place is recognisable.
pub const TOKEN_PREFIX: &str = "kd1.";

/// A fresh device credential: 256 random bits after [`TOKEN_PREFIX`].
pub fn new_token() -> String {
    let mut raw = [0u8; 32];
    getrandom::fill(&mut raw).expect("the OS has randomness");
    format!("{TOKEN_PREFIX}{}", hex::encode(raw))
}

/// A laptop asks to join a center.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrollRequest {
    /// Proof that the laptop holds the staff's one-time code, which never
    /// travels ([`crate::sync::enrolment`]).
    pub code_proof: String,
    /// The laptop's fresh nonce for this enrolment (hex).
    pub nonce: String,
    /// The laptop's device id.
    pub device_id: String,
    /// A name for staff to recognise the laptop by.
    pub device_name: String,
    /// The laptop's Ed25519 public key (hex), which its batches are signed with.
    #[serde(default)]
    pub device_key: Option<String>,
}

/// What an enrolled laptop keeps.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnrollResponse {
    /// The center's id.
    pub center_id: String,
    /// The center's name.
    pub center_name: String,
    /// The laptop's credential (the hub keeps only its hash).
    pub device_token: String,
    /// The hub's bundle key (Ed25519, hex; [`crate::sync::seal`]).
    pub hub_bundle_key: String,
    /// The hub's proof that it holds the code too, over the TLS key the
    /// laptop saw: the laptop pins that key only if it holds.
    pub hub_proof: String,
}

/// What the hub holds of the laptop's center.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VectorResponse {
    /// Device → highest sequence number held.
    pub vector: VersionVector,
    /// The hub's clock (unix ms).
    pub hub_time_ms: i64,
    /// The hub's bundle key (hex), for laptops enrolled before bundles were sealed.
    #[serde(default)]
    pub hub_bundle_key: Option<String>,
}

/// The hub's acknowledgement of one pushed batch: it is stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PushAck {
    /// Events in the batch.
    pub received: usize,
    /// Events the hub did not have.
    pub new: usize,
    /// The hub's vector for the devices in the batch, after it.
    pub vector: VersionVector,
}

/// The laptop asks for what it lacks.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PullRequest {
    /// What the laptop holds.
    pub vector: VersionVector,
    /// Most events to send back.
    pub limit: usize,
}

/// The hub's answer to a health check.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Health {
    /// Always `kalamu-hub`.
    pub service: String,
    /// The hub's version.
    pub version: String,
    /// The hub's clock (unix ms).
    pub time_ms: i64,
    /// The fingerprint of the TLS key the hub serves with; empty on plain HTTP.
    #[serde(default)]
    pub hub_key: String,
}

/// The body of every error answer from a hub.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Stable code.
    pub code: super::WireCode,
    /// A sentence for people.
    pub message: String,
    /// For `sync_conflict`: the sequence number of the first pushed event
    /// that differs from the one held, where another copy's history begins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
}

/// A pack the hub offers its laptops.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct CatalogEntry {
    /// Pack id.
    pub id: String,
    /// Its version.
    pub version: String,
    /// Title.
    pub title: String,
    /// A sentence or two about it.
    pub description: String,
    /// Language of the content.
    pub language: String,
    /// Who made it, as the manifest says.
    pub publisher: String,
    /// The signer's public key (hex).
    pub signer: String,
    /// The pack file's size.
    pub bytes: u64,
    /// Lessons in it.
    pub lessons: usize,
    /// Names this exact file: a download resumes only onto the same one.
    pub etag: String,
    /// The laptop's center requires it: laptops fetch it by themselves.
    #[serde(default)]
    pub required: bool,
}

/// A laptop's next credential, as it offers it (the hub keeps only hashes).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenOffer {
    /// BLAKE3 (hex) of the next credential.
    pub next_token_hash: String,
}

/// The packs a laptop holds, as it tells its hub.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeldPacks {
    /// Pack id and installed version, each.
    pub packs: Vec<(String, String)>,
}

/// A laptop asks for what an upgrade needs beyond what it holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchRequest {
    /// BLAKE3 (hex) of the file contents the laptop holds of the pack.
    pub have: Vec<String>,
}

/// What flows down to a center's hub from the hub it relays to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelayDown {
    /// The center's laptops revoked at the upper hub.
    pub revoked: Vec<String>,
    /// The courses the center's laptops must fetch.
    pub required: Vec<String>,
}
