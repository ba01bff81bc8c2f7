//! Harness for Merpati's end-to-end tests: a real server process serving the real release
//! build, and independent headless Chromium sessions driven over WebDriver (chromedriver).
//!
//! Tests talk to the app only through the UI test contract of `PRODUCT.md` (`data-testid`
//! values), as a person (or any other test suite) would.
//!
//! # Layout
//! - [`serve_release_build`]: the `merpati-server` binary serving `dist/`, started with the test
//!   kit's launcher ([`ServerProcess`]: a free loopback port, a temporary data directory).
//! - [`Meeting`]: the server, chromedriver and people signed up: how a test of people starts.
//! - [`Browser`]: one Chromium session with its own profile: finding, clicking, waiting.
//! - `chromedriver`: [`Chromedriver`], one process shared by the sessions of a test, the
//!   Chromium flags a test may add ([`INDONESIAN`]), and [`ChromedriverCommand`]s beyond
//!   WebDriver's.
//! - `conversation`: the steps a person takes ([`Browser::sign_up`], [`Browser::send`], ...).
//! - [`attachments`]: photos and files — the files a test sends ([`attachments::png_photo`],
//!   [`attachments::pseudo_random_bytes`]), choosing one in the composer
//!   ([`Browser::attach`]), opening a photo ([`Browser::open_photo`]), downloading a file
//!   ([`Browser::download_file`]) and what a browser saved ([`Browser::wait_download`]), and
//!   searching a server's data for plaintext ([`attachments::plaintext_found_under`]).
//! - [`network_gate`]: a proxy in front of the server that shuts WebSockets out while HTTP
//!   goes through, cuts a file's download part-way, and stalls a download or an upload's part
//!   (a connection gone silent) ([`network_gate::NetworkGate`]).

pub mod attachments;
mod chromedriver;
mod conversation;
pub mod network_gate;

use std::path::{Path, PathBuf};
use std::time::Duration;

use fantoccini::{Client, Locator, elements::Element};
use merpati_testkit::ServerOptions;

pub use chromedriver::{Chromedriver, ChromedriverCommand, INDONESIAN};
pub use merpati_testkit::ServerProcess;

/// How long a step may take before the test fails (the app talks to a local server, so only
/// a bug makes a step take this long; the bound keeps a failing run from hanging).
pub const STEP_TIMEOUT: Duration = Duration::from_secs(30);

/// What went wrong in the harness.
pub type HarnessError = Box<dyn std::error::Error + Send + Sync>;

/// The workspace root (this crate lives in `crates/e2e`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Starts the real server binary serving `dist/` (the release build of the app) on a free
/// port with a fresh data directory (the test kit's [`ServerProcess`]).
pub async fn serve_release_build() -> Result<ServerProcess, HarnessError> {
    serve(workspace_root().join("dist")).await
}

/// Starts the server serving another web root (a benchmark's own build, or a baseline page);
/// it must hold an `index.html`.
pub async fn serve(web_root: PathBuf) -> Result<ServerProcess, HarnessError> {
    serve_with_env(web_root, &[]).await
}

/// [`serve_release_build`] with more environment for the server (a pace for uploads, say).
pub async fn serve_release_build_with_env(
    env: &[(&str, &str)],
) -> Result<ServerProcess, HarnessError> {
    serve_with_env(workspace_root().join("dist"), env).await
}

/// [`serve`] with more environment for the server.
pub async fn serve_with_env(
    web_root: PathBuf,
    env: &[(&str, &str)],
) -> Result<ServerProcess, HarnessError> {
    if !web_root.join("index.html").exists() {
        return Err(format!(
            "{} has no index.html: build the app first (scripts/build-app)",
            web_root.display()
        )
        .into());
    }
    let options = env.iter().fold(
        ServerOptions::new()
            .web_root(web_root)
            .env("RUST_LOG", "warn"),
        |options, (name, value)| options.env(name, value),
    );
    Ok(ServerProcess::start(options).await?)
}

