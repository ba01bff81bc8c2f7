//! Benchmark (not a test): a 10 MB file sent between two browsers on loopback — read,
//! encrypted and uploaded by the sender, fanned out by the server, downloaded, decrypted,
//! checked and saved by the receiver — beside two baselines of the same bytes uploaded and
//! downloaded over plain HTTP, measured in the same run. Run by `scripts/bench-browser`,
//! which reads the JSON lines it prints:
//!
//! ```text
//! cargo run --release -p merpati-e2e --example transfer -- <app web root> [runs]
//! ```
//!
//! One `merpati-server` (release, beside this example) serves the app's release build. alice
//! and bob sign up in two headless Chromiums (bob's saving downloads to a directory of its
//! own) and open their 1:1 chat. Each run writes a new file of 10,000,000 seeded
//! pseudo-random bytes, then measures the three sides, each run starting with the next one
//! (merpati, baseline, browsers; then baseline, browsers, merpati; …) so that a machine
//! getting slower or faster weighs on all three:
//!
//! - **merpati**: the clock starts as alice's `attach-input` is handed the file and stops when
//!   bob's download directory holds it complete (its full length, no `.crdownload` beside it;
//!   its SHA-256 is checked after the clock stops). bob clicks `attachment-download` as soon
//!   as the attachment shows in his chat: a script in his page resolves the moment it is drawn
//!   (a `MutationObserver`), and the click is a WebDriver click, as a person's (a click from
//!   a script would lack the user activation Chromium wants before it saves more than one
//!   download). Parts, from the same start: `sent_ms` (alice's message acknowledged — her
//!   browser read, encrypted, stored and uploaded the file, and the server stored the
//!   message), `appeared_ms` (bob's chat draws the attachment), `clicked_ms` (bob's click
//!   landed). The first two are noted in each page by a `MutationObserver` with
//!   `performance.now()`, and placed on this program's clock by asking the page, later, how
//!   long ago that was (the error is at most that request's round trip, a few ms).
//! - **baseline**: the same file, by a native client with a session of its own (an account
//!   signed up over the test kit's raw protocol client): read from disk, `PUT /blobs/{id}`
//!   and `PATCH`es of 8 MiB (`MAX_UPLOAD_PART_BYTES`, the most the server takes in one,
//!   which the app's parts grow to on a quick link: `merpati_core::upload_parts`) to the same
//!   server, then `GET` and written to disk. No encryption and no browser: the bytes over
//!   HTTP, through the same server code (each part `fsync`ed as the app's are). Parts:
//!   `upload_ms` and `download_ms`. The test kit's HTTP client opens a connection per request
//!   (the browser keeps one open): on loopback that costs well under a millisecond each.
//! - **browsers**: the same file between the same two browsers by plain `fetch`es, saved as
//!   the app saves a download (`browsers.rs` says how). Parts: `upload_ms`, `clicked_ms`
//!   (bob's click landed) and `download_ms` (from the click to the file saved).
//!
//! One transfer of each side before the runs is not reported (Chromium's first download, and
//! the first requests of both sides, are slower).

// The JSON lines on stdout are this program's output.
#![allow(clippy::print_stdout)]

mod browsers;
mod native;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fantoccini::elements::{Element, ElementRef};
use merpati_e2e::attachments::{pseudo_random_bytes, sha256_hex, write_file};
use merpati_e2e::{Browser, Chromedriver, HarnessError, Meeting, serve};
use merpati_protocol::blobs::MAX_UPLOAD_PART_BYTES;
use serde_json::{Value, json};

use browsers::PlainBrowsers;
use native::PlainHttp;

/// "A 10 MB file", as PRODUCT.md's budget names it.
const FILE_LEN: usize = 10_000_000;

/// The bytes of each `PATCH`: the most the server takes, the size the app's parts grow to on a
/// quick link.
const PART_BYTES: usize = MAX_UPLOAD_PART_BYTES as usize;

/// How long one transfer may take before the benchmark gives up: a bug, not a slow machine.
const RUN_PATIENCE: Duration = Duration::from_secs(120);

/// How often the download directory is looked at: the figure's resolution at its end.
const DISK_POLL: Duration = Duration::from_millis(5);

/// The seed of run `n`'s file is this plus `n`.
const SEED: u64 = 0x7a5f_e200;

