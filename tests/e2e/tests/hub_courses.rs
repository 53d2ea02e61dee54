//! Courses from the hub in the app: a laptop connected to its center's hub
//! downloads a course the hub offers, from the import dialog, with its
//! progress shown, and its learner studies it at once; a course the center
//! requires arrives by itself and shows in the library without anyone asking.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use anyhow::{Context, Result};
use kalamu_core::pack::sign::SecretKey;
use kalamu_e2e::{App, build_sample_pack, kalamu, spawn_group, target_dir};

#[tokio::test(flavor = "current_thread")]
async fn a_course_downloaded_from_the_hub_is_studied_at_once() -> Result<()> {
    let hub_data = tempfile::tempdir()?;
    let h = hub_data.path();
    let key = SecretKey::generate()?;
    let packs = tempfile::tempdir()?;
    let pack = build_sample_pack("networks-intro", packs.path(), &key)?;
    kalamu(h, &["hub", "center", "add", "Centre de Kankan"])?;
    kalamu(h, &["hub", "trust", "add", &key.public_hex(), "--name", "Ministère"])?;
    kalamu(h, &["hub", "publish", pack.to_str().context("path")?])?;
    let mut cmd = Command::new(target_dir().join("debug/kalamu"));
    cmd.arg("--data")
        .arg(h)
        .args(["hub", "serve", "--listen", "127.0.0.1:0", "--plain-http"])
        .stdout(Stdio::piped());
    let mut hub = spawn_group(&mut cmd)?;
    let mut line = String::new();
    BufReader::new(hub.take_stdout().context("hub stdout")?).read_line(&mut line)?;
    let url = format!("http://{}", line.trim().rsplit("http://").next().unwrap_or_default());

    // A laptop of the center, with a learner and no course yet.
    let data = tempfile::tempdir()?;
    let store = kalamu_core::Store::open_dir(data.path())?;
    store.trust_add(&key.public_hex(), "Ministère")?;
    let learner = store.add_learner("Fanta Kouyaté")?;
    store.set_current_learner(&learner.id)?;
    drop(store);
    let code = kalamu(h, &["hub", "enroll-code", "Centre de Kankan"])?;
    kalamu(data.path(), &["enroll", "--hub", &url, "--code", &code, "--name", "poste 3"])?;

    let app = App::start(data.path()).await?;
    app.click("[data-testid=import-open]").await?;
    app.click("[data-testid=import-from-hub]").await?;
    let offered = app.text_of("[data-testid=hub-courses]").await?;
    assert!(offered.contains("Introduction to computer networks"), "{offered}");
    assert!(app.text_of("[data-testid=hub-course-status]").await?.contains("Not on this laptop"));
    app.screenshot("import-from-hub").await?;
    // The progress bar shows while the course comes, however briefly.
    app.client
        .execute(
            "window.sawProgress = false; new MutationObserver(() => { \
               if (document.querySelector('[data-testid=hub-progress]')) window.sawProgress = true; \
             }).observe(document.body, { subtree: true, childList: true });",
            vec![],
        )
        .await?;
    app.click("[data-testid=hub-download]").await?;
    let done = app.text_of("[data-testid=import-done]").await?;
    assert!(done.contains("Introduction to computer networks"), "{done}");
    assert_eq!(app.client.execute("return window.sawProgress", vec![]).await?, serde_json::json!(true));
    app.click("[data-testid=import-dialog] button.primary").await?;

    app.wait_for_text("[data-testid=pack-title]", "Introduction to computer networks").await?;
    app.click("[data-testid=open-pack]").await?;
    app.click("[data-lesson-id=what-is-a-network]").await?;
    app.text_of("[data-testid=lesson-view]").await?;
    let offers: serde_json::Value = serde_json::from_str(&kalamu(data.path(), &["catalog", "--json"])?)?;
    assert_eq!(offers[0]["status"], "installed");
    app.close().await
}

#[tokio::test(flavor = "current_thread")]
async fn a_required_course_arrives_by_itself_and_shows_in_the_library() -> Result<()> {
    let hub_data = tempfile::tempdir()?;
    let h = hub_data.path();
    let key = SecretKey::generate()?;
    let packs = tempfile::tempdir()?;
    let pack = build_sample_pack("networks-intro", packs.path(), &key)?;
    kalamu(h, &["hub", "center", "add", "Centre de Labé"])?;
    kalamu(h, &["hub", "trust", "add", &key.public_hex(), "--name", "Ministère"])?;
    kalamu(h, &["hub", "publish", pack.to_str().context("path")?])?;
    let mut cmd = Command::new(target_dir().join("debug/kalamu"));
    cmd.arg("--data")
        .arg(h)
        .args(["hub", "serve", "--listen", "127.0.0.1:0", "--plain-http"])
        .stdout(Stdio::piped());
    let mut hub = spawn_group(&mut cmd)?;
    let mut line = String::new();
    BufReader::new(hub.take_stdout().context("hub stdout")?).read_line(&mut line)?;
    let url = format!("http://{}", line.trim().rsplit("http://").next().unwrap_or_default());

    let data = tempfile::tempdir()?;
    let store = kalamu_core::Store::open_dir(data.path())?;
    store.trust_add(&key.public_hex(), "Ministère")?;
    drop(store);
    let code = kalamu(h, &["hub", "enroll-code", "Centre de Labé"])?;
    kalamu(data.path(), &["enroll", "--hub", &url, "--code", &code, "--name", "poste 7"])?;

    let app = App::start(data.path()).await?;
    app.text_of("[data-testid=library-empty]").await?;
    // Staff require the course while the app is open. A learner joins, which
    // the laptop syncs at once; nobody asks for the course.
    kalamu(h, &["hub", "require", "org.kalamu.samples.networks-intro", "--center", "Centre de Labé"])?;
    app.click("[data-testid=add-learner]").await?;
    app.fill("[data-testid=learner-name]", "Mariama Bah").await?;
    app.click(".inline-form button[type=submit]").await?;
    app.wait_for_text("[data-testid=pack-title]", "Introduction to computer networks").await?;
    app.close().await
}
