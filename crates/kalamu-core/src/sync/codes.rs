//! Every error code that crosses the wire, from a hub to a laptop and on to
//! its window: one typed list shared by core, hub and client, so no side
//! compares strings it spelt on its own.

use serde::{Deserialize, Serialize};

macro_rules! wire_codes {
    ($($(#[$doc:meta])* $name:ident = $text:literal,)*) => {
        /// An error code in a hub's answer.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
        #[serde(rename_all = "snake_case")]
        #[non_exhaustive]
        pub enum WireCode {
            $($(#[$doc])* $name,)*
            /// A code this build does not know (from a newer hub).
            #[serde(other)]
            Unknown,
        }

        impl WireCode {
            /// The code as it travels.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(WireCode::$name => $text,)*
                    WireCode::Unknown => "unknown",
                }
            }

            /// The code for its travelling spelling, [`WireCode::Unknown`] if none.
            pub fn parse(text: &str) -> WireCode {
                match text {
                    $($text => WireCode::$name,)*
                    _ => WireCode::Unknown,
                }
            }
        }
    };
}

wire_codes! {
    /// The request carries no credential.
    NoCredential = "no_credential",
    /// The credential is not one the hub gave.
    UnknownDevice = "unknown_device",
    /// Staff revoked the laptop.
    Revoked = "revoked",
    /// The enrolment code is not one the hub issued.
    BadCode = "bad_code",
    /// The enrolment code was used already.
    CodeUsed = "code_used",
    /// The enrolment code is too old.
    CodeExpired = "code_expired",
    /// The laptop belongs to another center.
    DeviceInOtherCenter = "device_in_other_center",
    /// A plain code was used for a laptop the hub knows.
    DeviceKnown = "device_known",
    /// A code staff made for one laptop was used by another.
    CodeForAnotherDevice = "code_for_another_device",
    /// A revoked laptop tried to enrol again.
    RevokedForGood = "revoked_for_good",
    /// A laptop pushed events it did not record.
    NotYourEvent = "not_your_event",
    /// A push describing more learners than one push may.
    TooManyLearners = "too_many_learners",
    /// Events whose signature does not hold, or that come without one.
    BadProof = "bad_proof",
    /// A push that would take the learners one laptop added today past the day's bound.
    TooManyLearnersToday = "too_many_learners_today",
    /// Data of another center was offered or asked for.
    OtherCenter = "other_center",
    /// No such center.
    NoSuchCenter = "no_such_center",
    /// A center with that name exists.
    CenterExists = "center_exists",
    /// No such device.
    NoSuchDevice = "no_such_device",
    /// A request that does not parse.
    BadRequest = "bad_request",
    /// A request body past the hub's limit.
    BodyTooLarge = "body_too_large",
    /// The hub cannot use its database.
    BadDatabase = "bad_database",
    /// The hub's database failed.
    Database = "database",
    /// A file could not be read or written on the hub.
    Io = "io",
    /// A batch that cannot be used.
    BadBatch = "bad_batch",
    /// An event stamped past the sane range.
    BadStamp = "bad_stamp",
    /// An event body past the bounds.
    BadEvent = "bad_event",
    /// A batch that leaves a gap in a device's sequence.
    SyncGap = "sync_gap",
    /// A copy of an event that differs from the stored one.
    SyncConflict = "sync_conflict",
    /// A staff account by that name exists already.
    StaffExists = "staff_exists",
    /// No staff account by that name.
    NoSuchStaff = "no_such_staff",
    /// A wrong name or password at sign-in.
    SignInFailed = "sign_in_failed",
    /// Too many failed sign-ins for an account or an address.
    TooManySignIns = "too_many_sign_ins",
    /// Too many failed enrolments from one address: it waits.
    TooManyEnrolments = "too_many_enrolments",
    /// A staff page asked for without a live session.
    NotSignedIn = "not_signed_in",
    /// A staff form posted without its session's token.
    BadCsrf = "bad_csrf",
    /// A new staff password that is too easy to guess.
    WeakPassword = "weak_password",
    /// A staff member asked for another center's data.
    NotYourCenter = "not_your_center",
    /// A pack whose signer the hub does not trust.
    UntrustedPack = "untrusted_pack",
    /// No such pack, lesson or learner on the hub.
    NotFound = "not_found",
    /// A patch would carry most of the pack: fetch the whole pack instead.
    UseWholePack = "use_whole_pack",
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_travel_as_their_spelling_and_unknown_ones_stay_unknown() {
        for code in [WireCode::SyncGap, WireCode::NotYourEvent, WireCode::BodyTooLarge] {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            assert_eq!(serde_json::from_str::<WireCode>(&json).unwrap(), code);
            assert_eq!(WireCode::parse(code.as_str()), code);
        }
        assert_eq!(serde_json::from_str::<WireCode>("\"from_the_future\"").unwrap(), WireCode::Unknown);
    }
}
