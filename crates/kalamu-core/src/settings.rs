//! Device settings kept in the store, such as the interface language.

use crate::{Error, Result, Store};

/// Interface languages the app ships message catalogs for.
pub const LANGUAGES: &[&str] = &["en", "fr"];

/// Settings of this device.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Settings {
    /// Interface language, one of [`LANGUAGES`].
    pub language: String,
    /// The learner picked last, if any.
    pub current_learner: Option<String>,
}

impl Store {
    /// Reads this device's settings, with defaults for what was never set.
    pub fn settings(&self) -> Result<Settings> {
        Ok(Settings {
            language: self.setting("language")?.unwrap_or_else(|| "en".into()),
            current_learner: self.setting("current_learner")?,
        })
    }

    /// Sets the interface language.
    pub fn set_language(&self, language: &str) -> Result<()> {
        if !LANGUAGES.contains(&language) {
            return Err(Error::BadSetting { key: "language", value: language.into(), allowed: "en, fr" });
        }
        self.put_setting("language", language)
    }

    /// Remembers which learner is studying now.
    pub fn set_current_learner(&self, id: &str) -> Result<()> {
        self.learner(id)?;
        self.put_setting("current_learner", id)
    }

    /// Whether another copy of this store's identity was seen (a cloned disk
    /// or a restored backup). Such a store keeps recording and receiving but
    /// sends nothing, so it cannot take the sequence numbers of the copy the
    /// hub follows; enrolled again, it goes on as a new laptop
    /// ([`Store::continue_as_new_laptop`]).
    pub fn identity_clash(&self) -> Result<bool> {
        Ok(self.setting("identity_clash")?.is_some())
    }

    /// Notes that another copy of this store's identity was seen, and that
    /// this copy's own history begins at its event `from` (what came before,
    /// the hub holds as this copy holds it). The first sighting says it
    /// best; later ones, made while this copy sends nothing, keep it.
    pub fn note_identity_clash(&self, from: u64) -> Result<()> {
        if self.identity_clash()? {
            return Ok(());
        }
        self.put_setting("clash_from", &from.to_string())?;
        self.put_setting("identity_clash", &crate::store::now_millis().to_string())
    }

    /// The first of this device's events that only this copy recorded, once a clash was seen.
    pub fn clash_from(&self) -> Result<Option<u64>> {
        Ok(self.setting("clash_from")?.and_then(|v| v.parse().ok()))
    }

    /// The list of installed packs this laptop last told its hub about.
    pub fn reported_packs(&self) -> Result<Option<String>> {
        self.setting("reported_packs")
    }

    /// Notes the list of installed packs the hub was told about.
    pub fn set_reported_packs(&self, list: &str) -> Result<()> {
        self.put_setting("reported_packs", list)
    }

    fn setting(&self, key: &str) -> Result<Option<String>> {
        use rusqlite::OptionalExtension;
        Ok(self
            .conn()
            .query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| r.get(0))
            .optional()?)
    }

    fn put_setting(&self, key: &str, value: &str) -> Result<()> {
        self.conn().execute(
            "INSERT INTO settings (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )?;
        Ok(())
    }
}
