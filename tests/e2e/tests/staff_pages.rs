//! The hub's staff pages in a real browser (headless Chromium) against a
//! real hub process, fed by a real laptop's sync: a coach signs in with a
//! one-time password and changes it, reads the course, quiz and learner
//! pages with the pack's titles and questions, downloads a CSV, reads the
//! pages in French, and is refused another center's pages, a form without
//! its token, and, after wrong passwords, any sign-in for a while.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, Result};
use kalamu_e2e::browser::Browser;
use kalamu_e2e::{Group, build_sample_pack, kalamu, spawn_group, target_dir};

const PACK: &str = "org.kalamu.samples.networks-intro";

/// Starts `kalamu hub serve` on loopback; returns the process and its base URL.
fn hub(data: &Path) -> Result<(Group, String)> {
    let mut cmd = Command::new(target_dir().join("debug/kalamu"));
    cmd.arg("--data")
        .arg(data)
        .args(["hub", "serve", "--listen", "127.0.0.1:0", "--plain-http"])
        .stdout(Stdio::piped());
    let mut group = spawn_group(&mut cmd)?;
    let mut line = String::new();
    BufReader::new(group.take_stdout().context("hub stdout")?).read_line(&mut line)?;
    let addr = line.trim().rsplit("http://").next().unwrap_or_default().to_owned();
    Ok((group, format!("http://{addr}")))
}

struct Center {
    hub_data: tempfile::TempDir,
    _hub: Group,
    url: String,
    conakry: String,
    kindia: String,
    password: String,
    learner: String,
    /// The publisher's public key (hex).
    key: String,
}

