//! The hub's storage, behind one trait so a center's SQLite file and a
//! country's PostgreSQL database serve the same hub. The hub keeps no state
//! outside it: any number of hub processes can share one database.
//!
//! Methods are blocking: the HTTP layer calls the short reads (credentials,
//! pulls) in place and the rest off the async runtime. A push answers through
//! a [`Committing`], so that a thousand pushes waiting for their group commit
//! wait without a thread each.

use kalamu_core::sync::{Applied, Batch, VersionVector};
use serde::Serialize;

use crate::error::{HubError, Result};

/// A training center.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Center {
    /// UUID.
    pub id: String,
    /// Name, unique on the hub.
    pub name: String,
}

/// An enrolled laptop, as staff see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeviceInfo {
    /// The laptop's device id.
    pub id: String,
    /// Its center's id.
    pub center_id: String,
    /// Its name.
    pub name: String,
    /// When it was enrolled (unix ms).
    pub enrolled_at: i64,
    /// When it was revoked, if it was.
    pub revoked_at: Option<i64>,
    /// Its last request (unix ms).
    pub last_seen_at: Option<i64>,
    /// Its clock minus the hub's at its last request.
    pub clock_offset_ms: Option<i64>,
    /// Events the hub holds from it.
    pub events: u64,
    /// Its Ed25519 public key, once it gave one (at enrolment or with its first signed push).
    #[serde(skip)]
    pub public_key: Option<[u8; 32]>,
}

/// Clocks further off than this are flagged to staff.
pub const CLOCK_FLAG_MS: i64 = 5 * 60 * 1000;

impl DeviceInfo {
    /// Its public key, if it gave a valid one: what its bundles are signed with and encrypted to.
    pub fn verifying_key(&self) -> Option<kalamu_core::sync::seal::VerifyingKey> {
        self.public_key.and_then(|k| kalamu_core::sync::seal::VerifyingKey::from_bytes(&k).ok())
    }

    /// Whether this laptop's clock is far enough off to tell staff.
    pub fn clock_is_off(&self) -> bool {
        self.clock_offset_ms.is_some_and(|o| o.abs() > CLOCK_FLAG_MS)
    }
}

/// Who made a request, once their credential checks out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The laptop's device id.
    pub device_id: String,
    /// Its center.
    pub center_id: String,
    /// It showed the next credential it offered: the old one must now die.
    pub by_next_token: bool,
    /// It is a center's hub relaying its laptops' progress, not a laptop.
    pub relay: bool,
}

/// This hub's link to the hub above it (a country's), which it relays one of its centers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    /// The center whose progress goes up.
    pub center_id: String,
    /// The upper hub's address and pinned key.
    pub hub: kalamu_core::sync::link::HubAddress,
    /// This hub's credential there.
    pub token: String,
    /// When the link was made (unix ms).
    pub linked_at: i64,
}

