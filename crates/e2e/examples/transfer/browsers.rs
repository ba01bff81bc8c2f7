//! The second baseline: the same bytes between the same two browsers over plain HTTP — what
//! any web page that moves a file through a server costs, before Merpati adds encryption,
//! the outbox's kept copy, resumable parts and the message that announces the file.
//!
//! alice's page, beside the running app, is given an `<input type=file>` of its own; the file
//! WebDriver hands it is uploaded by `fetch` as the app's parts are (a `PUT`, then `PATCH`es
//! of [`PART_BYTES`], each awaited, to the same server's `/blobs/{id}`), the bytes as they are.
//! Once that is done, bob's page is given a button that `fetch`es the blob and saves it as the
//! app saves a download (a `blob:` URL clicked through an `<a download>`), and WebDriver
//! clicks it, as it clicks the app's `attachment-download`. The clock starts as alice's input
//! is handed the file and stops when bob's download directory holds it complete.

use std::path::Path;
use std::time::Instant;

use merpati_e2e::attachments::sha256_hex;
use merpati_e2e::{Browser, HarnessError};
use merpati_protocol::BlobId;
use merpati_protocol::blobs::{UPLOAD_LENGTH, UPLOAD_OFFSET};
use merpati_testkit::random::random_bytes;
use serde_json::{Value, json};

use crate::{PART_BYTES, RUN_PATIENCE, ms_between, wait_saved};

/// Installed in alice's page before each run (`arguments`: the `Authorization` header, the
/// blob's path, the part size, the two header names): the input, and the promise
/// `__plainUploaded`, resolved with `null` once the next file chosen in it is uploaded, or with
/// what went wrong.
const UPLOAD_SCRIPT: &str = r#"
const [authorization, path, partBytes, lengthHeader, offsetHeader] = arguments;
let input = document.getElementById('plain-upload');
if (input === null) {
  input = document.createElement('input');
  input.type = 'file';
  input.id = 'plain-upload';
  // Out of sight, as the app's own file input is; WebDriver hands it files all the same.
  input.style.position = 'fixed';
  input.style.left = '-10000px';
  document.body.append(input);
}
window.__plainUploaded = new Promise((resolve) => {
  input.onchange = async () => {
    try {
      const file = input.files[0];
      const put = await fetch(path, {
        method: 'PUT',
        headers: { authorization, [lengthHeader]: String(file.size) },
      });
      if (put.status !== 201) throw new Error(`PUT answered ${put.status}`);
      for (let at = 0; at < file.size; at += partBytes) {
        const patch = await fetch(path, {
          method: 'PATCH',
          headers: { authorization, [offsetHeader]: String(at) },
          body: file.slice(at, Math.min(at + partBytes, file.size)),
        });
        if (patch.status !== 204) throw new Error(`PATCH at ${at} answered ${patch.status}`);
      }
      resolve(null);
    } catch (error) {
      resolve(String(error));
    }
  };
});
"#;

/// Installed in bob's page before each run (`arguments`: the `Authorization` header, the
/// blob's path, the name to save it under): the button that downloads it. What goes wrong is
/// noted in `__plainDownloadError`.
const DOWNLOAD_SCRIPT: &str = r#"
const [authorization, path, name] = arguments;
let button = document.getElementById('plain-download');
if (button === null) {
  button = document.createElement('button');
  button.id = 'plain-download';
  button.textContent = 'plain download';
  // Above the app, so that WebDriver's click lands on it.
  button.style.position = 'fixed';
  button.style.top = '0';
  button.style.left = '0';
  button.style.zIndex = '2147483647';
  document.body.append(button);
}
window.__plainDownloadError = null;
button.onclick = async () => {
  try {
    const response = await fetch(path, { headers: { authorization } });
    if (!response.ok) throw new Error(`GET answered ${response.status}`);
    const url = URL.createObjectURL(await response.blob());
    const anchor = document.createElement('a');
    anchor.href = url;
    anchor.download = name;
    anchor.click();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
  } catch (error) {
    window.__plainDownloadError = String(error);
  }
};
"#;

/// Resolves with what `__plainUploaded` resolves with.
const UPLOADED_SCRIPT: &str = "window.__plainUploaded.then(arguments[arguments.length - 1]);";

/// The same two browsers, and the `Authorization` header of a session of the same server.
pub(crate) struct PlainBrowsers<'a> {
    pub(crate) alice: &'a Browser,
    pub(crate) bob: &'a Browser,
    pub(crate) authorization: &'a str,
}

impl PlainBrowsers<'_> {
    /// Sends the file at `path` (`len` bytes, SHA-256 `sha256`) from alice's page to bob's
    /// downloads, saved as `name`; the result line's numbers.
    pub(crate) async fn transfer(
        &self,
        path: &Path,
        len: usize,
        sha256: &str,
        name: &str,
    ) -> Result<Value, HarnessError> {
        let downloads = self
            .bob
            .downloads()
            .ok_or("bob's browser keeps no downloads")?
            .to_owned();
        let blob = format!("/blobs/{}", BlobId(random_bytes::<16>()?).to_hex());
        let file = path
            .to_str()
            .ok_or_else(|| format!("{} is not UTF-8", path.display()))?;
        self.alice
            .client()
            .execute(
                UPLOAD_SCRIPT,
                vec![
                    json!(self.authorization),
                    json!(blob),
                    json!(PART_BYTES),
                    json!(UPLOAD_LENGTH),
                    json!(UPLOAD_OFFSET),
                ],
            )
            .await?;
        self.bob
            .client()
            .execute(
                DOWNLOAD_SCRIPT,
                vec![json!(self.authorization), json!(blob), json!(name)],
            )
            .await?;
        let input = self.alice.find_css("#plain-upload").await?;
        let button = self.bob.find_css("#plain-download").await?;

        let start = Instant::now();
        let deadline = start + RUN_PATIENCE;
        input.send_keys(file).await?;
        let failed = self
            .alice
            .client()
            .execute_async(UPLOADED_SCRIPT, vec![])
            .await?;
        if let Some(failed) = failed.as_str() {
            return Err(format!("alice's page did not upload the file: {failed}").into());
        }
        let uploaded = Instant::now();
        button.click().await?;
        let clicked = Instant::now();
        let saved = match wait_saved(&downloads, name, len, deadline).await {
            Ok(saved) => saved,
            Err(error) => {
                let noted = self
                    .bob
                    .client()
                    .execute("return window.__plainDownloadError;", vec![])
                    .await?;
                return Err(format!("{error} (bob's page noted: {noted})").into());
            }
        };

        let saved_path = downloads.join(name);
        if sha256_hex(&std::fs::read(&saved_path)?) != sha256 {
            return Err(format!("bob saved other bytes than alice sent ({name})").into());
        }
        std::fs::remove_file(&saved_path)?;
        Ok(json!({
            "bytes": len,
            "total_ms": ms_between(start, saved),
            "upload_ms": ms_between(start, uploaded),
            "clicked_ms": ms_between(start, clicked),
            "download_ms": ms_between(clicked, saved),
        }))
    }
}
