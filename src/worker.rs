//! The engine worker: the engine, its store and its socket, in a dedicated Web Worker.
//!
//! The `merpati-worker` binary calls [`run`] in the worker's global scope. From then on the
//! worker does what the page asks ([`Command`]) through a [`Client`], and after every change
//! tells the page what to show ([`Update::View`], the open chat's rows as what changed),
//! read from the engine here
//! ([`crate::engine_view`]) so that the page needs none of the engine's code. Argon2id runs
//! here too, so the page stays responsive while a passphrase is stretched.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use merpati_bridge::{self as bridge, Command, SignOutReason, Update, View};
use merpati_core::{DeviceSettings, Engine, Event, MessageStatus, PrivacySettings};
use merpati_protocol::{ChatId, ClientMsgId, ErrorCode, Seq, Username};
use merpati_words::{Catalogue, Language, SkinTone, refusals};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};

use crate::services::clock;
use crate::services::connection::{Client, Notice};
use crate::services::files::Files;
use crate::services::idb_store::StoreError;
use crate::services::taking_back::delete_for_everyone;

mod search;
mod view;

/// Starts the engine worker in this dedicated worker's global scope: listens to the page and
/// tells it [`Update::Ready`].
pub fn run() {
    let scope = js_sys::global().unchecked_into::<web_sys::DedicatedWorkerGlobalScope>();
    let poster = scope.clone();
    let worker = EngineWorker::new(move |update, object| {
        let message = match object {
            Some(object) => bridge::to_js_with(&update, &object).into(),
            None => wasm_bindgen::JsValue::from(bridge::to_js(&update)),
        };
        if let Err(error) = poster.post_message(&message) {
            leptos::logging::warn!("could not tell the page: {error:?}");
        }
    });
    let listener = worker.clone();
    let on_message =
        Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |event: web_sys::MessageEvent| {
            match bridge::from_event_with::<Command>(&event) {
                Ok((command, object)) => listener.handle_with(command, object),
                Err(error) => leptos::logging::warn!("ignoring a message from the page: {error}"),
            }
        });
    scope.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    // The listener lives as long as the worker.
    on_message.forget();
    worker.post(Update::Ready);
}

/// The worker's state: the client once started, and what the page was last shown. (Which
/// chat is on screen is the client's to keep: [`Client::open_chat`].)
#[derive(Clone)]
pub struct EngineWorker {
    inner: Rc<Inner>,
}

impl std::fmt::Debug for EngineWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineWorker")
            .field("client", &self.inner.client.borrow())
            .finish_non_exhaustive()
    }
}

struct Inner {
    client: RefCell<Option<Client>>,
    post: Box<dyn Fn(Update, Option<JsValue>)>,
    /// Files being sent and opened.
    files: RefCell<Option<Files>>,
    /// A view is about to be sent: changes until then are in it.
    view_queued: Cell<bool>,
    /// The view sent last; an identical one is not sent again.
    last_view: RefCell<Option<View>>,
    /// The message whose receipt details are open, and its chat: they show only while that
    /// chat stays on screen.
    receipts_for: Cell<Option<(ChatId, ClientMsgId)>>,
    /// When the earliest pending timer tells the engine the time (ms since the Unix epoch):
    /// a "typing…" expires, or a refused key share is tried again.
    clock_timer_at: Cell<Option<u64>>,
    /// A message to bring into sight in the next view (a search result, once loaded).
    reveal: Cell<Option<(ChatId, ClientMsgId)>>,
    /// The query in the search box as last asked, and the index's generation its results
    /// were found at (`search`).
    search: RefCell<Option<(String, u64)>>,
    /// Results checked against the store (`search`).
    search_checked: RefCell<search::Checked>,
}

/// A timer may fire a little before the millisecond the engine computed; waiting this much
/// longer makes sure the signal it waits for has expired by then.
const TIMER_SLACK_MS: u64 = 20;

impl EngineWorker {
    /// A worker that tells the page through `post` (with a browser object beside some
    /// updates: a downloaded file).
    pub fn new(post: impl Fn(Update, Option<JsValue>) + 'static) -> EngineWorker {
        EngineWorker {
            inner: Rc::new(Inner {
                client: RefCell::new(None),
                post: Box::new(post),
                files: RefCell::new(None),
                view_queued: Cell::new(false),
                last_view: RefCell::new(None),
                receipts_for: Cell::new(None),
                clock_timer_at: Cell::new(None),
                reveal: Cell::new(None),
                search: RefCell::new(None),
                search_checked: RefCell::default(),
            }),
        }
    }

    fn post(&self, update: Update) {
        (self.inner.post)(update, None);
    }

    fn files(&self) -> Option<Files> {
        self.inner.files.borrow().clone()
    }