/// Everything the hub stores.
pub trait Storage: Send + Sync + 'static {
    /// Adds a center.
    fn add_center(&self, name: &str) -> Result<Center>;
    /// Every center, by name.
    fn centers(&self) -> Result<Vec<Center>>;
    /// A center by id or name.
    fn center(&self, id_or_name: &str) -> Result<Center>;
    /// Stores the hash of a new enrolment code for a center, valid until
    /// `expires_at`, for a new laptop or for the one laptop `device_id`.
    fn add_enroll_code(
        &self,
        center_id: &str,
        code_hash: &str,
        expires_at: i64,
        device_id: Option<&str>,
    ) -> Result<()>;
    /// Stores the hash of a new enrolment code for a center's hub, which will
    /// relay that center's laptops' progress here, valid until `expires_at`.
    fn add_relay_code(&self, center_id: &str, code_hash: &str, expires_at: i64) -> Result<()>;
    /// Makes each device named a device of `center_id` known through its
    /// relay, unless it is one already ([`crate::rules::relayed_device_row`]
    /// says which may be).
    fn relayed_devices(&self, center_id: &str, devices: &[String], now: i64) -> Result<()>;
    /// This hub's link to the hub above it, if it has one.
    fn upstream(&self) -> Result<Option<Upstream>>;
    /// Keeps this hub's link to the hub above it, in place of any before.
    fn set_upstream(&self, link: &Upstream) -> Result<()>;
    /// The keys ([`kalamu_core::sync::enrolment::code_key`], hex) of codes
    /// that expire after `since`, used or not: an enrolment names its code
    /// only by a proof made with one of them.
    fn enroll_code_keys(&self, since: i64) -> Result<Vec<String>>;
    /// The hub's TLS certificate and private key (DER), if it has made them.
    fn tls_identity(&self) -> Result<Option<(Vec<u8>, Vec<u8>)>>;
    /// Keeps a TLS certificate and key unless another hub process kept one
    /// first; returns the pair kept.
    fn keep_tls_identity(
        &self,
        certificate: &[u8],
        private_key: &[u8],
        now: i64,
    ) -> Result<(Vec<u8>, Vec<u8>)>;
    /// Uses up an enrolment code and enrols the device with its center, all at once.
    fn enroll(
        &self,
        code_hash: &str,
        device_id: &str,
        name: &str,
        token_hash: &str,
        key: Option<[u8; 32]>,
        now: i64,
    ) -> Result<Center>;
    /// The device a credential (its current one, or the next it offered) belongs to; refuses revoked ones.
    fn authenticate(&self, token_hash: &str) -> Result<Caller>;
    /// Notes the hash of the credential a device will use next; its current one works until then.
    fn offer_token(&self, device_id: &str, next_token_hash: &str) -> Result<()>;
    /// Makes the offered credential a device's only one: the one before it no longer works.
    fn adopt_token(&self, device_id: &str) -> Result<()>;
    /// Notes a request from a device and how far its clock is from the hub's.
    /// Staff read this, no sync depends on it: it may be stored just after this returns.
    fn note_seen(&self, device_id: &str, now: i64, clock_offset_ms: Option<i64>) -> Result<()>;
    /// Enrolled devices, of one center or of all.
    fn devices(&self, center_id: Option<&str>) -> Result<Vec<DeviceInfo>>;
    /// One enrolled device.
    fn device(&self, device_id: &str) -> Result<DeviceInfo>;
    /// Refuses a device from now on.
    fn revoke(&self, device_id: &str, now: i64) -> Result<DeviceInfo>;
    /// What the hub holds of a center.
    fn vector(&self, center_id: &str) -> Result<VersionVector>;
    /// Stores batches from laptop `device` of `center_id` (one push, or a
    /// USB bundle's), all in one transaction or none, each with the bytes it
    /// arrived as; returns what they did and the hub's vector for their
    /// devices, after them.
    fn push(
        &self,
        center_id: &str,
        device: &str,
        batches: Vec<Incoming>,
        now: i64,
    ) -> Committing<(Applied, VersionVector)>;
    /// Checks a push's signature on a reader, before it waits for the writer ([`crate::rules::precheck`]).
    fn precheck(&self, device: &str, batch: &Batch) -> Result<crate::rules::Prechecked>;
    /// What a side holding `theirs` lacks of the center, as encoded batches of
    /// about `limit` events in all (at least one whole batch, if anything is lacking).
    fn pull(&self, center_id: &str, theirs: &VersionVector, limit: usize) -> Result<Pulled>;
    /// Up to `limit` of the center's events that a side holding `theirs` lacks, decoded.
    fn events_after(&self, center_id: &str, theirs: &VersionVector, limit: usize) -> Result<Batch>;

    /// Adds a staff account with its password's hash.
    fn add_staff(&self, account: &StaffAccount, password_hash: &str) -> Result<()>;
    /// Every staff account, by name.
    fn staff(&self) -> Result<Vec<StaffAccount>>;
    /// A staff account by name, with its password's hash.
    fn staff_login(&self, name: &str) -> Result<Option<(StaffAccount, String)>>;
    /// Removes a staff account and its sessions.
    fn remove_staff(&self, name: &str) -> Result<StaffAccount>;
    /// Sets an account's password hash and ends its sessions.
    fn set_password(&self, staff_id: &str, password_hash: &str, must_change: bool) -> Result<()>;
    /// Starts a session.
    fn add_session(&self, token_hash: &str, staff_id: &str, csrf: &str, expires_at: i64) -> Result<()>;
    /// The live session behind a cookie, if it has not expired.
    fn session(&self, token_hash: &str, now: i64) -> Result<Option<StaffSession>>;
    /// Ends a session.
    fn end_session(&self, token_hash: &str) -> Result<()>;
    /// Failed sign-ins under each key (an account, an address) in the window that started after `since`.
    fn signin_failures(&self, keys: &[String], since: i64) -> Result<u32>;
    /// Counts a failed sign-in under each key; a window older than `since` starts again at `now`.
    fn note_signin_failure(&self, keys: &[String], since: i64, now: i64) -> Result<()>;
    /// Forgets failed sign-ins under a key.
    fn clear_signin_failures(&self, key: &str) -> Result<()>;

    /// Trusts a publisher's key (hex) under a name.
    fn add_publisher(&self, public_key: &str, name: &str, now: i64) -> Result<()>;
    /// The trusted publishers: key and name.
    fn publishers(&self) -> Result<Vec<(String, String)>>;
    /// Stops trusting a publisher; whether it was trusted.
    fn remove_publisher(&self, public_key: &str) -> Result<bool>;
    /// Stores a verified pack, its file read from `file`, replacing an older version.
    fn publish(&self, pack: &PublishedPack, file: &std::path::Path) -> Result<()>;
    /// The packs the hub holds.
    fn packs(&self) -> Result<Vec<PublishedPack>>;
    /// Piece `n` (of [`PACK_PIECE`] bytes) of a held pack's file, if there is one.
    fn pack_piece(&self, pack_id: &str, n: u64) -> Result<Option<Vec<u8>>>;
    /// Stops offering a pack; whether the hub held it.
    fn unpublish(&self, pack_id: &str) -> Result<bool>;
    /// Makes a pack required of a center's laptops, or no longer.
    fn set_required(&self, center_id: &str, pack_id: &str, required: bool) -> Result<()>;
    /// The packs a center requires.
    fn required(&self, center_id: &str) -> Result<Vec<String>>;
    /// Records which packs (id, version) a laptop says it holds, replacing what it said before.
    fn set_held_packs(&self, device_id: &str, packs: &[(String, String)], now: i64) -> Result<()>;
    /// Which packs the laptops of a center said they hold: (device, pack, version).
    fn held_packs(&self, center_id: &str) -> Result<Vec<(String, String, String)>>;

    /// Folds up to `budget` events not yet in the projection; returns how
    /// many, and whether more wait.
    fn project(&self, budget: usize) -> Result<(usize, bool)>;
    /// Forgets the projection and folds every event again; returns how many.
    fn rebuild_projection(&self) -> Result<usize>;
    /// A center's learners: id and name.
    fn learners(&self, center_id: &str) -> Result<Vec<(String, String)>>;
    /// The projection's tallies of a center, or of one of its learners.
    fn tallies(&self, center_id: &str, learner: Option<&str>) -> Result<Vec<crate::report::TallyRow>>;
    /// How often each learner of a center gave each answer to a quiz's items.
    fn answers(&self, center_id: &str, pack: &str, lesson: &str) -> Result<Vec<crate::report::AnswerCount>>;
    /// A learner's activity, newest first.
    fn activity(
        &self,
        center_id: &str,
        learner: &str,
        limit: usize,
    ) -> Result<Vec<crate::projection::Activity>>;
    /// How many of a center's learners did something since `since` (unix ms).
    fn active_since(&self, center_id: &str, since: i64) -> Result<u64>;
}

