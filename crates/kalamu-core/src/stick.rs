//! A center's setup stick: the Debian packages, the center's course packs,
//! the publishers whose packs staff accepted, and a one-page guide, in one
//! folder (`kalamu-setup/`) that `kalamu stick load` reads on each laptop.
//!
//! The stick is trusted for nothing by itself. Its list of publishers is
//! shown to the person loading it, who accepts it or not; every pack then
//! goes through the ordinary import, which checks each byte against the
//! pack's signed manifest and refuses a signer the laptop does not trust.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::pack::import::{ImportOptions, ImportReport};
use crate::pack::trust::Publisher;
use crate::pack::verify::{Discard, OpenedPack};
use crate::store::Store;
use crate::{Error, Result};

/// The stick's folder, at the root of the stick.
pub const FOLDER: &str = "kalamu-setup";
/// What the stick holds, in its folder.
const MANIFEST: &str = "stick.toml";
/// A manifest is a short list; a larger file is not one of ours.
const MAX_MANIFEST: u64 = 1 << 20;

/// `stick.toml`: what the stick holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StickManifest {
    /// The layout's version.
    pub format: u32,
    /// The publishers staff accepted when they wrote the stick.
    #[serde(default, rename = "publisher")]
    pub publishers: Vec<StickPublisher>,
    /// The course packs, in `packs/`.
    #[serde(default, rename = "pack")]
    pub packs: Vec<StickPack>,
    /// The Debian packages, in `packages/`.
    #[serde(default)]
    pub packages: Vec<String>,
}

/// A publisher on the stick.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StickPublisher {
    /// The name staff gave it.
    pub name: String,
    /// Its Ed25519 public key, in hex.
    pub public_key: String,
}

/// A course pack on the stick.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StickPack {
    /// Its file name in `packs/`.
    pub file: String,
    /// The pack's id.
    pub id: String,
    /// Its version.
    pub version: String,
    /// Its title.
    pub title: String,
}

/// What loading a stick did to one pack.
#[derive(Debug)]
pub struct PackLoaded {
    /// The pack as the stick lists it.
    pub pack: StickPack,
    /// The import's report, or why the pack was not installed.
    pub outcome: Result<ImportReport>,
}

/// What `load` did.
#[derive(Debug)]
pub enum Loaded {
    /// Nothing yet: these publishers are new to this laptop, and a person must accept them first.
    NeedsConsent(Vec<StickPublisher>),
    /// The publishers now trusted, and each pack's outcome.
    Done {
        /// Publishers this laptop trusts from now on.
        trusted: Vec<Publisher>,
        /// Each pack, in the stick's order.
        packs: Vec<PackLoaded>,
    },
}

/// Writes a setup stick into `dir/kalamu-setup/`: each pack verified in
/// full and signed by one of `publishers`, the packages, and the guide.
pub fn write(
    dir: &Path,
    packs: &[PathBuf],
    publishers: &[Publisher],
    packages: &[PathBuf],
) -> Result<StickManifest> {
    if !dir.is_dir() {
        return Err(Error::NoFolder(dir.to_path_buf()));
    }
    let root = dir.join(FOLDER);
    for sub in ["packs", "packages"] {
        std::fs::create_dir_all(root.join(sub)).map_err(|e| Error::io("cannot create", root.join(sub), e))?;
    }
    let mut manifest = StickManifest {
        format: 1,
        publishers: publishers
            .iter()
            .map(|p| StickPublisher { name: p.name.clone(), public_key: p.public_key.clone() })
            .collect(),
        packs: Vec::new(),
        packages: Vec::new(),
    };
    for path in packs {
        let mut pack = OpenedPack::open(path)?;
        pack.stream(&mut Discard, &mut |_| {})?;
        let signed_by_accepted =
            pack.signer.as_ref().is_some_and(|k| publishers.iter().any(|p| &p.public_key == k));
        if !signed_by_accepted {
            return Err(bad(
                dir,
                format!("{} is not signed by a publisher this laptop trusts", path.display()),
            ));
        }
        let file = file_name(path)?;
        copy(path, &root.join("packs").join(&file))?;
        let m = &pack.manifest;
        manifest.packs.push(StickPack {
            file,
            id: m.id.clone(),
            version: m.version.to_string(),
            title: m.title.clone(),
        });
    }
    for path in packages {
        let file = file_name(path)?;
        copy(path, &root.join("packages").join(&file))?;
        manifest.packages.push(file);
    }
    let text = toml::to_string(&manifest).map_err(|e| bad(dir, e.to_string()))?;
    write_file(&root.join(MANIFEST), text.as_bytes())?;
    write_file(&root.join("GUIDE.txt"), guide(&manifest).as_bytes())?;
    Ok(manifest)
}