/// A hub with two centers and the networks pack published, a coach of
/// Conakry, and one Conakry laptop whose learner completed a lesson and
/// tried the first quiz (choosing the switch for the router).
fn center() -> Result<Center> {
    let hub_data = tempfile::tempdir()?;
    let h = hub_data.path();
    let conakry = kalamu(h, &["hub", "center", "add", "Conakry"])?;
    let kindia = kalamu(h, &["hub", "center", "add", "Kindia"])?;
    let key = kalamu_core::pack::sign::SecretKey::generate()?;
    let packs = tempfile::tempdir()?;
    let pack = build_sample_pack("networks-intro", packs.path(), &key)?;
    kalamu(h, &["hub", "trust", "add", &key.public_hex(), "--name", "Samples"])?;
    kalamu(h, &["hub", "publish", pack.to_str().context("path")?])?;
    let password = kalamu(h, &["hub", "staff", "add", "Awa Camara", "--center", "Conakry"])?;
    let (hub, url) = hub(h)?;

    let laptop = tempfile::tempdir()?;
    let l = laptop.path();
    kalamu(l, &["trust", "add", &key.public_hex(), "--name", "Samples"])?;
    kalamu(l, &["import", pack.to_str().context("path")?])?;
    let code = kalamu(h, &["hub", "enroll-code", "Conakry"])?;
    kalamu(l, &["enroll", "--hub", &url, "--code", &code, "--name", "Salle 2 poste 4"])?;
    let learner = kalamu(l, &["learner", "add", "Aïssatou Diallo"])?;
    let record = |lesson: &str, what: &[&str]| -> Result<String> {
        let mut args = vec!["progress", "record", "--learner", &learner, "--pack", PACK, "--lesson", lesson];
        args.extend_from_slice(what);
        kalamu(l, &args)
    };
    record("what-is-a-network", &["opened"])?;
    record("what-is-a-network", &["time", "420"])?;
    record("what-is-a-network", &["completed"])?;
    record("basics-quiz", &["quiz", r#"{"q1": 0, "q2": [0, 1, 3], "q3": "255", "q4": "DHCP", "q5": 1}"#])?;
    // Names come from laptops, so from anyone: they show as text, and a spreadsheet never runs them.
    for hostile in ["<img src=x onerror=alert(1)>Mamadou", "=HYPERLINK(\"http://example.invalid\",\"x\")"] {
        let id = kalamu(l, &["learner", "add", hostile])?;
        kalamu(
            l,
            &["progress", "record", "--learner", &id, "--pack", PACK, "--lesson", "ip-addresses", "opened"],
        )?;
    }
    kalamu(l, &["sync"])?;
    Ok(Center { hub_data, _hub: hub, url, conakry, kindia, password, learner, key: key.public_hex() })
}

async fn sign_in(b: &Browser, url: &str, name: &str, password: &str) -> Result<String> {
    b.open(&format!("{url}/")).await?;
    b.fill("input[name=name]", name).await?;
    b.fill("input[name=password]", password).await?;
    b.click("form[action='/signin'] button").await
}

#[tokio::test(flavor = "current_thread")]
async fn a_coach_signs_in_reads_the_reports_and_exports_them() -> Result<()> {
    let c = center()?;
    let b = Browser::start("en-GB,en").await?;
    assert_eq!(b.open(&format!("{}/", c.url)).await?, "Sign in");
    b.screenshot("hub-sign-in").await?;

    // The one-time password works once, and only to choose a new one.
    assert_eq!(sign_in(&b, &c.url, "Awa Camara", &c.password).await?, "Change password");
    assert!(b.page_text().await?.contains("one-time password"));
    b.open(&format!("{}/centers/{}", c.url, c.conakry)).await?;
    assert_eq!(b.text("h1").await?, "Change password", "no report before the password is changed");
    b.fill("input[name=old]", &c.password).await?;
    b.fill("input[name=new]", "kindia-river-2026").await?;
    assert_eq!(b.click("form[action='/password'] button").await?, "Conakry · Overview");
    let overview = b.page_text().await?;
    assert!(overview.contains("Aïssatou Diallo"), "{overview}");
    assert!(overview.contains("Introduction to computer networks"), "{overview}");
    assert!(overview.contains("Salle 2 poste 4"), "the laptop is listed: {overview}");
    assert!(overview.contains("<img src=x onerror=alert(1)>Mamadou"), "a name shows as the text it is");
    b.press("#learners a.csv").await?;
    let learners = b.downloaded("learners.csv").await?;
    assert!(learners.contains("\"'=HYPERLINK(\"\"http://example.invalid\"\",\"\"x\"\")\""), "{learners}");
    b.screenshot("hub-overview").await?;

    // The course grid, with the pack's lesson titles.
    assert_eq!(b.follow("Introduction to computer networks").await?, "Introduction to computer networks");
    let grid = b.text("#grid").await?;
    assert!(grid.contains("What is a network?"), "{grid}");
    let row = b.text("#grid tbody tr:nth-child(3)").await?;
    assert!(row.starts_with("Aïssatou Diallo completed"), "{row}");
    assert!(row.contains("completed · 4/5 · mastered"), "the quiz passed, with its best score: {row}");
    b.screenshot("hub-course").await?;

    // The CSV of the grid, as downloaded.
    b.press("#grid a.csv").await?;
    let csv = b.downloaded("grid.csv").await?;
    let lines: Vec<&str> = csv.trim_start_matches('\u{feff}').lines().collect();
    assert!(lines[0].starts_with("\"Learner\",\"What is a network?\""), "{}", lines[0]);
    assert!(lines[3].starts_with("\"Aïssatou Diallo\",\"completed\""), "{}", lines[3]);
    assert_eq!(lines.len(), 4, "a header and three learners: {csv}");

    // The quiz: the learner's score, and the question everyone gets wrong, in the pack's words.
    assert_eq!(b.click("#lessons a[href$='/quizzes/basics-quiz']").await?, "Quiz · Check your understanding");
    let scores = b.text("#scores").await?;
    assert!(scores.contains("Aïssatou Diallo 4/5 1 ✓"), "{scores}");
    let hardest = b.text("#difficult tbody tr").await?;
    assert!(hardest.contains("In a cyber-café, which device connects"), "{hardest}");
    assert!(hardest.contains("The switch (×1)"), "the wrong answer by its text: {hardest}");
    b.screenshot("hub-quiz").await?;

    // The learner: courses, time, and a timeline with the laptop.
    b.open(&format!("{}/centers/{}/learners/{}", c.url, c.conakry, c.learner)).await?;
    let page = b.page_text().await?;
    assert!(page.contains("7 min"), "the time spent: {page}");
    let timeline = b.text("#timeline").await?;
    assert!(timeline.contains("What is a network?") && timeline.contains("Salle 2 poste 4"), "{timeline}");
    b.screenshot("hub-learner").await?;

    // The same pages in French, by the switch; the choice sticks.
    assert_eq!(b.click("a.lang").await?, "Aïssatou Diallo");
    assert!(b.text("#timeline h2").await?.starts_with("Activité"));
    assert!(b.text("header").await?.contains("Se déconnecter"));
    assert_eq!(b.open(&format!("{}/centers/{}", c.url, c.conakry)).await?, "Conakry · Vue d'ensemble");
    b.screenshot("hub-overview-fr").await?;

    // A code made from the laptops page, large, and good for one laptop.
    b.open(&format!("{}/centers/{}/laptops?lang=en", c.url, c.conakry)).await?;
    b.click("form[action$='/codes'] button").await?;
    let code = b.text(".code .big").await?;
    b.screenshot("hub-code").await?;
    let another = tempfile::tempdir()?;
    kalamu(another.path(), &["enroll", "--hub", &c.url, "--code", &code, "--name", "Salle 3 poste 1"])?;

    // Revoking it from the page shuts it out.
    b.open(&format!("{}/centers/{}/laptops", c.url, c.conakry)).await?;
    b.press("details summary").await?;
    let button =
        b.client.find(fantoccini::Locator::XPath("//button[contains(., 'Salle 3 poste 1')]")).await?;
    b.mark().await?;
    button.click().await?;
    b.after_navigation().await?;
    assert!(b.text("#laptops").await?.contains("Salle 3 poste 1"), "a revoked laptop is still listed");
    let devices: serde_json::Value = serde_json::from_str(&kalamu(
        c.hub_data.path(),
        &["hub", "devices", "--center", "Conakry", "--json"],
    )?)?;
    let revoked: Vec<&str> = devices
        .as_array()
        .context("a list")?
        .iter()
        .filter(|d| !d["revoked_at"].is_null())
        .filter_map(|d| d["name"].as_str())
        .collect();
    assert_eq!(revoked, ["Salle 3 poste 1"], "that laptop, and only it, is revoked");
    let refused = Command::new(target_dir().join("debug/kalamu"))
        .arg("--data")
        .arg(another.path())
        .arg("sync")
        .output()?;
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("removed from the center"));
    Ok(())
}

#[tokio::test(flavor = "current_thread")]
async fn a_coach_requires_a_course_and_sees_which_laptops_hold_it() -> Result<()> {
    let c = center()?;
    let b = Browser::start("en").await?;
    sign_in(&b, &c.url, "Awa Camara", &c.password).await?;
    b.fill("input[name=old]", &c.password).await?;
    b.fill("input[name=new]", "kindia-river-2026").await?;
    b.click("form[action='/password'] button").await?;

    // The laptop told the hub what it holds when it synced.
    b.open(&format!("{}/centers/{}/laptops", c.url, c.conakry)).await?;
    let laptops = b.text("#laptops").await?;
    assert!(laptops.contains(&format!("{PACK}@1.0.0")), "{laptops}");

    assert_eq!(b.click("header nav a[href$='/hub-courses']").await?, "Conakry · Courses on this hub");
    let row = b.text("#hub-courses tbody tr").await?;
    assert!(row.starts_with("Introduction to computer networks 1.0.0"), "{row}");
    assert!(row.ends_with("1 / 1 0"), "the one laptop holds this version, none an older one: {row}");

    // Required from the page: a new laptop of the center fetches it by itself.
    assert_eq!(
        b.click("form[action$='/required'] button").await?,
        "Conakry · Courses on this hub",
        "{}",
        b.page_text().await?
    );
    let row = b.text("#hub-courses tbody tr").await?;
    assert!(row.contains(" yes "), "marked required: {row}");
    assert!(b.text("form[action$='/required'] button").await?.starts_with("No longer require"));
    let fresh = tempfile::tempdir()?;
    let f = fresh.path();
    kalamu(f, &["trust", "add", &c.key, "--name", "Samples"])?;
    let code = kalamu(c.hub_data.path(), &["hub", "enroll-code", "Conakry"])?;
    kalamu(f, &["enroll", "--hub", &c.url, "--code", &code, "--name", "Salle 2 poste 5"])?;
    kalamu(f, &["sync"])?;
    assert!(kalamu(f, &["packs"])?.contains(PACK), "the required course arrived with the sync");
    b.open(&format!("{}/centers/{}/hub-courses", c.url, c.conakry)).await?;
    let row = b.text("#hub-courses tbody tr").await?;
    assert!(row.ends_with("2 / 2 0"), "both laptops hold it now: {row}");
    b.screenshot("hub-courses").await?;
    Ok(())
}

#[tokio::test(flavor = "current_thread")]
async fn pages_follow_the_browsers_language() -> Result<()> {
    let c = center()?;
    let b = Browser::start("fr-FR,fr;q=0.9,en;q=0.5").await?;
    assert_eq!(b.open(&format!("{}/", c.url)).await?, "Se connecter");
    assert_eq!(sign_in(&b, &c.url, "Awa Camara", &c.password).await?, "Changer de mot de passe");
    Ok(())
}

#[tokio::test(flavor = "current_thread")]
async fn a_coach_is_refused_other_centers_forms_without_their_token_and_guessing() -> Result<()> {
    let c = center()?;
    let h = c.hub_data.path();
    let b = Browser::start("en").await?;
    sign_in(&b, &c.url, "Awa Camara", &c.password).await?;
    b.fill("input[name=old]", &c.password).await?;
    b.fill("input[name=new]", "kindia-river-2026").await?;
    b.click("form[action='/password'] button").await?;

    // Another center's pages, by their ids, are refused; so is a made-up center.
    for path in [
        format!("/centers/{}", c.kindia),
        format!("/centers/{}/laptops", c.kindia),
        format!("/centers/{}/courses/{PACK}", c.kindia),
        format!("/centers/{}/learners/{}", c.kindia, c.learner),
        format!("/centers/{}/hub-courses", c.kindia),
        "/centers/00000000-0000-7000-8000-000000000000".to_owned(),
    ] {
        assert_eq!(b.open(&format!("{}{path}", c.url)).await?, "Refused", "{path}");
        assert!(b.page_text().await?.contains("belongs to another center"), "{path}");
    }
    // Nor may a coach act on another center's laptop from their own center's page.
    let kindia_code = kalamu(h, &["hub", "enroll-code", "Kindia"])?;
    let kindia_laptop = tempfile::tempdir()?;
    kalamu(kindia_laptop.path(), &["enroll", "--hub", &c.url, "--code", &kindia_code])?;
    let devices: serde_json::Value =
        serde_json::from_str(&kalamu(h, &["hub", "devices", "--center", "Kindia", "--json"])?)?;
    let kindia_device = devices[0]["id"].as_str().context("a Kindia laptop")?.to_owned();
    b.open(&format!("{}/centers/{}/laptops", c.url, c.conakry)).await?;
    b.mark().await?;
    b.client
        .execute(
            "const f = document.querySelector(\"form[action$='/revoke']\"); \
             f.action = f.action.replace(/laptops\\/[^/]+\\/revoke/, 'laptops/' + arguments[0] + '/revoke'); \
             f.submit();",
            vec![serde_json::json!(kindia_device)],
        )
        .await?;
    assert_eq!(b.after_navigation().await?, "Refused");
    let after: serde_json::Value =
        serde_json::from_str(&kalamu(h, &["hub", "devices", "--center", "Kindia", "--json"])?)?;
    assert!(after[0]["revoked_at"].is_null(), "the Kindia laptop is still enrolled");

    // A form posted without its token does nothing.
    b.open(&format!("{}/centers/{}/laptops", c.url, c.conakry)).await?;
    b.mark().await?;
    b.client
        .execute(
            "const f = document.querySelector(\"form[action$='/revoke']\"); \
             f.querySelector('input[name=csrf]').remove(); f.submit();",
            vec![],
        )
        .await?;
    assert_eq!(b.after_navigation().await?, "Refused");
    assert!(b.page_text().await?.contains("did not come from this hub"));
    let own: serde_json::Value =
        serde_json::from_str(&kalamu(h, &["hub", "devices", "--center", "Conakry", "--json"])?)?;
    assert!(own[0]["revoked_at"].is_null(), "the laptop was not revoked");

    // Signed out, a wrong password is refused, and after five the account waits, even for the right one.
    b.click("header form button").await?;
    assert_eq!(sign_in(&b, &c.url, "Awa Camara", "not-my-password").await?, "Sign in");
    assert!(b.text(".error").await?.contains("do not match"));
    for _ in 0..4 {
        sign_in(&b, &c.url, "Awa Camara", "still-not-it").await?;
    }
    sign_in(&b, &c.url, "Awa Camara", "kindia-river-2026").await?;
    assert!(b.text(".error").await?.contains("too many failed sign-ins"), "{}", b.page_text().await?);
    Ok(())
}
