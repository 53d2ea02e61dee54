//! Studying in the app: a learner opens a lesson in its sandboxed frame,
//! answers a quiz, closes the app and finds everything again on restart.

use anyhow::{Context, Result};
use fantoccini::Locator;
use kalamu_e2e::{App, data_with_learner, install_sample_packs, proc_field};

const NETWORKS: &str = "[data-pack-id='org.kalamu.samples.networks-intro']";

async fn add_learner(app: &App, name: &str) -> Result<()> {
    app.click("[data-testid=add-learner]").await?;
    app.fill("[data-testid=learner-name]", name).await?;
    app.click(".inline-form button[type=submit]").await?;
    app.text_of("[data-testid=learner-select]").await?;
    Ok(())
}

#[tokio::test(flavor = "current_thread")]
async fn learner_studies_answers_a_quiz_and_finds_it_all_after_a_restart() -> Result<()> {
    let data = tempfile::tempdir()?;
    install_sample_packs(data.path())?;
    let app = App::start(data.path()).await?;
    add_learner(&app, "Aminata").await?;

    app.click(&format!("{NETWORKS} [data-testid=open-pack]")).await?;
    app.text_of("[data-testid=pack-view]").await?;
    let focused = || async {
        app.client
            .execute(
                "const e = document.activeElement; return e.tagName + ' ' + e.textContent.trim()",
                vec![],
            )
            .await
    };
    // After every navigation, focus is on the new view's heading.
    assert_eq!(focused().await?, serde_json::json!("H2 Introduction to computer networks"));
    app.click("[data-lesson-id=what-is-a-network]").await?;
    app.text_of("[data-testid=lesson-frame]").await?;
    assert_eq!(focused().await?, serde_json::json!("H2 What is a network?"));

    // The lesson renders inside its frame, images and all.
    let src = app.element("[data-testid=lesson-frame]").await?.attr("src").await?.unwrap_or_default();
    assert!(src.starts_with("kalamu-lesson://org.kalamu.samples.networks-intro/"), "{src}");
    app.enter_lesson_frame("h1").await?;
    let heading = app.element("h1").await?.text().await?;
    assert_eq!(heading, "What is a network?");
    let images_ok = app
        .client
        .execute("return [...document.images].length > 0 && [...document.images].every(i => i.complete && i.naturalWidth > 0)", vec![])
        .await?;
    assert_eq!(images_ok, serde_json::json!(true), "the lesson's images load from the pack");
    app.client.enter_parent_frame().await?;
    app.screenshot("lesson").await?;

    app.click("[data-testid=mark-done]").await?;
    app.wait_for_text("[data-testid=mark-done]", "Done").await?;

    app.click(".lesson-nav button").await?; // back to the course
    app.click("[data-lesson-id=basics-quiz]").await?;
    app.click("[data-testid=quiz] input[type=radio]").await?;
    app.click("[data-testid=quiz-submit]").await?;
    // Blank answers are named before anything is graded; a second press submits anyway.
    let blanks = app.text_of("[data-testid=quiz-blanks]").await?;
    assert!(blanks.contains("Questions 2, 3, 4, 5 have no answer"), "{blanks}");
    app.wait_for_text("[data-testid=quiz-submit]", "Submit anyway").await?;
    app.click("[data-testid=quiz-submit]").await?;
    let score = app.text_of("[data-testid=quiz-score]").await?;
    assert!(score.contains("of 5 right"), "{score}");
    let focused = app.client.execute("return document.activeElement.dataset.testid", vec![]).await?;
    assert_eq!(focused, serde_json::json!("quiz-score"), "after grading, focus is on the score");
    let feedback = app.client.find_all(Locator::Css("[data-testid=feedback]")).await?;
    assert_eq!(feedback.len(), 5, "every item gets feedback");
    app.screenshot("quiz").await?;
    app.close().await?;

    // Restart: progress and the resume point are there. The quiz, below its
    // pass mark, is attempted but not done.
    let app = App::start(data.path()).await?;
    let progress = app.text_of(&format!("{NETWORKS} [data-testid=pack-progress]")).await?;
    assert!(progress.contains("1 of 7 lessons done"), "{progress}");
    app.click(&format!("{NETWORKS} [data-testid=resume]")).await?;
    app.text_of("[data-testid=quiz]").await?;
    app.screenshot("resumed").await?;

    // A second learner on the same laptop starts from nothing.
    add_learner(&app, "Mamadou").await?;
    let progress = app.text_of(&format!("{NETWORKS} [data-testid=pack-progress]")).await?;
    assert!(progress.contains("0 of 7 lessons done"), "{progress}");
    assert!(app.client.find_all(Locator::Css(&format!("{NETWORKS} [data-testid=resume]"))).await?.is_empty());
    app.close().await
}

