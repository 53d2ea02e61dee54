//! A pack or a bundle double-clicked in the file manager: the app starts on
//! it, or, when a window is open, hands it to that window and ends.

use std::time::{Duration, Instant};

use anyhow::{Result, ensure};
use kalamu_core::pack::sign::SecretKey;
use kalamu_e2e::{App, app_binary, build_sample_pack};

#[tokio::test(flavor = "current_thread")]
async fn a_pack_opened_from_the_file_manager_lands_in_the_import_dialog_of_the_one_window() -> Result<()> {
    let data = tempfile::tempdir()?;
    let stick = tempfile::tempdir()?;
    let pack = build_sample_pack("networks-intro", stick.path(), &SecretKey::generate()?)?;
    let binary = app_binary()?;
    let app = App::start_opening(&binary, data.path(), &[], &[&pack]).await?;

    // The app started on the pack: its preview is up, waiting for a decision.
    let signer = app.text_of("[data-testid=import-signer]").await?;
    assert!(signer.contains("does not know"), "the pack's unknown signer is shown: {signer}");
    app.wait_for_text("[data-testid=import-preview] h3", "Introduction to computer networks").await?;
    app.click("[data-testid=import-accept]").await?;
    app.click("[data-testid=import-start]").await?;
    let done = app.text_of("[data-testid=import-done]").await?;
    assert!(done.contains("Introduction to computer networks"), "the opened pack is installed: {done}");
    app.click("[data-testid=import-dialog] button.primary").await?;
    app.wait_for_text("[data-testid=pack-title]", "Introduction to computer networks").await?;

    // A second start on a bundle gives it to the open window and ends.
    let bundle = stick.path().join("centre.kbundle");
    std::fs::write(&bundle, b"not yet a bundle")?;
    let started = Instant::now();
    let mut second = std::process::Command::new(&binary)
        .arg("--data")
        .arg(data.path())
        .arg(&bundle)
        .env("DISPLAY", &app.display)
        .spawn()?;
    let status = loop {
        if let Some(status) = second.try_wait()? {
            break status;
        }
        if started.elapsed() > Duration::from_secs(20) {
            let _ = second.kill();
            anyhow::bail!("the second start did not end: it opened a window of its own");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    ensure!(status.success(), "the second start ends well: {status}");
    let from = loop {
        let value = match app.element("[data-testid=usb-import-path]").await {
            Ok(input) => input.prop("value").await?.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if !value.is_empty() || started.elapsed() > Duration::from_secs(20) {
            break value;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        from,
        bundle.canonicalize()?.to_string_lossy(),
        "the open window's USB dialog holds the bundle"
    );
    app.screenshot("opened-bundle").await?;
    app.close().await
}

/// Copies a sample pack's source, as version `version` with one lesson's text changed.
fn changed_source(name: &str, into: &std::path::Path, version: &str) -> Result<std::path::PathBuf> {
    let from = kalamu_e2e::workspace_root().join("course-packs").join(name);
    let to = into.join(format!("{name}-{version}"));
    copy_tree(&from, &to)?;
    let toml = std::fs::read_to_string(to.join("pack.toml"))?;
    std::fs::write(
        to.join("pack.toml"),
        toml.replacen("version = \"1.0.0\"", &format!("version = \"{version}\""), 1),
    )?;
    let lesson = to.join("lessons/what-is-a-network/index.html");
    let page = std::fs::read_to_string(&lesson)?;
    std::fs::write(&lesson, page.replacen("</h1>", " (revised)</h1>", 1))?;
    Ok(to)
}

fn copy_tree(from: &std::path::Path, to: &std::path::Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &to.join(entry.file_name()))?;
        } else {
            std::fs::copy(entry.path(), to.join(entry.file_name()))?;
        }
    }
    Ok(())
}

#[tokio::test(flavor = "current_thread")]
async fn an_update_opened_from_the_file_manager_upgrades_the_course_and_keeps_its_progress() -> Result<()> {
    use kalamu_core::pack::{build::build, import::ImportOptions};
    let data = tempfile::tempdir()?;
    let stick = tempfile::tempdir()?;
    let key = SecretKey::generate()?;
    let v1 = build_sample_pack("networks-intro", stick.path(), &key)?;
    let v2 = stick.path().join("networks-intro-1.1.0.kpack");
    build(&changed_source("networks-intro", stick.path(), "1.1.0")?, &v2, Some(&key), &mut |_| {})?;
    let patch = stick.path().join("networks-intro-1.1.0.kpatch");
    kalamu_core::pack::patch::diff(&v1, &v2, &patch)?;
    {
        let store = kalamu_core::Store::open_dir(data.path())?;
        store.trust_add(&key.public_hex(), "Kalamu samples")?;
        store.import_pack(&v1, ImportOptions::default(), &mut |_| {})?;
    }
    let app = App::start_opening(&app_binary()?, data.path(), &[], &[&patch]).await?;

    // The update is described by the version it makes, and what it carries.
    app.wait_for_text("[data-testid=import-preview] h3", "Introduction to computer networks").await?;
    let what = app.text_of("[data-testid=import-patch]").await?;
    assert!(what.contains("from version 1.0.0") && what.contains("carries 1 of"), "{what}");
    let upgrade = app.text_of("[data-testid=import-preview]").await?;
    assert!(upgrade.contains("1.0.0 to 1.1.0"), "{upgrade}");
    app.click("[data-testid=import-start]").await?;
    app.text_of("[data-testid=import-done]").await?;
    app.click("[data-testid=import-dialog] button.primary").await?;
    let store = kalamu_core::Store::open_dir(data.path())?;
    let installed = store.installed_version("org.kalamu.samples.networks-intro")?;
    assert_eq!(installed.as_deref(), Some("1.1.0"), "the update is installed");
    let page =
        store.read_file("org.kalamu.samples.networks-intro", "lessons/what-is-a-network/index.html")?;
    assert!(String::from_utf8_lossy(&page).contains("(revised)"), "the changed lesson is the new one");
    app.close().await?;

    // A laptop without 1.0.0 is told, before anything starts, that the update cannot apply.
    let other = tempfile::tempdir()?;
    kalamu_core::Store::open_dir(other.path())?.trust_add(&key.public_hex(), "Kalamu samples")?;
    let app = App::start_opening(&app_binary()?, other.path(), &[], &[&patch]).await?;
    let lacks = app.text_of("[data-testid=import-patch-lacks]").await?;
    assert!(lacks.contains("Import the whole pack"), "{lacks}");
    let start = app.element("[data-testid=import-start]").await?;
    assert!(!start.is_enabled().await?, "the import cannot start");
    app.screenshot("opened-patch-without-base").await?;
    app.close().await?;
    assert_eq!(kalamu_core::Store::open_dir(other.path())?.packs()?.len(), 0, "nothing was installed");
    Ok(())
}
