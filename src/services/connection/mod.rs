//! The connection: owns the WebSocket, the engine and the local store, and drives the engine.
//!
//! [`Client`] is the engine worker's ([`crate::worker`]) handle on the outside world. It
//! opens a binary WebSocket to `ws(s)://{host}/ws` (the loop in `socket`), feeds every
//! decoded frame to the [`Engine`], and after every engine step *flushes*: tells the engine
//! which chat is on screen in a visible tab (it marks that chat read, now and as messages
//! arrive), then carries out the engine's [`Step`] in the order its documentation gives —
//! the events that concern the device (a new sign-in gets a new sealed store; an expired
//! session wipes it: `device`), the store writes to the [`IdbStore`] in one batch (a message
//! with a file first claimed in the outbox the tabs share, or held back if another tab took
//! it back: `claiming`), and only once they are stored the frames — and tells the worker
//! through [`Notice`]s, which the page hears as a new view (a step with nothing but
//! `views_changed`, such as a member's receipt, is one too). Flushes run one at a time, in
//! order. A batch the store refuses (storage full) is applied again until it is stored, the
//! step's frames held meanwhile and the page saying so (`saving`); the frames then go only on
//! the connection they were made for. A change to the browser's own settings, once stored, is
//! told to the browser's other tabs, which read them again (`other_tabs`).
//!
//! After a drop the next attempt waits as `Backoff` (the engine crate's one owner of
//! reconnect timing: exponential backoff with full jitter, the server's `Goodbye` hint as a
//! floor) says; this module only supplies the randomness and the timer. The wait ends early
//! when the browser says the network is back (`online`), when the tab becomes visible
//! ([`Client::set_visible`]: a worker cannot see the page, so the page tells it), or
//! when the person asks to retry now. (A browser cannot read the status or `Retry-After` of a
//! refused WebSocket handshake — it only sees the socket fail — so a refusal counts as one
//! more failure and the jittered backoff spreads the returns.)

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use futures::channel::mpsc;
use merpati_bridge::{AuthMode, SignOutReason};
use merpati_core::crypto::{AccountKey, KdfParams};
use merpati_core::{BrowserChoices, Engine, Event, RequestError, Step, Store, StoredState};
use merpati_protocol::{ChatId, ClientFrame, RequestId, ServerFrame, UserId, Username};
use merpati_words::{Text, t};
use wasm_bindgen::closure::Closure;

use super::exchange::exchange;
use super::idb_store::{self, IdbStore, StoreError};
use super::{device_key, sign_out_queue};
use device::{claim_slot, end_session, handle_event, install_store};
use socket::{connect, wake, watch_online};

mod claiming;
mod device;
mod other_tabs;
mod saving;
mod socket;

/// How many stored messages per chat are loaded when the app opens.
const RESTORE_PAGE: usize = 50;
/// How many stored messages one scroll to the top loads.
const OLDER_PAGE: usize = 50;

/// What the client tells the app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// The engine's state changed: views should read it again.
    Changed,
    /// An engine event the person should learn about (sign-in results, chats, failures).
    Event(Event),
    /// Local data is gone and the device is signed out.
    SignedOut(SignOutReason),
}

/// What a sign-in says when this device itself failed (no randomness, no memory for the
/// key derivation): the cause goes to the console, the person is told to reload.
fn failed_here(error: impl std::fmt::Display) -> String {
    leptos::logging::warn!("signing in failed on this device: {error}");
    t(Text::SomethingWentWrong)
}

/// The app's handle on the engine, the store and the socket. Cheap to clone; not `Send`.
#[derive(Clone)]
pub struct Client {
    inner: Rc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("db", &self.inner.db_name)
            .field("engine", &self.inner.engine)
            .finish_non_exhaustive()
    }
}

type VersionChangeHandler = Closure<dyn FnMut(web_sys::IdbVersionChangeEvent)>;

