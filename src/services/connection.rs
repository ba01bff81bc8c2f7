//! The connection: owns the WebSocket, the engine and the local store, and drives the engine.
//!
//! [`Client`] is the engine worker's ([`crate::worker`]) handle on the outside world. It opens a binary WebSocket to
//! `ws(s)://{host}/ws`, feeds every decoded frame to the [`Engine`], and after every engine
//! step *flushes*: marks the visible chat read, applies the engine's store writes to the
//! [`IdbStore`] in one batch, sends the engine's frames, handles the events that concern the
//! device (a new sign-in gets a new sealed store; an expired session wipes it) and tells the
//! worker through [`Notice`]s, which the page hears as a new view. Flushes run one at a time, in order.
//!
//! After a drop the next attempt waits as [`Backoff`] (the engine crate's one owner of
//! reconnect timing: exponential backoff with full jitter, the server's `Goodbye` hint as a
//! floor) says; this module only supplies the randomness and the timer. The wait ends early
//! when the browser says the network is back (`online`), when the tab becomes visible
//! ([`Client::set_visible`]: a worker cannot see the page, so the page tells it), or
//! when the person asks to retry now. (A browser cannot read the status or `Retry-After` of a
//! refused WebSocket handshake — it only sees the socket fail — so a refusal counts as one
//! more failure and the jittered backoff spreads the returns.)

use std::cell::{Cell, RefCell};
use std::pin::Pin;
use std::rc::Rc;

use futures::channel::mpsc;
use futures::{FutureExt, SinkExt, StreamExt};
use gloo_net::websocket::futures::WebSocket;
use gloo_net::websocket::{Message, State};
use merpati_core::crypto::{AccountKey, StoreCipher};
use merpati_core::reconnect::Backoff;
use merpati_core::{ConnectionPhase, Engine, Event, RequestError, Store};
use merpati_protocol::{ChatId, ErrorCode, Member, RequestId, Seq, ServerFrame, UserId, Username};
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;

