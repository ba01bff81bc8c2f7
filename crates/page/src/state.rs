//! The app context: one shared handle, provided once at the root and used by every screen.
//!
//! [`AppContext`] is a small `Copy` handle. The engine runs in the engine worker; the context
//! holds the page's [`EngineLink`] to it, keeps the [`View`] the worker sent last, and turns
//! people's actions into [`Command`]s. Views never see the link: they read the context's
//! signals (`chats`, `open_chat_id`, `rows`, ...) and call its methods (`sign_in`, `send_text`,
//! `open_chat`, ...). Failures come back as words a person can act on.
//!
//! What the page keeps itself is only what the worker cannot know: which screen shows, the
//! sign-in form's progress and errors, and which new-chat form is open. Which chat is on
//! screen is the worker's to keep ([`Command::OpenChat`]): it marks that chat read, and each
//! [`View`] says which chat it is ([`View::open_chat`]), so the page holds no copy of it.

use leptos::prelude::*;
// The reactive `Update` trait, for `maybe_update`: `Update` names the worker's message here.
use leptos::prelude::Update as _;
use leptos::task::spawn_local;
use merpati_bridge::{
    AuthMode, ChatRow, Command, ConnectionPhase, MemberRow, MessageRow, OpenChat, SignOutReason,
    Update, View,
};
use merpati_protocol::content::text_body;
use merpati_protocol::passphrase::check_passphrase;
use merpati_protocol::{ChatId, ChatKind, ClientMsgId, ErrorCode, UserId, Username};
use merpati_words::{Text, refusals, t};

use crate::engine_link::{self, EngineLink};
use crate::views::new_chat::NewChatMode;

/// The IndexedDB database the app keeps its store in.
pub const DATABASE_NAME: &str = "merpati";

/// Which screen shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    /// Looking for a stored session.
    Loading,
    /// Sign in or sign up.
    Auth,
    /// Chats.
    Main,
}

/// Where a sign-in attempt stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AuthStep {
    /// Argon2id is stretching the passphrase.
    Deriving,
    /// Waiting for the server.
    Contacting,
}

/// The app's shared state and actions. See the module documentation.
#[derive(Clone, Copy)]
pub struct AppContext {
    link: StoredValue<EngineLink, LocalStorage>,
    /// Changed only through [`show`]: setting the same screen again must not rebuild it (and
    /// lose what the person typed).
    screen: RwSignal<Screen>,
    auth_step: RwSignal<Option<AuthStep>>,
    auth_error: RwSignal<Option<String>>,
    request_error: RwSignal<Option<String>>,
    /// Why the last action on a message was refused (for the composer).
    pub(crate) action_error: RwSignal<Option<String>>,
    new_chat: RwSignal<Option<NewChatMode>>,
    /// Local search: the query in the box, and what the worker found for it.
    pub(crate) search: crate::search::SearchState,
    /// What the worker showed last.
    view: RwSignal<View>,
    /// The time now, in ms since the Unix epoch, to the second: the reconnect countdown's
    /// clock.
    now_ms: RwSignal<f64>,
}

impl std::fmt::Debug for AppContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppContext")
            .field("screen", &self.screen.get_untracked())
            .field("open_chat", &self.open_chat_id_untracked())
            .finish_non_exhaustive()
    }
}

/// Shows `next`, unless it shows already.
fn show(screen: RwSignal<Screen>, next: Screen) {
    screen.maybe_update(|current| std::mem::replace(current, next) != next);
}

