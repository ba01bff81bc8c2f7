//! Photos and files: what the worker does with the bytes the engine never touches.
//!
//! Sending: the page hands over a `File`; here a photo gets its thumbnail (`preview`), the
//! file is read and sealed a slice at a time with a fresh key ([`sealing`]: AES-256-GCM by the
//! browser's WebCrypto, [`aes_gcm`]) while its upload already sends what is sealed, the
//! ciphertext is kept in the browser's database, and only then does the message enter the
//! outbox (`Engine::send_attachment`), so a reload finds both. Files are prepared one at
//! a time, in the order they were handed over (`sending_order`), so they enter the outbox
//! in the order picked; their uploads run side by side. Every other upload the outbox
//! waits for runs here too (`upload`) — started by [`Files::keep_running`] after every
//! change, so one restored by a reload or retried by the person starts by itself — and tells
//! the engine when the server holds it all. The tabs of one browser restore the same outbox, so
//! an upload holds a Web Lock on its blob ([`crate::services::web_locks`]): one tab uploads a
//! file at a time. A message may be taken back (its upload cancelled) in any of them, which
//! removes it from the shared outbox: the tab uploading it asks the outbox for it before each
//! part and before telling its engine how the upload ended, and takes back its own copy of a
//! message taken back there, so the file is never sent, nor shown failed in a tab that did not
//! know. A tab whose turn to go on with an upload comes asks the shared outbox first: a message
//! another tab claimed for sending, or heard delivered, needs no upload (nor a question to the
//! server) from it, and goes on as sent (`Engine::sent_elsewhere`). Whether it goes or is
//! taken back is decided in the shared outbox, one transaction each: a tab claims it there
//! before sending it (`connection`), and [`Files::cancel`] takes it back only if no tab
//! claimed it — or says, in words, that it was already sent.
//! Opening: [`download`] fetches a file, decrypting it as it streams in with the cipher its
//! message names (AES-256-GCM, or ChaCha20-Poly1305 for files sent before it), and checks it.

pub mod aes_gcm;
pub mod download;
pub mod hash;
mod http;
mod preview;
pub mod sealing;
mod sending_order;
mod upload;

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::rc::Rc;

use futures::channel::oneshot;
use merpati_bridge::{DownloadState, MessageRow, Update};
use merpati_core::upload_parts::AfterRefusal;
use merpati_protocol::blobs::{MAX_FILE_BYTES, ciphertext_len};
use merpati_protocol::content::{
    Attachment, FileCipher, FileKey, MAX_FILE_NAME_CHARS, MAX_MEDIA_TYPE_BYTES,
};
use merpati_protocol::{BlobId, ChatId, ClientMsgId, ErrorCode};
use merpati_words::{Text, refusals, t};
use wasm_bindgen::JsValue;

use crate::services::connection::Client;
use crate::services::idb_store::{Standing, TakingBack};
use crate::services::{clock, web_locks};
pub(crate) use http::origin_of;
use sealing::{Ciphertext, Sealing, seal_file};
use sending_order::SendingOrder;
use upload::{Ended, Upload};

/// An upload running on this page. Clones share its progress and its cancelling.
#[derive(Clone)]
struct Running {
    done: Rc<Cell<u64>>,
    total: u64,
    cancelled: Rc<Cell<bool>>,
    blob: BlobId,
    /// The chat its message is in.
    chat: ChatId,
    /// Its message, once stored in the outbox the tabs share (from then on another tab may
    /// take it back).
    message: Rc<Cell<Option<ClientMsgId>>>,
}

/// The worker's uploads and downloads. Cheap to clone.
#[derive(Clone)]
pub struct Files {
    running: Rc<RefCell<HashMap<ClientMsgId, Running>>>,
    on_change: Rc<dyn Fn()>,
    order: SendingOrder,
    /// The messages whose files are being downloaded.
    downloading: Rc<RefCell<HashSet<ClientMsgId>>>,
}

impl std::fmt::Debug for Files {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Files")
            .field("uploads", &self.running.borrow().len())
            .finish()
    }
}

