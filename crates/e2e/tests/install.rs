//! Installable: the release build's web manifest is one Chromium accepts — it reports no
//! installability error and no manifest error — its icons are the PNGs it names at the sizes
//! it says (maskable ones among them), and the service worker that keeps the app's files is
//! active and controls the page, so the installed app opens like the tab does.
//!
//! Run with `--test-threads=1` (as the suite is): each test drives a browser.

use merpati_e2e::{Browser, Chromedriver, ChromedriverCommand, HarnessError, serve_release_build};
use merpati_testkit::http;
use serde_json::Value;

/// A DevTools protocol command's answer.
async fn devtools(browser: &Browser, cmd: &str) -> Result<Value, HarnessError> {
    Ok(browser
        .client()
        .issue_cmd(ChromedriverCommand {
            path: "goog/cdp/execute",
            body: serde_json::json!({ "cmd": cmd, "params": {} }),
        })
        .await?)
}

/// The width and height a PNG's header gives.
fn png_size(bytes: &[u8]) -> Option<(u32, u32)> {
    if bytes.get(..8)? != b"\x89PNG\r\n\x1a\n" || bytes.get(12..16)? != b"IHDR" {
        return None;
    }
    let width = u32::from_be_bytes(bytes.get(16..20)?.try_into().ok()?);
    let height = u32::from_be_bytes(bytes.get(20..24)?.try_into().ok()?);
    Some((width, height))
}

#[tokio::test]
async fn chromium_finds_the_app_installable_and_its_service_worker_active()
-> Result<(), HarnessError> {
    let server = serve_release_build().await?;
    let driver = Chromedriver::start().await?;
    let browser = driver.browser().await?;
    browser.open(&server.http_url()).await?;
    browser.find("auth-register").await?;

    // The service worker is active and, after a reload, in control of the page.
    browser
        .client()
        .execute_async(
            "const done = arguments[0]; navigator.serviceWorker.ready.then((r) => done(r.active.state));",
            vec![],
        )
        .await?;
    browser.reload().await?;
    browser.find("auth-register").await?;
    let controlled = browser
        .client()
        .execute("return navigator.serviceWorker.controller !== null", vec![])
        .await?;
    assert_eq!(
        controlled,
        Value::Bool(true),
        "the service worker serves the page"
    );

    // Chromium's own verdict.
    let manifest = devtools(&browser, "Page.getAppManifest").await?;
    assert_eq!(
        manifest["errors"].as_array().map(Vec::len),
        Some(0),
        "manifest errors: {manifest:#}"
    );
    let installability = devtools(&browser, "Page.getInstallabilityErrors").await?;
    assert_eq!(
        installability["installabilityErrors"],
        Value::Array(Vec::new()),
        "Chromium does not offer to install: {installability:#}"
    );

    // What it says, as served.
    let served = http::get(server.addr(), "/manifest.webmanifest", &[]).await?;
    assert_eq!(served.status, 200);
    assert_eq!(
        served.header("content-type"),
        Some("application/manifest+json")
    );
    let manifest: Value = serde_json::from_slice(&served.body)?;
    assert_eq!(manifest["name"], "Merpati");
    assert_eq!(manifest["start_url"], "/");
    assert_eq!(manifest["display"], "standalone");
    assert!(manifest["theme_color"].is_string());
    let icons = manifest["icons"]
        .as_array()
        .ok_or("the manifest lists icons")?;
    let mut maskable = 0;
    for icon in icons.iter().filter(|icon| icon["type"] == "image/png") {
        let src = icon["src"].as_str().ok_or("an icon has a src")?;
        let sizes = icon["sizes"].as_str().ok_or("a PNG icon has sizes")?;
        let (width, height) = sizes.split_once('x').ok_or("sizes is WxH")?;
        let declared = (width.parse::<u32>()?, height.parse::<u32>()?);
        let png = http::get(server.addr(), src, &[]).await?;
        assert_eq!(png.status, 200, "{src}");
        assert_eq!(png_size(&png.body), Some(declared), "{src} is {sizes}");
        if icon["purpose"] == "maskable" {
            maskable += 1;
        }
    }
    let sizes: Vec<&str> = icons
        .iter()
        .filter_map(|icon| icon["sizes"].as_str())
        .collect();
    assert!(sizes.contains(&"192x192") && sizes.contains(&"512x512"));
    assert!(maskable >= 2, "maskable icons at 192 and 512");

    browser.close().await?;
    Ok(())
}