    fn client(&self) -> Option<Client> {
        self.inner.client.borrow().clone()
    }

    /// Does what the page asks.
    pub fn handle(&self, command: Command) {
        self.handle_with(command, None);
    }

    /// Does what the page asks, with the browser object that came beside the command (the
    /// `File` of [`Command::SendFile`]).
    pub fn handle_with(&self, command: Command, object: Option<JsValue>) {
        let Some(client) = self.client() else {
            match command {
                Command::Start {
                    db_name,
                    socket_url,
                    language,
                    catalogue,
                } => {
                    speak(&language, &catalogue);
                    self.start(&db_name, &socket_url);
                }
                _ => leptos::logging::warn!("the page asked for something before starting"),
            }
            return;
        };
        match command {
            // Started already: a second start changes nothing.
            Command::Start { .. } => {}
            Command::Authenticate {
                mode,
                username,
                passphrase,
            } => self.authenticate(&client, mode, &username, &passphrase),
            Command::SendText { chat, text } => {
                let sent = client.act(|engine| engine.send_text(chat, &text, clock::now_ms()));
                if let Err(error) = sent {
                    self.post(Update::RequestError(error.words()));
                }
            }
            Command::SendReply { chat, target, text } => self.action_done(
                client.act(|engine| engine.send_reply(chat, target, &text, clock::now_ms())),
            ),
            Command::Edit { chat, target, text } => self.action_done(
                client.act(|engine| engine.edit_message(chat, target, &text, clock::now_ms())),
            ),
            Command::DeleteForEveryone { chat, target } => {
                let files = self.files();
                self.answer_later(async move {
                    delete_for_everyone(&client, files.as_ref(), chat, target).await
                });
            }
            Command::DeleteForMe { chat, target } => {
                self.action_done(client.act(|engine| engine.delete_for_me(chat, target)));
            }
            Command::React {
                chat,
                target,
                emoji,
            } => self.action_done(
                client.act(|engine| engine.react(chat, target, &emoji, clock::now_ms())),
            ),
            Command::Forward { from, target, to } => self.action_done(
                client.act(|engine| engine.forward(from, target, to, clock::now_ms())),
            ),
            Command::SetDraft { chat, text } => client.act(|engine| engine.set_draft(chat, &text)),
            Command::Typing(chat) => client.act(|engine| engine.typing(chat, clock::now_ms())),
            Command::RetryNow => client.retry_now(),
            Command::RetryMessage(id) => client.retry_message(id),
            Command::SendFile(chat) => self.send_file(client, chat, object),
            Command::CancelUpload(id) => {
                if let Some(files) = self.files() {
                    self.answer_later(async move { files.cancel(&client, id).await });
                }
            }
            Command::Download { chat, id } => {
                let (worker, files) = (self.clone(), self.files());
                wasm_bindgen_futures::spawn_local(async move {
                    if let Some(files) = files {
                        let post = |update, object| (worker.inner.post)(update, object);
                        files.download(&client, chat, id, post).await;
                    }
                });
            }
            Command::CreateDirect(username) => {
                let made = client.act(|engine| engine.create_direct(&username));
                self.request_made(made.map(|_| ()));
            }
            Command::CreateGroup { name, members } => {
                let made = client.act(|engine| engine.create_group(&name, &members));
                self.request_made(made.map(|_| ()));
            }
            Command::AcknowledgeKeyChange(chat) => client.acknowledge_key_change(chat),
            Command::AddMember { chat, username } => {
                let made = client.act(|engine| engine.add_member(chat, &username));
                self.request_made(made.map(|_| ()));
            }
            Command::RemoveMember { chat, user } => {
                self.request_made(client.remove_member(chat, user).map(|_| ()));
            }
            Command::LeaveChat(chat) => {
                if let Some(me) = client.read(|engine| engine.me().map(|me| me.id)) {
                    self.request_made(client.remove_member(chat, me).map(|_| ()));
                }
            }
            Command::OpenChat(chat) => {
                client.set_open_chat(chat);
                // Opened with unread messages, a chat opens where they begin.
                let divider =
                    chat.and_then(|chat| client.read(|engine| engine.unread_divider(chat)));
                if let Some(divider) = divider {
                    self.inner
                        .reveal
                        .set(Some((divider.chat_id, divider.first_id)));
                }
                self.queue_view();
            }
            Command::LoadOlder(chat) => {
                wasm_bindgen_futures::spawn_local(async move { client.load_older(chat).await });
            }
            Command::SignOut => {
                wasm_bindgen_futures::spawn_local(async move { client.sign_out().await });
            }
            Command::Visible(visible) => client.set_visible(visible),
            Command::Search(query) => self.search(&client, query),
            Command::ShowMessage { chat, seq, id } => {
                client.set_open_chat(Some(chat));
                self.queue_view();
                let worker = self.clone();
                let seq = seq.or_else(|| client.read(|engine| engine.position_of(chat, id)));
                wasm_bindgen_futures::spawn_local(async move {
                    if let Some(seq) = seq {
                        load_back_to(&client, chat, seq).await;
                    }
                    worker.inner.reveal.set(Some((chat, id)));
                    worker.queue_view();
                });
            }
            Command::ShowReceipts(id) => {
                let chat = client.open_chat();
                self.inner.receipts_for.set(chat.zip(id));
                self.queue_view();
            }
            Command::SetPrivacy(privacy) => client.act(|engine| {
                engine.set_privacy(PrivacySettings {
                    share_read_receipts: privacy.share_read_receipts,
                    share_presence: privacy.share_presence,
                });
            }),
            Command::SetNotifications(notifications) => client.act(|engine| {
                engine.set_device_settings(DeviceSettings {
                    notify: notifications.enabled,
                    notify_hide_text: notifications.hide_text,
                    notify_offer_declined: notifications.offer_declined,
                });
            }),
            Command::EmojiUsed(emoji) => client.act(|engine| engine.emoji_used(&emoji)),
            Command::SetMuted { chat, muted } => {
                client.act(|engine| engine.set_muted(chat, muted));
            }
            Command::SetSkinTone(tone) => {
                client.act(|engine| engine.set_skin_tone(SkinTone::from_index(tone)));
            }
            Command::SetAdmin { chat, user, admin } => {
                let made = client.act(|engine| engine.set_admin(chat, user, admin));
                self.request_made(made.map(|_| ()));
            }
            Command::RenameGroup { chat, title } => {
                let made = client.act(|engine| engine.rename_group(chat, &title));
                self.request_made(made.map(|_| ()));
            }
            Command::SetBlocked { user, blocked } => {
                let made = client.act(|engine| engine.set_blocked(user, blocked));
                self.request_made(made.map(|_| ()));
            }
            Command::ListDevices => {
                let made = client.act(Engine::list_devices);
                self.request_made(made.map(|_| ()));
            }
            Command::EndDevice(session) => {
                let made = client.act(|engine| engine.end_device(session));
                self.request_made(made.map(|_| ()));
            }
        }
    }

