//! Photos and files: the files a test sends, choosing one in the composer, opening a photo in
//! the viewer, downloading a file and what a browser saved, and searching a server's data
//! directory for what only the chat's members may read.
//!
//! The photo is a real PNG made here (stored, uncompressed deflate blocks: no image crate for
//! a few hundred lines a test needs) so the browser decodes it as a person's photo; the big
//! file is seeded pseudo-random bytes, so that any 64 bytes of it are found nowhere else and
//! a test can tell where its plaintext went.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use fantoccini::Locator;
use fantoccini::elements::Element;
use sha2::{Digest, Sha256};

use crate::{Browser, HarnessError, testid};

/// How many bytes of a plaintext [`plaintext_found_under`] looks for at a time: long enough
/// that a match is the plaintext, not chance.
pub const WINDOW: usize = 64;

/// How far apart the windows of each plaintext [`plaintext_found_under`] looks for start: any
/// run of the plaintext twice this long holds a whole window, so a chunk of a file written out
/// (64 KiB) would be found many times over, wherever it came from.
const WINDOW_STRIDE: usize = 4096;

/// `len` bytes of a xorshift64* stream seeded with `seed` (never 0): the same for the same
/// seed, and no 64 of them repeat elsewhere.
pub fn pseudo_random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    let mut bytes = Vec::with_capacity(len + 8);
    while bytes.len() < len {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        bytes.extend_from_slice(&state.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    bytes.truncate(len);
    bytes
}

/// A `width` × `height` RGB photo as a PNG file: smooth gradients with seeded noise on top,
/// so it looks like a picture and each row is unlike any other.
pub fn png_photo(width: u32, height: u32, seed: u64) -> Vec<u8> {
    let noise = pseudo_random_bytes(width as usize * height as usize, seed);
    let mut scanlines = Vec::with_capacity((width as usize * 3 + 1) * height as usize);
    for y in 0..height {
        // Filter type 0 (None): each scanline's bytes are its pixels.
        scanlines.push(0);
        for x in 0..width {
            let grain = noise[(y * width + x) as usize] / 4;
            scanlines.extend_from_slice(&[
                (x * 191 / width) as u8 + grain,
                (y * 191 / height) as u8 + grain,
                ((x + y) * 95 / (width + height)) as u8 + grain * 2,
            ]);
        }
    }
    let mut header = Vec::with_capacity(13);
    header.extend_from_slice(&width.to_be_bytes());
    header.extend_from_slice(&height.to_be_bytes());
    // 8 bits per channel, colour type 2 (RGB), deflate, filter method 0, no interlace.
    header.extend_from_slice(&[8, 2, 0, 0, 0]);

    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png_chunk(&mut png, b"IHDR", &header);
    png_chunk(&mut png, b"IDAT", &zlib_stored(&scanlines));
    png_chunk(&mut png, b"IEND", &[]);
    png
}

/// Appends one PNG chunk: length, type, data, and the CRC-32 of type and data.
fn png_chunk(png: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    let length = u32::try_from(data.len()).unwrap_or(u32::MAX);
    png.extend_from_slice(&length.to_be_bytes());
    let start = png.len();
    png.extend_from_slice(kind);
    png.extend_from_slice(data);
    let crc = crc32(&png[start..]);
    png.extend_from_slice(&crc.to_be_bytes());
}

/// `data` as a zlib stream of stored (uncompressed) deflate blocks.
fn zlib_stored(data: &[u8]) -> Vec<u8> {
    // The largest stored block: its length is a 16-bit field.
    const BLOCK: usize = 0xffff;
    // CMF 0x78 (deflate, 32 KiB window) and FLG 0x01: (0x78 << 8 | 0x01) % 31 == 0.
    let mut out = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = if data.is_empty() {
        vec![&[]]
    } else {
        data.chunks(BLOCK).collect()
    };
    let last = blocks.len() - 1;
    for (index, block) in blocks.into_iter().enumerate() {
        // BFINAL on the last block, BTYPE 00 (stored); then LEN and its complement, LE.
        out.push(u8::from(index == last));
        let len = block.len() as u16;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(block);
    }
    out.extend_from_slice(&adler32(data).to_be_bytes());
    out
}

/// The CRC-32 (IEEE, reflected) PNG chunks end with.
fn crc32(bytes: &[u8]) -> u32 {
    let mut table = [0u32; 256];
    for (n, entry) in table.iter_mut().enumerate() {
        let mut c = n as u32;
        for _ in 0..8 {
            c = if c & 1 == 1 {
                0xedb8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
        }
        *entry = c;
    }
    !bytes.iter().fold(!0u32, |crc, &byte| {
        table[((crc ^ u32::from(byte)) & 0xff) as usize] ^ (crc >> 8)
    })
}

/// The Adler-32 a zlib stream ends with.
fn adler32(bytes: &[u8]) -> u32 {
    const MOD: u32 = 65_521;
    let (a, b) = bytes.iter().fold((1u32, 0u32), |(a, b), &byte| {
        let a = (a + u32::from(byte)) % MOD;
        (a, (b + a) % MOD)
    });
    (b << 16) | a
}

/// The SHA-256 of `bytes` in hex, as an assertion shows it.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Writes `bytes` to `dir/name` and returns its (absolute) path, for a browser to choose.
pub fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> Result<PathBuf, HarnessError> {
    let path = std::path::absolute(dir.join(name))?;
    std::fs::write(&path, bytes)?;
    Ok(path)
}

/// Every file under `dir`, recursively (symbolic links not followed).
pub fn files_under(dir: &Path) -> Result<Vec<PathBuf>, HarnessError> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                pending.push(entry.path());
            } else if kind.is_file() {
                files.push(entry.path());
            }
        }
    }
    files.sort();
    Ok(files)
}

