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