/// Creates the app context over the `"merpati"` database, provides it, looks for a stored
/// session and starts the engine worker.
pub fn provide_app_context() -> AppContext {
    let view = RwSignal::new(View::default());
    // A browser known to hold no database has no session to resume: the sign-in form is the
    // first screen, drawn at once.
    let known_fresh = engine_link::known_database(DATABASE_NAME) == Some(false);
    let screen = RwSignal::new(if known_fresh {
        Screen::Auth
    } else {
        Screen::Loading
    });
    let auth_step = RwSignal::new(None);
    let auth_error = RwSignal::new(None);
    let request_error = RwSignal::new(None);
    let action_error = RwSignal::new(None);
    let new_chat = RwSignal::new(None);
    let search = crate::search::SearchState::default();
    let files = crate::attachments::FileState::default();

    let on_update = move |update: Update, object: Option<wasm_bindgen::JsValue>| match update {
        Update::Ready => {}
        Update::View { view: new, rows } => view.update(|held| {
            // The open chat's rows come as what changed since the rows held.
            let mut new = *new;
            let same_chat = new.open_chat.as_ref().map(|chat| chat.id)
                == held.open_chat.as_ref().map(|chat| chat.id);
            if let Some(chat) = new.open_chat.as_mut() {
                if same_chat && let Some(held) = held.open_chat.as_mut() {
                    chat.rows = std::mem::take(&mut held.rows);
                }
                rows.apply(&mut chat.rows);
            }
            *held = new;
        }),
        Update::Resumed(resumed) => {
            if resumed {
                show(screen, Screen::Main);
            } else if screen.get_untracked() == Screen::Loading {
                show(screen, Screen::Auth);
            }
        }
        Update::Contacting => auth_step.set(Some(AuthStep::Contacting)),
        Update::AuthError(words) => {
            auth_step.set(None);
            auth_error.set(Some(words));
        }
        Update::SignedIn => {
            auth_step.set(None);
            auth_error.set(None);
            show(screen, Screen::Main);
        }
        Update::AuthFailed(code) => {
            auth_step.set(None);
            auth_error.set(Some(refusals::sign_in(code)));
            show(screen, Screen::Auth);
        }
        // The worker has opened the chat; the next view shows it.
        Update::ChatReady(_) => {
            request_error.set(None);
            new_chat.set(None);
        }
        Update::RequestFailed(code) => {
            request_error.set(Some(refusals::request(code)));
        }
        Update::RequestError(words) => request_error.set(Some(words)),
        Update::ActionError(words) => action_error.set(Some(words)),
        Update::SearchResults { query, rows } => search.answered(query, rows),
        Update::Download { id, state } => files.answered(id, state, object),
        Update::SignedOut(reason) => {
            files.forget();
            search.forget();
            action_error.set(None);
            crate::notify::close(None);
            new_chat.set(None);
            request_error.set(None);
            auth_step.set(None);
            auth_error.set(signed_out_words(reason));
            show(screen, Screen::Auth);
        }
    };
    let on_failure = move || {
        auth_step.set(None);
        auth_error.set(Some(t(Text::CouldNotStart)));
        show(screen, Screen::Auth);
    };
    let (language, catalogue) = crate::language::spoken();
    let start = Command::Start {
        db_name: DATABASE_NAME.to_owned(),
        socket_url: engine_link::socket_url().unwrap_or_default(),
        language: language.code().to_owned(),
        catalogue,
    };
    let link = EngineLink::new(start, on_update, on_failure);

    // A clock for the reconnect countdown; one tick a second is all the status line needs.
    let now_ms = RwSignal::new(js_sys::Date::now());
    let ticker = set_interval_with_handle(
        move || now_ms.set(js_sys::Date::now()),
        std::time::Duration::from_secs(1),
    );
    on_cleanup(move || {
        if let Ok(ticker) = ticker {
            ticker.clear();
        }
    });

    let app = AppContext {
        search,
        link: StoredValue::new_local(link.clone()),
        screen,
        auth_step,
        auth_error,
        request_error,
        action_error,
        new_chat,
        view,
        now_ms,
    };
    provide_context(app);
    provide_context(files.actions(app));
    provide_context(crate::emoji::source(app));

    // A returning person's chats wait on the worker, so it starts at once. With no database
    // there is no session to wait for: the sign-in form shows at once, and the worker starts
    // once the form is painted — compiling its module takes the same cores the page needs to
    // show the form, and the form does not need the worker until it is sent.
    let launch = move || {
        if let Err(error) = link.launch(engine_link::WORKER_SCRIPT) {
            leptos::logging::warn!("could not start the engine worker: {error:?}");
            on_failure();
        }
    };
    if known_fresh {
        engine_link::after_next_paint(launch);
        return app;
    }
    spawn_local(async move {
        let fresh = engine_link::has_database(DATABASE_NAME).await == Some(false);
        if fresh && screen.get_untracked() == Screen::Loading {
            show(screen, Screen::Auth);
            engine_link::after_next_paint(launch);
        } else {
            launch();
        }
    });
    app
}

