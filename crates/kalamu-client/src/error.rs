//! The one error type of kalamu-client.

/// Everything that can go wrong talking to a hub.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The hub did not answer: no network, hub down, or the link cut out.
    #[error("the hub at {url} cannot be reached ({detail}); progress stays on this laptop until it can")]
    Unreachable {
        /// The hub's URL.
        url: String,
        /// What the network layer said.
        detail: String,
    },
    /// The hub answered with a refusal.
    #[error("the hub refused: {message}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// The hub's stable code.
        code: kalamu_core::sync::WireCode,
        /// The hub's sentence.
        message: String,
        /// For a conflict: the first of this laptop's events the hub holds otherwise.
        seq: Option<u64>,
    },
    /// The hub answered something that is not the Kalamu protocol.
    #[error("the hub at {url} answered something unexpected ({detail}); is it a Kalamu hub?")]
    Protocol {
        /// The hub's URL.
        url: String,
        /// What was wrong.
        detail: String,
    },
    /// The hub presented another TLS key than the one pinned at enrolment.
    #[error(
        "the hub at {url} presented another TLS key than the one this laptop pinned when it enrolled \
         (pinned {}, presented {}): a machine on the network may be posing as the hub, so nothing was sent. \
         If the hub was reinstalled, staff can enrol this laptop again with a new code",
        crate::http::short(pinned),
        crate::http::short(presented)
    )]
    HubKeyChanged {
        /// The hub's URL.
        url: String,
        /// The fingerprint pinned at enrolment.
        pinned: String,
        /// The fingerprint presented now.
        presented: String,
    },
    /// Enrolment found something between the laptop and the hub.
    #[error(
        "enrolment with {url} stopped: something between this laptop and the hub is posing as the hub \
         ({detail}). Nothing was kept and the code was not sent; tell the center's staff"
    )]
    Intercepted {
        /// The hub's URL.
        url: String,
        /// What did not hold.
        detail: String,
    },
    /// Another download of that pack is running on this laptop.
    #[error("pack {0} is being downloaded already on this laptop")]
    Busy(String),
    /// The hub does not offer that pack.
    #[error("the hub does not offer a pack {0:?}; `kalamu catalog` lists what it offers")]
    NotOffered(String),
    /// The hub URL cannot be used.
    #[error("{0:?} is not a hub address; give one like https://192.168.1.10:7878")]
    BadUrl(String),
    /// The local store or the sync rules refused something.
    #[error(transparent)]
    Core(#[from] kalamu_core::Error),
}

impl ClientError {
    /// The hub's code, when the hub refused.
    pub fn wire_code(&self) -> Option<kalamu_core::sync::WireCode> {
        match self {
            ClientError::Refused { code, .. } => Some(*code),
            ClientError::Core(e) => e.wire_code(),
            _ => None,
        }
    }

    /// A stable code for the UI to pick its words by.
    pub fn code(&self) -> &'static str {
        match self {
            ClientError::Unreachable { .. } => "unreachable",
            ClientError::Refused { code, .. } => code.as_str(),
            ClientError::Protocol { .. } => "protocol",
            ClientError::HubKeyChanged { .. } => "hub_key_changed",
            ClientError::Intercepted { .. } => "intercepted",
            ClientError::BadUrl(_) => "bad_url",
            ClientError::NotOffered(_) => "not_offered",
            ClientError::Busy(_) => "busy",
            ClientError::Core(e) => e.code(),
        }
    }
}

/// Result with kalamu-client's [`ClientError`].
pub type Result<T, E = ClientError> = std::result::Result<T, E>;