struct Inner {
    db_name: String,
    engine: RefCell<Engine>,
    store: RefCell<Option<Rc<IdbStore>>>,
    /// The key derived from the passphrase, held from sign-in until the server says welcome.
    pending_key: RefCell<Option<AccountKey>>,
    /// The sending half of the live socket, tagged with the socket's number: no other socket
    /// of this client has it, so a step's frames can go on the socket they were made for only.
    outgoing: RefCell<Option<(u64, mpsc::UnboundedSender<Vec<u8>>)>>,
    /// How many sockets were opened: the last one's number.
    sockets_opened: Cell<u64>,
    /// Bumped whenever the connection is restarted or dropped for good; a socket loop of an
    /// older generation stops at its next step.
    generation: Cell<u64>,
    flush_lock: futures::lock::Mutex<()>,
    /// Whether a flush is waiting to apply again a batch the store refused ([`saving`]).
    saving_stalled: Cell<bool>,
    /// Ends that wait early ([`saving::wake_retry`]).
    store_wake: RefCell<Option<mpsc::UnboundedSender<()>>>,
    /// This tab's device slot, once claimed ([`device_slot`]): where its end-to-end keys live.
    slot: Cell<Option<u32>>,
    /// The chat on the page's screen. This is the one record of it: the page asks for a chat
    /// (`Command::OpenChat`), the worker reads it back into each view, and the engine hears it
    /// as the chat on screen while the page is `visible` (and marks it read): from the setters
    /// at once, and from every [`flush`] again, because each sign-in replaces the engine.
    open_chat: Cell<Option<ChatId>>,
    loading_older: Cell<bool>,
    retry_hint_ms: Cell<Option<u32>>,
    /// While waiting to reconnect: when the next attempt starts (ms since the Unix epoch).
    next_attempt_at_ms: Cell<Option<f64>>,
    /// Ends the wait before the next attempt (online event, tab shown, "retry now").
    wake: RefCell<Option<mpsc::UnboundedSender<()>>>,
    notify: Box<dyn Fn(Notice)>,
    /// `versionchange` on the open database: another tab signs out (deletes it).
    version_change: RefCell<Option<VersionChangeHandler>>,
    /// Whether the page is visible (the page says so): a chat on screen is marked read only
    /// while someone can see it.
    visible: Cell<bool>,
    /// Where the server's WebSocket is.
    socket_url: String,
    /// `online` on the global scope: the network is back, so a waiting reconnect is tried at
    /// once.
    online: RefCell<Option<Closure<dyn FnMut()>>>,
    /// Whether the sender of waiting sign-outs runs ([`sign_out_queue`]).
    sending_sign_outs: Rc<Cell<bool>>,
    /// The other tabs of this browser, told of and telling changes to its own settings.
    other_tabs: RefCell<Option<other_tabs::OtherTabs>>,
}

impl Client {
    /// A client over the IndexedDB database `db_name`, connecting to `socket_url`
    /// (`ws(s)://host/ws`); `notify` hears every [`Notice`].
    pub fn new(db_name: &str, socket_url: &str, notify: impl Fn(Notice) + 'static) -> Client {
        let inner = Rc::new(Inner {
            db_name: db_name.to_owned(),
            engine: RefCell::new(Engine::new()),
            store: RefCell::new(None),
            pending_key: RefCell::new(None),
            outgoing: RefCell::new(None),
            sockets_opened: Cell::new(0),
            generation: Cell::new(0),
            flush_lock: futures::lock::Mutex::new(()),
            saving_stalled: Cell::new(false),
            store_wake: RefCell::new(None),
            slot: Cell::new(None),
            open_chat: Cell::new(None),
            loading_older: Cell::new(false),
            retry_hint_ms: Cell::new(None),
            next_attempt_at_ms: Cell::new(None),
            wake: RefCell::new(None),
            notify: Box::new(notify),
            version_change: RefCell::new(None),
            visible: Cell::new(true),
            socket_url: socket_url.to_owned(),
            online: RefCell::new(None),
            sending_sign_outs: Rc::new(Cell::new(false)),
            other_tabs: RefCell::new(None),
        });
        watch_online(&inner);
        *inner.other_tabs.borrow_mut() = other_tabs::OtherTabs::listen(&inner, db_name);
        // Sign-outs an earlier life of this page could not tell the server.
        sign_out_queue::spawn_sender(db_name, socket_url, inner.sending_sign_outs.clone());
        Client { inner }
    }

    /// The open store, once a session is open: where files being sent are kept.
    pub fn store(&self) -> Option<Rc<IdbStore>> {
        self.inner.store.borrow().clone()
    }

