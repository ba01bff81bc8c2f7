//! Photos and files: what the worker does with the bytes the engine never touches.
//!
//! Sending: the page hands over a `File`; here a photo gets its thumbnail ([`preview`]), the
//! file is read and sealed a slice at a time with a fresh key (`merpati_files`), the
//! ciphertext is kept in the browser's database, and only then does the message enter the
//! outbox (`Engine::send_attachment`), so a reload finds both. Every upload the outbox waits
//! for runs here ([`upload`]) — started by [`Files::keep_running`] after every change, so one
//! restored by a reload or retried by the person starts by itself — and tells the engine when
//! the server holds it all. Opening: [`download`] fetches a file, decrypting it as it streams
//! in, and checks it.

mod download;
mod http;
mod preview;
mod upload;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use merpati_bridge::{DownloadState, Update};
use merpati_files::FileSealer;
use merpati_protocol::blobs::{MAX_FILE_BYTES, ciphertext_len};
use merpati_protocol::content::{Attachment, FileKey, MAX_FILE_NAME_CHARS, MAX_MEDIA_TYPE_BYTES};
use merpati_protocol::{BlobId, ChatId, ClientMsgId};
use merpati_words::{Text, refusals, t};
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;

use crate::services::clock;
use crate::services::connection::Client;
pub(crate) use http::origin_of;
use upload::{Ended, Upload};

/// How much of a file is read (and sealed) at a time when sending it: few reads through the
/// browser's file reader, yet the worker never holds a whole large file (a wasm memory that
/// grew for one never shrinks again).
const READ_SLICE_BYTES: u64 = 4 * 1024 * 1024;

/// An upload running on this page.
struct Running {
    done: Rc<Cell<u64>>,
    total: u64,
    cancelled: Rc<Cell<bool>>,
    blob: BlobId,
}

/// The worker's uploads and downloads. Cheap to clone.
#[derive(Clone)]
pub struct Files {
    running: Rc<RefCell<HashMap<ClientMsgId, Running>>>,
    on_change: Rc<dyn Fn()>,
}

impl std::fmt::Debug for Files {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Files")
            .field("uploads", &self.running.borrow().len())
            .finish()
    }
}

impl Running {
    /// An upload of `total` ciphertext bytes to `blob`, none of them held yet.
    fn new(blob: BlobId, total: u64) -> Running {
        Running {
            done: Rc::new(Cell::new(0)),
            total,
            cancelled: Rc::new(Cell::new(false)),
            blob,
        }
    }
}

impl Files {
    /// Uploads and downloads that call `on_change` when a view should show their progress.
    pub fn new(on_change: impl Fn() + 'static) -> Files {
        Files {
            running: Rc::new(RefCell::new(HashMap::new())),
            on_change: Rc::new(on_change),
        }
    }

    /// How far the upload of a message's file is: bytes the server holds, of all of them.
    pub fn progress(&self, id: ClientMsgId) -> Option<(u64, u64)> {
        self.running
            .borrow()
            .get(&id)
            .map(|running| (running.done.get(), running.total))
    }

    /// Sends `file` to `chat`: reads, seals and keeps it, queues its message, and uploads it.
    /// Answers words for the composer when it cannot.
    pub async fn send(
        &self,
        client: &Client,
        chat: ChatId,
        file: web_sys::File,
    ) -> Result<(), String> {
        let size = file.size() as u64;
        if size > MAX_FILE_BYTES {
            return Err(refusals::file_too_large());
        }
        let store = client.store().ok_or_else(|| t(Text::SomethingWentWrong))?;
        let preview = preview::of(&file).await;
        let random = |_| t(Text::SomethingWentWrong);
        let key = FileKey(merpati_core::crypto::random_bytes().map_err(random)?);
        let blob = BlobId(merpati_core::crypto::random_bytes().map_err(random)?);
        let (ciphertext, sha256) = seal_file(&file, &key, size).await?;
        store
            .put_upload(blob, &ciphertext)
            .await
            .map_err(|_| t(Text::SomethingWentWrong))?;
        let attachment = Attachment {
            blob,
            key,
            sha256,
            name: short_name(&file.name()),
            media_type: Some(file.type_())
                .filter(|kind| kind.len() <= MAX_MEDIA_TYPE_BYTES)
                .unwrap_or_default(),
            size,
            preview,
        };
        let sent = client.act(|engine| engine.send_attachment(chat, attachment, clock::now_ms()));
        match sent {
            Ok(id) => {
                self.start(client, id, blob, ciphertext);
                Ok(())
            }
            Err(error) => {
                let _ = store.remove_upload(blob).await;
                Err(error.words())
            }
        }
    }

    /// Starts every upload the outbox waits for that is not running on this page (restored
    /// by a reload, or retried after a refusal).
    pub fn keep_running(&self, client: &Client) {
        let Some(store) = client.store() else {
            return;
        };
        for awaited in client.read(merpati_core::Engine::awaited_uploads) {
            let id = awaited.client_msg_id;
            if self.running.borrow().contains_key(&id) {
                continue;
            }
            let blob = awaited.attachment.blob;
            let total = ciphertext_len(awaited.attachment.size);
            self.running
                .borrow_mut()
                .insert(id, Running::new(blob, total));
            let (files, client, store) = (self.clone(), client.clone(), store.clone());
            wasm_bindgen_futures::spawn_local(async move {
                match store.upload(blob).await {
                    Ok(Some(ciphertext)) => files.run(&client, id, blob, ciphertext).await,
                    // This browser no longer holds the file (its data was cleared): it
                    // cannot be sent; the message says so and waits to be deleted.
                    _ => {
                        files.running.borrow_mut().remove(&id);
                        client.act(|engine| {
                            engine.upload_failed(id, merpati_protocol::ErrorCode::NoSuchBlob);
                        });
                    }
                }
            });
        }
    }

