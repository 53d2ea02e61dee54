//! The real app in a real WebKit webview: what a learner sees at start-up.

use anyhow::Result;
use kalamu_e2e::{App, install_sample_packs};

#[tokio::test(flavor = "current_thread")]
async fn empty_data_dir_shows_empty_library_with_how_to_add_a_pack() -> Result<()> {
    let data = tempfile::tempdir()?;
    let app = App::start(data.path()).await?;
    let empty = app.text_of("[data-testid=library-empty]").await?;
    app.screenshot("empty-library").await?;
    assert!(empty.contains("No courses yet"), "empty state says: {empty}");
    assert!(empty.contains("kalamu import"), "empty state tells how to add a pack: {empty}");
    assert!(app.client.find_all(fantoccini::Locator::Css("[data-testid=pack-card]")).await?.is_empty());
    app.close().await
}

#[tokio::test(flavor = "current_thread")]
async fn library_lists_the_installed_packs_by_title() -> Result<()> {
    let data = tempfile::tempdir()?;
    install_sample_packs(data.path())?;
    let app = App::start(data.path()).await?;
    app.text_of("[data-testid=pack-card]").await?;
    let mut titles = Vec::new();
    for el in app.client.find_all(fantoccini::Locator::Css("[data-testid=pack-title]")).await? {
        titles.push(el.text().await?);
    }
    app.screenshot("library-with-packs").await?;
    assert_eq!(titles, ["Introduction to computer networks", "Les bases de l'informatique"]);
    assert!(app.client.find_all(fantoccini::Locator::Css("[data-testid=library-empty]")).await?.is_empty());
    app.close().await
}

#[tokio::test(flavor = "current_thread")]
async fn switching_to_french_translates_the_window_and_is_remembered() -> Result<()> {
    let data = tempfile::tempdir()?;
    let app = App::start(data.path()).await?;
    app.wait_for_text("#library-heading", "Library").await?;
    app.click("[data-testid=lang-fr]").await?;
    app.wait_for_text("#library-heading", "Bibliothèque").await?;
    let empty = app.text_of("[data-testid=library-empty]").await?;
    assert!(empty.contains("Aucun cours pour l'instant"), "empty state in French: {empty}");
    app.screenshot("library-french").await?;
    app.close().await?;

    // The choice is kept in the store: the next start is in French too.
    let app = App::start(data.path()).await?;
    app.wait_for_text("#library-heading", "Bibliothèque").await?;
    app.close().await
}

#[test]
fn help_and_version_print_without_opening_a_window() -> Result<()> {
    let app = kalamu_e2e::app_binary()?;
    // No display at all: were a window opened, these would fail.
    let run = |arg: &str| {
        std::process::Command::new(&app).arg(arg).env_remove("DISPLAY").env_remove("WAYLAND_DISPLAY").output()
    };
    let help = run("--help")?;
    assert!(help.status.success());
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(text.contains("Usage: kalamu-app [--data DIR]"), "{text}");
    let version = run("--version")?;
    assert!(version.status.success());
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("kalamu-app 0."));
    Ok(())
}

#[test]
fn with_no_display_the_app_says_so_in_one_sentence() -> Result<()> {
    let out = std::process::Command::new(kalamu_e2e::app_binary()?)
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .output()?;
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("kalamu-app: no display"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one sentence, no backtrace: {err}");
    Ok(())
}