/// The app context provided by [`provide_app_context`].
pub fn use_app() -> AppContext {
    expect_context::<AppContext>()
}

// ----- what views read ------------------------------------------------------------------------
//
// Each reader of the worker's view is a memo made for the caller (and owned by the component
// that asks): a new view notifies only the readers whose part of it changed. Not a
// `reactive_stores` store: measured, one made the page's wasm 2.2 KB (gzip) larger, and the open
// chat's parts would still need memos — a store tells every reader of an `Option` field about
// any change inside it, so the chat view would rebuild on each new message.

impl AppContext {
    /// Which screen shows.
    pub fn screen(self) -> Signal<Screen> {
        self.screen.into()
    }

    /// A part of the worker's last view.
    pub(crate) fn project<T: Clone + PartialEq + Send + Sync + 'static>(
        self,
        part: impl Fn(&View) -> T + Send + Sync + 'static,
    ) -> Signal<T> {
        let view = self.view;
        Memo::new(move |_| view.with(&part)).into()
    }

    /// A part of the chat on screen; `T::default()` while none is.
    pub(crate) fn project_open_chat<T: Clone + Default + PartialEq + Send + Sync + 'static>(
        self,
        part: impl Fn(&OpenChat) -> T + Send + Sync + 'static,
    ) -> Signal<T> {
        self.project(move |view| view.open_chat.as_ref().map(&part).unwrap_or_default())
    }

    /// The chats, latest activity first.
    pub fn chats(self) -> Signal<Vec<ChatRow>> {
        self.project(|view| view.chats.clone())
    }

    /// Where the connection stands.
    pub fn phase(self) -> Signal<ConnectionPhase> {
        self.project(|view| view.phase)
    }

    /// Seconds until the next connection attempt, while waiting for one.
    pub fn retry_in_s(self) -> Signal<Option<u32>> {
        let next_attempt_at_ms = self.project(|view| view.next_attempt_at_ms);
        let now_ms = self.now_ms;
        Memo::new(move |_| {
            let at = next_attempt_at_ms.get()?;
            Some(((at - now_ms.get()) / 1000.0).ceil().max(0.0) as u32)
        })
        .into()
    }

    /// The time now (ms since the Unix epoch), to the second.
    pub fn now_ms(self) -> Signal<f64> {
        self.now_ms.into()
    }

    /// How many messages wait to be sent.
    pub fn pending(self) -> Signal<usize> {
        self.project(|view| view.pending)
    }

    /// The signed-in username.
    pub fn me(self) -> Signal<Option<String>> {
        self.project(|view| view.me.clone())
    }

    /// Which chat is on screen, as the worker last said.
    pub fn open_chat_id(self) -> Signal<Option<ChatId>> {
        self.project(|view| view.open_chat.as_ref().map(|chat| chat.id))
    }

    /// The title of the chat on screen.
    pub fn title(self) -> Signal<String> {
        self.project_open_chat(|chat| chat.title.clone())
    }

    /// The messages of the chat on screen.
    pub fn rows(self) -> Signal<Vec<MessageRow>> {
        self.project_open_chat(|chat| chat.rows.clone())
    }

    /// Whether the chat on screen is 1:1 or a group.
    pub fn kind(self) -> Signal<Option<ChatKind>> {
        self.project_open_chat(|chat| chat.kind)
    }

    /// The safety number of the 1:1 chat on screen, once the other person's keys are known.
    pub fn safety_number(self) -> Signal<Option<String>> {
        self.project_open_chat(|chat| chat.safety_number.clone())
    }

    /// Words announcing that a member of the chat on screen has a new security key.
    pub fn key_change(self) -> Signal<Option<String>> {
        self.project_open_chat(|chat| chat.key_change.clone())
    }

    /// The members of the chat on screen.
    pub fn members(self) -> Signal<Vec<MemberRow>> {
        self.project_open_chat(|chat| chat.members.clone())
    }

    /// Whether this account is (still) in the chat on screen.
    pub fn is_member(self) -> Signal<bool> {
        self.project_open_chat(|chat| chat.is_member)
    }

    /// The draft of the chat on screen (what its composer starts with).
    pub fn draft(self) -> Signal<Option<String>> {
        self.project_open_chat(|chat| chat.draft.clone())
    }

    /// Moves when another tab changed the draft of the chat on screen.
    pub fn draft_taken(self) -> Signal<u32> {
        self.project_open_chat(|chat| chat.draft_taken)
    }

    /// The chats a message on screen can be forwarded to: every other one.
    pub fn forward_targets(self) -> Signal<Vec<ChatRow>> {
        self.project(|view| {
            let open = view.open_chat.as_ref().map(|chat| chat.id);
            view.chats
                .iter()
                .filter(|chat| Some(chat.id) != open)
                .cloned()
                .collect()
        })
    }

    /// Why the last action on a message was refused.
    pub fn action_error(self) -> Signal<Option<String>> {
        self.action_error.into()
    }

    /// Which new-chat form is open, if any.
    pub fn new_chat(self) -> Signal<Option<NewChatMode>> {
        self.new_chat.into()
    }

    /// The last failed request, in words.
    pub fn request_error(self) -> Signal<Option<String>> {
        self.request_error.into()
    }

    /// The last failed sign-in, in words.
    pub fn auth_error(self) -> Signal<Option<String>> {
        self.auth_error.into()
    }

    /// Whether keys are being derived (the auth buttons wait).
    pub fn auth_busy(self) -> Signal<bool> {
        let step = self.auth_step;
        Signal::derive(move || step.get() == Some(AuthStep::Deriving))
    }

    /// What a sign-in attempt is doing, in words.
    pub fn auth_progress(self) -> Signal<Option<String>> {
        let (step, phase) = (self.auth_step, self.phase());
        Signal::derive(move || {
            step.get().map(|step| {
                t(match (step, phase.get()) {
                    (AuthStep::Deriving, _) => Text::SecuringPassphrase,
                    (AuthStep::Contacting, ConnectionPhase::Offline) => Text::ConnectingToMerpati,
                    (AuthStep::Contacting, _) => Text::SigningIn,
                })
            })
        })
    }

    /// Reads the worker's last view without subscribing.
    pub(crate) fn with_view_untracked<R>(self, f: impl FnOnce(&View) -> R) -> R {
        self.view.with_untracked(f)
    }

    pub(crate) fn open_chat_id_untracked(self) -> Option<ChatId> {
        self.view
            .with_untracked(|view| view.open_chat.as_ref().map(|chat| chat.id))
    }
}

