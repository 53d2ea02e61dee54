//! A laptop shared by a class and looked after by staff: who is studying,
//! PINs, messages in the learner's language, and staff's command line
//! running beside the open app.

use anyhow::Result;
use fantoccini::Locator;
use kalamu_e2e::{App, data_with_learner, install_sample_packs, kalamu};

const NETWORKS: &str = "[data-pack-id='org.kalamu.samples.networks-intro']";

#[tokio::test(flavor = "current_thread")]
async fn a_learner_with_a_pin_is_created_in_the_window_and_asked_for_it_after_a_restart() -> Result<()> {
    let data = tempfile::tempdir()?;
    install_sample_packs(data.path())?;
    let app = App::start(data.path()).await?;
    app.click("[data-testid=add-learner]").await?;
    app.fill("[data-testid=learner-name]", "Fatoumata").await?;
    // Two digits are not a PIN: the form says so and nothing is created.
    app.fill("[data-testid=learner-new-pin]", "14").await?;
    app.click(".inline-form button[type=submit]").await?;
    let valid = app
        .client
        .execute("return document.querySelector('[data-testid=learner-new-pin]').validity.valid", vec![])
        .await?;
    assert_eq!(valid, serde_json::json!(false), "a two-digit PIN is refused by the form");
    assert!(kalamu(data.path(), &["learner", "list"])?.is_empty());
    let pin = app.element("[data-testid=learner-new-pin]").await?;
    pin.clear().await?;
    pin.send_keys("1234").await?;
    app.click(".inline-form button[type=submit]").await?;
    app.wait_for_text("[data-testid=learner-select] option:checked", "Fatoumata (PIN)").await?;
    let listed: serde_json::Value =
        serde_json::from_str(&kalamu(data.path(), &["learner", "list", "--json"])?)?;
    assert_eq!(listed[0]["has_pin"], true, "{listed}");
    app.close().await?;

    let app = App::start(data.path()).await?;
    let id = listed[0]["id"].as_str().unwrap_or_default().to_owned();
    app.click(&format!("[data-testid=learner-select] option[value='{id}']")).await?;
    app.fill("[data-testid=learner-pin]", "1234").await?;
    app.click("[data-testid=learner-pin-ok]").await?;
    // The PIN check takes a moment, off the window's thread: signed in once its form closes.
    app.wait_gone("[data-testid=learner-pin]").await?;
    app.click(&format!("{NETWORKS} [data-testid=open-pack]")).await?;
    app.text_of("[data-testid=pack-view]").await?;
    app.close().await
}

#[tokio::test(flavor = "current_thread")]
async fn a_shared_laptop_starts_on_who_is_studying() -> Result<()> {
    let (data, awa) = data_with_learner("Awa")?;
    let store = kalamu_core::Store::open_dir(data.path())?;
    store.add_learner("Binta")?;
    store.set_current_learner(&awa.id)?; // Awa studied last
    drop(store);
    let app = App::start(data.path()).await?;
    let chosen = app.element("[data-testid=learner-select]").await?.prop("value").await?;
    assert_eq!(chosen.as_deref(), Some(""), "nobody is picked: the next student is not recorded as Awa");
    app.click(&format!("{NETWORKS} [data-testid=open-pack]")).await?;
    let notice = app.text_of("[data-testid=notice]").await?;
    assert!(notice.contains("Choose who is studying"), "{notice}");
    app.close().await
}

#[tokio::test(flavor = "current_thread")]
async fn a_refusal_is_in_the_learners_language_and_gone_after_cancel() -> Result<()> {
    let data = tempfile::tempdir()?;
    install_sample_packs(data.path())?;
    let store = kalamu_core::Store::open_dir(data.path())?;
    let sekou = store.add_learner_with_pin("Sékou", Some("2468"))?;
    store.add_learner("Nènè")?;
    store.set_language("fr")?;
    drop(store);
    let app = App::start(data.path()).await?;
    app.click(&format!("[data-testid=learner-select] option[value='{}']", sekou.id)).await?;
    app.fill("[data-testid=learner-pin]", "1111").await?;
    app.click("[data-testid=learner-pin-ok]").await?;
    let error = app.text_of("[data-testid=learner-error]").await?;
    assert!(error.starts_with("Ce code PIN n'est pas le bon."), "{error}");
    let code = app.element("[data-testid=learner-error]").await?.attr("data-code").await?;
    assert_eq!(code.as_deref(), Some("wrong_pin"));
    // Escape leaves the form, and its error does not follow into the next one.
    app.element("[data-testid=learner-pin]").await?.send_keys("\u{e00c}").await?;
    app.text_of("[data-testid=add-learner]").await?;
    assert!(app.client.find_all(Locator::Css("[data-testid=learner-error]")).await?.is_empty());
    app.click("[data-testid=add-learner]").await?;
    app.text_of("[data-testid=learner-name]").await?;
    assert!(app.client.find_all(Locator::Css("[data-testid=learner-error]")).await?.is_empty());
    app.close().await
}