    /// Tells the engine the time when it next needs it (a "typing…" expires, a refused key
    /// share is tried again) and re-reads the views: nothing else would wake it then.
    fn schedule_clock_change(&self, client: &Client) {
        let Some(at) = client.read(Engine::next_clock_change_ms) else {
            return;
        };
        if self
            .inner
            .clock_timer_at
            .get()
            .is_some_and(|scheduled| scheduled <= at)
        {
            return;
        }
        self.inner.clock_timer_at.set(Some(at));
        let delay = at
            .saturating_sub(clock::now_ms())
            .saturating_add(TIMER_SLACK_MS);
        let worker = self.clone();
        wasm_bindgen_futures::spawn_local(async move {
            gloo_timers::future::TimeoutFuture::new(u32::try_from(delay).unwrap_or(u32::MAX)).await;
            if worker.inner.clock_timer_at.get() == Some(at) {
                worker.inner.clock_timer_at.set(None);
            }
            if let Some(client) = worker.client() {
                client.act(|engine| engine.advance_clock(clock::now_ms()));
            }
            worker.queue_view();
        });
    }

    fn send_file(&self, client: Client, chat: ChatId, object: Option<JsValue>) {
        let (Some(files), Some(file)) = (
            self.files(),
            object.and_then(|object| object.dyn_into::<web_sys::File>().ok()),
        ) else {
            return;
        };
        // Called here, as each command comes, so the files go in the order the page handed
        // them over (the order picked), whatever order their tasks run in.
        let sending = files.send(&client, chat, file);
        let worker = self.clone();
        wasm_bindgen_futures::spawn_local(async move {
            if let Err(words) = sending.await {
                worker.post(Update::ActionError(words));
            }
        });
    }

    fn start(&self, db_name: &str, socket_url: &str) {
        let weak = Rc::downgrade(&self.inner);
        let for_files = Rc::downgrade(&self.inner);
        *self.inner.files.borrow_mut() = Some(Files::new(move || {
            if let Some(inner) = Weak::upgrade(&for_files) {
                EngineWorker { inner }.queue_view();
            }
        }));
        let client = Client::new(db_name, socket_url, move |notice| {
            if let Some(inner) = Weak::upgrade(&weak) {
                EngineWorker { inner }.on_notice(notice);
            }
        });
        *self.inner.client.borrow_mut() = Some(client.clone());
        let worker = self.clone();
        wasm_bindgen_futures::spawn_local(async move {
            match client.resume().await {
                Ok(resumed) => worker.post(Update::Resumed(resumed)),
                // This page's app is older than the database: nothing here may use it.
                Err(StoreError::NewerApp) => {
                    worker.post(Update::Resumed(false));
                    worker.post(Update::SignedOut(SignOutReason::UpdatedElsewhere));
                }
                Err(error) => {
                    leptos::logging::warn!("could not open the stored session: {error}");
                    worker.post(Update::Resumed(false));
                }
            }
        });
    }

