//! Harness for Merpati's end-to-end tests: a real server process serving the real release
//! build, and independent headless Chromium sessions driven over WebDriver (chromedriver).
//!
//! Tests talk to the app only through the UI test contract of `PRODUCT.md` (`data-testid`
//! values), as a person (or any other test suite) would.
//!
//! # Layout
//! - [`serve_release_build`]: the `merpati-server` binary serving `dist/`, started with the test
//!   kit's launcher ([`ServerProcess`]: a free loopback port, a temporary data directory).
//! - [`Chromedriver`]: one chromedriver process shared by the sessions of a test.
//! - [`Meeting`]: the server, chromedriver and people signed up: how a test of people starts.
//! - [`Browser`]: one Chromium session with its own profile, and the steps a person takes.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use fantoccini::actions::{InputSource, MOUSE_BUTTON_RIGHT, MouseActions, PointerAction};
use fantoccini::{Client, ClientBuilder, Locator, elements::Element};
use hyper_util::client::legacy::connect::HttpConnector;
use merpati_testkit::ServerOptions;
pub use merpati_testkit::ServerProcess;
use tokio::process::{Child, Command};

/// How long a step may take before the test fails (the app talks to a local server, so only
/// a bug makes a step take this long; the bound keeps a failing run from hanging).
pub const STEP_TIMEOUT: Duration = Duration::from_secs(30);

/// What went wrong in the harness.
pub type HarnessError = Box<dyn std::error::Error + Send + Sync>;

/// The workspace root (this crate lives in `crates/e2e`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn free_port() -> Result<u16, HarnessError> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

