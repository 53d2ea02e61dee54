//! A real browser for the hub's staff pages: Debian's Chromium, headless,
//! driven over WebDriver by its chromedriver, in its own process group and
//! profile, downloading into a folder of the test's.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use fantoccini::{Client, ClientBuilder, Locator};

use crate::{Group, WAIT, free_port, spawn_group, target_dir, wait_for_port};

/// A headless Chromium with a WebDriver session on it.
pub struct Browser {
    /// The WebDriver client (one keep-alive connection).
    pub client: Client,
    /// Where downloads land.
    pub downloads: tempfile::TempDir,
    _profile: tempfile::TempDir,
    _driver: Group,
}

impl Browser {
    /// Starts Chromium whose preferred languages are `languages` (an `Accept-Language` list).
    pub async fn start(languages: &str) -> Result<Browser> {
        let port = free_port()?;
        let driver_bin = std::env::var_os("CHROMEDRIVER").unwrap_or_else(|| "chromedriver".into());
        let driver = spawn_group(
            Command::new(&driver_bin)
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        )
        .context("chromedriver is needed for the staff page tests (Debian: chromium-driver)")?;
        wait_for_port(port).await?;
        let profile = tempfile::tempdir()?;
        let downloads = tempfile::tempdir()?;
        let binary = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        let caps = serde_json::json!({
            "goog:chromeOptions": {
                "binary": binary,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-background-networking", "--disable-component-update",
                    "--no-first-run", "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
                "prefs": {
                    "intl.accept_languages": languages,
                    "download.default_directory": downloads.path(),
                    "download.prompt_for_download": false,
                },
            }
        });
        let serde_json::Value::Object(caps) = caps else { unreachable!("an object") };
        let mut builder = ClientBuilder::native();
        builder.capabilities(caps);
        let client = tokio::time::timeout(WAIT, builder.connect(&format!("http://127.0.0.1:{port}")))
            .await
            .context("Chromium did not open a WebDriver session in time")?
            .context("cannot open a WebDriver session on Chromium")?;
        Ok(Browser { client, downloads, _profile: profile, _driver: driver })
    }

    /// Opens `url` and waits for its `h1`.
    pub async fn open(&self, url: &str) -> Result<String> {
        self.client.goto(url).await?;
        self.text("h1").await
    }

    /// The text of the first element matching `css`, waiting (bounded) for it.
    pub async fn text(&self, css: &str) -> Result<String> {
        crate::text_when_there(&self.client, css).await
    }

    /// The whole page's visible text.
    pub async fn page_text(&self) -> Result<String> {
        self.text("body").await
    }

    /// Types `text` into the field matching `css`, after clearing it.
    pub async fn fill(&self, css: &str, text: &str) -> Result<()> {
        let el = self.client.find(Locator::Css(css)).await.with_context(|| format!("no field {css}"))?;
        el.clear().await?;
        el.send_keys(text).await?;
        Ok(())
    }

    /// Clicks the element matching `css`, then waits for the next page's `h1`.
    pub async fn click(&self, css: &str) -> Result<String> {
        self.mark().await?;
        self.press(css).await?;
        self.after_navigation().await
    }

    /// Clicks the element matching `css` and waits for nothing (a download).
    pub async fn press(&self, css: &str) -> Result<()> {
        let el = self
            .client
            .find(Locator::Css(css))
            .await
            .with_context(|| format!("nothing to click at {css}"))?;
        el.click().await?;
        Ok(())
    }

    /// Follows the link whose text is `text`, then waits for the next page's `h1`.
    pub async fn follow(&self, text: &str) -> Result<String> {
        self.mark().await?;
        let el =
            self.client.find(Locator::LinkText(text)).await.with_context(|| format!("no link {text:?}"))?;
        el.click().await?;
        self.after_navigation().await
    }

    /// Marks the page shown, so that [`Browser::after_navigation`] knows it when it has gone.
    pub async fn mark(&self) -> Result<()> {
        self.client.execute("document.documentElement.dataset.shown = 'before'", vec![]).await?;
        Ok(())
    }

    /// Waits (bounded) until the marked page has given way to a loaded one; its `h1`.
    pub async fn after_navigation(&self) -> Result<String> {
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            let fresh = self
                .client
                .execute(
                    "return document.readyState === 'complete' && !document.documentElement.dataset.shown",
                    vec![],
                )
                .await;
            if fresh.is_ok_and(|v| v.as_bool() == Some(true)) {
                return self.text("h1").await;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("the page did not change within {WAIT:?}")
    }

    /// Waits (bounded) for a finished download named `name`; its content.
    pub async fn downloaded(&self, name: &str) -> Result<String> {
        let path: PathBuf = self.downloads.path().join(name);
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            if let Ok(text) = std::fs::read_to_string(&path) {
                return Ok(text);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("{} was not downloaded within {WAIT:?}", path.display())
    }

    /// Saves a screenshot of the page as `target/e2e-screenshots/NAME.png`.
    pub async fn screenshot(&self, name: &str) -> Result<PathBuf> {
        let png = self.client.screenshot().await?;
        let dir = target_dir().join("e2e-screenshots");
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png)?;
        Ok(path)
    }
}