impl Running {
    /// An upload of `total` ciphertext bytes to `blob`, for a message of `chat`, none of them
    /// held yet.
    fn new(blob: BlobId, chat: ChatId, total: u64, message: Option<ClientMsgId>) -> Running {
        Running {
            done: Rc::new(Cell::new(0)),
            total,
            cancelled: Rc::new(Cell::new(false)),
            blob,
            chat,
            message: Rc::new(Cell::new(message)),
        }
    }
}

impl Files {
    /// Uploads and downloads that call `on_change` when a view should show their progress.
    pub fn new(on_change: impl Fn() + 'static) -> Files {
        Files {
            running: Rc::new(RefCell::new(HashMap::new())),
            on_change: Rc::new(on_change),
            order: SendingOrder::default(),
            downloading: Rc::default(),
        }
    }

    /// How far the upload of a message's file is: bytes the server holds, of all of them.
    pub fn progress(&self, id: ClientMsgId) -> Option<(u64, u64)> {
        self.running
            .borrow()
            .get(&id)
            .map(|running| (running.done.get(), running.total))
    }

    /// Puts each upload's progress on its message's row.
    pub fn show_progress(&self, rows: &mut [MessageRow]) {
        for row in rows {
            if let Some(attachment) = row.attachment.as_mut()
                && let Some(id) = ClientMsgId::from_hex(&row.id)
            {
                attachment.upload = self.progress(id);
            }
        }
    }

