//! This laptop's enrolment with its center's hub.

use rusqlite::OptionalExtension;
use serde::{Deserialize, Serialize};

use super::protocol::EnrollResponse;
use crate::store::now_millis;
use crate::{Error, Result, Store};

/// The hub this laptop syncs with, and the credential it was given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HubLink {
    /// Base URL of the hub, e.g. `http://10.0.0.2:7878`.
    pub hub_url: String,
    /// The center's id.
    pub center_id: String,
    /// The center's name, for people.
    pub center_name: String,
    /// The secret this laptop shows the hub with every request.
    pub device_token: String,
    /// When the laptop was enrolled (unix ms).
    pub enrolled_at: i64,
    /// When the last sync finished (unix ms).
    pub last_sync_at: Option<i64>,
    /// The fingerprint of the hub's TLS key, pinned at enrolment; none for plain HTTP.
    pub hub_key: Option<String>,
    /// The hub's bundle key (Ed25519, hex): its bundles are signed with it,
    /// and this laptop's are encrypted to it. None for a laptop enrolled
    /// before bundles were sealed, until its next sync.
    pub hub_bundle_key: Option<String>,
}

/// How long a laptop keeps one credential before it offers the hub the next.
pub const TOKEN_LIFETIME_MS: i64 = 7 * 24 * 3600 * 1000;

impl HubLink {
    /// The hub's bundle key, or an error that says how to get it.
    pub fn bundle_key(&self) -> Result<super::seal::VerifyingKey> {
        let hex = self.hub_bundle_key.as_deref().ok_or(Error::NoBundleKey)?;
        super::seal::parse_bundle_key(hex)
    }

    /// Where and how to reach the hub.
    pub fn address(&self) -> HubAddress {
        HubAddress { url: self.hub_url.clone(), key: self.hub_key.clone() }
    }
}

/// A hub's base URL and the TLS key a laptop expects of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubAddress {
    /// Base URL, e.g. `https://10.0.0.2:7878`.
    pub url: String,
    /// The pinned fingerprint ([`crate::sync::enrolment::fingerprint`]); none for plain HTTP.
    pub key: Option<String>,
}

impl Store {
    /// The hub this laptop is enrolled with, if any.
    pub fn hub_link(&self) -> Result<Option<HubLink>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT hub_url, center_id, center_name, device_token, enrolled_at, last_sync_at, hub_key,
                        hub_bundle_key
                 FROM hub_link",
                [],
                |r| {
                    Ok(HubLink {
                        hub_url: r.get(0)?,
                        center_id: r.get(1)?,
                        center_name: r.get(2)?,
                        device_token: r.get(3)?,
                        enrolled_at: r.get(4)?,
                        last_sync_at: r.get(5)?,
                        hub_key: r.get(6)?,
                        hub_bundle_key: r.get(7)?,
                    })
                },
            )
            .optional()?)
    }

    /// The hub link, or an error that says how to enrol.
    pub fn require_hub_link(&self) -> Result<HubLink> {
        self.hub_link()?.ok_or(Error::NotEnrolled)
    }

    /// Records this laptop's enrolment with the hub at `hub`, as its answer
    /// says. A laptop belongs to one center: moving it to another would mix
    /// two centers' learners in one store.
    pub fn set_hub_link(&self, hub: &HubAddress, answer: &EnrollResponse) -> Result<()> {
        self.set_hub_link_in(self.conn(), hub, answer)
    }

    /// [`Store::set_hub_link`] inside a transaction the caller holds.
    pub(crate) fn set_hub_link_in(
        &self,
        conn: &rusqlite::Connection,
        hub: &HubAddress,
        answer: &EnrollResponse,
    ) -> Result<()> {
        if let Some(old) = self.hub_link()?
            && old.center_id != answer.center_id
        {
            return Err(Error::OtherCenter { ours: old.center_name, theirs: answer.center_name.clone() });
        }
        conn.execute(
            "INSERT INTO hub_link (singleton, hub_url, center_id, center_name, device_token, enrolled_at, hub_key,
                                   hub_bundle_key)
             VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (singleton) DO UPDATE SET hub_url = excluded.hub_url, center_name = excluded.center_name,
                 device_token = excluded.device_token, enrolled_at = excluded.enrolled_at,
                 hub_key = excluded.hub_key, hub_bundle_key = excluded.hub_bundle_key,
                 next_device_token = NULL, token_at = NULL",
            (
                &hub.url,
                &answer.center_id,
                &answer.center_name,
                &answer.device_token,
                now_millis(),
                &hub.key,
                &answer.hub_bundle_key,
            ),
        )?;
        Ok(())
    }

    /// Points sync at the hub's new address (the hub moved).
    pub fn set_hub_url(&self, hub_url: &str) -> Result<()> {
        self.require_hub_link()?;
        self.conn().execute("UPDATE hub_link SET hub_url = ?1", [hub_url.trim().trim_end_matches('/')])?;
        Ok(())
    }

    /// Keeps the hub's bundle key a sync brought, if this laptop has none
    /// yet (it enrolled before bundles were sealed). A key already held is
    /// never replaced: it came with the enrolment.
    pub fn learn_bundle_key(&self, hex_key: &str) -> Result<()> {
        // Asked at every sync: a laptop that holds its key writes nothing.
        if self.hub_link()?.is_none_or(|l| l.hub_bundle_key.is_some()) {
            return Ok(());
        }
        super::seal::parse_bundle_key(hex_key)?;
        self.conn()
            .execute("UPDATE hub_link SET hub_bundle_key = ?1 WHERE hub_bundle_key IS NULL", [hex_key])?;
        Ok(())
    }

    /// The credential to offer the hub as this laptop's next, if it is time:
    /// one already chosen and not yet adopted, or a new one once the current
    /// is [`TOKEN_LIFETIME_MS`] old. It is stored before it is returned, so
    /// it survives whatever happens to the offer.
    pub fn token_to_offer(&self) -> Result<Option<String>> {
        let (next, since): (Option<String>, i64) = self.conn().query_row(
            "SELECT next_device_token, coalesce(token_at, enrolled_at) FROM hub_link",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        if next.is_some() {
            return Ok(next);
        }
        // A clock set back makes the credential look young: it rotates late, but it rotates.
        if now_millis().saturating_sub(since) < TOKEN_LIFETIME_MS {
            return Ok(None);
        }
        let token = super::protocol::new_token();
        self.conn().execute("UPDATE hub_link SET next_device_token = ?1", [&token])?;
        Ok(Some(token))
    }

    /// Switches to the next credential once the hub has it.
    pub fn adopt_token(&self, token: &str) -> Result<()> {
        self.conn().execute(
            "UPDATE hub_link SET device_token = next_device_token, next_device_token = NULL, token_at = ?2
             WHERE next_device_token = ?1",
            (token, now_millis()),
        )?;
        Ok(())
    }

    /// Notes that a sync just finished.
    pub fn mark_synced(&self) -> Result<()> {
        self.conn().execute("UPDATE hub_link SET last_sync_at = ?1", [now_millis()])?;
        Ok(())
    }
}