    fn authenticate(
        &self,
        client: &Client,
        mode: bridge::AuthMode,
        username: &str,
        passphrase: &str,
    ) {
        let username = match Username::parse(username) {
            Ok(username) => username,
            Err(error) => return self.post(Update::AuthError(refusals::username(&error))),
        };
        let (worker, client, passphrase) = (self.clone(), client.clone(), passphrase.to_owned());
        wasm_bindgen_futures::spawn_local(async move {
            match client.authenticate(mode, username, &passphrase).await {
                Ok(()) => worker.post(Update::Contacting),
                Err(words) => worker.post(Update::AuthError(words)),
            }
        });
    }

    /// Runs an action that waits on something (the outbox the tabs share), and tells the page
    /// why it was refused, if it was.
    fn answer_later(&self, action: impl Future<Output = Result<(), String>> + 'static) {
        let worker = self.clone();
        wasm_bindgen_futures::spawn_local(async move {
            if let Err(words) = action.await {
                worker.post(Update::ActionError(words));
            }
        });
    }

    /// Tells the page why an action on a message was refused, if it was (the engine's words).
    fn action_done<T>(&self, done: Result<T, merpati_core::SendError>) {
        if let Err(error) = done {
            self.post(Update::ActionError(error.words()));
        }
    }

    fn request_made(&self, made: Result<(), merpati_core::RequestError>) {
        if let Err(error) = made {
            self.post(Update::RequestError(error.words()));
        }
    }

    fn on_notice(&self, notice: Notice) {
        match notice {
            Notice::Changed => self.queue_view(),
            Notice::Event(event) => {
                let update = match event {
                    Event::SignedIn(_) => Update::SignedIn,
                    Event::AuthFailed(code) => Update::AuthFailed(code),
                    // The person asked for this chat: it goes on screen.
                    Event::ChatReady { chat_id, .. } => {
                        if let Some(client) = self.client() {
                            client.set_open_chat(Some(chat_id));
                            self.queue_view();
                        }
                        Update::ChatReady(chat_id)
                    }
                    Event::RequestFailed { request, code }
                        if request.is_some() || code == ErrorCode::RateLimited =>
                    {
                        Update::RequestFailed(code)
                    }
                    // A refused text stays on screen, shown failed with its retry; a refused
                    // edit, deletion or reaction just disappears, so the person is told why.
                    Event::SendFailed {
                        chat_id,
                        client_msg_id,
                        code,
                    } => {
                        let shown_failed = self.client().is_some_and(|client| {
                            client.read(|engine| {
                                engine.timeline(chat_id).iter().any(|item| {
                                    item.client_msg_id == client_msg_id
                                        && item.status == MessageStatus::Failed
                                })
                            })
                        });
                        if shown_failed {
                            return;
                        }
                        Update::RequestFailed(code)
                    }
                    // The view shows key changes and what a finished request changed; the client
                    // handles the rest.
                    _ => return,
                };
                self.post(update);
            }
            Notice::SignedOut(reason) => {
                self.inner.search.borrow_mut().take();
                self.post(Update::SignedOut(reason));
            }
        }
    }
}

/// Loads older pages of `chat` from the store until the message at `seq` is in memory, or
/// nothing older comes (the rest is asked of the server, and shows when it arrives).
async fn load_back_to(client: &Client, chat: ChatId, seq: Seq) {
    loop {
        let wanted = client.read(|engine| engine.older_wanted(chat));
        match wanted {
            Some(wanted) if wanted.before > seq => client.load_older(chat).await,
            _ => return,
        }
        if client.read(|engine| engine.older_wanted(chat)) == wanted {
            return;
        }
    }
}

/// Speaks the page's language: its catalogue, parsed, becomes this thread's words. A
/// catalogue that does not parse (a build that shipped a broken file) leaves English, which
/// is better than no words; the catalogues' test keeps that from shipping.
fn speak(code: &str, catalogue: &str) {
    let language = Language::from_code(code).unwrap_or_default();
    if language == Language::English {
        return;
    }
    match Catalogue::parse(language, catalogue) {
        Ok(catalogue) => merpati_words::install(catalogue),
        Err(error) => leptos::logging::warn!("the {code} catalogue does not parse: {error}"),
    }
}
