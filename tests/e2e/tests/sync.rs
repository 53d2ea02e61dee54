//! Sync in the app: an enrolled laptop sends progress to a real hub process
//! by itself, says what is waiting while the hub is away, sends it as soon
//! as the hub answers again, and carries progress by USB stick.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use kalamu_e2e::{App, Group, data_with_learner, kalamu, spawn_group, target_dir};

const NETWORKS: &str = "[data-pack-id='org.kalamu.samples.networks-intro']";

/// Starts `kalamu hub serve` on `listen`; returns the process and its address.
fn hub(data: &Path, listen: &str) -> Result<(Group, String)> {
    let mut cmd = Command::new(target_dir().join("debug/kalamu"));
    cmd.arg("--data")
        .arg(data)
        .args(["hub", "serve", "--listen", listen, "--plain-http"])
        .stdout(Stdio::piped());
    let mut group = spawn_group(&mut cmd)?;
    let mut line = String::new();
    BufReader::new(group.take_stdout().context("hub stdout")?).read_line(&mut line)?;
    let addr = line.trim().rsplit("http://").next().unwrap_or_default().to_owned();
    Ok((group, addr))
}

fn hub_events(data: &Path) -> Result<i64> {
    let db = rusqlite::Connection::open_with_flags(
        data.join("hub.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )?;
    // One id per stored event (the events themselves are kept as encoded runs).
    Ok(db.query_row("SELECT count(*) FROM event_ids", [], |r| r.get(0))?)
}

/// Waits (bounded) until the sync status is in `phase` and its text contains `words`.
async fn wait_for_sync(app: &App, phase: &str, words: &str) -> Result<String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = (String::new(), String::new());
    while Instant::now() < deadline {
        if let Ok(el) = app.element("[data-testid=sync-status]").await {
            // The rendered words (WebKit's driver reads a line cut to fit, with
            // `overflow: hidden`, as empty; a person reads it, or its tooltip).
            let shown = app
                .client
                .execute("return document.querySelector('[data-testid=sync-status]').innerText", vec![])
                .await?;
            last = (
                el.attr("data-state").await?.unwrap_or_default(),
                shown.as_str().unwrap_or_default().to_owned(),
            );
            if last.0 == phase && last.1.contains(words) {
                return Ok(last.1);
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    bail!("the sync status stayed {:?} {:?}, expected {phase:?} with {words:?}", last.0, last.1)
}

#[tokio::test(flavor = "current_thread")]
async fn the_app_syncs_by_itself_and_catches_up_when_the_hub_comes_back() -> Result<()> {
    let hub_dir = tempfile::tempdir()?;
    kalamu(hub_dir.path(), &["hub", "center", "add", "Centre de Kindia"])?;
    let code = kalamu(hub_dir.path(), &["hub", "enroll-code", "Centre de Kindia"])?;
    let (hub_process, addr) = hub(hub_dir.path(), "127.0.0.1:0")?;
    let (data, _awa) = data_with_learner("Awa")?;

    // Staff connect the laptop from the window with the code they were given.
    let app = App::start(data.path()).await?;
    wait_for_sync(&app, "off", "Not connected to a hub").await?;
    app.click("[data-testid=enroll-open]").await?;
    app.fill("[data-testid=enroll-hub]", &format!("http://{addr}")).await?;
    app.fill("[data-testid=enroll-code]", "AAAA-BBBB").await?;
    app.click("[data-testid=enroll-start]").await?;
    let refused = app.text_of("[data-testid=enroll-error]").await?;
    assert!(refused.contains("That code is not right"), "{refused}");
    app.fill("[data-testid=enroll-code]", &code.to_lowercase()).await?;
    app.click("[data-testid=enroll-start]").await?;
    let done = app.text_of("[data-testid=enroll-done]").await?;
    assert!(done.contains("connected to Centre de Kindia"), "{done}");
    app.click("[data-testid=enroll-dialog] button.primary").await?;
    wait_for_sync(&app, "ok", "All progress is saved at Centre de Kindia").await?;

    // Staff see which hub and center the laptop uses, and can change the hub's address.
    app.click("[data-testid=about-open]").await?;
    assert_eq!(app.text_of("[data-testid=about-center]").await?, "Centre de Kindia");
    assert_eq!(app.text_of("[data-testid=about-hub]").await?, format!("http://{addr}"));
    let hub_url = || -> Result<String> {
        Ok(kalamu_core::Store::open_dir(data.path())?.hub_link()?.context("enrolled")?.hub_url)
    };
    let real = format!("http://{addr}");
    let steps = [
        ("not a url".to_owned(), None),
        ("http://127.0.0.1:9/".to_owned(), Some("http://127.0.0.1:9".to_owned())),
        (real.clone(), Some(real.clone())),
    ];
    for (typed, stored) in steps {
        app.click("[data-testid=about-hub-change]").await?;
        app.fill("[data-testid=about-hub-input]", &typed).await?;
        app.click("[data-testid=about-hub-save]").await?;
        match stored {
            Some(url) => {
                app.wait_for_text("[data-testid=about-hub]", &url).await?;
                assert_eq!(hub_url()?, url);
            }
            None => {
                let refused = app.text_of("[data-testid=about-error]").await?;
                assert!(refused.contains("address"), "{refused}");
                app.click("[data-testid=about-dialog] .actions button").await?;
                app.click("[data-testid=about-open]").await?;
            }
        }
    }
    app.click("[data-testid=about-dialog] .actions button").await?;
    wait_for_sync(&app, "ok", "All progress is saved at Centre de Kindia").await?;

    // Studying sends progress by itself.
    app.click(&format!("{NETWORKS} [data-testid=open-pack]")).await?;
    app.click("[data-lesson-id=what-is-a-network]").await?;
    app.click("[data-testid=mark-done]").await?;
    app.wait_for_text("[data-testid=mark-done]", "Done").await?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while hub_events(hub_dir.path())? < 2 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(hub_events(hub_dir.path())? >= 2, "the lesson's events reached the hub");
    wait_for_sync(&app, "ok", "All progress is saved").await?;

    // The hub goes away: the student keeps working, and the bar says what waits.
    drop(hub_process);
    app.click(".lesson-nav button").await?;
    app.click("[data-lesson-id=switches-and-routers]").await?;
    app.click("[data-testid=mark-done]").await?;
    app.wait_for_text("[data-testid=mark-done]", "Done").await?;
    let said = wait_for_sync(&app, "error", "cannot be reached").await?;
    assert!(said.contains("waiting to be sent") && said.contains("safe on this laptop"), "{said}");
    app.screenshot("sync-hub-away").await?;

    // The hub is back on the same address: the app notices and sends by itself.
    let (_hub_again, _) = hub(hub_dir.path(), &addr)?;
    wait_for_sync(&app, "ok", "All progress is saved").await?;
    app.screenshot("sync-saved").await?;
    let store = kalamu_core::Store::open_dir(data.path())?;
    assert_eq!(store.pending()?, 0);
    assert_eq!(hub_events(hub_dir.path())?, store.sync_vector()?.0.values().sum::<u64>() as i64);
    app.close().await
}

#[tokio::test(flavor = "current_thread")]
async fn progress_travels_by_usb_stick_from_the_app() -> Result<()> {
    use kalamu_core::progress::event::EventBody;
    // Both laptops were enrolled while at the center; one synced then.
    let hub_dir = tempfile::tempdir()?;
    kalamu(hub_dir.path(), &["hub", "center", "add", "Centre de Labé"])?;
    let (hub_process, addr) = hub(hub_dir.path(), "127.0.0.1:0")?;
    let url = format!("http://{addr}");
    let (data, awa) = data_with_learner("Awa")?;
    kalamu(
        data.path(),
        &[
            "enroll",
            "--hub",
            &url,
            "--code",
            &kalamu(hub_dir.path(), &["hub", "enroll-code", "Centre de Labé"])?,
        ],
    )?;
    let other = tempfile::tempdir()?;
    kalamu(
        other.path(),
        &[
            "enroll",
            "--hub",
            &url,
            "--code",
            &kalamu(hub_dir.path(), &["hub", "enroll-code", "Centre de Labé"])?,
        ],
    )?;
    let binta = kalamu(other.path(), &["learner", "add", "Binta"])?;
    kalamu_core::Store::open_dir(other.path())?.record(&binta, "p", "l", EventBody::LessonOpened)?;
    kalamu(other.path(), &["sync"])?;
    // Awa's laptop never reaches the hub again.
    drop(hub_process);
    kalamu_core::Store::open_dir(data.path())?.record(
        &awa.id,
        "org.kalamu.samples.networks-intro",
        "ip-addresses",
        EventBody::LessonOpened,
    )?;

    let stick = tempfile::tempdir()?;
    let app = App::start_with_env(data.path(), &[("KALAMU_PACK_DIRS", stick.path().as_os_str())]).await?;
    app.click("[data-testid=usb-open]").await?;
    // A stick that is not plugged in is named in words.
    let gone = stick.path().join("unplugged/kalamu/awa-laptop.kbundle");
    app.fill("[data-testid=usb-export-path]", gone.to_str().unwrap()).await?;
    app.click("[data-testid=usb-export]").await?;
    let refused = app.text_of("[data-testid=usb-error]").await?;
    assert!(refused.contains("That folder does not exist"), "{refused}");
    // A new folder on the stick is made for the file.
    let out = stick.path().join("kalamu/awa-laptop.kbundle");
    app.fill("[data-testid=usb-export-path]", out.to_str().unwrap()).await?;
    app.click("[data-testid=usb-export]").await?;
    // Awa's addition to this laptop and her lesson.
    app.wait_for_text("[data-testid=usb-exported]", "Saved 2 activities. Give the stick to the staff.")
        .await?;
    let imported = kalamu(hub_dir.path(), &["hub", "import", out.to_str().unwrap()])?;
    assert!(imported.contains("2 events, 2 new"), "{imported}");

    // The staff bring back the center's progress; the dialog finds it on the stick.
    let from_hub = stick.path().join("labe.kbundle");
    kalamu(hub_dir.path(), &["hub", "export", "Centre de Labé", "--out", from_hub.to_str().unwrap()])?;
    app.click("[data-testid=usb-dialog] .actions button").await?;
    app.click("[data-testid=usb-open]").await?;
    let found = app.text_of("[data-testid=usb-found]").await?;
    assert!(found.contains("labe.kbundle") && found.contains("awa-laptop.kbundle"), "{found}");
    app.fill("[data-testid=usb-import-path]", from_hub.to_str().unwrap()).await?;
    app.click("[data-testid=usb-import]").await?;
    app.wait_for_text("[data-testid=usb-imported]", "Loaded 4 activities, 2 new on this laptop.").await?;
    app.screenshot("usb-dialog").await?;
    // Twice changes nothing; the laptop's own bundle is refused with words.
    app.click("[data-testid=usb-import]").await?;
    app.wait_for_text("[data-testid=usb-imported]", "Loaded 4 activities, 0 new on this laptop.").await?;
    app.fill("[data-testid=usb-import-path]", out.to_str().unwrap()).await?;
    app.click("[data-testid=usb-import]").await?;
    let refused = app.text_of("[data-testid=usb-error]").await?;
    assert!(refused.contains("made by a laptop"), "{refused}");
    let learners = kalamu(data.path(), &["learner", "list"])?;
    assert!(learners.contains("Binta"), "{learners}");
    app.close().await
}