/// A staff account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StaffAccount {
    /// UUID.
    pub id: String,
    /// What they sign in with.
    pub name: String,
    /// A coach's center; none for an admin, who sees every center.
    pub center_id: Option<String>,
    /// Until a one-time password is replaced.
    pub must_change: bool,
    /// When the account was made (unix ms).
    pub created_at: i64,
}

impl StaffAccount {
    /// Whether this account may see and change a center.
    pub fn may_see(&self, center_id: &str) -> bool {
        self.center_id.as_deref().is_none_or(|c| c == center_id)
    }
}

/// A signed-in staff member's session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffSession {
    /// Who.
    pub account: StaffAccount,
    /// The token every form of the session carries.
    pub csrf: String,
    /// When it ends (unix ms).
    pub expires_at: i64,
}

/// Size of the pieces a pack file is kept in.
pub const PACK_PIECE: u64 = 1 << 20;

/// A pack published to the hub.
#[derive(Debug, Clone, PartialEq)]
pub struct PublishedPack {
    /// Its manifest, validated.
    pub manifest: kalamu_core::pack::Manifest,
    /// The exact manifest bytes, as signed.
    pub manifest_bytes: Vec<u8>,
    /// The signer's key (hex).
    pub signer: String,
    /// The pack file's size.
    pub bytes: u64,
    /// When it was published (unix ms).
    pub published_at: i64,
}

/// A batch to store, as it arrived, with its signature if checked already.
#[derive(Debug)]
pub struct Incoming {
    /// The batch.
    pub batch: Batch,
    /// The bytes it arrived as.
    pub wire: Vec<u8>,
    /// Its signature, checked before the write ([`Storage::precheck`]).
    pub checked: Option<crate::rules::Prechecked>,
}

impl Incoming {
    /// A batch whose signature the write transaction checks.
    pub fn unchecked(batch: Batch, wire: Vec<u8>) -> Incoming {
        Incoming { batch, wire, checked: None }
    }
}

/// A write queued for a group commit: its answer arrives once it is durably
/// stored (`.await` it, or [`wait`] for it outside the async runtime).
pub type Committing<T> = tokio::sync::oneshot::Receiver<Result<T>>;

/// Waits for a queued write, outside the async runtime.
pub fn wait<T>(committing: Committing<T>) -> Result<T> {
    committing.blocking_recv().unwrap_or_else(|_| Err(HubError::Commit("the hub's writer stopped".into())))
}

/// The answer to a pull: batches as they travel, ready to send.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pulled {
    /// Encoded batches ([`Batch::encode`] bytes), each device's events in sequence order.
    pub frames: Vec<std::sync::Arc<[u8]>>,
    /// Events in them.
    pub events: u64,
    /// Whether the hub holds more than it sent.
    pub more: bool,
    /// Whether the asking side holds events the hub lacks.
    pub behind: bool,
}