    /// The server's HTTP origin, where files' blobs are.
    pub fn origin(&self) -> String {
        crate::services::files::origin_of(&self.inner.socket_url)
    }

    /// Reads the engine (for views' queries).
    pub fn read<R>(&self, f: impl FnOnce(&Engine) -> R) -> R {
        f(&self.inner.engine.borrow())
    }

    /// Changes the engine (a person's action) and flushes what it produced.
    pub fn act<R>(&self, f: impl FnOnce(&mut Engine) -> R) -> R {
        let result = f(&mut self.inner.engine.borrow_mut());
        let inner = self.inner.clone();
        wasm_bindgen_futures::spawn_local(async move { flush(&inner).await });
        result
    }

    /// Waits until every step the engine held when called is carried out: its writes stored
    /// (or abandoned with its session) and its frames sent.
    pub async fn flushed(&self) {
        flush(&self.inner).await;
    }

    /// Opens this browser's stored session, if any: unwraps the store key with the device key,
    /// restores the engine from the store (so chats and history show at once) and connects to
    /// resume. `Ok(false)` when there is no session to resume.
    pub async fn resume(&self) -> Result<bool, StoreError> {
        let db = idb_store::open_database(&self.inner.db_name).await?;
        let cipher = match device_key::unlock_with_device(&db).await {
            Ok(Some(cipher)) => cipher,
            Ok(None) => {
                db.close();
                return Ok(false);
            }
            Err(error) => {
                db.close();
                return Err(error);
            }
        };
        let store =
            IdbStore::from_parts(db, cipher).with_device_slot(claim_slot(&self.inner).await);
        let stored = StoredState::read(&store, RESTORE_PAGE).await?;
        if stored.account.is_none() {
            store.close();
            return Ok(false);
        }
        self.inner.engine.borrow_mut().restore(stored);
        tell_chat_watched(&self.inner);
        // A stored session the engine refuses (it says `SessionExpired`) is not resumed: the
        // flush below signs this device out.
        let expired = self.read(|engine| engine.me().is_none());
        install_store(&self.inner, store);
        (self.inner.notify)(Notice::Changed);
        if expired {
            flush(&self.inner).await;
            return Ok(false);
        }
        connect(&self.inner);
        wasm_bindgen_futures::spawn_local(index_stored_search(self.inner.clone()));
        Ok(true)
    }

    /// Signs up or in with the passphrase and connects. The passphrase is salted per account
    /// ([`AccountKey::derive`]): a sign-up makes a new random salt, which the server keeps; a
    /// sign-in first asks the server for the account's (on a connection of its own). Then the
    /// keys are derived — Argon2id holds this thread (not the page's) for a moment. The
    /// outcome comes as [`Notice::Event`] with [`Event::SignedIn`] or [`Event::AuthFailed`];
    /// what stops it before that is returned in words.
    pub async fn authenticate(
        &self,
        mode: AuthMode,
        username: Username,
        passphrase: &str,
    ) -> Result<(), String> {
        let kdf_salt = match mode {
            AuthMode::Register => Some(AccountKey::new_kdf_salt().map_err(failed_here)?),
            AuthMode::Login => {
                let look_up = ClientFrame::LookUpSalt {
                    username: username.clone(),
                };
                match exchange(&self.inner.socket_url, &look_up).await {
                    Some(ServerFrame::Salt { kdf_salt, .. }) => kdf_salt,
                    _ => return Err(t(Text::Unreachable)),
                }
            }
        };
        let key = AccountKey::derive(
            &username,
            passphrase,
            kdf_salt.as_ref(),
            KdfParams::INTERACTIVE,
        )
        .map_err(failed_here)?;
        {
            let mut engine = self.inner.engine.borrow_mut();
            *engine = Engine::new();
            match mode {
                AuthMode::Register => engine.sign_up(username, &key, kdf_salt),
                AuthMode::Login => engine.sign_in(username, &key),
            }
        }
        tell_chat_watched(&self.inner);
        *self.inner.pending_key.borrow_mut() = Some(key);
        connect(&self.inner);
        (self.inner.notify)(Notice::Changed);
        Ok(())
    }

    /// While waiting to reconnect: when the next attempt starts (ms since the Unix epoch).
    pub fn next_attempt_at_ms(&self) -> Option<f64> {
        self.inner.next_attempt_at_ms.get()
    }