#[tokio::test(flavor = "current_thread")]
async fn opening_a_course_without_choosing_a_learner_asks_who_is_studying() -> Result<()> {
    let data = tempfile::tempdir()?;
    install_sample_packs(data.path())?;
    let app = App::start(data.path()).await?;
    app.click(&format!("{NETWORKS} [data-testid=open-pack]")).await?;
    let notice = app.text_of("[data-testid=notice]").await?;
    assert!(notice.contains("Choose who is studying"), "{notice}");
    app.close().await
}

/// SIGKILL right after an answer is recorded: after a restart the attempt
/// is there, answers and all.
#[tokio::test(flavor = "current_thread")]
async fn answer_survives_kill_9_right_after_it_is_recorded() -> Result<()> {
    let (data, learner) = data_with_learner("Fanta")?;
    let app = App::start(data.path()).await?;
    app.click(&format!("{NETWORKS} [data-testid=open-pack]")).await?;
    app.click("[data-lesson-id=basics-quiz]").await?;
    app.click("[data-testid=quiz] input[type=radio]").await?;
    app.click("[data-testid=quiz-submit]").await?;
    app.wait_for_text("[data-testid=quiz-submit]", "Submit anyway").await?;
    app.click("[data-testid=quiz-submit]").await?;
    app.text_of("[data-testid=quiz-score]").await?; // the attempt is graded and recorded
    app.kill();

    let store = kalamu_core::Store::open_dir(data.path())?;
    let progress = store.progress(&learner.id)?;
    let quiz = &progress
        .packs
        .iter()
        .find(|p| p.pack_id == "org.kalamu.samples.networks-intro")
        .unwrap()
        .lessons["basics-quiz"];
    assert_eq!(quiz.attempts, 1, "the attempt survived the kill");
    let attempt = store
        .events_of(&learner.id)?
        .into_iter()
        .find(|e| e.lesson_id == "basics-quiz" && e.body.kind() == "quiz_attempt");
    assert!(attempt.is_some());
    Ok(())
}

/// The learner's screens at a school laptop's 1366×768, in French and in
/// English, with screenshots of a lesson and a graded quiz in each.
#[tokio::test(flavor = "current_thread")]
async fn lesson_and_quiz_in_french_and_english_at_1366x768() -> Result<()> {
    let (data, _) = data_with_learner("Ousmane")?;
    kalamu_core::Store::open_dir(data.path())?.set_language("fr")?;
    let app = App::start(data.path()).await?;
    app.client.set_window_rect(0, 0, 1366, 768).await?;

    let bases = "[data-pack-id='org.kalamu.samples.bases-informatique']";
    app.click(&format!("{bases} [data-testid=open-pack]")).await?;
    app.click("[data-lesson-id=parties-ordinateur]").await?;
    app.wait_for_text("[data-testid=mark-done]", "Marquer comme terminée").await?;
    app.screenshot("lesson-fr-1366x768").await?;
    app.click(".lesson-nav button").await?;
    app.click("[data-lesson-id=materiel-quiz]").await?;
    app.click("[data-testid=quiz] input[type=radio]").await?;
    app.click("[data-testid=quiz-submit]").await?;
    app.wait_for_text("[data-testid=quiz-submit]", "Valider quand même").await?;
    app.click("[data-testid=quiz-submit]").await?;
    let score = app.text_of("[data-testid=quiz-score]").await?;
    assert!(score.starts_with("Vous avez"), "{score}");
    app.screenshot("quiz-fr-1366x768").await?;

    app.click("[data-testid=lang-en]").await?;
    app.click(".lesson-nav button").await?;
    app.click("[data-testid=pack-view] nav button").await?;
    app.click(&format!("{NETWORKS} [data-testid=open-pack]")).await?;
    app.click("[data-lesson-id=switches-and-routers]").await?;
    app.wait_for_text("[data-testid=mark-done]", "Mark as done").await?;
    app.screenshot("lesson-en-1366x768").await?;
    app.click(".lesson-nav button").await?;
    app.click("[data-lesson-id=internet-quiz]").await?;
    app.click("[data-testid=quiz] input[type=radio]").await?;
    app.click("[data-testid=quiz-submit]").await?;
    app.wait_for_text("[data-testid=quiz-submit]", "Submit anyway").await?;
    app.click("[data-testid=quiz-submit]").await?;
    let score = app.text_of("[data-testid=quiz-score]").await?;
    assert!(score.starts_with("You got"), "{score}");
    app.screenshot("quiz-en-1366x768").await?;
    app.close().await
}

