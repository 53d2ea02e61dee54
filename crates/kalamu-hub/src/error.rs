//! The one error type of kalamu-hub. Each error has an HTTP status and a
//! stable code, and its message tells the laptop's user or the operator what to do.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use kalamu_core::sync::WireCode;
use kalamu_core::sync::protocol::ErrorBody;

/// Everything the hub can refuse or fail at.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// No credential came with the request.
    #[error("this request has no device credential; enrol the laptop with `kalamu enroll`")]
    NoCredential,
    /// The credential is not one the hub gave.
    #[error("the hub does not know this laptop; enrol it again with a new code from the center's staff")]
    UnknownDevice,
    /// The device was revoked by staff.
    #[error("this laptop was removed from the center by its staff; ask them to enrol it again")]
    Revoked,
    /// The enrolment code is not one the hub issued.
    #[error("that enrolment code is not right; check it, or ask the staff for a new one")]
    BadCode,
    /// The enrolment code was already used.
    #[error("that enrolment code was already used; each code enrols one laptop, ask the staff for a new one")]
    CodeUsed,
    /// The enrolment code is too old.
    #[error("that enrolment code has expired; ask the staff for a new one")]
    CodeExpired,
    /// A plain code was used for a laptop the hub knows already.
    #[error(
        "this laptop is enrolled already; to give it a new credential, staff make a code for it with `kalamu hub enroll-code CENTER --device ID`"
    )]
    DeviceKnown,
    /// A code staff made for one laptop was used by another.
    #[error("that enrolment code was made for another laptop; ask the staff for a code for this one")]
    CodeForAnotherDevice,
    /// A revoked laptop tried to enrol again.
    #[error("this laptop was removed from the center by its staff; it can join again only as a new laptop")]
    RevokedForGood,
    /// A laptop pushed events it did not record.
    #[error(
        "event {seq} of device {device} was not recorded by this laptop; a laptop sends only its own events"
    )]
    NotYourEvent {
        /// The device the event claims.
        device: String,
        /// Its sequence number.
        seq: u64,
    },
    /// A push that describes more learners than one push may.
    #[error("the batch describes {0} learners; a laptop sends at most 256 in one push")]
    TooManyLearners(usize),
    /// A push that would take the learners a laptop added today past the day's bound.
    #[error(
        "this laptop added {today} learners today and sent {more} more; a laptop adds at most 1000 a day, the rest wait until tomorrow"
    )]
    TooManyLearnersToday {
        /// Learners the laptop added in the last day.
        today: u64,
        /// New learners in the refused push.
        more: usize,
    },
    /// The device is enrolled with another center already.
    #[error("this laptop already belongs to another center")]
    DeviceInOtherCenter,
    /// Data of another center was asked for or offered.
    #[error("{0} belongs to another center; a laptop reads and writes only its own center's data")]
    OtherCenter(String),
    /// No center by that name or id.
    #[error("no center named {0:?}; list them with `kalamu hub center list`")]
    NoSuchCenter(String),
    /// A center with that name exists already.
    #[error("a center named {0:?} exists already")]
    CenterExists(String),
    /// No device with that id.
    #[error("no device {0}; list them with `kalamu hub devices`")]
    NoSuchDevice(String),
    /// A staff account by that name exists already.
    #[error("a staff account named {0:?} exists already")]
    StaffExists(String),
    /// No staff account by that name.
    #[error("no staff account named {0:?}; list them with `kalamu hub staff list`")]
    NoSuchStaff(String),
    /// A wrong name or password.
    #[error("that name and password do not match an account")]
    SignInFailed,
    /// Too many failed sign-ins lately.
    #[error("too many failed sign-ins; try again in {minutes} minutes")]
    TooManySignIns {
        /// Until the window ends.
        minutes: i64,
    },
    /// Too many failed enrolments from one address.
    #[error("too many wrong enrolment codes from this address; try again in {seconds} s")]
    TooManyEnrolments {
        /// Until the address may try again.
        seconds: u64,
    },
    /// A staff page without a live session.
    #[error("sign in first")]
    NotSignedIn,
    /// A form without its session's token.
    #[error("this form is out of date or did not come from this hub; load the page again and repeat")]
    BadCsrf,
    /// A password too easy to guess.
    #[error("choose a password of at least {0} characters, not the one-time password")]
    WeakPassword(usize),
    /// A staff member asked for another center's data.
    #[error("this page belongs to another center")]
    NotYourCenter,
    /// A pack whose signer the hub does not trust.
    #[error("the pack is {0}; trust its publisher first with `kalamu hub trust add KEY --name NAME`")]
    UntrustedPack(String),
    /// A patch would carry most of the pack.
    #[error("a patch would carry most of pack {0}; download the whole pack")]
    UseWholePack(String),
    /// No such pack, lesson or learner.
    #[error("{0} is not on this hub")]
    NotFound(String),
    /// A request that does not parse or breaks the protocol.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// A request body beyond the limit.
    #[error("the request is larger than the hub accepts ({0} bytes at most)")]
    TooLarge(usize),
    /// A database URL the hub cannot serve.
    #[error("cannot use the database {0:?}: {1}")]
    BadDatabase(String, String),
    /// The sync rules refused what was offered (a gap, a conflict, a bad batch or bundle).
    #[error("{0}")]
    Sync(#[from] kalamu_core::Error),
    /// The hub's database failed.
    #[error("the hub's database failed: {0}")]
    Database(#[from] rusqlite::Error),
    /// The hub's PostgreSQL database failed.
    #[error("the hub's database failed: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    /// Stored events that break the hub's own invariants.
    #[error("the hub's stored events are damaged ({0}); restore its database from a backup")]
    Damaged(String),
    /// A write could not be committed.
    #[error("the hub could not store the change: {0}")]
    Commit(String),
    /// A file could not be read or written.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The hub's TLS key could not be made or loaded.
    #[error("{0}")]
    Tls(String),
}

impl HubError {
    /// The stable code laptops and scripts tell errors apart by.
    pub fn code(&self) -> WireCode {
        match self {
            HubError::NoCredential => WireCode::NoCredential,
            HubError::UnknownDevice => WireCode::UnknownDevice,
            HubError::Revoked => WireCode::Revoked,
            HubError::BadCode => WireCode::BadCode,
            HubError::CodeUsed => WireCode::CodeUsed,
            HubError::CodeExpired => WireCode::CodeExpired,
            HubError::DeviceInOtherCenter => WireCode::DeviceInOtherCenter,
            HubError::DeviceKnown => WireCode::DeviceKnown,
            HubError::CodeForAnotherDevice => WireCode::CodeForAnotherDevice,
            HubError::RevokedForGood => WireCode::RevokedForGood,
            HubError::NotYourEvent { .. } => WireCode::NotYourEvent,
            HubError::TooManyLearners(_) => WireCode::TooManyLearners,
            HubError::TooManyLearnersToday { .. } => WireCode::TooManyLearnersToday,
            HubError::OtherCenter(_) => WireCode::OtherCenter,
            HubError::NoSuchCenter(_) => WireCode::NoSuchCenter,
            HubError::CenterExists(_) => WireCode::CenterExists,
            HubError::NoSuchDevice(_) => WireCode::NoSuchDevice,
            HubError::BadRequest(_) => WireCode::BadRequest,
            HubError::StaffExists(_) => WireCode::StaffExists,
            HubError::NoSuchStaff(_) => WireCode::NoSuchStaff,
            HubError::SignInFailed => WireCode::SignInFailed,
            HubError::TooManySignIns { .. } => WireCode::TooManySignIns,
            HubError::TooManyEnrolments { .. } => WireCode::TooManyEnrolments,
            HubError::NotSignedIn => WireCode::NotSignedIn,
            HubError::BadCsrf => WireCode::BadCsrf,
            HubError::WeakPassword(_) => WireCode::WeakPassword,
            HubError::NotYourCenter => WireCode::NotYourCenter,
            HubError::UntrustedPack(_) => WireCode::UntrustedPack,
            HubError::NotFound(_) => WireCode::NotFound,
            HubError::UseWholePack(_) => WireCode::UseWholePack,
            HubError::TooLarge(_) => WireCode::BodyTooLarge,
            HubError::BadDatabase(..) => WireCode::BadDatabase,
            // A bundle's problems reach staff at the hub's command line, as sentences.
            HubError::Sync(e) => e.wire_code().unwrap_or(WireCode::BadRequest),
            HubError::Database(_) | HubError::Postgres(_) | HubError::Commit(_) | HubError::Damaged(_) => {
                WireCode::Database
            }
            HubError::Io(_) | HubError::Tls(_) => WireCode::Io,
        }
    }

    /// The HTTP status that goes with it.
    pub fn status(&self) -> StatusCode {
        match self {
            HubError::NoCredential | HubError::UnknownDevice | HubError::BadCode => StatusCode::UNAUTHORIZED,
            HubError::Revoked
            | HubError::OtherCenter(_)
            | HubError::DeviceInOtherCenter
            | HubError::DeviceKnown
            | HubError::CodeForAnotherDevice
            | HubError::RevokedForGood
            | HubError::NotYourEvent { .. } => StatusCode::FORBIDDEN,
            HubError::CodeUsed | HubError::CodeExpired => StatusCode::GONE,
            HubError::SignInFailed | HubError::NotSignedIn => StatusCode::UNAUTHORIZED,
            HubError::BadCsrf | HubError::NotYourCenter => StatusCode::FORBIDDEN,
            HubError::TooManySignIns { .. } | HubError::TooManyEnrolments { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            HubError::StaffExists(_) => StatusCode::CONFLICT,
            HubError::NoSuchStaff(_) | HubError::NotFound(_) => StatusCode::NOT_FOUND,
            HubError::WeakPassword(_) | HubError::UntrustedPack(_) | HubError::UseWholePack(_) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            HubError::NoSuchCenter(_) | HubError::NoSuchDevice(_) => StatusCode::NOT_FOUND,
            HubError::CenterExists(_) => StatusCode::CONFLICT,
            HubError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            HubError::BadRequest(_) | HubError::TooManyLearners(_) => StatusCode::BAD_REQUEST,
            HubError::TooManyLearnersToday { .. } => StatusCode::TOO_MANY_REQUESTS,
            HubError::Sync(kalamu_core::Error::SyncConflict { .. }) => StatusCode::CONFLICT,
            HubError::Sync(kalamu_core::Error::Sqlite(_) | kalamu_core::Error::Io { .. }) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            HubError::Sync(_) => StatusCode::UNPROCESSABLE_ENTITY,
            HubError::BadDatabase(..)
            | HubError::Database(_)
            | HubError::Postgres(_)
            | HubError::Commit(_)
            | HubError::Damaged(_)
            | HubError::Io(_)
            | HubError::Tls(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for HubError {
    fn into_response(self) -> Response {
        let seq = match &self {
            HubError::Sync(kalamu_core::Error::SyncConflict { seq, .. }) => Some(*seq),
            _ => None,
        };
        let retry = match &self {
            HubError::TooManyEnrolments { seconds } => Some(*seconds),
            _ => None,
        };
        let (status, code) = (self.status(), self.code());
        // Messages name ids and limits, never a credential.
        if status.is_server_error() {
            tracing::error!("{} {}: {self}", status.as_u16(), code.as_str());
        } else {
            tracing::info!("refused {} {}: {self}", status.as_u16(), code.as_str());
        }
        let body = ErrorBody { code, message: self.to_string(), seq };
        let mut response = (self.status(), axum::Json(body)).into_response();
        if let Some(seconds) = retry {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, seconds.into());
        }
        response
    }
}

/// Result with the hub's [`HubError`].
pub type Result<T, E = HubError> = std::result::Result<T, E>;