use super::idb_store::{self, IdbStore, StoreError};
use super::{device_key, device_slot};
use merpati_bridge::{AuthMode, SignOutReason};

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
    /// The sending half of the live socket, tagged with its connection generation.
    outgoing: RefCell<Option<(u64, mpsc::UnboundedSender<Vec<u8>>)>>,
    /// Bumped whenever the connection is restarted or dropped for good; a socket loop of an
    /// older generation stops at its next step.
    generation: Cell<u64>,
    flush_lock: futures::lock::Mutex<()>,
    /// This tab's device slot, once claimed ([`device_slot`]): where its end-to-end keys live.
    slot: Cell<Option<u32>>,
    /// The chat on the page's screen. This is the one record of it: the page asks for a chat
    /// (`Command::OpenChat`), the worker reads it back into each view, and [`flush`] marks it
    /// read while the page is `visible`.
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
            generation: Cell::new(0),
            flush_lock: futures::lock::Mutex::new(()),
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
        });
        watch_online(&inner);
        Client { inner }
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
        let Some(account) = store.account().await? else {
            store.close();
            return Ok(false);
        };
        let chats = store.chats().await?;
        let mut messages = Vec::new();
        for chat in &chats {
            messages.extend(
                store
                    .messages_before(chat.info.id, Seq(u64::MAX), RESTORE_PAGE)
                    .await?,
            );
        }
        let outbox = store.outbox().await?;
        let crypto = store.crypto().await?;
        self.inner
            .engine
            .borrow_mut()
            .restore(Some(account), chats, messages, outbox, crypto);
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
        Ok(true)
    }

    /// Signs up or in with a key derived from the passphrase and connects. The outcome comes
    /// as [`Notice::Event`] with [`Event::SignedIn`] or [`Event::AuthFailed`].
    pub fn authenticate(&self, mode: AuthMode, username: Username, key: AccountKey) {
        {
            let mut engine = self.inner.engine.borrow_mut();
            *engine = Engine::new();
            match mode {
                AuthMode::Register => engine.sign_up(username, &key),
                AuthMode::Login => engine.sign_in(username, &key),
            }
        }
        *self.inner.pending_key.borrow_mut() = Some(key);
        connect(&self.inner);
        (self.inner.notify)(Notice::Changed);
    }

    /// While waiting to reconnect: when the next attempt starts (ms since the Unix epoch).
    pub fn next_attempt_at_ms(&self) -> Option<f64> {
        self.inner.next_attempt_at_ms.get()
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
        if self.inner.visible.replace(visible) == visible || !visible {
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
        if let Some(before) = self.read(|engine| engine.older_wanted_before(chat)) {
            let store = self.inner.store.borrow().clone();
            let page = match store {
                Some(store) => store
                    .messages_before(chat, before, OLDER_PAGE)
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
                .insert_stored_older(chat, page);
            // Stored pages change the timeline without producing anything to flush.
            (self.inner.notify)(Notice::Changed);
            flush(&self.inner).await;
        }
        self.inner.loading_older.set(false);
    }

    /// Signs out: tells the server to forget this device's session, closes the socket and
    /// deletes the local database, so nothing readable remains.
    pub async fn sign_out(&self) {
        self.inner.engine.borrow_mut().sign_out();
        flush(&self.inner).await;
        end_session(&self.inner, SignOutReason::Requested, true).await;
    }
}

fn install_store(inner: &Rc<Inner>, store: IdbStore) {
    let weak = Rc::downgrade(inner);
    let on_version_change = Closure::<dyn FnMut(web_sys::IdbVersionChangeEvent)>::new(
        move |event: web_sys::IdbVersionChangeEvent| {
            let Some(inner) = weak.upgrade() else {
                return;
            };
            // Let the other tab go ahead: it is deleting (signing out) or upgrading.
            if let Some(store) = inner.store.borrow_mut().take() {
                store.close();
            }
            if event.new_version().is_none() {
                wasm_bindgen_futures::spawn_local(async move {
                    end_session(&inner, SignOutReason::ElsewhereInBrowser, false).await;
                });
            }
        },
    );
    store.on_version_change(Some(on_version_change.as_ref().unchecked_ref()));
    *inner.version_change.borrow_mut() = Some(on_version_change);
    *inner.store.borrow_mut() = Some(Rc::new(store));
}

fn watch_online(inner: &Rc<Inner>) {
    // The window, or the worker's global scope: both say when the network is back.
    let global = js_sys::global().unchecked_into::<web_sys::EventTarget>();
    let weak = Rc::downgrade(inner);
    let on_online = Closure::<dyn FnMut()>::new(move || {
        if let Some(inner) = weak.upgrade() {
            wake(&inner);
        }
    });
    if global
        .add_event_listener_with_callback("online", on_online.as_ref().unchecked_ref())
        .is_ok()
    {
        *inner.online.borrow_mut() = Some(on_online);
    }
}

/// Ends the wait before the next connection attempt, if one is waiting.
fn wake(inner: &Inner) {
    if let Some(wake) = inner.wake.borrow_mut().take() {
        let _ = wake.unbounded_send(());
    }
}

fn now_generation(inner: &Inner) -> u64 {
    let generation = inner.generation.get().wrapping_add(1);
    inner.generation.set(generation);
    // Dropping the sender ends the running socket loop once it has sent what is queued.
    inner.outgoing.borrow_mut().take();
    generation
}

/// (Re)starts the connection loop; any older loop stops.
fn connect(inner: &Rc<Inner>) {
    let generation = now_generation(inner);
    wasm_bindgen_futures::spawn_local(run(inner.clone(), generation));
}

/// Connects, and reconnects with backoff, until the generation changes.
async fn run(inner: Rc<Inner>, generation: u64) {
    let mut backoff = Backoff::default();
    while inner.generation.get() == generation {
        let reached_online = session(&inner, generation).await;
        if inner.generation.get() != generation {
            return;
        }
        inner.engine.borrow_mut().on_disconnected();
        flush(&inner).await;
        if reached_online {
            backoff.reset();
        }
        if let Some(hint) = inner.retry_hint_ms.take() {
            backoff.retry_after(u64::from(hint));
        }
        let random = (js_sys::Math::random() * f64::from(u32::MAX)) as u32;
        let delay = u32::try_from(backoff.next_delay_ms(random)).unwrap_or(u32::MAX);
        let (wake_sender, mut woken) = mpsc::unbounded();
        *inner.wake.borrow_mut() = Some(wake_sender);
        inner
            .next_attempt_at_ms
            .set(Some(js_sys::Date::now() + f64::from(delay)));
        (inner.notify)(Notice::Changed);
        let mut timer = gloo_timers::future::TimeoutFuture::new(delay).fuse();
        futures::select! {
            _ = timer => {}
            _ = woken.next() => {}
        }
        inner.wake.borrow_mut().take();
        inner.next_attempt_at_ms.set(None);
    }
}

/// One socket, from open to close. Returns whether it got online.
async fn session(inner: &Rc<Inner>, generation: u64) -> bool {
    inner.engine.borrow_mut().on_connecting();
    (inner.notify)(Notice::Changed);
    let Ok(socket) = WebSocket::open(&inner.socket_url) else {
        return false;
    };
    let mut socket = socket.fuse();
    // The sink is ready once the socket is open, or has failed to open.
    let opened = futures::future::poll_fn(|cx| {
        futures::Sink::<Message>::poll_ready(Pin::new(&mut socket), cx)
    })
    .await;
    if opened.is_err() || !matches!(socket.get_ref().state(), State::Open) {
        return false;
    }
    if inner.generation.get() != generation {
        return false;
    }
    let (sender, mut outgoing) = mpsc::unbounded();
    *inner.outgoing.borrow_mut() = Some((generation, sender));
    inner.engine.borrow_mut().on_connected();
    flush(inner).await;
    let mut reached_online = false;
    loop {
        futures::select! {
            incoming = socket.next() => match incoming {
                Some(Ok(Message::Bytes(bytes))) => {
                    if inner.generation.get() != generation {
                        break;
                    }
                    match merpati_protocol::decode::<ServerFrame>(&bytes) {
                        Ok(frame) => {
                            inner.engine.borrow_mut().handle_frame(frame);
                            flush(inner).await;
                            reached_online |=
                                inner.engine.borrow().connection_phase() == ConnectionPhase::Online;
                        }
                        Err(error) => leptos::logging::warn!("ignoring a frame: {error}"),
                    }
                }
                Some(Ok(Message::Text(_))) => {}
                Some(Err(_)) | None => break,
            },
            frame = outgoing.next() => match frame {
                Some(bytes) => {
                    if socket.send(Message::Bytes(bytes)).await.is_err() {
                        break;
                    }
                }
                // The client let go of this connection (sign-out, new sign-in, auth failure).
                None => break,
            },
        }
    }
    let mut slot = inner.outgoing.borrow_mut();
    if slot.as_ref().is_some_and(|(owner, _)| *owner == generation) {
        slot.take();
    }
    reached_online
}

/// Runs one engine step's consequences; see the module documentation. Flushes queue behind
/// each other, so after `flush().await` everything the engine held before the call is done.
async fn flush(inner: &Rc<Inner>) {
    let _turn = inner.flush_lock.lock().await;
    loop {
        let (events, writes, frames) = {
            let mut engine = inner.engine.borrow_mut();
            if let Some(chat) = inner.open_chat.get()
                && inner.visible.get()
            {
                engine.mark_read(chat);
            }
            let frames: Vec<_> = std::iter::from_fn(|| engine.poll_frame()).collect();
            (engine.take_events(), engine.take_writes(), frames)
        };
        if events.is_empty() && writes.is_empty() && frames.is_empty() {
            break;
        }
        let mut notices = Vec::with_capacity(events.len());
        for event in events {
            if let Some(notice) = handle_event(inner, event).await {
                notices.push(notice);
            }
        }
        let store = inner.store.borrow().clone();
        if let Some(store) = store
            && !writes.is_empty()
            && let Err(error) = store.apply(writes).await
        {
            leptos::logging::warn!("saving to the local store failed: {error}");
        }
        if let Some((_, sender)) = inner.outgoing.borrow().as_ref() {
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

/// The device's part of an event; returns what the app should hear of it.
async fn handle_event(inner: &Rc<Inner>, event: Event) -> Option<Notice> {
    match &event {
        Event::SignedIn(me) => {
            let key = inner.pending_key.borrow_mut().take();
            if let Some(key) = key {
                let slot = claim_slot(inner).await;
                match prepare_store(&inner.db_name, &key, me, slot).await {
                    Ok(store) => {
                        // The engine just became a new device: whatever an earlier device
                        // left in this tab's slot is not its.
                        if let Err(error) = store.clear_device_slot().await {
                            leptos::logging::warn!("clearing old device keys failed: {error}");
                        }
                        install_store(inner, store);
                    }
                    Err(error) => leptos::logging::warn!(
                        "the local store is unavailable; nothing will be kept offline: {error}"
                    ),
                }
            }
        }
        Event::AuthFailed(code) => {
            if inner.pending_key.borrow_mut().take().is_some() {
                // A passphrase sign-in failed: stop here and let the person try again.
                now_generation(inner);
            } else if is_transient(*code) {
                // Resuming hit a busy server: keep the session and try again after backoff.
                rearm_resume(inner).await;
                inner.outgoing.borrow_mut().take();
                return None;
            } else {
                end_session(inner, SignOutReason::Rejected(*code), true).await;
                return None;
            }
        }
        Event::SessionExpired => {
            end_session(inner, SignOutReason::SessionExpired, true).await;
            return None;
        }
        Event::ServerGoingAway { retry_after_ms } => inner.retry_hint_ms.set(*retry_after_ms),
        Event::ChatReady { .. } | Event::RequestFailed { .. } | Event::KeyChanged { .. } => {}
    }
    Some(Notice::Event(event))
}

fn is_transient(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::ServerBusy
            | ErrorCode::ShuttingDown
            | ErrorCode::RateLimited
            | ErrorCode::Internal
    )
}

/// Gives the engine back the stored session so that the next connection resumes it. The
/// engine has no call for only that, so it is restored from the account and the end-to-end
/// keys (the chats, messages and outbox it holds stay as they are).
async fn rearm_resume(inner: &Rc<Inner>) {
    let store = inner.store.borrow().clone();
    if let Some(store) = store
        && let Ok(Some(account)) = store.account().await
        && let Ok(crypto) = store.crypto().await
    {
        inner.engine.borrow_mut().restore(
            Some(account),
            Vec::new(),
            Vec::new(),
            Vec::new(),
            crypto,
        );
    }
}

/// The store for a session that just signed in with the passphrase. If this browser already
/// holds this account's store (another tab), it is joined; anything else is wiped and a new
/// store key is made and wrapped both ways.
async fn prepare_store(
    db_name: &str,
    key: &AccountKey,
    me: &Member,
    slot: u32,
) -> Result<IdbStore, StoreError> {
    let mut db = idb_store::open_database(db_name).await?;
    if let Ok(Some(cipher)) = device_key::unlock_with_device(&db).await {
        let store = IdbStore::from_parts(db, cipher).with_device_slot(slot);
        if let Ok(Some(account)) = store.account().await
            && account.me.id == me.id
        {
            return Ok(store);
        }
        // Another account's data: delete it all (its other tabs sign out).
        store.close();
        idb_store::delete_database(db_name).await?;
        db = idb_store::open_database(db_name).await?;
    } else {
        idb_store::clear_all(&db).await?;
    }
    let cipher = StoreCipher::generate()?;
    device_key::protect(&db, &cipher, &key.wrapping_key()).await?;
    Ok(IdbStore::from_parts(db, cipher).with_device_slot(slot))
}

/// This tab's device slot, claimed on first use and kept for the life of the page.
async fn claim_slot(inner: &Inner) -> u32 {
    if let Some(slot) = inner.slot.get() {
        return slot;
    }
    let slot = device_slot::claim(&inner.db_name).await;
    inner.slot.set(Some(slot));
    slot
}

/// Ends this device's session locally: stops the socket, forgets the engine's state, and (when
/// `delete`) deletes the database. The app hears [`Notice::SignedOut`].
async fn end_session(inner: &Rc<Inner>, reason: SignOutReason, delete: bool) {
    now_generation(inner);
    *inner.engine.borrow_mut() = Engine::new();
    inner.pending_key.borrow_mut().take();
    inner.open_chat.set(None);
    if let Some(store) = inner.store.borrow_mut().take() {
        store.close();
    }
    inner.version_change.borrow_mut().take();
    (inner.notify)(Notice::SignedOut(reason));
    (inner.notify)(Notice::Changed);
    if delete && let Err(error) = idb_store::delete_database(&inner.db_name).await {
        leptos::logging::warn!("deleting the local store failed: {error}");
    }
}