// ----- what people do -------------------------------------------------------------------------

impl AppContext {
    /// Creates an account.
    pub fn sign_up(self, username: String, passphrase: String) {
        self.authenticate(AuthMode::Register, username, passphrase);
    }

    /// Signs in to an account.
    pub fn sign_in(self, username: String, passphrase: String) {
        self.authenticate(AuthMode::Login, username, passphrase);
    }

    fn authenticate(self, mode: AuthMode, username: String, passphrase: String) {
        if let Err(error) = Username::parse(&username) {
            self.auth_error.set(Some(refusals::username(&error)));
            return;
        }
        if check_passphrase(&passphrase).is_err() {
            self.auth_error.set(Some(refusals::passphrase_too_short()));
            return;
        }
        self.auth_error.set(None);
        self.auth_step.set(Some(AuthStep::Deriving));
        self.send(Command::Authenticate {
            mode,
            username,
            passphrase,
        });
    }

    pub(crate) fn send(self, command: Command) {
        self.link.with_value(|link| link.send(command));
    }

    /// Tells the worker what the person did, with a browser object beside it (a file).
    pub(crate) fn send_with(self, command: Command, object: wasm_bindgen::JsValue) {
        self.link.with_value(|link| link.send_with(command, object));
    }

    /// Sends a text to the chat on screen; `Err` carries words for the composer.
    pub fn send_text(self, text: String) -> Result<(), String> {
        let Some(chat) = self.open_chat_id_untracked() else {
            return Err(t(Text::OpenAChatFirst));
        };
        text_body(&text).map_err(refusals::text_body)?;
        // A message sent: the words about the last refused action no longer apply.
        self.action_error.set(None);
        self.send(Command::SendText { chat, text });
        Ok(())
    }

