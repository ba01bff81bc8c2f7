//! chromedriver: one process per test, started on a free port in a process group of its own
//! (so ending it ends every Chromium it started), the Chromium sessions it opens, and the
//! commands it takes beyond WebDriver's.

use std::process::Stdio;
use std::time::Duration;

use fantoccini::ClientBuilder;
use hyper_util::client::legacy::connect::HttpConnector;
use tokio::process::{Child, Command};

use crate::{Browser, HarnessError, STEP_TIMEOUT};

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
        let port = merpati_testkit::free_loopback_port()?;
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
        self.launch(extra_args, None).await
    }

    /// [`Chromedriver::browser`] that saves every download, without asking, in a directory of
    /// its own ([`Browser::downloads`]), as a person who clicked "Save" would find it.
    pub async fn browser_downloading(&self) -> Result<Browser, HarnessError> {
        self.launch(&[], Some(tempfile::tempdir()?)).await
    }

    async fn launch(
        &self,
        extra_args: &[&str],
        downloads: Option<tempfile::TempDir>,
    ) -> Result<Browser, HarnessError> {
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
        let mut options = serde_json::json!({
            "args": args,
            "binary": std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned()),
        });
        if let Some(downloads) = &downloads {
            // Chromium's own settings, as a person would set "Location" and turn off "Ask
            // where to save each file": headless, a download that asks goes nowhere.
            options["prefs"] = serde_json::json!({
                "download.default_directory": downloads.path(),
                "download.prompt_for_download": false,
                "download.directory_upgrade": true,
            });
        }
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("goog:chromeOptions".to_owned(), options);
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
            downloads,
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
