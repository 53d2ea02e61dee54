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