    /// Tries to connect now instead of waiting for the next attempt.
    pub fn retry_now(self) {
        self.send(Command::RetryNow);
    }

    /// Sends a message the server refused again (`id`: its `data-msg-id`).
    pub fn retry_message(self, id: String) {
        if let Some(id) = ClientMsgId::from_hex(&id) {
            self.send(Command::RetryMessage(id));
        }
    }

    /// Starts (or finds) a 1:1 chat; it opens when the server answers.
    pub fn create_direct(self, username: String) {
        self.request_error.set(None);
        self.send(Command::CreateDirect(username));
    }

    /// Creates a group from a name and comma-separated usernames; it opens when the server
    /// answers.
    pub fn create_group(self, name: String, members: String) {
        self.request_error.set(None);
        self.send(Command::CreateGroup { name, members });
    }

    /// The person compared the safety number of the chat on screen again: the key-change
    /// banner goes away.
    pub fn acknowledge_key_change(self) {
        if let Some(chat) = self.open_chat_id_untracked() {
            self.send(Command::AcknowledgeKeyChange(chat));
        }
    }

    /// Takes a member (their id) out of the group on screen; the members update when the
    /// server answers.
    pub fn remove_member(self, user: u64) {
        if let Some(chat) = self.open_chat_id_untracked() {
            self.request_error.set(None);
            self.send(Command::RemoveMember {
                chat,
                user: UserId(user),
            });
        }
    }

    /// Leaves the group on screen; what was received stays readable.
    pub fn leave_chat(self) {
        if let Some(chat) = self.open_chat_id_untracked() {
            self.request_error.set(None);
            self.send(Command::LeaveChat(chat));
        }
    }

    /// Opens or closes the new-chat panel.
    pub fn show_new_chat(self, mode: Option<NewChatMode>) {
        // Why the last request was refused is not said under the next one.
        self.request_error.set(None);
        self.new_chat.set(mode);
    }

    /// Shows a chat (it is marked read); it is on screen once the worker's view says so.
    pub fn open_chat(self, chat: ChatId) {
        // Words about an action in the chat left behind, or a request made before, do not
        // belong to the next one (on a phone they would show over it).
        self.action_error.set(None);
        self.request_error.set(None);
        self.send(Command::OpenChat(Some(chat)));
    }

    /// Back to the chat list.
    pub fn close_chat(self) {
        self.request_error.set(None);
        self.send(Command::OpenChat(None));
    }

    /// Loads older messages of the chat on screen.
    pub fn load_older(self) {
        if let Some(chat) = self.open_chat_id_untracked() {
            self.send(Command::LoadOlder(chat));
        }
    }

    /// Hides the request error.
    pub fn dismiss_request_error(self) {
        self.request_error.set(None);
    }

    /// Signs out: the server forgets the session and the local database is deleted.
    pub fn sign_out(self) {
        show(self.screen, Screen::Auth);
        self.send(Command::SignOut);
    }
}

fn signed_out_words(reason: SignOutReason) -> Option<String> {
    match reason {
        SignOutReason::Requested => None,
        SignOutReason::ElsewhereInBrowser => Some(t(Text::SignedOutInAnotherTab)),
        SignOutReason::SessionExpired => Some(t(Text::SessionEnded)),
        SignOutReason::Rejected(ErrorCode::UnsupportedVersion) => Some(t(Text::OutOfDate)),
        SignOutReason::Rejected(_) => Some(t(Text::DeviceSignedOut)),
        SignOutReason::UpdatedElsewhere => Some(t(Text::UpdatedInAnotherTab)),
    }
}