/// Looks for [`WINDOW`]-byte windows of each plaintext (one every `WINDOW_STRIDE` bytes, and
/// its last) in every file under `dir`; says where each one found lies. Empty: none of them is
/// there.
pub fn plaintext_found_under(
    dir: &Path,
    plaintexts: &[&[u8]],
) -> Result<Vec<String>, HarnessError> {
    // Windows by their first 8 bytes, so each file is read once, whatever the number of
    // windows: (plaintext, offset) for each.
    let mut windows: HashMap<[u8; 8], Vec<(usize, usize)>> = HashMap::new();
    for (which, plaintext) in plaintexts.iter().enumerate() {
        if plaintext.len() < WINDOW {
            return Err(format!("plaintext {which} is shorter than {WINDOW} bytes").into());
        }
        let last = plaintext.len() - WINDOW;
        let offsets = (0..last).step_by(WINDOW_STRIDE).chain([last]);
        for offset in offsets {
            windows
                .entry(prefix(&plaintext[offset..]))
                .or_default()
                .push((which, offset));
        }
    }
    let mut found = Vec::new();
    for path in files_under(dir)? {
        // A file the server removes while this runs (a WAL checkpoint) holds nothing now.
        let Ok(content) = std::fs::read(&path) else {
            continue;
        };
        if content.len() < WINDOW {
            continue;
        }
        for position in 0..=content.len() - WINDOW {
            let Some(candidates) = windows.get(&prefix(&content[position..])) else {
                continue;
            };
            for &(which, offset) in candidates {
                let window = &plaintexts[which][offset..offset + WINDOW];
                if &content[position..position + WINDOW] == window {
                    found.push(format!(
                        "bytes {offset}..{} of plaintext {which} in {} at {position}",
                        offset + WINDOW,
                        path.display()
                    ));
                }
            }
        }
    }
    Ok(found)
}

/// Where `text` (a file's name, say: too short for a window of its own) lies in the files under
/// `dir`. Empty: nowhere.
pub fn text_found_under(dir: &Path, text: &str) -> Result<Vec<String>, HarnessError> {
    let needle = text.as_bytes();
    let mut found = Vec::new();
    for path in files_under(dir)? {
        let Ok(content) = std::fs::read(&path) else {
            continue;
        };
        if let Some(position) = content.windows(needle.len()).position(|at| at == needle) {
            found.push(format!("{text:?} in {} at {position}", path.display()));
        }
    }
    Ok(found)
}

/// The selector of the part `part` (a testid) of the attachment of kind `kind` (`image` or
/// `file`).
pub fn within_attachment(kind: &str, part: &str) -> String {
    format!("[data-testid=\"attachment\"][data-kind=\"{kind}\"] [data-testid=\"{part}\"]")
}