    /// Whether the store refuses what this device must keep (its storage is full, say): the
    /// engine's changes since then are held — not sent, not lost — until it takes them.
    pub fn saving_stalled(&self) -> bool {
        self.inner.saving_stalled.get()
    }

    /// Ends a wait to reconnect: the next attempt starts now.
    pub fn retry_now(&self) {
        wake(&self.inner);
    }

    /// Sends a message the server refused again, under the same id.
    pub fn retry_message(&self, id: merpati_protocol::ClientMsgId) {
        self.act(|engine| engine.retry(id));
    }

    /// The person compared the chat's safety number again after a key change.
    pub fn acknowledge_key_change(&self, chat: ChatId) {
        self.act(|engine| engine.acknowledge_key_change(chat));
    }

    /// Takes someone out of a group; with one's own id, leaves it. The answer is a
    /// [`Event::ChatReady`] (the updated chat) or a [`Event::RequestFailed`].
    pub fn remove_member(&self, chat: ChatId, user: UserId) -> Result<RequestId, RequestError> {
        self.act(|engine| engine.remove_member(chat, user))
    }

    /// Whether the page is visible. When it becomes visible the chat on screen is marked read
    /// and a waiting reconnect is tried at once.
    pub fn set_visible(&self, visible: bool) {
        if self.inner.visible.replace(visible) == visible {
            return;
        }
        // At once, not at the next flush: a message arriving before then into a hidden tab
        // must not be marked read.
        tell_chat_on_screen(&self.inner);
        if !visible {
            return;
        }
        wake(&self.inner);
        let inner = self.inner.clone();
        wasm_bindgen_futures::spawn_local(async move { flush(&inner).await });
    }

    /// Which chat is on screen: it is marked read now and whenever messages arrive while the
    /// tab is visible.
    pub fn set_open_chat(&self, chat: Option<ChatId>) {
        self.inner.open_chat.set(chat);
        self.inner.engine.borrow_mut().chat_opened(chat);
        tell_chat_on_screen(&self.inner);
        tell_chat_watched(&self.inner);
        let inner = self.inner.clone();
        wasm_bindgen_futures::spawn_local(async move { flush(&inner).await });
    }

    /// The chat on screen ([`Client::set_open_chat`]); none once the session has ended.
    pub fn open_chat(&self) -> Option<ChatId> {
        self.inner.open_chat.get()
    }

    /// Loads older messages of a chat: from the store first, from the server when the store
    /// has none.
    pub async fn load_older(&self, chat: ChatId) {
        if self.inner.loading_older.replace(true) {
            return;
        }
        if let Some(wanted) = self.read(|engine| engine.older_wanted(chat)) {
            let store = self.inner.store.borrow().clone();
            let page = match store {
                Some(store) => store
                    .messages_before(chat, wanted.before, OLDER_PAGE)
                    .await
                    .unwrap_or_else(|error| {
                        leptos::logging::warn!("reading older messages failed: {error}");
                        Vec::new()
                    }),
                None => Vec::new(),
            };
            self.inner
                .engine
                .borrow_mut()
                .insert_stored_older(chat, wanted, page);
            // Stored pages change the timeline without producing anything to flush.
            (self.inner.notify)(Notice::Changed);
            flush(&self.inner).await;
        }
        self.inner.loading_older.set(false);
    }

    /// Signs out: closes the socket and deletes the local database, so nothing readable
    /// remains, and has the server end the session — now, or once it can be reached
    /// ([`sign_out_queue`]: the proof is kept outside the database, which goes, before it goes,
    /// so that closing the tab in between loses nothing).
    pub async fn sign_out(&self) {
        // Another tab may have resumed since this one connected, and been given a rotated
        // token: the proof is made from the newest, which the server still knows.
        let store = self.inner.store.borrow().clone();
        if let Some(store) = store
            && let Ok(Some(account)) = store.account().await
        {
            self.inner
                .engine
                .borrow_mut()
                .adopt_stored_session_token(&account);
        }
        let proof = self.inner.engine.borrow_mut().sign_out();
        let mut unkept = None;
        if let Some(proof) = proof
            && let Err(error) = sign_out_queue::remember(&self.inner.db_name, proof).await
        {
            leptos::logging::warn!("keeping the sign-out to send failed: {error}");
            unkept = Some(proof);
        }
        end_session(&self.inner, SignOutReason::Requested, true).await;
        // A full disk refused it: with the database deleted it may fit now, or else it is sent
        // from memory.
        if let Some(proof) = unkept {
            sign_out_queue::remember_or_hold(&self.inner.db_name, proof).await;
        }
        sign_out_queue::spawn_sender(
            &self.inner.db_name,
            &self.inner.socket_url,
            self.inner.sending_sign_outs.clone(),
        );
    }
}

