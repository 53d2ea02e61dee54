//! A center's setup stick, written on a staff laptop and loaded on a fresh
//! one: only what a person accepted is trusted, and a pack changed on the
//! stick is refused while the others install.

use std::path::Path;

use crate::fleet::ok;
use crate::packs::course_packs;
use crate::{kalamu, stderr, stdout};

fn build(src: &str, out: &Path, key: &Path) {
    let root = course_packs().join(src);
    let scratch = tempfile::tempdir().unwrap();
    ok(kalamu(
        scratch.path(),
        &[
            "pack",
            "build",
            root.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
        ],
    ));
}

#[test]
fn a_setup_stick_installs_its_courses_only_after_its_publishers_are_accepted_and_refuses_a_changed_pack() {
    let staff = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let key = files.path().join("ministry.key");
    let public = ok(kalamu(staff.path(), &["pack", "keygen", "--out", key.to_str().unwrap()]));
    ok(kalamu(staff.path(), &["trust", "add", public.trim(), "--name", "Ministère de l'Éducation"]));
    let networks = files.path().join("networks.kpack");
    let basics = files.path().join("basics.kpack");
    build("networks-intro", &networks, &key);
    build("bases-informatique", &basics, &key);
    let debs = files.path().join("packages");
    std::fs::create_dir(&debs).unwrap();
    std::fs::write(debs.join("kalamu_0.1.0-1_amd64.deb"), b"a package").unwrap();

    // A pack from a publisher the staff laptop does not trust cannot go on the stick.
    let stranger = files.path().join("stranger.key");
    ok(kalamu(staff.path(), &["pack", "keygen", "--out", stranger.to_str().unwrap()]));
    let unknown = files.path().join("unknown.kpack");
    build("networks-intro", &unknown, &stranger);
    let usb = tempfile::tempdir().unwrap();
    let usb_dir = usb.path().to_str().unwrap();
    let refused = kalamu(staff.path(), &["stick", "write", usb_dir, "--pack", unknown.to_str().unwrap()]);
    assert!(
        !refused.status.success()
            && stderr(&refused).contains("not signed by a publisher this laptop trusts")
    );

    let wrote = ok(kalamu(
        staff.path(),
        &[
            "stick",
            "write",
            usb_dir,
            "--pack",
            networks.to_str().unwrap(),
            "--pack",
            basics.to_str().unwrap(),
            "--packages",
            debs.to_str().unwrap(),
        ],
    ));
    assert!(wrote.contains("1 packages, 2 courses, 1 publishers"), "{wrote}");
    let setup = usb.path().join("kalamu-setup");
    let guide = std::fs::read_to_string(setup.join("GUIDE.txt")).unwrap();
    assert!(
        guide.contains(public.trim()) && guide.contains("CLÉ D'INSTALLATION"),
        "the guide lists the key, in both languages"
    );
    assert!(setup.join("packages/kalamu_0.1.0-1_amd64.deb").is_file());

    // On a fresh laptop: nothing happens until a person accepts the publisher.
    let laptop = tempfile::tempdir().unwrap();
    let first = kalamu(laptop.path(), &["stick", "load", usb_dir]);
    assert!(!first.status.success());
    assert!(
        stderr(&first).contains(public.trim()) && stderr(&first).contains("--accept-publishers"),
        "{}",
        stderr(&first)
    );
    assert!(stdout(&kalamu(laptop.path(), &["packs"])).trim().is_empty(), "nothing installed");
    assert!(stdout(&kalamu(laptop.path(), &["trust", "list"])).trim().is_empty(), "nothing trusted");

    // Someone changes one pack on the stick (one byte of its content).
    let changed = setup.join("packs/basics.kpack");
    let mut bytes = std::fs::read(&changed).unwrap();
    // A byte half-way through: inside a lesson's or a medium's compressed data.
    let at = bytes.len() / 2;
    bytes[at] ^= 0x20;
    std::fs::write(&changed, bytes).unwrap();

    let load = kalamu(laptop.path(), &["stick", "load", usb_dir, "--accept-publishers"]);
    assert!(!load.status.success(), "a refused pack fails the load");
    assert!(stdout(&load).contains("Trusted Ministère de l'Éducation"), "{}", stdout(&load));
    assert!(stdout(&load).contains("Installed Introduction to computer networks"), "{}", stdout(&load));
    assert!(stderr(&load).contains("Not installed: basics.kpack"), "{}", stderr(&load));
    let packs = stdout(&kalamu(laptop.path(), &["packs"]));
    assert!(packs.contains("networks-intro") && !packs.contains("bases-informatique"), "{packs}");

    // A stick.toml naming a file outside the stick is refused before anything is read.
    let manifest = setup.join("stick.toml");
    let text = std::fs::read_to_string(&manifest)
        .unwrap()
        .replace("file = \"networks.kpack\"", "file = \"../../etc/passwd\"");
    std::fs::write(&manifest, text).unwrap();
    let escaped = kalamu(laptop.path(), &["stick", "load", usb_dir]);
    assert!(
        !escaped.status.success() && stderr(&escaped).contains("not a plain file name"),
        "{}",
        stderr(&escaped)
    );
}