/// The first 8 bytes of `bytes` (at least [`WINDOW`] long).
fn prefix(bytes: &[u8]) -> [u8; 8] {
    let mut prefix = [0; 8];
    prefix.copy_from_slice(&bytes[..8]);
    prefix
}

impl Browser {
    /// Chooses the file at `path` in the open chat's composer (`attach-input`), as the file
    /// picker `attach-button` opens would: the app sends it at once.
    pub async fn attach(&self, path: &Path) -> Result<(), HarnessError> {
        self.attach_together(&[path]).await
    }

    /// Chooses the files at `paths` together in the open chat's composer, as picking several
    /// in the file picker would (the input takes `multiple`): the app sends them all at once.
    pub async fn attach_together(&self, paths: &[&Path]) -> Result<(), HarnessError> {
        let paths = paths
            .iter()
            .map(|path| {
                path.to_str()
                    .ok_or_else(|| format!("{} is not UTF-8", path.display()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        // WebDriver sets a file input's files from their paths, one a line (the input is
        // visually hidden, not `display: none`, so it takes them).
        self.find("attach-input")
            .await?
            .send_keys(&paths.join("\n"))
            .await?;
        Ok(())
    }

    /// How many files' ciphertexts this browser keeps for uploads (the `uploads` store of
    /// every database of the app's origin): a kept copy goes when its message leaves the
    /// outbox.
    pub async fn kept_uploads(&self) -> Result<u64, HarnessError> {
        self.on_kept_uploads("count").await
    }

    /// Deletes every ciphertext this browser keeps for uploads, as an app that let a copy go
    /// once its upload completed did; answers how many there were.
    pub async fn drop_kept_uploads(&self) -> Result<u64, HarnessError> {
        self.on_kept_uploads("clear").await
    }

    /// Counts the kept uploads, and with `action` "clear" deletes them too.
    async fn on_kept_uploads(&self, action: &str) -> Result<u64, HarnessError> {
        let count = self
            .client()
            .execute_async(
                "const [action, done] = arguments;
                 const asked = request => new Promise((ok, fail) => {
                   request.onsuccess = () => ok(request.result);
                   request.onerror = () => fail(request.error);
                 });
                 (async () => {
                   let kept = 0;
                   for (const { name } of await indexedDB.databases()) {
                     const db = await asked(indexedDB.open(name));
                     if (db.objectStoreNames.contains('uploads')) {
                       const mode = action === 'clear' ? 'readwrite' : 'readonly';
                       const uploads = db.transaction('uploads', mode).objectStore('uploads');
                       // Ciphertexts only: beside each, a number says how much the server held.
                       const values = await asked(uploads.getAll());
                       kept += values.filter(value => value instanceof Blob).length;
                       if (action === 'clear') await asked(uploads.clear());
                     }
                     db.close();
                   }
                   return kept;
                 })().then(done, error => done(String(error)));",
                vec![serde_json::json!(action)],
            )
            .await?;
        count
            .as_u64()
            .ok_or_else(|| format!("the kept uploads ({action}): {count}").into())
    }

    /// Waits until the open chat's photo (the first `image` attachment) shows its preview: a
    /// `blob:` URL the browser decoded.
    pub async fn wait_photo_preview(&self) -> Result<(), HarnessError> {
        let preview_css = within_attachment("image", "attachment-preview");
        self.eventually("the photo's preview drawn", || async {
            let Some(preview) = self.first_css(&preview_css).await? else {
                return Ok(None);
            };
            let src = preview.attr("src").await?.unwrap_or_default();
            let drawn = src.starts_with("blob:")
                && self.number_property(&preview, "naturalWidth").await? > 0.0;
            Ok(drawn.then_some(()))
        })
        .await
    }

    /// Opens the open chat's photo (the first `image` attachment) in the viewer and waits,
    /// within `patience` (it is downloaded, decrypted and checked first), until the full photo
    /// is decoded; answers its size in pixels (width, height).
    pub async fn open_photo(&self, patience: Duration) -> Result<(f64, f64), HarnessError> {
        self.click_css(&within_attachment("image", "attachment-open"))
            .await?;
        self.find("attachment-viewer").await?;
        self.eventually_within("the full photo decoded", patience, || async {
            let Some(full) = self.first_css("[data-testid=\"attachment-full\"]").await? else {
                return Ok(None);
            };
            let width = self.number_property(&full, "naturalWidth").await?;
            let height = self.number_property(&full, "naturalHeight").await?;
            Ok((width > 0.0).then_some((width, height)))
        })
        .await
    }

    /// Closes the photo viewer and waits until it is gone.
    pub async fn close_photo(&self) -> Result<(), HarnessError> {
        self.click("attachment-viewer-close").await?;
        self.eventually("the viewer closed", || async {
            let mut shown = false;
            for viewer in self.client().find_all(testid("attachment-viewer")).await? {
                shown |= viewer.is_displayed().await?;
            }
            Ok((!shown).then_some(()))
        })
        .await
    }

    /// Downloads the file named `name` from the open chat (its `attachment-download`) and
    /// waits, within `patience`, until the browser saved it; answers its bytes.
    pub async fn download_file(
        &self,
        name: &str,
        patience: Duration,
    ) -> Result<Vec<u8>, HarnessError> {
        self.click_download(name).await?;
        self.wait_download(name, patience).await
    }

    /// Clicks the `attachment-download` of the file named `name` in the open chat.
    pub async fn click_download(&self, name: &str) -> Result<(), HarnessError> {
        let download = format!(
            "//*[@data-testid='attachment'][@data-kind='file']\
             [.//*[@data-testid='attachment-name'][normalize-space()='{name}']]\
             //*[@data-testid='attachment-download']"
        );
        self.eventually(&format!("{name} asked for"), || async {
            let Some(button) = self
                .client()
                .find_all(Locator::XPath(&download))
                .await?
                .into_iter()
                .next()
            else {
                return Ok(None);
            };
            button.click().await?;
            Ok(Some(()))
        })
        .await
    }

    /// Opens the chat titled `chat`, downloads the file named `name` from it within
    /// `patience`, and checks that the browser saved the bytes `sent` (by SHA-256).
    pub async fn saves_what_was_sent(
        &self,
        chat: &str,
        name: &str,
        sent: &[u8],
        patience: Duration,
    ) -> Result<(), HarnessError> {
        self.open_chat(chat).await?;
        let saved = self.download_file(name, patience).await?;
        if sha256_hex(&saved) != sha256_hex(sent) {
            return Err(format!("{name} saved is not what was sent").into());
        }
        Ok(())
    }

    /// How many `message`s the open chat shows.
    pub async fn message_count(&self) -> Result<usize, HarnessError> {
        Ok(self.client().find_all(testid("message")).await?.len())
    }

    /// Waits until the open chat shows exactly one message, the text `text`: sent after a file
    /// that must not arrive, it proves the file did not (messages arrive in the order sent).
    pub async fn wait_only_message(&self, text: &str) -> Result<(), HarnessError> {
        let waited = self
            .eventually(&format!("“{text}” as the only message"), || async {
                let only =
                    self.message_count().await? == 1 && self.message_texts().await? == [text];
                Ok(only.then_some(()))
            })
            .await;
        if let Err(error) = waited {
            let (count, texts) = (self.message_count().await?, self.message_texts().await?);
            return Err(
                format!("{error}; the chat shows {count} messages, texts {texts:?}").into(),
            );
        }
        Ok(())
    }

    /// The first `attachment-progress` shown: (value, max), or `None` while there is none.
    pub async fn attachment_progress(&self) -> Result<Option<(f64, f64)>, HarnessError> {
        let Some(progress) = self
            .client()
            .find_all(testid("attachment-progress"))
            .await?
            .into_iter()
            .next()
        else {
            return Ok(None);
        };
        let value = self.number_property(&progress, "value").await?;
        let max = self.number_property(&progress, "max").await?;
        Ok(Some((value, max)))
    }

    /// A DOM property of `element` that is a number (an image's `naturalWidth`, a progress
    /// bar's `value`); 0 when it is not one. (WebDriver's "get property" answers numbers as
    /// numbers, which fantoccini's `prop` takes only as strings.)
    pub async fn number_property(
        &self,
        element: &Element,
        name: &str,
    ) -> Result<f64, HarnessError> {
        let value = self
            .client()
            .execute(
                "return arguments[0][arguments[1]];",
                vec![serde_json::to_value(element)?, serde_json::json!(name)],
            )
            .await?;
        Ok(value.as_f64().unwrap_or(0.0))
    }

    /// Waits, within `patience`, until the file `name` is saved in this browser's download
    /// directory — there, and no download still in progress (Chromium writes a
    /// `.crdownload` file and renames it when done) — and returns its bytes.
    pub async fn wait_download(
        &self,
        name: &str,
        patience: Duration,
    ) -> Result<Vec<u8>, HarnessError> {
        let dir = self
            .downloads()
            .ok_or("this browser keeps no downloads: start it with browser_downloading")?
            .to_owned();
        let path = dir.join(name);
        self.eventually_within(&format!("{name} downloaded"), patience, || {
            let (dir, path) = (&dir, &path);
            async move {
                let in_progress = files_under(dir)?.iter().any(|file| {
                    file.extension()
                        .is_some_and(|extension| extension == "crdownload")
                });
                if in_progress || !path.is_file() {
                    return Ok(None);
                }
                Ok(Some(std::fs::read(path)?))
            }
        })
        .await
    }

    /// Every URL the origin's caches (Cache Storage, where the service worker keeps the app)
    /// hold, once the page is under the service worker: an error if it never comes to be,
    /// since what is cached is only meaningful for a page the service worker serves.
    pub async fn cached_urls(&self) -> Result<Vec<String>, HarnessError> {
        let urls = self
            .client()
            .execute_async(
                r#"const done = arguments[0];
                navigator.serviceWorker.ready
                  .then(() => navigator.serviceWorker.controller === null ? null : caches.keys()
                    .then((names) => Promise.all(names.map((name) =>
                      caches.open(name).then((cache) => cache.keys()))))
                    .then((lists) => lists.flat().map((request) => request.url)))
                  .then(done);"#,
                vec![],
            )
            .await?;
        if urls.is_null() {
            return Err("the page is not under the service worker".into());
        }
        Ok(serde_json::from_value(urls)?)
    }

    /// The names of the files in this browser's download directory.
    pub async fn downloaded_names(&self) -> Result<Vec<String>, HarnessError> {
        let dir = self
            .downloads()
            .ok_or("this browser keeps no downloads: start it with browser_downloading")?;
        Ok(files_under(dir)?
            .iter()
            .filter_map(|file| file.file_name()?.to_str().map(str::to_owned))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    #[test]
    fn the_checksums_are_the_standard_ones() {
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
        assert_eq!(adler32(b"Wikipedia"), 0x11e6_0398);
    }

    #[test]
    fn the_stored_zlib_stream_inflates_to_its_data() -> Result<(), HarnessError> {
        let data = pseudo_random_bytes(200_000, 7);
        let mut inflated = Vec::new();
        flate2::read::ZlibDecoder::new(&zlib_stored(&data)[..]).read_to_end(&mut inflated)?;
        assert_eq!(inflated, data);
        Ok(())
    }

    #[test]
    fn the_photo_is_a_png_of_its_size() {
        let png = png_photo(640, 480, 1);
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        assert_eq!(&png[12..16], b"IHDR");
        assert_eq!(&png[16..24], &[0, 0, 2, 128, 0, 0, 1, 224]);
        assert_eq!(&png[png.len() - 8..png.len() - 4], b"IEND");
    }

    #[test]
    fn a_window_is_found_where_it_lies_and_nowhere_else() -> Result<(), HarnessError> {
        let dir = tempfile::tempdir()?;
        let secret = pseudo_random_bytes(10_000, 3);
        let mut holder = pseudo_random_bytes(5_000, 4);
        holder.extend_from_slice(&secret[..WINDOW]);
        std::fs::create_dir(dir.path().join("nested"))?;
        write_file(&dir.path().join("nested"), "holder", &holder)?;
        write_file(dir.path(), "other", &pseudo_random_bytes(5_000, 5))?;
        let found = plaintext_found_under(dir.path(), &[&secret])?;
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("holder at 5000"), "{found:?}");
        // Any run twice the stride long is found, wherever it lies in the plaintext.
        let secret = pseudo_random_bytes(100_000, 6);
        write_file(
            dir.path(),
            "run",
            &secret[30_001..30_001 + 2 * WINDOW_STRIDE],
        )?;
        let found = plaintext_found_under(dir.path(), &[&secret])?;
        assert!(found.iter().any(|at| at.contains("run at")), "{found:?}");
        write_file(dir.path(), "named", b"...survey.dat...")?;
        assert_eq!(text_found_under(dir.path(), "survey.dat")?.len(), 1);
        Ok(())
    }
}