/// The key under which WebDriver names an element in a script's answer (W3C "web element
/// identifier"; fantoccini does not export it).
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Installed in a page before each run (`arguments`: mark name, file name, what to wait
/// for): defines `__transferFind` and notes `performance.now()` under the mark name the first
/// moment it finds the file's attachment — `acknowledged` (its message is `sent`,
/// `delivered` or `read`) or `downloadable` (it shows `attachment-download`).
const MARK_SCRIPT: &str = r#"
const [key, name, want] = arguments;
window.__transferFind = (name, want) =>
  [...document.querySelectorAll('[data-testid="attachment"][data-kind="file"]')].find((attachment) => {
    const label = attachment.querySelector('[data-testid="attachment-name"]');
    if (label === null || label.textContent.trim() !== name) return false;
    if (want === 'downloadable') {
      return attachment.querySelector('[data-testid="attachment-download"]') !== null;
    }
    const message = attachment.closest('[data-testid="message"]');
    return message !== null && ['sent', 'delivered', 'read'].includes(message.dataset.status);
  }) || null;
const marks = (window.__transferMarks = window.__transferMarks || {});
delete marks[key];
const check = () => {
  if (marks[key] === undefined && window.__transferFind(name, want) !== null) {
    marks[key] = performance.now();
    observer.disconnect();
  }
};
const observer = new MutationObserver(check);
observer.observe(document, { childList: true, subtree: true, attributes: true, characterData: true });
check();
"#;

/// Resolves with the file's `attachment-download` button (`arguments`: file name, patience in
/// ms) the moment the page draws it, or with `null` once the patience is spent.
const BUTTON_SCRIPT: &str = r#"
const [name, patience] = arguments;
const done = arguments[arguments.length - 1];
const button = () => {
  const attachment = window.__transferFind(name, 'downloadable');
  return attachment === null ? null : attachment.querySelector('[data-testid="attachment-download"]');
};
const now = button();
if (now !== null) {
  done(now);
} else {
  const observer = new MutationObserver(() => {
    const found = button();
    if (found !== null) {
      observer.disconnect();
      clearTimeout(timer);
      done(found);
    }
  });
  observer.observe(document, { childList: true, subtree: true, attributes: true, characterData: true });
  const timer = setTimeout(() => { observer.disconnect(); done(null); }, patience);
}
"#;

/// How many ms ago the mark `arguments[0]` was noted, or `null` if it was not.
const ELAPSED_SCRIPT: &str = r#"
const mark = (window.__transferMarks || {})[arguments[0]];
return mark === undefined ? null : performance.now() - mark;
"#;

/// Milliseconds between two instants, as a float.
fn ms_between(from: Instant, to: Instant) -> f64 {
    to.saturating_duration_since(from).as_secs_f64() * 1000.0
}

/// Installs [`MARK_SCRIPT`] in `browser` for `name`.
async fn mark_when(
    browser: &Browser,
    key: &str,
    name: &str,
    want: &str,
) -> Result<(), HarnessError> {
    browser
        .client()
        .execute(MARK_SCRIPT, vec![json!(key), json!(name), json!(want)])
        .await?;
    Ok(())
}

/// When the page noted the mark `key`, in ms since `start`: the page says how long ago, and
/// the answer is placed at the middle of the request that asked.
async fn mark_since(browser: &Browser, key: &str, start: Instant) -> Result<f64, HarnessError> {
    let asked = Instant::now();
    let ago = browser
        .client()
        .execute(ELAPSED_SCRIPT, vec![json!(key)])
        .await?;
    let answered = Instant::now();
    let ago = ago
        .as_f64()
        .ok_or_else(|| format!("the page noted no {key}"))?;
    Ok(ms_between(start, asked) + ms_between(asked, answered) / 2.0 - ago)
}

/// Clicks `name`'s `attachment-download` in bob's chat the moment it is drawn.
async fn click_download(bob: &Browser, name: &str, deadline: Instant) -> Result<(), HarnessError> {
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(format!("{name} did not show in bob's chat").into());
        }
        // Bounded below the session's script timeout (30 s), and asked again if need be.
        let patience = u64::try_from(remaining.min(Duration::from_secs(20)).as_millis())?;
        let found = bob
            .client()
            .execute_async(BUTTON_SCRIPT, vec![json!(name), json!(patience)])
            .await?;
        let Some(id) = found.get(ELEMENT_KEY).and_then(Value::as_str) else {
            continue;
        };
        let button =
            Element::from_element_id(bob.client().clone(), ElementRef::from(id.to_owned()));
        match button.click().await {
            Ok(()) => return Ok(()),
            // Drawn anew between finding and clicking: found again.
            Err(error) if error.is_stale_element_reference() => {}
            Err(error) => return Err(error.into()),
        }
    }
}

/// Waits until `dir/name` holds `len` bytes with no download in progress beside it (Chromium
/// writes a `.crdownload` and renames it when done); the moment it saw that.
async fn wait_saved(
    dir: &Path,
    name: &str,
    len: usize,
    deadline: Instant,
) -> Result<Instant, HarnessError> {
    let path = dir.join(name);
    loop {
        let now = Instant::now();
        let complete = std::fs::metadata(&path).is_ok_and(|meta| meta.len() == len as u64);
        if complete && !download_in_progress(dir)? {
            return Ok(now);
        }
        if now > deadline {
            return Err(format!("{name} was not saved in {}", dir.display()).into());
        }
        tokio::time::sleep(DISK_POLL).await;
    }
}

