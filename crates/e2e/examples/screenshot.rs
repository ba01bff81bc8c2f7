//! Regenerates the README's screenshots (`docs/screenshots/`): two people chat, and the
//! pictures are their windows — a desktop and a phone (390 × 844), each in the light theme
//! and the dark. Needs the release build in `dist/` and the server binary:
//!
//! ```text
//! scripts/build-app && cargo build -p merpati-server
//! cargo run -p merpati-e2e --example screenshot
//! ```

use merpati_e2e::{Browser, Chromedriver, HarnessError, serve_release_build, workspace_root};

/// Chooses `theme` in the settings and closes them again, as a person would.
async fn choose_theme(browser: &Browser, theme: &str) -> Result<(), HarnessError> {
    browser.click("settings").await?;
    browser
        .find("theme-select")
        .await?
        .select_by_value(theme)
        .await?;
    browser.click("settings").await?;
    Ok(())
}

async fn save(browser: &Browser, name: &str) -> Result<(), HarnessError> {
    // A chat opened with unread messages marks the first for two seconds: not in the picture.
    browser
        .eventually("no message marked", || async {
            let marked = browser
                .client()
                .execute(
                    "return document.querySelector('.message.highlighted') !== null",
                    vec![],
                )
                .await?;
            Ok((marked.as_bool() == Some(false)).then_some(()))
        })
        .await?;
    let png = browser.client().screenshot().await?;
    let path = workspace_root().join("docs/screenshots").join(name);
    std::fs::create_dir_all(path.parent().ok_or("a directory")?)?;
    std::fs::write(&path, png)?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), HarnessError> {
    let server = serve_release_build().await?;
    let driver = Chromedriver::start().await?;
    let url = server.http_url();
    let (sari, tomo) = (driver.browser().await?, driver.browser().await?);
    tomo.emulate_phone().await?;
    let passphrase = "a long and memorable passphrase";
    sari.sign_up(&url, "sari", passphrase).await?;
    tomo.sign_up(&url, "tomo", passphrase).await?;
    sari.create_group("Keluarga", "tomo").await?;
    sari.send("Selamat pagi semua!").await?;
    sari.start_chat("tomo").await?;
    sari.send("Tomo, are we still on for lunch?").await?;
    tomo.open_chat("sari").await?;
    tomo.wait_messages(&["Tomo, are we still on for lunch?"])
        .await?;
    tomo.send("Yes! 12:30 at the usual place, www.warung.example")
        .await?;
    sari.wait_messages(&[
        "Tomo, are we still on for lunch?",
        "Yes! 12:30 at the usual place, www.warung.example",
    ])
    .await?;
    // An emoji from the picker (WebDriver types none beyond the Basic Multilingual Plane).
    sari.type_into("composer-input", "Perfect, see you there ")
        .await?;
    sari.click("emoji-picker-button").await?;
    sari.type_into("emoji-picker-search", "steaming bowl")
        .await?;
    sari.click_css("[data-testid=\"emoji-picker-option\"][data-emoji=\"🍜\"]")
        .await?;
    sari.click("composer-send").await?;
    let last = "Perfect, see you there 🍜";
    tomo.wait_messages(&[
        "Tomo, are we still on for lunch?",
        "Yes! 12:30 at the usual place, www.warung.example",
        last,
    ])
    .await?;
    tomo.choose_in_menu(last, "message-react").await?;
    tomo.click_css("[data-testid=\"emoji-option\"][data-emoji=\"👍\"]")
        .await?;
    sari.find_css("[data-testid=\"reaction\"][data-emoji=\"👍\"]")
        .await?;
    // On the phone, the chat's details folded, as a person does once: the conversation is the
    // picture. The desktop shows them.
    tomo.click("chat-info").await?;
    for (browser, device) in [(&sari, "desktop"), (&tomo, "phone")] {
        for theme in ["light", "dark"] {
            choose_theme(browser, theme).await?;
            save(browser, &format!("{device}-{theme}.png")).await?;
        }
    }
    Ok(())
}
