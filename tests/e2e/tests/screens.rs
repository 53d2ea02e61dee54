//! The window at a netbook's 1024×600 and a school laptop's 1366×768, in
//! English and French, with a class of learners and a long name: the layout
//! holds, and screenshots of each go to `docs/` (see docs/screens.md).

use anyhow::Result;
use kalamu_e2e::{App, data_with_learner};

const NETWORKS: &str = "[data-pack-id='org.kalamu.samples.networks-intro']";

/// Heights and overflow the layout must keep at every size.
async fn check_layout(app: &App, size: &str) -> Result<()> {
    let m = app
        .client
        .execute(
            "const h = document.querySelector('header.topbar').getBoundingClientRect().height; \
             const f = document.querySelector('footer.statusbar').getBoundingClientRect().height; \
             return { header: h, footer: f, overflow: document.documentElement.scrollWidth - innerWidth };",
            vec![],
        )
        .await?;
    let header = m["header"].as_f64().unwrap_or(999.0);
    let footer = m["footer"].as_f64().unwrap_or(999.0);
    assert!(header <= 72.0, "{size}: the header takes {header} px");
    assert!(footer <= 48.0, "{size}: the status bar takes {footer} px");
    assert!(m["overflow"].as_f64().unwrap_or(1.0) <= 0.0, "{size}: the page scrolls sideways: {m}");
    Ok(())
}

#[tokio::test(flavor = "current_thread")]
async fn the_window_holds_at_1024x600_and_1366x768_in_both_languages() -> Result<()> {
    let (data, learner) = data_with_learner("Marie-Thérèse Kadiatou Bangoura-Soumah de Kindia")?;
    let store = kalamu_core::Store::open_dir(data.path())?;
    for name in
        ["Aminata", "Binta", "Fatoumata", "Hawa", "Mariama", "Nènè", "Oumou", "Sékou", "Alpha", "Mamadou"]
    {
        for n in 1..=3 {
            store.add_learner(&format!("{name} {n}"))?;
        }
    }
    drop(store);
    let app = App::start(data.path()).await?;
    for (lang, lessons) in [("en", "of 7 lessons done"), ("fr", "sur 7")] {
        app.click(&format!("[data-testid=lang-{lang}]")).await?;
        for (w, h) in [(1024, 600), (1366, 768)] {
            app.client.set_window_rect(0, 0, w, h).await?;
            let size = format!("{w}x{h}-{lang}");
            app.click(&format!("[data-testid=learner-select] option[value='{}']", learner.id)).await?;
            let progress = app.text_of(&format!("{NETWORKS} [data-testid=pack-progress]")).await?;
            assert!(progress.contains(lessons), "{progress}");
            check_layout(&app, &size).await?;
            app.screenshot(&format!("library-{size}")).await?;
            app.click(&format!("{NETWORKS} [data-testid=open-pack]")).await?;
            app.click("[data-lesson-id=what-is-a-network]").await?;
            app.text_of("[data-testid=lesson-frame]").await?;
            check_layout(&app, &size).await?;
            app.screenshot(&format!("lesson-{size}")).await?;
            if (w, lang) == (1024, "en") {
                // Focus is on the lesson's heading: PageDown scrolls the lesson page.
                app.client.active_element().await?.send_keys("\u{e00f}").await?;
                app.enter_lesson_frame("h1").await?;
                let deadline = std::time::Instant::now() + kalamu_e2e::WAIT;
                while app.client.execute("return scrollY", vec![]).await?.as_f64().unwrap_or(0.0) < 100.0 {
                    anyhow::ensure!(
                        std::time::Instant::now() < deadline,
                        "PageDown did not scroll the lesson"
                    );
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                app.client.enter_parent_frame().await?;
            }
            app.click(".lesson-nav button").await?;
            app.click("[data-testid=pack-view] nav button").await?;
        }
    }
    app.close().await
}
