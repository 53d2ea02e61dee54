//! What a person sees before deciding to import a pack: its title, who
//! signed it and whether this laptop trusts them, and what it would replace.
//! A patch is described by the version it makes, and whether this laptop
//! holds what it leaves out.

use std::path::Path;

use serde::Serialize;

use super::Manifest;
use super::patch::OpenedPatch;
use super::verify::OpenedPack;
use crate::{Result, Store};

/// Whether the pack's signer is trusted here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub enum Signer {
    /// Signed by a publisher in the trust store.
    Trusted {
        /// Public key.
        key: String,
        /// Name in the trust store.
        name: String,
    },
    /// Signed, but by a key this laptop does not know.
    Unknown {
        /// Public key.
        key: String,
    },
    /// Not signed at all.
    Unsigned,
}

/// A pack's description before import.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct PackPreview {
    /// Pack id.
    pub id: String,
    /// Version in the file.
    pub version: String,
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// Content language.
    pub language: String,
    /// Publisher as the pack names itself.
    pub publisher: String,
    /// Who signed it, and whether they are trusted.
    pub signer: Signer,
    /// Number of lessons.
    pub lessons: usize,
    /// Content bytes.
    pub bytes: u64,
    /// The version installed now, if any.
    pub installed_version: Option<String>,
    /// For an upgrade by another publisher than the installed version's:
    /// who signed the installed version, and who signed this one.
    pub publisher_change: Option<PublisherChange>,
    /// For a patch: what it upgrades from, and whether this laptop can take it.
    pub patch: Option<PatchPreview>,
}

/// What a patch (`.kpatch`) carries, and what it would need from this laptop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct PatchPreview {
    /// The version it was made from, if it names one.
    pub from_version: Option<String>,
    /// Files of the new version it carries.
    pub carried: usize,
    /// Files of the new version in all.
    pub files: usize,
    /// Files neither in the patch nor on this laptop: with any, it cannot be applied here.
    pub lacking: usize,
}

/// A change of publisher an upgrade would make, which a person must accept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct PublisherChange {
    /// Who signed the installed version.
    pub installed: String,
    /// Who signed the upgrade.
    pub offered: String,
}

impl Store {
    /// Describes a pack or a patch before import (a patch by the version it makes).
    pub fn preview_file(&self, path: &Path) -> Result<PackPreview> {
        if !super::patch::is_patch(path) {
            return self.preview_pack(path);
        }
        let mut patch = OpenedPatch::open(path)?;
        let (carried, lacking) = self.patch_files(&mut patch, path)?;
        let shown = PatchPreview {
            from_version: patch.info.from_version.clone(),
            carried: carried.len(),
            files: patch.manifest.files.len(),
            lacking: lacking.len(),
        };
        self.describe(&patch.manifest, patch.signer.as_deref(), Some(shown))
    }

    /// Opens a pack (structure, manifest and signature only) and describes it.
    pub fn preview_pack(&self, path: &Path) -> Result<PackPreview> {
        let pack = OpenedPack::open(path)?;
        self.describe(&pack.manifest, pack.signer.as_deref(), None)
    }

    fn describe(
        &self,
        m: &Manifest,
        signer: Option<&str>,
        patch: Option<PatchPreview>,
    ) -> Result<PackPreview> {
        let shown_signer = match signer {
            Some(key) => match self.trusted_name(key)? {
                Some(name) => Signer::Trusted { key: key.to_owned(), name },
                None => Signer::Unknown { key: key.to_owned() },
            },
            None => Signer::Unsigned,
        };
        let installed_version = self.installed_version(&m.id)?;
        let publisher_change = self
            .publisher_change(&m.id, signer)?
            .map(|(installed, offered)| PublisherChange { installed, offered });
        Ok(PackPreview {
            id: m.id.clone(),
            version: m.version.clone(),
            title: m.title.clone(),
            description: m.description.clone(),
            language: m.language.clone(),
            publisher: m.publisher.clone(),
            signer: shown_signer,
            lessons: m.lesson_count(),
            bytes: m.total_bytes(),
            installed_version,
            publisher_change,
            patch,
        })
    }
}