/// A learner with a PIN signs in only with it, also after a restart.
#[tokio::test(flavor = "current_thread")]
async fn learner_with_a_pin_signs_in_only_with_the_right_pin() -> Result<()> {
    let data = tempfile::tempdir()?;
    install_sample_packs(data.path())?;
    let store = kalamu_core::Store::open_dir(data.path())?;
    let sekou = store.add_learner_with_pin("Sékou", Some("2468"))?;
    drop(store);
    let app = App::start(data.path()).await?;
    app.click(&format!("[data-testid=learner-select] option[value='{}']", sekou.id)).await?;
    app.fill("[data-testid=learner-pin]", "1111").await?;
    app.click("[data-testid=learner-pin-ok]").await?;
    let error = app.text_of("[data-testid=learner-error]").await?;
    assert!(error.contains("not right"), "{error}");
    app.fill("[data-testid=learner-pin]", "2468").await?;
    app.click("[data-testid=learner-pin-ok]").await?;
    // The PIN check takes a moment, off the window's thread: signed in once its form closes.
    app.wait_gone("[data-testid=learner-pin]").await?;
    app.click(&format!("{NETWORKS} [data-testid=open-pack]")).await?;
    app.text_of("[data-testid=pack-view]").await?;
    app.close().await?;

    // After a restart nobody is signed in: the PIN is asked again.
    let app = App::start(data.path()).await?;
    app.click(&format!("{NETWORKS} [data-testid=open-pack]")).await?;
    let notice = app.text_of("[data-testid=notice]").await?;
    assert!(notice.contains("Choose who is studying"), "{notice}");
    app.close().await
}