/// Staff run `kalamu` commands on the laptop while a learner studies in the
/// open app; then the laptop loses power. Everything the window showed as
/// recorded is there after the restart.
#[tokio::test(flavor = "current_thread")]
async fn the_command_line_beside_the_open_app_loses_no_progress() -> Result<()> {
    let (data, learner) = data_with_learner("Kadiatou")?;
    let app = App::start(data.path()).await?;
    app.click(&format!("{NETWORKS} [data-testid=open-pack]")).await?;
    let lessons = ["what-is-a-network", "switches-and-routers", "ip-addresses"];
    for (i, lesson) in lessons.iter().enumerate() {
        app.click(&format!("[data-lesson-id={lesson}]")).await?;
        app.text_of("[data-testid=lesson-frame]").await?;
        // Staff look at the laptop from the command line between two clicks.
        kalamu(data.path(), &["progress", "show", "--learner", &learner.id])?;
        kalamu(data.path(), &["learner", "list"])?;
        app.click("[data-testid=mark-done]").await?;
        app.wait_for_text("[data-testid=mark-done]", "Done").await?;
        kalamu(data.path(), &["packs"])?;
        app.click(".lesson-nav button").await?;
        let shown = app.text_of("[data-testid=pack-view] p.muted").await?;
        assert!(shown.contains(&format!("{} of 7 lessons done", i + 1)), "{shown}");
    }
    app.kill();

    let store = kalamu_core::Store::open_dir(data.path())?;
    let progress = store.progress(&learner.id)?;
    let pack = progress.packs.iter().find(|p| p.pack_id == "org.kalamu.samples.networks-intro").unwrap();
    for lesson in lessons {
        assert!(pack.lessons[lesson].completed, "{lesson} was shown as done before the power cut");
    }
    assert_eq!(pack.completed, 3);
    Ok(())
}

/// A staff command holds the store's write lock for longer than the app
/// waits (a big import, say) just as a learner leaves a lesson: the time she
/// spent is kept by the window and stored once the lock is gone.
#[tokio::test(flavor = "current_thread")]
async fn time_spent_while_the_store_is_held_by_another_process_is_stored_later() -> Result<()> {
    let (data, learner) = data_with_learner("Mariama")?;
    let app = App::start(data.path()).await?;
    app.click(&format!("{NETWORKS} [data-testid=open-pack]")).await?;
    app.click("[data-lesson-id=what-is-a-network]").await?;
    app.text_of("[data-testid=lesson-frame]").await?;
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let spent = |store: &kalamu_core::Store| -> Result<usize> {
        Ok(store
            .events_of(&learner.id)?
            .iter()
            .filter(|e| matches!(e.body, kalamu_core::progress::event::EventBody::TimeSpent { .. }))
            .count())
    };
    // Another process takes the write lock and keeps it past the app's 10 s wait.
    let holder = rusqlite::Connection::open(data.path().join("kalamu.db"))?;
    holder.execute_batch("BEGIN IMMEDIATE")?;
    app.click(".lesson-nav button").await?;
    app.text_of("[data-testid=pack-view]").await?;
    // The window keeps answering while its record waits for the lock.
    let asked = std::time::Instant::now();
    app.click("[data-testid=lang-fr]").await?;
    while app.element("[data-testid=lang-fr]").await?.attr("aria-pressed").await?.as_deref() != Some("true") {
        anyhow::ensure!(asked.elapsed() < std::time::Duration::from_secs(30), "the language never switched");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let answered = asked.elapsed();
    assert!(
        answered < std::time::Duration::from_secs(5),
        "the window answered a click in {answered:?} while the store was held: a command waited on its main thread"
    );
    tokio::time::sleep(std::time::Duration::from_secs(12).saturating_sub(asked.elapsed())).await;
    holder.execute_batch("ROLLBACK")?;
    drop(holder);
    let store = kalamu_core::Store::open_dir(data.path())?;
    assert_eq!(spent(&store)?, 0, "the record failed while the lock was held");
    // The window sends it again within a few seconds; bounded wait.
    let mut stored = 0;
    for _ in 0..40 {
        stored = spent(&store)?;
        if stored > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    assert_eq!(stored, 1, "the time spent in the lesson was kept and stored once");
    app.close().await
}
