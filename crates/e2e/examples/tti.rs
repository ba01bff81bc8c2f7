//! Benchmark (not a test): time to interactive of the first screen, in a fresh headless
//! Chromium each run, beside a baseline measured in the same run. Run by
//! `scripts/bench-browser`, which reads the JSON lines it prints:
//!
//! ```text
//! cargo run --release -p merpati-e2e --example tti -- <app web root> <baseline web root> [runs]
//! ```
//!
//! Every run starts the real `merpati-server` twice: once serving the app's release build,
//! once serving the baseline web root (a static `index.html` holding the same sign-in form,
//! no wasm, no script), and loads each in a new browser with an empty profile (cold cache, no
//! service worker, no stored session, so the app shows the sign-in form).
//!
//! What is measured, identically on both sides: before the page's first script runs, a script
//! installed through the DevTools protocol (`Page.addScriptToEvaluateOnNewDocument`) watches
//! the DOM and notes `performance.now()` (milliseconds since navigation start) at the first
//! moment the username field exists and the sign-in button is enabled (`interactive_ms`),
//! and after the next animation frame (`painted_ms`). It also wraps
//! `WebAssembly.instantiateStreaming` to note when the app's module starts and finishes
//! instantiating, and `indexedDB.databases()` (whether a stored session can exist, which
//! decides the first screen) to note when it is asked and answered. The navigation timing
//! entry adds `responseEnd` and `domContentLoadedEventEnd`, and `marks` lists any
//! `performance.mark` the page made (none in the app as built; a scratch build can add its own
//! to see where its start goes, as bench/NOTES.md's "The first screen drawn at once" did).

// The JSON lines on stdout are this program's output.
#![allow(clippy::print_stdout)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use merpati_e2e::{Browser, Chromedriver, HarnessError, serve};
use serde_json::{Value, json};

/// Installed in every new document before its own scripts: notes when the form is ready.
const WATCH_SCRIPT: &str = r#"
(() => {
  const ready = () => {
    const field = document.querySelector('[data-testid="auth-username"]');
    const button = document.querySelector('[data-testid="auth-login"]');
    return field !== null && !field.disabled && button !== null && !button.disabled;
  };
  const mark = () => {
    if (window.__ttiMs === undefined && ready()) {
      window.__ttiMs = performance.now();
      observer.disconnect();
      requestAnimationFrame(() => { window.__ttiPaintedMs = performance.now(); });
    }
  };
  const observer = new MutationObserver(mark);
  observer.observe(document, { childList: true, subtree: true, attributes: true });
  document.addEventListener('DOMContentLoaded', mark);
  const databases = indexedDB.databases.bind(indexedDB);
  indexedDB.databases = async () => {
    const start = performance.now();
    const list = await databases();
    window.__databases = { asked_ms: start, answered_ms: performance.now() };
    return list;
  };
  const streaming = WebAssembly.instantiateStreaming;
  if (streaming) {
    WebAssembly.instantiateStreaming = async (...args) => {
      const start = performance.now();
      const result = await streaming.apply(WebAssembly, args);
      window.__wasm = { instantiate_start_ms: start, instantiate_end_ms: performance.now() };
      return result;
    };
  }
})();
"#;

/// Waits for the watch script's marks and returns them with the navigation timing.
const COLLECT_SCRIPT: &str = r#"
const done = arguments[arguments.length - 1];
const poll = () => {
  if (window.__ttiPaintedMs === undefined) { setTimeout(poll, 5); return; }
  const nav = performance.getEntriesByType('navigation')[0];
  const resources = performance.getEntriesByType('resource').map((entry) => ({
    name: entry.name.split('/').pop(),
    response_end_ms: entry.responseEnd,
  }));
  done({
    interactive_ms: window.__ttiMs,
    painted_ms: window.__ttiPaintedMs,
    response_end_ms: nav.responseEnd,
    dom_content_loaded_end_ms: nav.domContentLoadedEventEnd,
    wasm: window.__wasm || null,
    databases: window.__databases || null,
    marks: performance.getEntriesByType('mark').map((entry) => [entry.name, entry.startTime]),
    resources,
  });
};
poll();
"#;

/// One load of `web_root` in a new browser; the collected marks.
async fn measure(driver: &Chromedriver, web_root: &Path) -> Result<Value, HarnessError> {
    let server = serve(web_root.to_path_buf()).await?;
    let browser: Browser = driver.browser().await?;
    browser.run_before_each_document(WATCH_SCRIPT).await?;
    browser.open(&server.http_url()).await?;
    let marks = tokio::time::timeout(
        Duration::from_secs(30),
        browser.client().execute_async(COLLECT_SCRIPT, Vec::new()),
    )
    .await
    .map_err(|_| "the sign-in form did not become interactive within 30 s")??;
    browser.close().await?;
    drop(server);
    Ok(marks)
}

#[tokio::main]
async fn main() -> Result<(), HarnessError> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: tti <app web root> <baseline web root> [runs]";
    let app = PathBuf::from(args.next().ok_or(usage)?);
    let baseline = PathBuf::from(args.next().ok_or(usage)?);
    let runs: usize = match args.next() {
        Some(runs) => runs.parse().map_err(|_| usage)?,
        None => 7,
    };
    let driver = Chromedriver::start().await?;
    // One load of each, not reported: the first Chromium start reads its files from disk.
    for root in [&app, &baseline] {
        measure(&driver, root).await?;
    }
    for run in 1..=runs {
        for (side, root) in [("merpati", &app), ("baseline", &baseline)] {
            let marks = measure(&driver, root).await?;
            let line = json!({ "figure": "tti", "side": side, "run": run, "result": marks });
            println!("{line}");
        }
    }
    Ok(())
}