/// A lesson's video plays and seeks, served by byte range from the chunk store.
#[tokio::test(flavor = "current_thread")]
async fn lesson_video_plays_seeks_and_resumes_where_it_was_left() -> Result<()> {
    let (data, learner) = data_with_learner("Mariama")?;
    let app = App::start(data.path()).await?;
    app.click(&format!("{NETWORKS} [data-testid=open-pack]")).await?;
    app.click("[data-lesson-id=packets-and-routing]").await?;
    app.enter_lesson_frame("video").await?;
    app.client
        .execute("const v = document.querySelector('video'); v.muted = true; v.play(); return true;", vec![])
        .await?;
    let state = |script: &'static str| {
        let client = app.client.clone();
        async move { client.execute(script, vec![]).await }
    };
    let deadline = std::time::Instant::now() + kalamu_e2e::WAIT;
    while state("return document.querySelector('video').currentTime").await?.as_f64().unwrap_or(0.0) < 1.0 {
        anyhow::ensure!(std::time::Instant::now() < deadline, "the video never played");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    app.client.execute("document.querySelector('video').currentTime = 7.5; return true;", vec![]).await?;
    let deadline = std::time::Instant::now() + kalamu_e2e::WAIT;
    loop {
        let v = state("const v = document.querySelector('video'); return { at: v.currentTime, seeking: v.seeking, src: v.currentSrc, error: v.error && v.error.code };").await?;
        assert!(v["error"].is_null(), "{v}");
        if v["seeking"] == false && v["at"].as_f64().unwrap_or(0.0) >= 7.5 {
            assert!(v["src"].as_str().unwrap_or("").starts_with("http://127.0.0.1:"), "{v}");
            break;
        }
        anyhow::ensure!(std::time::Instant::now() < deadline, "the seek never finished: {v}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // Paused there: the app records where the learner is in the video.
    app.client.execute("document.querySelector('video').pause(); return true;", vec![]).await?;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    app.client.enter_parent_frame().await?;
    app.screenshot("video-lesson").await?;
    app.click(".lesson-nav button").await?; // back to the course: the position is saved on leaving
    app.text_of("[data-lesson-id=packets-and-routing]").await?;
    app.close().await?;

    let store = kalamu_core::Store::open_dir(data.path())?;
    let progress = store.progress(&learner.id)?;
    let resume = progress.resume.context("a resume point")?;
    assert_eq!(resume.lesson_id, "packets-and-routing");
    let position = resume.position.context("a position in the lesson")?;
    assert!(position.media.as_deref().is_some_and(|m| m.ends_with(".webm")), "{position:?}");
    assert!((7.4..9.0).contains(&position.at), "{position:?}");
    drop(store);

    // After a restart, the lesson opens with the video where the learner left it.
    let app = App::start(data.path()).await?;
    app.click(&format!("{NETWORKS} [data-testid=resume]")).await?;
    app.enter_lesson_frame("video").await?;
    let deadline = std::time::Instant::now() + kalamu_e2e::WAIT;
    loop {
        let at = app.client.execute("return document.querySelector('video').currentTime", vec![]).await;
        if at.as_ref().ok().and_then(|v| v.as_f64()).is_some_and(|at| (position.at - at).abs() < 0.5) {
            break;
        }
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "the video did not resume at {}: {at:?}",
            position.at
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    app.client.enter_parent_frame().await?;
    app.close().await
}

/// Presses Tab until the focused element matches `css` (bounded), so every
/// step below is reachable by keyboard alone.
async fn tab_to(app: &App, css: &str) -> Result<()> {
    for _ in 0..60 {
        let here = app
            .client
            .execute(
                "return document.activeElement && document.activeElement.matches(arguments[0])",
                vec![css.into()],
            )
            .await?;
        if here == serde_json::json!(true) {
            return Ok(());
        }
        press(app, "\u{E004}").await?;
    }
    anyhow::bail!("Tab never reached {css}")
}

/// Types `keys` as real key presses, wherever the focus is.
async fn press(app: &App, keys: &str) -> Result<()> {
    use fantoccini::actions::{InputSource, KeyAction, KeyActions};
    let mut actions = KeyActions::new("keyboard".into());
    for value in keys.chars() {
        actions = actions.then(KeyAction::Down { value }).then(KeyAction::Up { value });
    }
    app.client.perform_actions(actions).await?;
    Ok(())
}

const ENTER: &str = "\u{E007}";
const SPACE: &str = "\u{E00D}";

#[tokio::test(flavor = "current_thread")]
async fn a_learner_studies_with_the_keyboard_alone() -> Result<()> {
    let data = tempfile::tempdir()?;
    install_sample_packs(data.path())?;
    let app = App::start(data.path()).await?;
    app.text_of(&format!("{NETWORKS} [data-testid=open-pack]")).await?;

    tab_to(&app, "[data-testid=add-learner]").await?;
    press(&app, ENTER).await?;
    tab_to(&app, "[data-testid=learner-name]").await?;
    press(&app, "Kadiatou").await?;
    press(&app, ENTER).await?;
    app.wait_for_text("[data-testid=learner-select] option:checked", "Kadiatou").await?;

    tab_to(&app, &format!("{NETWORKS} [data-testid=open-pack]")).await?;
    // The focused control is visibly marked.
    let ring = app
        .client
        .execute("const s = getComputedStyle(document.activeElement); return s.outlineStyle !== 'none' && s.outlineWidth !== '0px'", vec![])
        .await?;
    assert_eq!(ring, serde_json::json!(true), "the focused control shows a focus ring");
    press(&app, ENTER).await?;

    tab_to(&app, "[data-lesson-id=what-is-a-network]").await?;
    press(&app, ENTER).await?;
    tab_to(&app, "[data-testid=mark-done]").await?;
    press(&app, ENTER).await?;
    app.wait_for_text("[data-testid=mark-done]", "Done").await?;

    tab_to(&app, "[data-testid=next-lesson]").await?;
    let mut quiz_found = false;
    for _ in 0..8 {
        if !app.client.find_all(Locator::Css("[data-testid=quiz]")).await?.is_empty() {
            quiz_found = true;
            break;
        }
        tab_to(&app, "[data-testid=next-lesson]").await?;
        press(&app, ENTER).await?;
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    anyhow::ensure!(quiz_found, "Next lesson never reached a quiz");
    tab_to(&app, "[data-testid=quiz] input[type=radio]").await?;
    press(&app, SPACE).await?;
    tab_to(&app, "[data-testid=quiz-submit]").await?;
    press(&app, ENTER).await?;
    app.wait_for_text("[data-testid=quiz-submit]", "Submit anyway").await?;
    press(&app, ENTER).await?;
    let score = app.text_of("[data-testid=quiz-score]").await?;
    assert!(score.contains("of 5 right"), "{score}");
    app.screenshot("keyboard-quiz").await?;
    app.close().await
}

/// The app's process on `data` (its command line names the data dir).
fn app_pid(data: &std::path::Path) -> Option<u32> {
    let wanted = data.to_string_lossy().into_owned();
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|entry| {
        let pid: u32 = entry.file_name().to_string_lossy().parse().ok()?;
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        (comm.trim() == "kalamu-app" && String::from_utf8_lossy(&cmdline).contains(&wanted)).then_some(pid)
    })
}

/// Another program on the laptop opens 1,000 connections to the lesson
/// media server and sends oversized lines on some: the app's memory and
/// threads stay flat, and the lesson's video still plays.
#[tokio::test(flavor = "current_thread")]
async fn a_flood_of_connections_to_the_media_server_keeps_neither_memory_nor_the_video() -> Result<()> {
    use std::io::Write;
    let (data, _) = data_with_learner("Mariama")?;
    let app = App::start(data.path()).await?;
    app.click(&format!("{NETWORKS} [data-testid=open-pack]")).await?;
    app.click("[data-lesson-id=packets-and-routing]").await?;
    app.enter_lesson_frame("video").await?;
    let src = app.client.execute("return document.querySelector('video').currentSrc", vec![]).await?;
    let src = src.as_str().unwrap_or_default().to_owned();
    let port: u16 = src
        .strip_prefix("http://127.0.0.1:")
        .and_then(|rest| rest.split('/').next())
        .and_then(|p| p.parse().ok())
        .with_context(|| format!("a loopback media URL: {src}"))?;
    let pid = app_pid(data.path()).context("the app's process")?;
    let before = (proc_field(pid, "smaps_rollup", "Pss:"), proc_field(pid, "status", "Threads:"));
    let mut flood = Vec::new();
    for i in 0..1000 {
        let Ok(mut c) = std::net::TcpStream::connect(("127.0.0.1", port)) else { continue };
        if i % 10 == 0 {
            // An endless request line, past any limit.
            let _ = c.write_all(&vec![b'A'; 64 << 10]);
        }
        flood.push(c);
    }
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let during = (proc_field(pid, "smaps_rollup", "Pss:"), proc_field(pid, "status", "Threads:"));
    println!(
        "1,000 connections: app PSS {} → {} KiB, threads {} → {} ({} connections opened)",
        before.0,
        during.0,
        before.1,
        during.1,
        flood.len()
    );
    assert!(during.1 <= before.1 + 70, "threads stay bounded: {before:?} → {during:?}");
    assert!(during.0 < before.0 + 64 * 1024, "memory stays flat: {before:?} → {during:?}");
    // The flood still holds its connections; the lesson's video plays all the same.
    app.client
        .execute(
            "const v = document.querySelector('video'); v.muted = true; v.load(); v.play(); return true;",
            vec![],
        )
        .await?;
    let deadline = std::time::Instant::now() + kalamu_e2e::WAIT;
    loop {
        let v = app
            .client
            .execute("const v = document.querySelector('video'); return { at: v.currentTime, error: v.error && v.error.code };", vec![])
            .await?;
        assert!(v["error"].is_null(), "{v}");
        if v["at"].as_f64().unwrap_or(0.0) >= 1.0 {
            break;
        }
        anyhow::ensure!(std::time::Instant::now() < deadline, "the video never played under the flood: {v}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    drop(flood);
    app.client.enter_parent_frame().await?;
    app.close().await
}