/// Reads `dir`'s stick (the stick's root, or its `kalamu-setup` folder).
pub fn read(dir: &Path) -> Result<(PathBuf, StickManifest)> {
    let root = if dir.join(MANIFEST).is_file() { dir.to_path_buf() } else { dir.join(FOLDER) };
    let path = root.join(MANIFEST);
    let file = std::fs::File::open(&path).map_err(|_| bad(dir, format!("it has no {FOLDER}/{MANIFEST}")))?;
    let mut text = String::new();
    std::io::Read::read_to_string(&mut std::io::Read::take(file, MAX_MANIFEST + 1), &mut text)
        .map_err(|e| bad(dir, format!("{MANIFEST} cannot be read: {e}")))?;
    if text.len() as u64 > MAX_MANIFEST {
        return Err(bad(dir, format!("{MANIFEST} is larger than 1 MiB")));
    }
    let manifest: StickManifest = toml::from_str(&text).map_err(|e| bad(dir, format!("{MANIFEST}: {e}")))?;
    if manifest.format != 1 {
        return Err(bad(dir, format!("it was written by a newer Kalamu (format {})", manifest.format)));
    }
    // Names come from the stick: each must stay a plain file name inside its folder.
    for name in manifest.packs.iter().map(|p| &p.file).chain(&manifest.packages) {
        if !is_plain_name(name) {
            return Err(bad(
                dir,
                format!("{MANIFEST} names the file {name:?}, which is not a plain file name"),
            ));
        }
    }
    for p in &manifest.publishers {
        crate::pack::sign::parse_public_key(&p.public_key)?;
    }
    Ok((root, manifest))
}

/// Loads `dir`'s stick into `store`: with `accept`, the stick's new
/// publishers become trusted, then every pack is imported as from a file.
pub fn load(store: &Store, dir: &Path, accept: bool) -> Result<Loaded> {
    let (root, manifest) = read(dir)?;
    let mut new = Vec::new();
    for p in &manifest.publishers {
        if store.trusted_name(&p.public_key)?.is_none() {
            new.push(p.clone());
        }
    }
    if !new.is_empty() && !accept {
        return Ok(Loaded::NeedsConsent(new));
    }
    let mut trusted = Vec::new();
    for p in &new {
        trusted.push(store.trust_add(&p.public_key, &p.name)?);
    }
    let options = ImportOptions { allow_unsigned: false, accept_new_publisher: false };
    let packs = manifest
        .packs
        .into_iter()
        .map(|pack| {
            let outcome = store.import_pack(&root.join("packs").join(&pack.file), options, &mut |_| {});
            PackLoaded { pack, outcome }
        })
        .collect();
    Ok(Loaded::Done { trusted, packs })
}

fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains(['/', '\\', ':'])
        && !name.chars().any(char::is_control)
}

fn file_name(path: &Path) -> Result<String> {
    path.file_name()
        .and_then(|n| n.to_str())
        .filter(|n| is_plain_name(n))
        .map(str::to_owned)
        .ok_or_else(|| bad(path, "its file name cannot go on a stick".into()))
}

fn copy(from: &Path, to: &Path) -> Result<()> {
    let part = to.with_extension("part");
    std::fs::copy(from, &part).map_err(|e| Error::io("cannot copy to", &part, e))?;
    std::fs::rename(&part, to).map_err(|e| Error::io("cannot write", to, e))
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let part = path.with_extension("part");
    std::fs::write(&part, bytes).map_err(|e| Error::io("cannot write", &part, e))?;
    std::fs::rename(&part, path).map_err(|e| Error::io("cannot write", path, e))
}

fn bad(path: &Path, reason: String) -> Error {
    Error::BadStick { path: path.to_path_buf(), reason }
}

/// The one-page guide for staff, in English then French.
fn guide(manifest: &StickManifest) -> String {
    let packages =
        manifest.packages.iter().map(|p| format!("./{FOLDER}/packages/{p}")).collect::<Vec<_>>().join(" ");
    let packages = if packages.is_empty() { format!("./{FOLDER}/packages/kalamu_*.deb") } else { packages };
    let publishers: String =
        manifest.publishers.iter().map(|p| format!("  - {}: {}\n", p.name, p.public_key)).collect();
    let packs: String =
        manifest.packs.iter().map(|p| format!("  - {} ({} {})\n", p.title, p.id, p.version)).collect();
    format!(
        "KALAMU SETUP STICK\n\
         ==================\n\n\
         On each laptop, with this stick plugged in, open a terminal in the stick's folder and run:\n\n\
         1. Install Kalamu:             sudo apt install {packages}\n\
         2. Load the courses:           kalamu stick load .\n\
         3. Check the publishers it shows against the list below. If they match, run:\n\
         \x20                             kalamu stick load . --accept-publishers\n\
         4. Open Kalamu from the applications menu.\n\n\
         Publishers whose courses this stick carries (check every key):\n{publishers}\n\
         Courses:\n{packs}\n\
         A course that was changed after its publisher signed it is refused, and so is one\n\
         signed by anyone else: nothing on this stick is trusted unless you accept its publisher.\n\n\n\
         CLÉ D'INSTALLATION KALAMU\n\
         =========================\n\n\
         Sur chaque ordinateur, la clé branchée, ouvrez un terminal dans le dossier de la clé et lancez :\n\n\
         1. Installer Kalamu :          sudo apt install {packages}\n\
         2. Charger les cours :         kalamu stick load .\n\
         3. Comparez les éditeurs affichés à la liste ci-dessous. S'ils correspondent, lancez :\n\
         \x20                             kalamu stick load . --accept-publishers\n\
         4. Ouvrez Kalamu depuis le menu des applications.\n\n\
         Éditeurs des cours de cette clé (vérifiez chaque clé publique) :\n{publishers}\n\
         Cours :\n{packs}\n\
         Un cours modifié après sa signature est refusé, tout comme un cours signé par quelqu'un\n\
         d'autre : rien sur cette clé n'est accepté sans votre accord pour son éditeur.\n"
    )
}