/// Whether Chromium is still writing a download in `dir`.
fn download_in_progress(dir: &Path) -> Result<bool, HarnessError> {
    for entry in std::fs::read_dir(dir)? {
        if entry?
            .path()
            .extension()
            .is_some_and(|ext| ext == "crdownload")
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// alice and bob, each with their 1:1 chat open.
struct Chat {
    alice: Browser,
    bob: Browser,
}

impl Chat {
    /// Sends the file at `path` (`len` bytes, SHA-256 `sha256`) from alice to bob; the
    /// result line's numbers.
    async fn transfer(&self, path: &Path, len: usize, sha256: &str) -> Result<Value, HarnessError> {
        let name = path
            .file_name()
            .and_then(|name| name.to_str())
            .ok_or("the file's name is not UTF-8")?;
        let downloads = self
            .bob
            .downloads()
            .ok_or("bob's browser keeps no downloads")?
            .to_owned();
        mark_when(&self.alice, "sent", name, "acknowledged").await?;
        mark_when(&self.bob, "appeared", name, "downloadable").await?;

        let start = Instant::now();
        let deadline = start + RUN_PATIENCE;
        self.alice.attach(path).await?;
        click_download(&self.bob, name, deadline).await?;
        let clicked = Instant::now();
        let saved = wait_saved(&downloads, name, len, deadline).await?;

        let sent_ms = mark_since(&self.alice, "sent", start).await?;
        let appeared_ms = mark_since(&self.bob, "appeared", start).await?;
        let saved_path = downloads.join(name);
        let bytes = std::fs::read(&saved_path)?;
        if sha256_hex(&bytes) != sha256 {
            return Err(format!("bob saved other bytes than alice sent ({name})").into());
        }
        // Every run's 10 MB need not stay in the temporary directory.
        std::fs::remove_file(&saved_path)?;
        Ok(json!({
            "bytes": len,
            "total_ms": ms_between(start, saved),
            "sent_ms": sent_ms,
            "appeared_ms": appeared_ms,
            "clicked_ms": ms_between(start, clicked),
        }))
    }
}

#[tokio::main]
async fn main() -> Result<(), HarnessError> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: transfer <app web root> [runs]";
    let web_root = PathBuf::from(args.next().ok_or(usage)?);
    let runs: u64 = match args.next() {
        Some(runs) => runs.parse().map_err(|_| usage)?,
        None => 5,
    };
    let server = serve(web_root).await?;
    let url = server.http_url();
    let meeting = Meeting {
        server,
        driver: Chromedriver::start().await?,
        url,
    };
    let alice = meeting.sign_up("alice").await?;
    let bob = meeting.sign_up_downloading("bob").await?;
    alice.start_chat("bob").await?;
    alice.send("hello").await?;
    alice.wait_acknowledged(1).await?;
    bob.open_chat("alice").await?;
    bob.wait_messages(&["hello"]).await?;
    let chat = Chat { alice, bob };
    let plain = PlainHttp::sign_up(&meeting.server).await?;
    let files = tempfile::tempdir()?;

    // Run 0 warms both sides up and is not reported.
    for run in 0..=runs {
        let bytes = pseudo_random_bytes(FILE_LEN, SEED + run);
        let sha256 = sha256_hex(&bytes);
        let path = write_file(files.path(), &format!("transfer-{run}.dat"), &bytes)?;
        drop(bytes);
        let saved = files.path().join(format!("baseline-{run}.dat"));
        let mut sides = ["merpati", "baseline", "browsers"];
        let first = usize::try_from(run)? % sides.len();
        sides.rotate_left(first);
        for side in sides {
            let result = match side {
                "merpati" => chat.transfer(&path, FILE_LEN, &sha256).await?,
                "baseline" => plain.round_trip(&path, &saved).await?,
                _ => {
                    let browsers = PlainBrowsers {
                        alice: &chat.alice,
                        bob: &chat.bob,
                        authorization: &plain.authorization,
                    };
                    let name = format!("plain-{run}.dat");
                    browsers.transfer(&path, FILE_LEN, &sha256, &name).await?
                }
            };
            if run > 0 {
                let line =
                    json!({ "figure": "transfer", "side": side, "run": run, "result": result });
                println!("{line}");
            }
        }
        std::fs::remove_file(&path)?;
    }
    // Fails if either page broke the Content-Security-Policy meanwhile.
    chat.alice.close().await?;
    chat.bob.close().await?;
    Ok(())
}