    /// Stops sending a message's file and takes the message back.
    pub fn cancel(&self, client: &Client, id: ClientMsgId) {
        let running = self.running.borrow_mut().remove(&id);
        let cancelled = client.act(|engine| engine.cancel_upload(id)).is_ok();
        if let Some(running) = running {
            running.cancelled.set(true);
            if cancelled && let Some(store) = client.store() {
                wasm_bindgen_futures::spawn_local(async move {
                    let _ = store.remove_upload(running.blob).await;
                });
            }
        }
        (self.on_change)();
    }

    /// Downloads and opens a message's file, telling the page how it goes.
    pub async fn download(
        &self,
        client: &Client,
        chat: ChatId,
        id: ClientMsgId,
        post: impl Fn(Update, Option<JsValue>),
    ) {
        let tell = |state, file: Option<web_sys::Blob>| {
            post(Update::Download { id, state }, file.map(JsValue::from));
        };
        let found = client.read(|engine| engine.attachment(chat, id).zip(engine.session_token()));
        let Some((attachment, token)) = found else {
            return tell(DownloadState::Failed(t(Text::DownloadFailed)), None);
        };
        let progress = |done, total| tell(DownloadState::Progress { done, total }, None);
        match download::fetch_file(&client.origin(), &token, &attachment, progress).await {
            Ok(file) => tell(DownloadState::Ready, Some(file)),
            Err(words) => tell(DownloadState::Failed(words), None),
        }
    }

    fn start(&self, client: &Client, id: ClientMsgId, blob: BlobId, ciphertext: web_sys::Blob) {
        let total = ciphertext.size() as u64;
        self.running
            .borrow_mut()
            .insert(id, Running::new(blob, total));
        let (files, client) = (self.clone(), client.clone());
        wasm_bindgen_futures::spawn_local(async move {
            files.run(&client, id, blob, ciphertext).await;
        });
    }

    async fn run(&self, client: &Client, id: ClientMsgId, blob: BlobId, ciphertext: web_sys::Blob) {
        let Some((done, cancelled)) = self
            .running
            .borrow()
            .get(&id)
            .map(|running| (running.done.clone(), running.cancelled.clone()))
        else {
            return;
        };
        let token_client = client.clone();
        let on_change = self.on_change.clone();
        let ended = Upload {
            origin: client.origin(),
            blob,
            ciphertext,
            token: Box::new(move || token_client.read(merpati_core::Engine::session_token)),
            done,
            cancelled,
            on_progress: Box::new(move || on_change()),
            part: Cell::default(),
        }
        .run()
        .await;
        self.running.borrow_mut().remove(&id);
        match ended {
            Ended::Complete => {
                client.act(|engine| engine.upload_finished(id));
                if let Some(store) = client.store() {
                    let _ = store.remove_upload(blob).await;
                }
            }
            Ended::Refused(code) => client.act(|engine| engine.upload_failed(id, code)),
            Ended::Cancelled => {}
        }
        (self.on_change)();
    }
}

/// A file's name as a message carries it: at most [`MAX_FILE_NAME_CHARS`], cut before its
/// extension so the kind still shows.
fn short_name(name: &str) -> String {
    if name.chars().count() <= MAX_FILE_NAME_CHARS {
        return name.to_owned();
    }
    let extension = name
        .rsplit_once('.')
        .map(|(_, extension)| extension)
        .filter(|extension| extension.chars().count() <= 10)
        .unwrap_or("");
    let keep = MAX_FILE_NAME_CHARS - extension.chars().count() - 2;
    let stem: String = name.chars().take(keep).collect();
    if extension.is_empty() {
        format!("{stem}…")
    } else {
        format!("{stem}….{extension}")
    }
}

/// Reads `file` a slice at a time and seals it as it comes (`FileSealer`): the worker holds a
/// slice, not the file, and the sealed slices gather in a browser `Blob`. Answers that
/// ciphertext and the file's SHA-256; words if the file cannot be read (or changed while
/// read).
async fn seal_file(
    file: &web_sys::File,
    key: &FileKey,
    size: u64,
) -> Result<(web_sys::Blob, [u8; 32]), String> {
    let unreadable = |_| t(Text::FileUnreadable);
    let mut sealer = FileSealer::new(key, size);
    let sealed = js_sys::Array::new();
    let mut slice = Vec::new();
    let mut offset = 0;
    while offset < size {
        let end = (offset + READ_SLICE_BYTES).min(size);
        let part = file
            .slice_with_f64_and_f64(offset as f64, end as f64)
            .map_err(unreadable)?;
        let buffer = JsFuture::from(part.array_buffer())
            .await
            .map_err(unreadable)?;
        let bytes = js_sys::Uint8Array::new(&buffer);
        slice.resize(bytes.length() as usize, 0);
        bytes.copy_to(&mut slice);
        let ciphertext = sealer.push(&slice).map_err(|_| t(Text::FileUnreadable))?;
        sealed.push(&js_sys::Uint8Array::from(ciphertext.as_slice()));
        offset = end;
    }
    let (tail, sha256) = sealer.finish().map_err(|_| t(Text::FileUnreadable))?;
    sealed.push(&js_sys::Uint8Array::from(tail.as_slice()));
    let ciphertext = web_sys::Blob::new_with_u8_array_sequence(&sealed)
        .map_err(|_| t(Text::SomethingWentWrong))?;
    Ok((ciphertext, sha256))
}