/// The sessions `server` keeps for `username`, read from its database: whether a sign-out
/// reached it.
pub fn sessions_of(server: &ServerProcess, username: &str) -> Result<i64, HarnessError> {
    let db = rusqlite::Connection::open_with_flags(
        server.data_dir().join("merpati.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )?;
    Ok(db.query_row(
        "SELECT count(*) FROM sessions
         WHERE account_id = (SELECT id FROM accounts WHERE username = ?1)",
        [username],
        |row| row.get(0),
    )?)
}

/// The passphrase the suites' people sign up with.
pub const PASSPHRASE: &str = "correct horse battery staple";

/// What a test of people talking starts with: the server serving the release build,
/// chromedriver, and each person signed up in a browser of their own.
#[derive(Debug)]
pub struct Meeting {
    /// The server.
    pub server: ServerProcess,
    /// The chromedriver the browsers run under.
    pub driver: Chromedriver,
    /// Where the app is served.
    pub url: String,
}

impl Meeting {
    /// Starts the server and chromedriver.
    pub async fn start() -> Result<Meeting, HarnessError> {
        Meeting::start_with_env(&[]).await
    }

    /// [`Meeting::start`] with more environment for the server
    /// (`MERPATI_BLOB_UPLOAD_BYTES_PER_SEC`, say).
    pub async fn start_with_env(env: &[(&str, &str)]) -> Result<Meeting, HarnessError> {
        let server = serve_release_build_with_env(env).await?;
        let driver = Chromedriver::start().await?;
        let url = server.http_url();
        Ok(Meeting {
            server,
            driver,
            url,
        })
    }

    /// `name` signs up (with [`PASSPHRASE`]) in a new browser, which shows the main screen.
    pub async fn sign_up(&self, name: &str) -> Result<Browser, HarnessError> {
        self.sign_up_with(name, &[]).await
    }

    /// [`Meeting::sign_up`] in a browser started with more flags ([`INDONESIAN`], say).
    pub async fn sign_up_with(
        &self,
        name: &str,
        extra_args: &[&str],
    ) -> Result<Browser, HarnessError> {
        let browser = self.driver.browser_with(extra_args).await?;
        browser.sign_up(&self.url, name, PASSPHRASE).await?;
        Ok(browser)
    }

    /// [`Meeting::sign_up`] in a browser that saves downloads, without asking, in a
    /// directory of its own ([`Browser::downloads`]).
    pub async fn sign_up_downloading(&self, name: &str) -> Result<Browser, HarnessError> {
        let browser = self.driver.browser_downloading().await?;
        browser.sign_up(&self.url, name, PASSPHRASE).await?;
        Ok(browser)
    }
}

/// Whether a harness error is WebDriver's "stale element": the element read was drawn anew.
fn is_stale(error: &HarnessError) -> bool {
    error
        .downcast_ref::<fantoccini::error::CmdError>()
        .is_some_and(fantoccini::error::CmdError::is_stale_element_reference)
}

/// A `data-testid` selector.
pub fn testid(id: &str) -> Locator<'_> {
    // Leaked once per distinct id in a test process: tiny, and it lets callers pass `&str`.
    Locator::Css(Box::leak(
        format!("[data-testid=\"{id}\"]").into_boxed_str(),
    ))
}

/// One person's browser.
#[derive(Debug)]
pub struct Browser {
    client: Client,
    _profile: tempfile::TempDir,
    /// Where downloads are saved, for a browser started to keep them.
    downloads: Option<tempfile::TempDir>,
}

impl Browser {
    /// The WebDriver client, for anything the helpers below do not cover.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The directory this browser saves downloads in, if it was started to
    /// ([`Chromedriver::browser_downloading`]).
    pub fn downloads(&self) -> Option<&Path> {
        self.downloads.as_ref().map(tempfile::TempDir::path)
    }

    /// Opens a URL.
    pub async fn open(&self, url: &str) -> Result<(), HarnessError> {
        self.client.goto(url).await?;
        Ok(())
    }

    /// Makes this browser a phone of 390 × 844 CSS pixels, as DevTools' device mode does (a
    /// window cannot be narrower than 500 px).
    pub async fn emulate_phone(&self) -> Result<(), HarnessError> {
        self.emulate_screen(serde_json::json!({
            "width": 390, "height": 844, "deviceScaleFactor": 3, "mobile": true,
        }))
        .await
    }

    /// Makes this browser's window `width` × `height` CSS pixels inside (a laptop's, a small
    /// tablet's), with a mouse and the desktop's scrollbars.
    pub async fn emulate_desktop(&self, width: u32, height: u32) -> Result<(), HarnessError> {
        self.emulate_screen(serde_json::json!({
            "width": width, "height": height, "deviceScaleFactor": 1, "mobile": false,
        }))
        .await
    }

    /// DevTools' device mode with `metrics` (`Emulation.setDeviceMetricsOverride`).
    async fn emulate_screen(&self, metrics: serde_json::Value) -> Result<(), HarnessError> {
        self.client
            .issue_cmd(ChromedriverCommand {
                path: "goog/cdp/execute",
                body: serde_json::json!({
                    "cmd": "Emulation.setDeviceMetricsOverride",
                    "params": metrics,
                }),
            })
            .await?;
        Ok(())
    }

    /// Lets the page read the clipboard without asking (DevTools' `Browser.grantPermissions`):
    /// a test reads what the app put there.
    pub async fn grant_clipboard(&self) -> Result<(), HarnessError> {
        self.client
            .issue_cmd(ChromedriverCommand {
                path: "goog/cdp/execute",
                body: serde_json::json!({
                    "cmd": "Browser.grantPermissions",
                    "params": { "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"] },
                }),
            })
            .await?;
        Ok(())
    }

    /// What the clipboard holds as text (after [`Browser::grant_clipboard`]), or why it cannot
    /// be read.
    pub async fn clipboard_text(&self) -> Result<String, HarnessError> {
        let read = self
            .client
            .execute_async(
                "const done = arguments[0];
                 navigator.clipboard.readText().then(done, (error) => done('cannot read: ' + error));",
                vec![],
            )
            .await?;
        Ok(read.as_str().unwrap_or_default().to_owned())
    }

    /// Has every document this browser loads from now on run `source` first, before any
    /// script of its own (DevTools' `Page.addScriptToEvaluateOnNewDocument`): a watcher that
    /// must not miss what the page does as it starts.
    pub async fn run_before_each_document(&self, source: &str) -> Result<(), HarnessError> {
        self.client
            .issue_cmd(ChromedriverCommand {
                path: "goog/cdp/execute",
                body: serde_json::json!({
                    "cmd": "Page.addScriptToEvaluateOnNewDocument",
                    "params": { "source": source },
                }),
            })
            .await?;
        Ok(())
    }

    /// Waits until the page's service worker is active (its install, which caches the app, is
    /// done).
    pub async fn service_worker_ready(&self) -> Result<(), HarnessError> {
        self.client
            .execute_async(
                "const done = arguments[0]; navigator.serviceWorker.ready.then(() => done(true));",
                vec![],
            )
            .await?;
        Ok(())
    }

    /// Whether anything makes the page, or any part of it that scrolls (the message list, the
    /// chat list), scroll sideways: something too wide inside a part that scrolls up and down
    /// would scroll it sideways too, and the page's own width would not show it.
    pub async fn overflows_sideways(&self) -> Result<bool, HarnessError> {
        let value = self
            .client()
            .execute(
                "if (document.documentElement.scrollWidth > window.innerWidth) return 'the page';
                 for (const element of document.querySelectorAll('body *')) {
                     if (element.getClientRects().length === 0) continue;
                     const overflow = getComputedStyle(element).overflowX;
                     if ((overflow === 'auto' || overflow === 'scroll')
                         && element.scrollWidth > element.clientWidth + 1) {
                         return element.className || element.tagName;
                     }
                 }
                 return null;",
                vec![],
            )
            .await?;
        if !value.is_null() {
            eprintln!("scrolls sideways: {value}");
        }
        Ok(!value.is_null())
    }

    /// Reloads the page.
    pub async fn reload(&self) -> Result<(), HarnessError> {
        self.client.refresh().await?;
        Ok(())
    }

    /// Waits for an element by testid.
    pub async fn find(&self, id: &str) -> Result<Element, HarnessError> {
        self.find_css(&format!("[data-testid=\"{id}\"]")).await
    }

    /// Waits for a CSS selector; a failure names what was waited for.
    pub async fn find_css(&self, css: &str) -> Result<Element, HarnessError> {
        self.client
            .wait()
            .at_most(STEP_TIMEOUT)
            .for_element(Locator::Css(css))
            .await
            .map_err(|error| match error {
                fantoccini::error::CmdError::WaitTimeout => {
                    format!("timed out waiting for {css}").into()
                }
                other => other.into(),
            })
    }

    /// The first element matching a CSS selector, if the page shows one now (no waiting).
    pub async fn first_css(&self, css: &str) -> Result<Option<Element>, HarnessError> {
        Ok(self
            .client
            .find_all(Locator::Css(css))
            .await?
            .into_iter()
            .next())
    }

    /// Types into an element found by testid (after clearing it).
    pub async fn type_into(&self, id: &str, text: &str) -> Result<(), HarnessError> {
        let element = self.find(id).await?;
        element.clear().await?;
        element.send_keys(text).await?;
        Ok(())
    }

    /// The on-screen box of the first element matching `css` as [left, right, width], or null
    /// when it is not displayed.
    pub async fn shown_box(&self, css: &str) -> Result<serde_json::Value, HarnessError> {
        Ok(self
            .client
            .execute(
                "const element = document.querySelector(arguments[0]);
                 if (!element || element.getClientRects().length === 0) return null;
                 const r = element.getBoundingClientRect();
                 return [r.left, r.right, r.width];",
                vec![serde_json::Value::from(css)],
            )
            .await?)
    }

    /// Clicks an element found by testid (found again if it is drawn anew in between).
    pub async fn click(&self, id: &str) -> Result<(), HarnessError> {
        self.click_css(&format!("[data-testid=\"{id}\"]")).await
    }

    /// Clicks the first element matching a CSS selector; if the app draws it anew between
    /// finding and clicking (a stale element), it is found again, within [`STEP_TIMEOUT`].
    pub async fn click_css(&self, css: &str) -> Result<(), HarnessError> {
        let deadline = tokio::time::Instant::now() + STEP_TIMEOUT;
        loop {
            match self.find_css(css).await?.click().await {
                Ok(()) => return Ok(()),
                Err(error)
                    if error.is_stale_element_reference()
                        && tokio::time::Instant::now() < deadline => {}
                Err(error) => return Err(error.into()),
            }
        }
    }

    /// Polls `check` until it returns `Some`, or fails after [`STEP_TIMEOUT`] saying `what`.
    /// A check that read an element the app then drew anew (a stale element) is polled
    /// again, as one that found nothing yet is: the app redrawing is not a failure.
    pub async fn eventually<T, F, Fut>(&self, what: &str, check: F) -> Result<T, HarnessError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<Option<T>, HarnessError>>,
    {
        self.eventually_within(what, STEP_TIMEOUT, check).await
    }

    /// [`Browser::eventually`] with another bound: for a step that is slow by nature (a
    /// 10 MB file encrypted and sent through a paced upload), not for a slow machine.
    pub async fn eventually_within<T, F, Fut>(
        &self,
        what: &str,
        patience: Duration,
        mut check: F,
    ) -> Result<T, HarnessError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<Option<T>, HarnessError>>,
    {
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            match check().await {
                Ok(Some(value)) => return Ok(value),
                Ok(None) => {}
                Err(error) if is_stale(&error) => {}
                Err(error) => return Err(error),
            }
            if tokio::time::Instant::now() > deadline {
                return Err(format!("timed out waiting for: {what}").into());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the element with the keyboard's focus is the first one `css` finds.
    pub async fn wait_focus_on(&self, css: &str) -> Result<(), HarnessError> {
        self.eventually(&format!("the focus on {css}"), || async {
            let on = self
                .client
                .execute(
                    "const wanted = document.querySelector(arguments[0]);
                     return wanted !== null && document.activeElement === wanted;",
                    vec![serde_json::Value::from(css)],
                )
                .await?;
            Ok((on == serde_json::Value::Bool(true)).then_some(()))
        })
        .await
    }

    /// The console messages logged since the last call, as chromedriver keeps them.
    pub async fn console_messages(&self) -> Result<Vec<String>, HarnessError> {
        let entries = self
            .client
            .issue_cmd(ChromedriverCommand {
                path: "se/log",
                body: serde_json::json!({ "type": "browser" }),
            })
            .await?;
        Ok(entries
            .as_array()
            .map(|entries| {
                entries
                    .iter()
                    .filter_map(|entry| entry["message"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Ends the WebDriver session; fails if the page broke the server's Content-Security-Policy
    /// at any point (the browser refuses such a script, style or connection and says so in
    /// the console), so every end-to-end test also proves the app works under the policy.
    pub async fn close(self) -> Result<(), HarnessError> {
        let violations: Vec<String> = self
            .console_messages()
            .await?
            .into_iter()
            .filter(|message| message.contains("Content Security Policy"))
            .collect();
        self.client.close().await?;
        if !violations.is_empty() {
            return Err(
                format!("the page broke the Content-Security-Policy: {violations:#?}").into(),
            );
        }
        Ok(())
    }
}
