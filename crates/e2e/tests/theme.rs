//! Light and dark: the app follows the device's theme until the person chooses one in the
//! settings (`theme-select`); a chosen theme is kept by the browser and shown from the first
//! paint of every load after, before the app itself has started.
//!
//! Run with `--test-threads=1`: each test drives several browsers.

use fantoccini::Locator;
use merpati_e2e::{Browser, Chromedriver, HarnessError, PASSPHRASE, serve_release_build};

/// `--bg` of each theme (style/main.css), as the browser computes it.
const LIGHT_BACKGROUND: &str = "rgb(244, 246, 248)";
const DARK_BACKGROUND: &str = "rgb(14, 21, 27)";

/// Chromium's flag for a device set to dark.
const DARK_DEVICE: &str = "--blink-settings=preferredColorScheme=0";

/// The page's background colour as drawn now.
async fn background(browser: &Browser) -> Result<String, HarnessError> {
    let value = browser
        .client()
        .execute(
            "return getComputedStyle(document.documentElement).backgroundColor",
            vec![],
        )
        .await?;
    Ok(value.as_str().unwrap_or_default().to_owned())
}

async fn device_is_dark(browser: &Browser) -> Result<bool, HarnessError> {
    let value = browser
        .client()
        .execute(
            "return matchMedia('(prefers-color-scheme: dark)').matches",
            vec![],
        )
        .await?;
    Ok(value.as_bool().unwrap_or_default())
}

/// Chooses a theme in the open settings.
async fn choose_theme(browser: &Browser, theme: &str) -> Result<(), HarnessError> {
    browser
        .find("theme-select")
        .await?
        .select_by_value(theme)
        .await?;
    Ok(())
}

async fn wait_background(browser: &Browser, expected: &str) -> Result<(), HarnessError> {
    browser
        .eventually(&format!("the background {expected}"), || async {
            Ok((background(browser).await? == expected).then_some(()))
        })
        .await
}

#[tokio::test]
async fn the_theme_follows_the_device_until_one_is_chosen_and_a_chosen_one_stays_across_a_reload()
-> Result<(), HarnessError> {
    let server = serve_release_build().await?;
    let driver = Chromedriver::start().await?;
    let url = server.http_url();

    // A device set to dark: dark until the person chooses light.
    let night = driver.browser_with(&[DARK_DEVICE]).await?;
    night.sign_up(&url, "malam", PASSPHRASE).await?;
    assert!(
        device_is_dark(&night).await?,
        "the flag makes the device dark"
    );
    assert_eq!(background(&night).await?, DARK_BACKGROUND);
    night.click("settings").await?;
    choose_theme(&night, "light").await?;
    wait_background(&night, LIGHT_BACKGROUND).await?;

    // The choice is kept, and on the next load it is on <html> from theme.js, which the page
    // loads before its stylesheet and its app: the first paint is already light.
    night.reload().await?;
    night.find("settings").await?;
    assert_eq!(background(&night).await?, LIGHT_BACKGROUND);
    let theme_attribute = night
        .client()
        .find(Locator::Css("html"))
        .await?
        .attr("data-theme")
        .await?;
    assert_eq!(theme_attribute.as_deref(), Some("light"));
    night.click("settings").await?;
    let shown = night.find("theme-select").await?.prop("value").await?;
    assert_eq!(
        shown.as_deref(),
        Some("light"),
        "the settings show the choice"
    );

    // Back to the device's: dark again.
    choose_theme(&night, "system").await?;
    wait_background(&night, DARK_BACKGROUND).await?;

    // A device set to light, where the person chooses dark, which a reload keeps.
    let day = driver.browser().await?;
    day.sign_up(&url, "siang", PASSPHRASE).await?;
    assert!(!device_is_dark(&day).await?);
    assert_eq!(background(&day).await?, LIGHT_BACKGROUND);
    day.click("settings").await?;
    choose_theme(&day, "dark").await?;
    wait_background(&day, DARK_BACKGROUND).await?;
    day.reload().await?;
    day.find("settings").await?;
    assert_eq!(background(&day).await?, DARK_BACKGROUND);

    night.close().await?;
    day.close().await?;
    Ok(())
}

/// The order that makes the first paint right: the theme script is an ordinary (blocking)
/// script in the head, before the stylesheet and before the app's own script.
#[tokio::test]
async fn the_page_applies_the_theme_before_its_stylesheet_and_its_app() -> Result<(), HarnessError>
{
    let html = std::fs::read_to_string(merpati_e2e::workspace_root().join("dist/index.html"))?;
    let theme = html
        .find("src=\"/theme.js\"")
        .or_else(|| html.find("src=/theme.js"))
        .ok_or("index.html loads /theme.js")?;
    let stylesheet = html
        .find("stylesheet")
        .ok_or("index.html links a stylesheet")?;
    let app = html.find("merpati-app").ok_or("index.html loads the app")?;
    assert!(theme < stylesheet, "theme.js comes before the stylesheet");
    assert!(theme < app, "theme.js comes before the app");
    let tag_start = html[..theme]
        .rfind("<script")
        .ok_or("theme.js is a <script>")?;
    let tag = &html[tag_start..theme];
    assert!(
        !tag.contains("defer") && !tag.contains("async") && !tag.contains("module"),
        "theme.js runs at once, before anything is drawn: {tag}"
    );
    Ok(())
}

/// A theme chosen in one tab shows in the browser's other tabs at once (their settings then
/// offer it as chosen), and a language chosen in one starts the others again in it.
#[tokio::test]
async fn a_theme_or_language_chosen_in_one_tab_is_taken_by_the_others() -> Result<(), HarnessError>
{
    let server = serve_release_build().await?;
    let driver = Chromedriver::start().await?;
    let url = server.http_url();
    let browser = driver.browser().await?;
    browser.sign_up(&url, "duatab", PASSPHRASE).await?;
    let client = browser.client();
    let first = client.window().await?;
    let second = client.new_window(true).await?.handle;
    client.switch_to_window(second.clone()).await?;
    browser.open(&url).await?;
    browser.find("settings").await?;
    assert_eq!(background(&browser).await?, LIGHT_BACKGROUND);

    client.switch_to_window(first.clone()).await?;
    browser.click("settings").await?;
    choose_theme(&browser, "dark").await?;
    wait_background(&browser, DARK_BACKGROUND).await?;
    client.switch_to_window(second.clone()).await?;
    wait_background(&browser, DARK_BACKGROUND).await?;
    browser.click("settings").await?;
    let shown = browser.find("theme-select").await?.prop("value").await?;
    assert_eq!(
        shown.as_deref(),
        Some("dark"),
        "the settings show the choice"
    );

    client.switch_to_window(first).await?;
    browser
        .find("language-select")
        .await?
        .select_by_value("id")
        .await?;
    client.switch_to_window(second).await?;
    browser
        .eventually("the other tab in Indonesian", || async {
            let lang = browser
                .client()
                .execute("return document.documentElement.lang", vec![])
                .await?;
            Ok((lang.as_str() == Some("id")).then_some(()))
        })
        .await?;
    browser.find("settings").await?;

    browser.close().await?;
    Ok(())
}