/// Tells the engine which chat is on screen in a visible tab: the open chat while the page is
/// visible, none while it is hidden. The engine marks that chat read now and as messages
/// arrive in it.
fn tell_chat_on_screen(inner: &Inner) {
    let on_screen = inner.open_chat.get().filter(|_| inner.visible.get());
    inner.engine.borrow_mut().set_chat_on_screen(on_screen);
}

/// Tells the engine whose presence the header shows: the open 1:1 chat's other person. The
/// engine asks the server when the person changes and again after each reconnect, so this
/// runs only when the open chat or the engine changes — not from every flush, whose last one
/// at sign-out must not ask anything more (it kept the signed-out database from being
/// deleted while another tab was open).
fn tell_chat_watched(inner: &Inner) {
    inner
        .engine
        .borrow_mut()
        .watch_presence(inner.open_chat.get());
}

/// Carries out the engine's steps; see the module documentation. Flushes queue behind each
/// other, so after `flush().await` everything the engine held before the call is done.
async fn flush(inner: &Rc<Inner>) {
    let _turn = inner.flush_lock.lock().await;
    loop {
        tell_chat_on_screen(inner);
        let step = inner.engine.borrow_mut().take_step();
        if step.is_empty() {
            break;
        }
        // `views_changed` needs nothing beyond the `Notice::Changed` every step ends with.
        let Step {
            events,
            writes,
            frames,
            views_changed: _,
            queued,
        } = step;
        // The frames were made for the socket open now; storing can take long.
        let made_for = open_socket(inner);
        let mut notices = Vec::with_capacity(events.len());
        for event in events {
            if let Some(notice) = handle_event(inner, event).await {
                notices.push(notice);
            }
        }
        // Without a store (none opened yet, or none available) nothing is kept, so no frame
        // can rely on a write.
        let store = inner.store.borrow().clone();
        let choices_changed = store.is_some() && writes.iter().any(BrowserChoices::changed_by);
        let (writes, frames) = match &store {
            Some(store) => claiming::claim_sends(inner, store, writes, frames, &queued).await,
            None => (writes, frames),
        };
        let stored = match store {
            Some(store) if !writes.is_empty() => {
                saving::store_until_saved(inner, &store, writes, &mut notices).await
            }
            _ => true,
        };
        if stored
            && choices_changed
            && let Some(other_tabs) = inner.other_tabs.borrow().as_ref()
        {
            other_tabs.tell_changed();
        }
        // On another socket (or none) they could be out of turn — a new socket starts with
        // its own sign-in — so they stay behind, as on any lost connection: the engine sends
        // again whatever is still needed once it is connected. Nothing leaves from a step
        // abandoned with its session.
        if stored
            && open_socket(inner) == made_for
            && let Some((_, sender)) = inner.outgoing.borrow().as_ref()
        {
            for frame in frames {
                let _ = sender.unbounded_send(merpati_protocol::encode(&frame));
            }
        }
        (inner.notify)(Notice::Changed);
        for notice in notices {
            (inner.notify)(notice);
        }
    }
}

/// The number of the open socket, if one is open.
fn open_socket(inner: &Inner) -> Option<u64> {
    inner.outgoing.borrow().as_ref().map(|(socket, _)| *socket)
}

/// Splits the search entries read back from the store into words a batch at a time, yielding
/// between batches so that frames and the page's commands are not held up (see
/// [`merpati_core::search`]); a search before it is done finishes the rest itself.
async fn index_stored_search(inner: Rc<Inner>) {
    const BATCH: usize = 2_000;
    while inner.engine.borrow_mut().index_stored(BATCH) {
        gloo_timers::future::TimeoutFuture::new(0).await;
    }
}