    /// Sends `file` to `chat`: reads, seals and keeps it, queues its message, and uploads it —
    /// starting on the first sealed bytes, so the upload runs while the rest is sealed and
    /// kept. Its place among the files being sent is taken now, when it is handed over; the
    /// answer, awaited, prepares it once the files handed over before it are queued, then
    /// lets the next one start while its upload goes on. Answers words for the composer when
    /// it cannot.
    pub fn send(
        &self,
        client: &Client,
        chat: ChatId,
        file: web_sys::File,
    ) -> impl Future<Output = Result<(), String>> + 'static {
        let turn = self.order.take_turn();
        let (files, client) = (self.clone(), client.clone());
        async move {
            let _turn = turn.start().await;
            files.prepare(&client, chat, file).await
        }
    }

    /// [`Files::send`], in its turn: done once the message is queued (or cannot be).
    async fn prepare(
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
        let sealing = Sealing::default();
        let running = Running::new(blob, chat, ciphertext_len(size), None);
        // The upload's task learns its message's id once the message is queued; it ends
        // without one if the message never is (its upload then cancelled).
        let (message_tx, message) = oneshot::channel();
        let upload = self.upload(client, &running, Ciphertext::Sealing(sealing.clone()));
        let (files, task_client, task_running) = (self.clone(), client.clone(), running.clone());
        wasm_bindgen_futures::spawn_local(async move {
            // A new blob: no other tab knows it, so this is at once.
            let _turn = web_locks::hold(&upload_lock_name(blob)).await;
            let ended = upload.run().await;
            if let Ok(id) = message.await {
                files.settle(&task_client, id, &task_running, ended).await;
            }
        });
        // The message enters the outbox only once the ciphertext is kept, so a reload finds
        // both; until then nothing refers to the blob the upload is filling.
        let kept: Result<[u8; 32], String> = async {
            let (ciphertext, sha256) = seal_file(&file, &key, size, &sealing).await?;
            store
                .put_upload(blob, &ciphertext)
                .await
                .map_err(|_| t(Text::SomethingWentWrong))?;
            Ok(sha256)
        }
        .await;
        let sha256 = match kept {
            Ok(sha256) => sha256,
            Err(words) => {
                running.cancelled.set(true);
                sealing.stop();
                return Err(words);
            }
        };
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
        let sent = client.act(|engine| {
            engine.send_attachment(chat, FileCipher::Aes256Gcm, attachment, clock::now_ms())
        });
        match sent {
            Ok(id) => {
                self.running.borrow_mut().insert(id, running.clone());
                let client = client.clone();
                wasm_bindgen_futures::spawn_local(async move {
                    // Before the message is stored, the shared outbox has no entry to ask for.
                    client.flushed().await;
                    running.message.set(Some(id));
                    let _ = message_tx.send(id);
                });
                Ok(())
            }
            Err(error) => {
                running.cancelled.set(true);
                let _ = store.remove_upload(blob).await;
                Err(error.words())
            }
        }
    }

    /// Starts every upload the outbox waits for that is not running on this page (restored
    /// by a reload, or retried after a refusal), and stops those it no longer waits for (the
    /// message was deleted, or the person signed out and the engine is a new one).
    pub fn keep_running(&self, client: &Client) {
        let awaited = client.read(merpati_core::Engine::awaited_uploads);
        self.running.borrow_mut().retain(|id, running| {
            let wanted = awaited.iter().any(|upload| upload.client_msg_id == *id);
            if !wanted {
                running.cancelled.set(true);
            }
            wanted
        });
        if client.store().is_none() {
            return;
        }
        for awaited in awaited {
            let id = awaited.client_msg_id;
            if self.running.borrow().contains_key(&id) {
                continue;
            }
            let blob = awaited.attachment.blob;
            let total = ciphertext_len(awaited.attachment.size);
            let running = Running::new(blob, awaited.chat_id, total, Some(id));
            self.running.borrow_mut().insert(id, running.clone());
            let (files, client) = (self.clone(), client.clone());
            wasm_bindgen_futures::spawn_local(async move {
                // Shown where the server last said it stood until it says more (it may not be
                // reached for a while), also while another tab has the upload's turn.
                if let Some(store) = client.store()
                    && let Ok(Some(held)) = store.upload_held(blob).await
                    && running.done.get() < held
                {
                    running.done.set(held.min(running.total));
                    (files.on_change)();
                }
                // Every tab of this browser restores the same outbox: one uploads a file at a
                // time, and the next, once it has its turn, finds the message sent by the other
                // (or taken back), or goes on with the upload if the other tab closed half-way.
                let _turn = web_locks::hold(&upload_lock_name(blob)).await;
                let ended = files.resume(&client, &running, id).await;
                files.settle(&client, id, &running, ended).await;
            });
        }
    }

    /// Goes on with an upload this page did not start, from the ciphertext the browser keeps —
    /// unless the shared outbox says another tab sent its message meanwhile, or took it back:
    /// then nothing is uploaded, nor asked of the server. Without the ciphertext (this
    /// browser's data was cleared, or an app before this one let the copy go once the upload
    /// completed, while its message still waited for the socket) the server is asked whether
    /// it holds it all; if not, the file cannot be sent: the message says so and waits to be
    /// deleted.
    async fn resume(&self, client: &Client, running: &Running, id: ClientMsgId) -> Ended {
        let mut backoff = http::retry_backoff();
        loop {
            // Signed out: the store is gone, and the upload with it.
            let Some(store) = client.store() else {
                return Ended::Cancelled;
            };
            if running.cancelled.get() {
                return Ended::Cancelled;
            }
            match standing(client, running.chat, id).await {
                Standing::Waiting => {}
                Standing::Claimed | Standing::Delivered => return Ended::SentElsewhere,
                Standing::TakenBack => return Ended::Cancelled,
            }
            match store.upload(running.blob).await {
                Ok(Some(ciphertext)) => {
                    let upload = self.upload(client, running, Ciphertext::Kept(ciphertext));
                    return upload.run().await;
                }
                Ok(None) => {
                    if let Some(token) = client.read(merpati_core::Engine::session_token) {
                        let origin = client.origin();
                        match upload::held_whole(&origin, running.blob, running.total, &token).await
                        {
                            Ok(true) => return Ended::Complete,
                            Ok(false) => return Ended::Refused(ErrorCode::NoSuchBlob),
                            Err(AfterRefusal::TryAgain { not_before_ms }) => {
                                backoff.retry_after(not_before_ms);
                            }
                            Err(AfterRefusal::GiveUp(code)) => return Ended::Refused(code),
                        }
                    }
                }
                // A passing failure of the database (another tab upgrading it, say).
                Err(error) => leptos::logging::warn!("reading a kept upload failed: {error}"),
            }
            http::wait_out(&mut backoff).await;
        }
    }

    /// Stops sending a message's file and takes the message back (its kept copy goes with it
    /// from the outbox) — unless a tab of this browser claimed it for sending meanwhile, or it
    /// was delivered: the outbox the tabs share decides
    /// ([`take_back_unsent`](crate::services::idb_store::IdbStore::take_back_unsent)), and
    /// a refusal is answered in words.
    pub async fn cancel(&self, client: &Client, id: ClientMsgId) -> Result<(), String> {
        let chat = client.read(|engine| {
            engine
                .awaited_uploads()
                .into_iter()
                .find(|upload| upload.client_msg_id == id)
                .map(|upload| upload.chat_id)
        });
        let found = match (chat, client.store()) {
            (Some(chat), Some(store)) => store.take_back_unsent(chat, id).await,
            // Not waiting for its upload here, or signed out: the engine refuses.
            _ => Ok(TakingBack::TakenBack),
        };
        match found {
            Ok(TakingBack::TakenBack | TakingBack::Gone) => {
                self.take_back(client, id);
                Ok(())
            }
            Ok(TakingBack::AlreadySent) => {
                client.act(|engine| engine.sent_elsewhere(id));
                Err(t(Text::AlreadySent))
            }
            Err(error) => {
                leptos::logging::warn!("taking back a file's message failed: {error}");
                Err(t(Text::SomethingWentWrong))
            }
        }
    }

    /// Stops this page's upload of message `id`'s file and takes the message back in the
    /// engine (refused there if its upload is done: then the shared outbox no longer holds it,
    /// and the engine takes it back when it finds so as it sends).
    fn take_back(&self, client: &Client, id: ClientMsgId) {
        self.stop_upload(id);
        let _ = client.act(|engine| engine.cancel_upload(id));
        (self.on_change)();
    }

    /// Stops this page's upload of message `id`'s file, if it runs: the message was taken
    /// back.
    pub fn stop_upload(&self, id: ClientMsgId) {
        if let Some(running) = self.running.borrow_mut().remove(&id) {
            running.cancelled.set(true);
        }
    }

    /// Downloads and opens a message's file, telling the page how it goes; nothing if it is
    /// being downloaded already (clicked again): that download tells how it goes, and a
    /// second would hold another copy of the file and move the same progress bar back.
    pub async fn download(
        &self,
        client: &Client,
        chat: ChatId,
        id: ClientMsgId,
        post: impl Fn(Update, Option<JsValue>),
    ) {
        if !self.downloading.borrow_mut().insert(id) {
            return;
        }
        let tell = |state, file: Option<web_sys::Blob>| {
            post(Update::Download { id, state }, file.map(JsValue::from));
        };
        let (state, file) = match client.read(|engine| engine.attachment(chat, id)) {
            Some((cipher, attachment)) => {
                let token = || client.read(merpati_core::Engine::session_token);
                let progress = |done, total| tell(DownloadState::Progress { done, total }, None);
                let origin = client.origin();
                match download::fetch_file(&origin, token, cipher, &attachment, progress).await {
                    Ok(file) => (DownloadState::Ready, Some(file)),
                    Err(words) => (DownloadState::Failed(words), None),
                }
            }
            None => (DownloadState::Failed(t(Text::DownloadFailed)), None),
        };
        self.downloading.borrow_mut().remove(&id);
        tell(state, file);
    }

    /// The upload of `running`'s blob from `ciphertext`, not yet started.
    fn upload(&self, client: &Client, running: &Running, ciphertext: Ciphertext) -> Upload {
        let token_client = client.clone();
        let on_change = self.on_change.clone();
        let (held_client, blob, done) = (client.clone(), running.blob, running.done.clone());
        let (owed_client, message) = (client.clone(), running.message.clone());
        Upload {
            still_owed: Box::new(move || {
                let (client, message) = (owed_client.clone(), message.get());
                Box::pin(async move {
                    match message {
                        Some(id) => still_owed(&client, id).await,
                        None => true,
                    }
                })
            }),
            origin: client.origin(),
            blob: running.blob,
            total: running.total,
            ciphertext,
            token: Box::new(move || token_client.read(merpati_core::Engine::session_token)),
            done: running.done.clone(),
            cancelled: running.cancelled.clone(),
            on_progress: Box::new(move || {
                on_change();
                // Kept for a page reloaded before the server can say again.
                if let Some(store) = held_client.store() {
                    let held = done.get();
                    wasm_bindgen_futures::spawn_local(async move {
                        if let Err(error) = store.note_upload_held(blob, held).await {
                            leptos::logging::warn!("noting an upload's progress failed: {error}");
                        }
                    });
                }
            }),
            part: Cell::default(),
        }
    }

    /// [`Files::ended`], unless another tab sent the message meanwhile (claimed it, or heard it
    /// delivered): it goes on as sent; or took it back: it is taken back here too, neither sent
    /// nor shown failed. Called while the upload's lock is held, and holds it until this tab's
    /// own taking back is stored, so the tab whose turn comes next finds the message gone.
    async fn settle(&self, client: &Client, id: ClientMsgId, running: &Running, ended: Ended) {
        let ended = match standing(client, running.chat, id).await {
            Standing::Waiting => ended,
            Standing::Claimed | Standing::Delivered => Ended::SentElsewhere,
            Standing::TakenBack => {
                // Already taken back here if it was this tab that did (refused then: no matter).
                let _ = client.act(|engine| engine.cancel_upload(id));
                Ended::Cancelled
            }
        };
        self.ended(client, id, running, ended);
        client.flushed().await;
    }

    /// Tells the engine how the upload of message `id` ended. The kept copy stays until the
    /// message leaves the outbox (`StoreWrite::RemoveUpload`), acknowledged or not.
    fn ended(&self, client: &Client, id: ClientMsgId, running: &Running, ended: Ended) {
        // Only this upload's entry: a cancelled one may end after the same message's next
        // upload started (the person signed out and in again), and that one keeps running.
        let mut uploads = self.running.borrow_mut();
        if uploads
            .get(&id)
            .is_some_and(|entry| Rc::ptr_eq(&entry.cancelled, &running.cancelled))
        {
            uploads.remove(&id);
        }
        drop(uploads);
        match ended {
            Ended::Complete => client.act(|engine| engine.upload_finished(id)),
            Ended::Refused(code) => client.act(|engine| engine.upload_failed(id, code)),
            Ended::SentElsewhere => client.act(|engine| engine.sent_elsewhere(id)),
            Ended::Cancelled => {}
        }
        (self.on_change)();
    }
}

/// Whether message `id`'s upload is still owed: its entry is in the outbox the tabs share.
/// Not once a tab took it back, nor after a sign-out (the store is gone); a store that cannot
/// be read now says nothing, and the upload goes on until it can be.
async fn still_owed(client: &Client, id: ClientMsgId) -> bool {
    let Some(store) = client.store() else {
        return false;
    };
    store.outbox_holds(id).await.unwrap_or(true)
}

/// Where message `id` of `chat` stands in the outbox the tabs share. After a sign-out (the
/// store is gone) it reads as taken back; a store that cannot be read now says nothing, and
/// reads as waiting for its upload, which goes on until it can be.
async fn standing(client: &Client, chat: ChatId, id: ClientMsgId) -> Standing {
    let Some(store) = client.store() else {
        return Standing::TakenBack;
    };
    store.standing(chat, id).await.unwrap_or_else(|error| {
        leptos::logging::warn!("asking the outbox where a message stands failed: {error}");
        Standing::Waiting
    })
}

/// The name of the lock ([`web_locks`]) a tab holds while it uploads `blob`.
fn upload_lock_name(blob: BlobId) -> String {
    format!("merpati-upload/{}", blob.to_hex())
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
