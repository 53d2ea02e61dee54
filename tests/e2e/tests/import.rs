//! Importing a pack from the window, as center staff do with a USB stick.

use anyhow::Result;
use fantoccini::Locator;
use kalamu_core::pack::sign::SecretKey;
use kalamu_e2e::{App, build_sample_pack};

#[tokio::test(flavor = "current_thread")]
async fn pack_from_unknown_publisher_on_usb_stick_imports_after_explicit_consent() -> Result<()> {
    let data = tempfile::tempdir()?;
    let usb = tempfile::tempdir()?;
    build_sample_pack("networks-intro", usb.path(), &SecretKey::generate()?)?;
    let app = App::start_with_env(data.path(), &[("KALAMU_PACK_DIRS", usb.path().as_os_str())]).await?;

    app.click("[data-testid=import-open]").await?;
    let found = app.text_of("[data-testid=import-found]").await?;
    assert!(found.contains("networks-intro.kpack"), "the USB stick's pack is listed: {found}");
    app.click("[data-testid=import-found] button").await?;

    let signer = app.text_of("[data-testid=import-signer]").await?;
    assert!(signer.contains("does not know"), "the unknown signer is shown: {signer}");
    let start = app.client.find(Locator::Css("[data-testid=import-start]")).await?;
    assert_eq!(start.attr("disabled").await?.as_deref(), Some("true"), "import waits for a decision");
    app.screenshot("import-unknown-publisher").await?;

    app.click("[data-testid=import-accept]").await?;
    app.click("[data-testid=import-start]").await?;
    let done = app.text_of("[data-testid=import-done]").await?;
    assert!(done.contains("Introduction to computer networks"), "{done}");
    app.click("[data-testid=import-dialog] button.primary").await?;

    app.wait_for_text("[data-testid=pack-title]", "Introduction to computer networks").await?;
    app.screenshot("library-after-import").await?;
    app.close().await
}

#[tokio::test(flavor = "current_thread")]
async fn pack_from_trusted_publisher_imports_from_a_typed_path() -> Result<()> {
    let data = tempfile::tempdir()?;
    let folder = tempfile::tempdir()?;
    let key = SecretKey::generate()?;
    kalamu_core::Store::open_dir(data.path())?.trust_add(&key.public_hex(), "Ministère de l'Éducation")?;
    let pack = build_sample_pack("bases-informatique", folder.path(), &key)?;
    let app = App::start(data.path()).await?;

    app.click("[data-testid=import-open]").await?;
    app.fill("[data-testid=import-path]", pack.to_str().unwrap()).await?;
    app.click("[data-testid=import-choose]").await?;
    let signer = app.text_of("[data-testid=import-signer]").await?;
    assert!(signer.contains("Ministère de l'Éducation"), "{signer}");
    assert!(app.client.find_all(Locator::Css("[data-testid=import-accept]")).await?.is_empty());
    app.click("[data-testid=import-start]").await?;
    app.text_of("[data-testid=import-done]").await?;
    app.click("[data-testid=import-dialog] button.primary").await?;
    app.wait_for_text("[data-testid=pack-title]", "Les bases de l'informatique").await?;
    app.close().await
}

#[tokio::test(flavor = "current_thread")]
async fn damaged_pack_shows_a_specific_error_and_installs_nothing() -> Result<()> {
    let data = tempfile::tempdir()?;
    let folder = tempfile::tempdir()?;
    let pack = folder.path().join("copy.kpack");
    let good = build_sample_pack("networks-intro", folder.path(), &SecretKey::generate()?)?;
    let bytes = std::fs::read(good)?;
    std::fs::write(&pack, &bytes[..bytes.len() / 2])?; // a copy cut short
    let app = App::start(data.path()).await?;
    app.click("[data-testid=import-open]").await?;
    app.fill("[data-testid=import-path]", pack.to_str().unwrap()).await?;
    app.click("[data-testid=import-choose]").await?;
    let error = app.text_of("[data-testid=import-error]").await?;
    assert!(error.contains("damaged or incomplete"), "{error}");
    let code = app.element("[data-testid=import-error]").await?.attr("data-code").await?;
    assert_eq!(code.as_deref(), Some("truncated"));
    app.close().await?;
    assert!(kalamu_core::Store::open_dir(data.path())?.packs()?.is_empty());
    Ok(())
}

fn copy_tree(from: &std::path::Path, to: &std::path::Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        if e.file_type()?.is_dir() {
            copy_tree(&e.path(), &to.join(e.file_name()))?;
        } else {
            std::fs::copy(e.path(), to.join(e.file_name()))?;
        }
    }
    Ok(())
}

#[tokio::test(flavor = "current_thread")]
async fn an_upgrade_by_another_publisher_names_both_and_waits_for_a_decision() -> Result<()> {
    let data = tempfile::tempdir()?;
    let folder = tempfile::tempdir()?;
    let (ministry, rival) = (SecretKey::generate()?, SecretKey::generate()?);
    let store = kalamu_core::Store::open_dir(data.path())?;
    store.trust_add(&ministry.public_hex(), "Ministère de l'Éducation")?;
    store.trust_add(&rival.public_hex(), "Éditions Rivales")?;
    let original = build_sample_pack("networks-intro", folder.path(), &ministry)?;
    store.import_pack(&original, Default::default(), &mut |_| {})?;
    let learner = store.add_learner("Oumou")?;
    store.set_current_learner(&learner.id)?;
    drop(store);
    let src = folder.path().join("src");
    copy_tree(&kalamu_e2e::workspace_root().join("course-packs/networks-intro"), &src)?;
    let toml = std::fs::read_to_string(src.join("pack.toml"))?;
    std::fs::write(src.join("pack.toml"), toml.replacen("version = \"1.0.0\"", "version = \"1.1.0\"", 1))?;
    let upgrade = folder.path().join("upgrade.kpack");
    kalamu_core::pack::build::build(&src, &upgrade, Some(&rival), &mut |_| {})?;

    let app = App::start(data.path()).await?;
    app.click("[data-testid=import-open]").await?;
    app.fill("[data-testid=import-path]", upgrade.to_str().unwrap()).await?;
    app.click("[data-testid=import-choose]").await?;
    let warning = app.text_of("[data-testid=import-publisher-change]").await?;
    assert!(
        warning.contains("Ministère de l'Éducation") && warning.contains("Éditions Rivales"),
        "{warning}"
    );
    let start = app.client.find(Locator::Css("[data-testid=import-start]")).await?;
    assert_eq!(start.attr("disabled").await?.as_deref(), Some("true"), "the change waits for a decision");
    app.screenshot("import-publisher-change").await?;
    app.click("[data-testid=import-accept-publisher]").await?;
    app.click("[data-testid=import-start]").await?;
    app.text_of("[data-testid=import-done]").await?;
    let packs = kalamu_core::Store::open_dir(data.path())?.packs()?;
    assert_eq!(packs[0].version, "1.1.0");
    assert_eq!(packs[0].signer.as_deref(), Some(rival.public_hex().as_str()));
    app.close().await
}