async fn wait_for_port(port: u16, child: &mut Child, what: &str) -> Result<(), HarnessError> {
    let deadline = tokio::time::Instant::now() + STEP_TIMEOUT;
    loop {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Ok(());
        }
        if let Some(status) = child.try_wait()? {
            return Err(format!("{what} exited early with {status}").into());
        }
        if tokio::time::Instant::now() > deadline {
            return Err(format!("{what} did not listen on port {port}").into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Starts the real server binary serving `dist/` (the release build of the app) on a free
/// port with a fresh data directory (the test kit's [`ServerProcess`]).
pub async fn serve_release_build() -> Result<ServerProcess, HarnessError> {
    serve(workspace_root().join("dist")).await
}

/// Starts the server serving another web root (a benchmark's own build, or a baseline page);
/// it must hold an `index.html`.
pub async fn serve(web_root: PathBuf) -> Result<ServerProcess, HarnessError> {
    if !web_root.join("index.html").exists() {
        return Err(format!(
            "{} has no index.html: build the app first (trunk build --release)",
            web_root.display()
        )
        .into());
    }
    let options = ServerOptions::new()
        .web_root(web_root)
        .env("RUST_LOG", "warn");
    Ok(ServerProcess::start(options).await?)
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
        let server = serve_release_build().await?;
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
}

/// Chromium's flags for a browser set to Bahasa Indonesia: `navigator.languages` and the
/// `Accept-Language` it sends.
pub const INDONESIAN: &[&str] = &["--lang=id-ID", "--accept-lang=id-ID,id"];

/// One chromedriver process.
#[derive(Debug)]
pub struct Chromedriver {
    child: Child,
    port: u16,
}

impl Chromedriver {
    /// Starts chromedriver (`$CHROMEDRIVER`, default `/usr/bin/chromedriver`).
    pub async fn start() -> Result<Chromedriver, HarnessError> {
        let binary =
            std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".to_owned());
        let port = free_port()?;
        let mut child = Command::new(&binary)
            // A process group of its own, with the browsers it starts: see `Drop`.
            .process_group(0)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|error| format!("cannot start {binary}: {error}"))?;
        wait_for_port(port, &mut child, "chromedriver").await?;
        Ok(Chromedriver { child, port })
    }

    /// A new, independent Chromium session with an empty profile of its own.
    pub async fn browser(&self) -> Result<Browser, HarnessError> {
        self.browser_with(&[]).await
    }

    /// [`Chromedriver::browser`] with more Chromium flags (a device set to dark:
    /// `--blink-settings=preferredColorScheme=0`, say).
    pub async fn browser_with(&self, extra_args: &[&str]) -> Result<Browser, HarnessError> {
        let profile = tempfile::tempdir()?;
        let mut args = vec![
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--no-first-run".to_owned(),
            "--window-size=1200,900".to_owned(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        args.extend(extra_args.iter().map(|arg| (*arg).to_owned()));
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".to_owned(),
            serde_json::json!({
                "args": args,
                "binary": std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned()),
            }),
        );
        // The console is kept so that `close` can fail a test the Content-Security-Policy
        // refused something in.
        capabilities.insert(
            "goog:loggingPrefs".to_owned(),
            serde_json::json!({ "browser": "ALL" }),
        );
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{}", self.port))
            .await?;
        Ok(Browser {
            client,
            _profile: profile,
        })
    }
}

/// Ends chromedriver and every browser it started. A test that fails never reaches its
/// browsers' `close`, and killing chromedriver alone leaves their Chromium processes running
/// (a hundred after a few failed runs, slowing whatever runs next): the whole process group
/// goes.
impl Drop for Chromedriver {
    fn drop(&mut self) {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .stderr(Stdio::null())
                .status();
        }
        let _ = self.child.start_kill();
    }
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
}

impl Browser {
    /// The WebDriver client, for anything the helpers below do not cover.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Opens a URL.
    pub async fn open(&self, url: &str) -> Result<(), HarnessError> {
        self.client.goto(url).await?;
        Ok(())
    }

    /// Makes this browser a phone of 390 × 844 CSS pixels, as DevTools' device mode does (a
    /// window cannot be narrower than 500 px).
    pub async fn emulate_phone(&self) -> Result<(), HarnessError> {
        self.client
            .issue_cmd(ChromedriverCommand {
                path: "goog/cdp/execute",
                body: serde_json::json!({
                    "cmd": "Emulation.setDeviceMetricsOverride",
                    "params": { "width": 390, "height": 844, "deviceScaleFactor": 3, "mobile": true },
                }),
            })
            .await?;
        Ok(())
    }

    /// Reloads the page.
    pub async fn reload(&self) -> Result<(), HarnessError> {
        self.client.refresh().await?;
        Ok(())
    }

    /// Waits for an element by testid.
    pub async fn find(&self, id: &str) -> Result<Element, HarnessError> {
        Ok(self
            .client
            .wait()
            .at_most(STEP_TIMEOUT)
            .for_element(testid(id))
            .await?)
    }

    /// Waits for a CSS selector.
    pub async fn find_css(&self, css: &str) -> Result<Element, HarnessError> {
        Ok(self
            .client
            .wait()
            .at_most(STEP_TIMEOUT)
            .for_element(Locator::Css(css))
            .await?)
    }

    /// Types into an element found by testid (after clearing it).
    pub async fn type_into(&self, id: &str, text: &str) -> Result<(), HarnessError> {
        let element = self.find(id).await?;
        element.clear().await?;
        element.send_keys(text).await?;
        Ok(())
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
    pub async fn eventually<T, F, Fut>(&self, what: &str, mut check: F) -> Result<T, HarnessError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<Option<T>, HarnessError>>,
    {
        let deadline = tokio::time::Instant::now() + STEP_TIMEOUT;
        loop {
            if let Some(value) = check().await? {
                return Ok(value);
            }
            if tokio::time::Instant::now() > deadline {
                return Err(format!("timed out waiting for: {what}").into());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Creates an account through the sign-up form and waits for the main screen.
    pub async fn sign_up(
        &self,
        url: &str,
        username: &str,
        passphrase: &str,
    ) -> Result<(), HarnessError> {
        self.submit_auth(url, username, passphrase, "auth-register")
            .await
    }

    /// Signs in through the form and waits for the main screen.
    pub async fn sign_in(
        &self,
        url: &str,
        username: &str,
        passphrase: &str,
    ) -> Result<(), HarnessError> {
        self.submit_auth(url, username, passphrase, "auth-login")
            .await
    }

    async fn submit_auth(
        &self,
        url: &str,
        username: &str,
        passphrase: &str,
        button: &str,
    ) -> Result<(), HarnessError> {
        self.open(url).await?;
        self.type_into("auth-username", username).await?;
        self.type_into("auth-passphrase", passphrase).await?;
        self.click(button).await?;
        self.find("new-chat").await?;
        Ok(())
    }

    /// Starts a 1:1 chat with `username`; the chat opens.
    pub async fn start_chat(&self, username: &str) -> Result<(), HarnessError> {
        self.click("new-chat").await?;
        self.type_into("new-chat-username", username).await?;
        self.click("new-chat-submit").await?;
        self.wait_chat_title(username).await
    }

    /// Creates a group; it opens.
    pub async fn create_group(&self, title: &str, members: &str) -> Result<(), HarnessError> {
        self.click("new-chat").await?;
        self.click("new-group").await?;
        self.type_into("group-name", title).await?;
        self.type_into("group-members", members).await?;
        self.click("group-submit").await?;
        self.wait_chat_title(title).await
    }

    async fn wait_chat_title(&self, title: &str) -> Result<(), HarnessError> {
        self.eventually(&format!("the open chat to be {title}"), || async {
            let element = self.find("chat-title").await?;
            Ok((element.text().await?.contains(title)).then_some(()))
        })
        .await
    }

    /// Opens the chat titled `title` from the chat list.
    pub async fn open_chat(&self, title: &str) -> Result<(), HarnessError> {
        let selector = format!("[data-testid=\"chat-list-item\"][data-title=\"{title}\"]");
        self.click_css(&selector).await?;
        self.wait_chat_title(title).await
    }

    /// Types a message and presses the send button.
    pub async fn send(&self, text: &str) -> Result<(), HarnessError> {
        self.type_into("composer-input", text).await?;
        self.click("composer-send").await?;
        Ok(())
    }

    /// The lines about the group in the open chat ("sari added tomo"), in display order.
    pub async fn system_lines(&self) -> Result<Vec<String>, HarnessError> {
        let mut lines = Vec::new();
        for element in self.client.find_all(testid("message-system")).await? {
            lines.push(element.text().await?);
        }
        Ok(lines)
    }

    /// Waits until the open chat shows the line `line` about the group; the error says
    /// which lines it shows instead.
    pub async fn wait_system_line(&self, line: &str) -> Result<(), HarnessError> {
        let waited = self
            .eventually(&format!("the line “{line}”"), || async {
                let lines = self.system_lines().await?;
                Ok(lines.iter().any(|shown| shown == line).then_some(()))
            })
            .await;
        if let Err(error) = waited {
            let shown = self.system_lines().await?;
            return Err(format!("{error}; the chat shows {shown:?}").into());
        }
        Ok(())
    }

    /// The texts of the messages shown in the open chat, in display order.
    pub async fn message_texts(&self) -> Result<Vec<String>, HarnessError> {
        let mut texts = Vec::new();
        for element in self.client.find_all(testid("message-text")).await? {
            texts.push(element.text().await?);
        }
        Ok(texts)
    }

    /// Waits until the open chat shows exactly `expected` (in order).
    pub async fn wait_messages(&self, expected: &[&str]) -> Result<(), HarnessError> {
        self.eventually(&format!("messages {expected:?}"), || async {
            let texts = self.message_texts().await?;
            Ok((texts == expected).then_some(()))
        })
        .await
    }

    /// The XPath of the message in the open chat whose text is exactly `text` (no `'` in it).
    pub fn message_xpath(text: &str) -> String {
        format!(
            "//*[@data-testid='message'][.//*[@data-testid='message-text'][normalize-space()='{text}']]"
        )
    }

    /// Waits for the message in the open chat whose text is exactly `text`.
    pub async fn message_with_text(&self, text: &str) -> Result<Element, HarnessError> {
        let xpath = Self::message_xpath(text);
        Ok(self
            .client
            .wait()
            .at_most(STEP_TIMEOUT)
            .for_element(Locator::XPath(&xpath))
            .await?)
    }

    /// Right-clicks the message whose text is `text` and chooses `item` (a testid) in the
    /// menu that opens on it. The row may be drawn anew between being found and being acted
    /// on (its status or receipts changed): then it is found and right-clicked again.
    pub async fn choose_in_menu(&self, text: &str, item: &str) -> Result<(), HarnessError> {
        let deadline = tokio::time::Instant::now() + STEP_TIMEOUT;
        loop {
            if self.try_choose_in_menu(text, item, deadline).await? {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                return Err(format!("the menu of “{text}” kept being drawn anew").into());
            }
        }
    }

    /// One try of [`Browser::choose_in_menu`]: `false` if the row or its menu went stale.
    async fn try_choose_in_menu(
        &self,
        text: &str,
        item: &str,
        deadline: tokio::time::Instant,
    ) -> Result<bool, HarnessError> {
        let message = self.message_with_text(text).await?;
        let right_click = MouseActions::new("mouse".to_owned())
            .then(PointerAction::MoveToElement {
                element: message.clone(),
                duration: None,
                x: 0.0,
                y: 0.0,
            })
            .then(PointerAction::Down {
                button: MOUSE_BUTTON_RIGHT,
            })
            .then(PointerAction::Up {
                button: MOUSE_BUTTON_RIGHT,
            });
        match self.client.perform_actions(right_click).await {
            Err(error) if error.is_stale_element_reference() => return Ok(false),
            other => other?,
        }
        loop {
            match message.find(testid(item)).await {
                Ok(choice) => {
                    return match choice.click().await {
                        Ok(()) => Ok(true),
                        Err(error) if error.is_stale_element_reference() => Ok(false),
                        Err(error) => Err(error.into()),
                    };
                }
                Err(error) if error.is_stale_element_reference() => return Ok(false),
                Err(_) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(_) => {
                    return Err(
                        format!("timed out waiting for: {item} in the menu of “{text}”").into(),
                    );
                }
            }
        }
    }

    /// Whether the open chat shows a message whose text is exactly `text`, with a descendant
    /// matching `inner` (an XPath step such as `*[@data-testid='message-edited']`).
    pub async fn message_has(&self, text: &str, inner: &str) -> Result<bool, HarnessError> {
        let xpath = format!("{}//{inner}", Self::message_xpath(text));
        Ok(!self
            .client
            .find_all(Locator::XPath(&xpath))
            .await?
            .is_empty())
    }

    /// The `data-status` of every message in the open chat.
    pub async fn message_statuses(&self) -> Result<Vec<String>, HarnessError> {
        let mut statuses = Vec::new();
        for element in self.client.find_all(testid("message")).await? {
            statuses.push(element.attr("data-status").await?.unwrap_or_default());
        }
        Ok(statuses)
    }

    /// Waits until the open chat shows `count` messages, every one acknowledged by the server
    /// (`sent`, `delivered` once the other side's browser holds it, or `read` once the other
    /// side has seen it).
    pub async fn wait_acknowledged(&self, count: usize) -> Result<(), HarnessError> {
        self.eventually(&format!("{count} messages acknowledged"), || async {
            let statuses = self.message_statuses().await?;
            let acknowledged = statuses
                .iter()
                .all(|status| ["sent", "delivered", "read"].contains(&status.as_str()));
            Ok((statuses.len() == count && acknowledged).then_some(()))
        })
        .await
    }

    /// Waits for the connection indicator to show `state`.
    pub async fn wait_connection(&self, state: &str) -> Result<(), HarnessError> {
        let last_seen = std::cell::RefCell::new(String::new());
        let waited = self
            .eventually(&format!("connection {state}"), || async {
                let status = self.find("connection-status").await?;
                let seen = status.attr("data-state").await?.unwrap_or_default();
                *last_seen.borrow_mut() = format!("{seen} ({})", status.text().await?);
                Ok((seen == state).then_some(()))
            })
            .await;
        waited.map_err(|error| format!("{error}; last seen: {}", last_seen.borrow()).into())
    }

    /// The `data-state` of the connection indicator.
    pub async fn connection_state(&self) -> Result<String, HarnessError> {
        Ok(self
            .find("connection-status")
            .await?
            .attr("data-state")
            .await?
            .unwrap_or_default())
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

/// A chromedriver command beyond WebDriver's, POSTed to `session/{id}/{path}`: the console
/// log (`se/log`, which `goog:loggingPrefs` keeps), a DevTools protocol command
/// (`goog/cdp/execute`).
#[derive(Debug)]
pub struct ChromedriverCommand {
    /// After `session/{id}/`.
    pub path: &'static str,
    /// The JSON body.
    pub body: serde_json::Value,
}

impl fantoccini::wd::WebDriverCompatibleCommand for ChromedriverCommand {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/{}",
            session_id.unwrap_or_default(),
            self.path
        ))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(self.body.to_string()))
    }
}
