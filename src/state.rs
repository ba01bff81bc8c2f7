//! The app context: one shared handle, provided once at the root and used by every screen.
//!
//! [`AppContext`] is a small `Copy` handle. The `!Send` [`Client`] (engine, store, socket)
//! lives in a [`StoredValue::new_local`]; views never see it. They read signals and memos that
//! derive from the engine through a *version* signal, which the client bumps after every
//! flush, and they act by calling the context's methods (`sign_in`, `send_text`, ...), which
//! change the engine through the client. Failures come back as words a person can act on.

use leptos::prelude::*;
use leptos::task::spawn_local;
use merpati_core::crypto::{AccountKey, KdfParams, check_passphrase};
use merpati_core::{ChatSummary, ConnectionPhase, Event};
use merpati_protocol::{ChatId, ChatKind, ErrorCode, UserId, Username};

use crate::services::clock;
use crate::services::connection::{AuthMode, Client, Notice, SignOutReason};
use crate::views::chat_members::MemberRow;
use crate::views::message_list::MessageRow;
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
    client: StoredValue<Client, LocalStorage>,
    screen: RwSignal<Screen>,
    /// `screen` without repeats: setting the same screen again must not rebuild it (and lose
    /// what the person typed).
    shown: Memo<Screen>,
    auth_step: RwSignal<Option<AuthStep>>,
    auth_error: RwSignal<Option<String>>,
    request_error: RwSignal<Option<String>>,
    open_chat: RwSignal<Option<ChatId>>,
    new_chat: RwSignal<Option<NewChatMode>>,
    chats: Memo<Vec<ChatSummary>>,
    phase: Memo<ConnectionPhase>,
    /// Seconds until the next connection attempt, while waiting for one.
    retry_in_s: Memo<Option<u32>>,
    pending: Memo<usize>,
    me: Memo<Option<String>>,
    title: Memo<String>,
    rows: Memo<Vec<MessageRow>>,
    kind: Memo<Option<ChatKind>>,
    safety_number: Memo<Option<String>>,
    key_change: Memo<Option<String>>,
    members: Memo<Vec<MemberRow>>,
    is_member: Memo<bool>,
}

impl std::fmt::Debug for AppContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppContext")
            .field("screen", &self.screen.get_untracked())
            .field("open_chat", &self.open_chat.get_untracked())
            .finish_non_exhaustive()
    }
}

/// Creates the app context over the `"merpati"` database, provides it, and starts looking for
/// a stored session.
pub fn provide_app_context() -> AppContext {
    provide_app_context_with(DATABASE_NAME)
}

/// [`provide_app_context`] over another database (tests).
pub fn provide_app_context_with(db_name: &str) -> AppContext {
    let version = RwSignal::new(0u64);
    let screen = RwSignal::new(Screen::Loading);
    let auth_step = RwSignal::new(None);
    let auth_error = RwSignal::new(None);
    let request_error = RwSignal::new(None);
    let open_chat = RwSignal::new(None::<ChatId>);
    let new_chat = RwSignal::new(None);

    let client = Client::new(db_name, move |notice| match notice {
        Notice::Changed => version.update(|version| *version += 1),
        Notice::Event(Event::SignedIn(_)) => {
            auth_step.set(None);
            auth_error.set(None);
            screen.set(Screen::Main);
        }
        Notice::Event(Event::AuthFailed(code)) => {
            auth_step.set(None);
            auth_error.set(Some(auth_failure_words(code).to_owned()));
            screen.set(Screen::Auth);
        }
        Notice::Event(Event::ChatReady { chat_id, .. }) => {
            request_error.set(None);
            new_chat.set(None);
            open_chat.set(Some(chat_id));
        }
        Notice::Event(Event::RequestFailed { request, code }) => {
            if request.is_some() || code == ErrorCode::RateLimited {
                request_error.set(Some(request_failure_words(code).to_owned()));
            }
        }
        // Views re-read the chat's key state on `Changed`, which follows every event.
        Notice::Event(
            Event::SessionExpired | Event::ServerGoingAway { .. } | Event::KeyChanged { .. },
        ) => {}
        Notice::SignedOut(reason) => {
            open_chat.set(None);
            new_chat.set(None);
            request_error.set(None);
            auth_step.set(None);
            auth_error.set(signed_out_words(reason).map(str::to_owned));
            screen.set(Screen::Auth);
        }
    });
    let client = StoredValue::new_local(client);

    // Reads of the engine, recomputed when the client says it changed.
    let chats = Memo::new(move |_| {
        version.track();
        client.with_value(|c| c.read(|engine| engine.chat_list()))
    });
    let phase = Memo::new(move |_| {
        version.track();
        client.with_value(|c| c.read(|engine| engine.connection_phase()))
    });
    // A clock for the reconnect countdown; one tick a second is all the status line needs.
    let now_ms = RwSignal::new(clock::now_ms() as f64);
    let ticker = set_interval_with_handle(
        move || now_ms.set(clock::now_ms() as f64),
        std::time::Duration::from_secs(1),
    );
    on_cleanup(move || {
        if let Ok(ticker) = ticker {
            ticker.clear();
        }
    });
    let next_attempt = Memo::new(move |_| {
        version.track();
        client.with_value(|c| c.next_attempt_at_ms())
    });
    let retry_in_s = Memo::new(move |_| {
        let at = next_attempt.get()?;
        Some(((at - now_ms.get()) / 1000.0).ceil().max(0.0) as u32)
    });
    let pending = Memo::new(move |_| {
        version.track();
        client.with_value(|c| c.read(|engine| engine.pending_count()))
    });
    let me = Memo::new(move |_| {
        version.track();
        client.with_value(|c| c.read(|engine| engine.me().map(|me| me.username.to_string())))
    });
    let title = Memo::new(move |_| {
        version.track();
        let chat = open_chat.get();
        client.with_value(|c| {
            c.read(|engine| {
                chat.and_then(|chat| engine.chat_title(chat))
                    .unwrap_or_default()
            })
        })
    });
    let rows = Memo::new(move |_| {
        version.track();
        let Some(chat) = open_chat.get() else {
            return Vec::new();
        };
        client.with_value(|c| c.read(|engine| message_rows(engine, chat)))
    });

    // The open chat's end-to-end state and membership.
    let kind = Memo::new(move |_| {
        version.track();
        let chat = open_chat.get()?;
        client.with_value(|c| c.read(|engine| engine.chat(chat).map(|info| info.kind)))
    });
    let safety_number = Memo::new(move |_| {
        version.track();
        let chat = open_chat.get()?;
        client.with_value(|c| c.read(|engine| engine.safety_number(chat)))
    });
    let key_change = Memo::new(move |_| {
        version.track();
        let chat = open_chat.get()?;
        client.with_value(|c| c.read(|engine| key_change_words(engine, chat)))
    });
    let members = Memo::new(move |_| {
        version.track();
        let Some(chat) = open_chat.get() else {
            return Vec::new();
        };
        client.with_value(|c| c.read(|engine| member_rows(engine, chat)))
    });
    let is_member = Memo::new(move |_| {
        version.track();
        open_chat
            .get()
            .is_some_and(|chat| client.with_value(|c| c.read(|engine| engine.is_member(chat))))
    });

    // The client marks the chat on screen read; tell it which one that is.
    Effect::new(move |_| {
        let chat = open_chat.get();
        client.with_value(|c| c.set_open_chat(chat));
    });

    let app = AppContext {
        client,
        screen,
        shown: Memo::new(move |_| screen.get()),
        auth_step,
        auth_error,
        request_error,
        open_chat,
        new_chat,
        chats,
        phase,
        retry_in_s,
        pending,
        me,
        title,
        rows,
        kind,
        safety_number,
        key_change,
        members,
        is_member,
    };
    provide_context(app);

    let resuming = client.get_value();
    spawn_local(async move {
        let resumed = resuming.resume().await.unwrap_or_else(|error| {
            leptos::logging::warn!("could not open the stored session: {error}");
            false
        });
        if screen.get_untracked() == Screen::Loading {
            screen.set(if resumed { Screen::Main } else { Screen::Auth });
        }
    });
    app
}

/// The app context provided by [`provide_app_context`].
pub fn use_app() -> AppContext {
    expect_context::<AppContext>()
}

/// A chat's messages as the message list shows them.
pub fn message_rows(engine: &merpati_core::Engine, chat: ChatId) -> Vec<MessageRow> {
    let group = engine
        .chat(chat)
        .is_some_and(|info| info.kind == ChatKind::Group);
    engine
        .timeline(chat)
        .into_iter()
        .map(|item| MessageRow {
            id: item.client_msg_id.to_hex(),
            status: item.status,
            own: item.own,
            sender: (group && !item.own).then(|| {
                engine
                    .member_name(chat, item.sender)
                    .map(Username::to_string)
                    .unwrap_or_else(|| "Someone".to_owned())
            }),
            time: clock::local_time(item.sent_at_ms),
            lock: item.lock,
            text: item.text,
        })
        .collect()
}

/// The key-change banner's words for a chat, while a member's key change is unacknowledged.
pub fn key_change_words(engine: &merpati_core::Engine, chat: ChatId) -> Option<String> {
    let (name, at_ms) = engine.key_change(chat)?;
    Some(format!(
        "{name}'s security key changed on {}. Compare the safety number again.",
        clock::local_date(at_ms)
    ))
}

/// A chat's members as the members panel shows them.
pub fn member_rows(engine: &merpati_core::Engine, chat: ChatId) -> Vec<MemberRow> {
    let me = engine.me().map(|me| me.id);
    engine
        .chat(chat)
        .map(|info| {
            info.members
                .iter()
                .map(|member| MemberRow {
                    id: member.id.0,
                    username: member.username.to_string(),
                    me: Some(member.id) == me,
                })
                .collect()
        })
        .unwrap_or_default()
}

impl AppContext {
    // ----- what views read ----------------------------------------------------------------

    /// Which screen shows.
    pub fn screen(self) -> Signal<Screen> {
        self.shown.into()
    }

    /// The chats, latest activity first.
    pub fn chats(self) -> Signal<Vec<ChatSummary>> {
        self.chats.into()
    }

    /// Where the connection stands.
    pub fn phase(self) -> Signal<ConnectionPhase> {
        self.phase.into()
    }

    /// Seconds until the next connection attempt, while waiting for one.
    pub fn retry_in_s(self) -> Signal<Option<u32>> {
        self.retry_in_s.into()
    }

    /// How many messages wait to be sent.
    pub fn pending(self) -> Signal<usize> {
        self.pending.into()
    }

    /// The signed-in username.
    pub fn me(self) -> Signal<Option<String>> {
        self.me.into()
    }

    /// The chat on screen.
    pub fn selected_chat(self) -> Signal<Option<ChatId>> {
        self.open_chat.into()
    }

    /// The title of the chat on screen.
    pub fn title(self) -> Signal<String> {
        self.title.into()
    }

    /// The messages of the chat on screen.
    pub fn rows(self) -> Signal<Vec<MessageRow>> {
        self.rows.into()
    }

    /// Whether the chat on screen is 1:1 or a group.
    pub fn kind(self) -> Signal<Option<ChatKind>> {
        self.kind.into()
    }

    /// The safety number of the 1:1 chat on screen, once the other person's keys are known.
    pub fn safety_number(self) -> Signal<Option<String>> {
        self.safety_number.into()
    }

    /// Words announcing that a member of the chat on screen has a new security key.
    pub fn key_change(self) -> Signal<Option<String>> {
        self.key_change.into()
    }

    /// The members of the chat on screen.
    pub fn members(self) -> Signal<Vec<MemberRow>> {
        self.members.into()
    }

    /// Whether this account is (still) in the chat on screen.
    pub fn is_member(self) -> Signal<bool> {
        self.is_member.into()
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
        let (step, phase) = (self.auth_step, self.phase);
        Signal::derive(move || {
            step.get().map(|step| {
                match (step, phase.get()) {
                    (AuthStep::Deriving, _) => "Securing your passphrase…",
                    (AuthStep::Contacting, ConnectionPhase::Offline) => "Connecting to Merpati…",
                    (AuthStep::Contacting, _) => "Signing in…",
                }
                .to_owned()
            })
        })
    }

    // ----- what people do -----------------------------------------------------------------

    /// Creates an account.
    pub fn sign_up(self, username: String, passphrase: String) {
        self.authenticate(AuthMode::Register, username, passphrase);
    }

    /// Signs in to an account.
    pub fn sign_in(self, username: String, passphrase: String) {
        self.authenticate(AuthMode::Login, username, passphrase);
    }

    fn authenticate(self, mode: AuthMode, username: String, passphrase: String) {
        let username = match Username::parse(&username) {
            Ok(username) => username,
            Err(error) => {
                self.auth_error.set(Some(error.to_string()));
                return;
            }
        };
        if let Err(error) = check_passphrase(&passphrase) {
            self.auth_error.set(Some(error.to_string()));
            return;
        }
        self.auth_error.set(None);
        self.auth_step.set(Some(AuthStep::Deriving));
        let client = self.client.get_value();
        let (auth_step, auth_error) = (self.auth_step, self.auth_error);
        spawn_local(async move {
            // Paint the progress text before Argon2id holds the page's thread.
            clock::yield_to_browser().await;
            match AccountKey::derive(&username, &passphrase, KdfParams::INTERACTIVE) {
                Ok(key) => {
                    auth_step.set(Some(AuthStep::Contacting));
                    client.authenticate(mode, username, key);
                }
                Err(error) => {
                    auth_step.set(None);
                    auth_error.set(Some(error.to_string()));
                }
            }
        });
    }

    /// Sends a text to the chat on screen; `Err` carries words for the composer.
    pub fn send_text(self, text: String) -> Result<(), String> {
        let Some(chat) = self.open_chat.get_untracked() else {
            return Err("Open a chat first".to_owned());
        };
        self.client
            .with_value(|c| c.act(|engine| engine.send_text(chat, &text, clock::now_ms())))
            .map(|_| ())
            .map_err(|error| error.to_string())
    }

    /// Tries to connect now instead of waiting for the next attempt.
    pub fn retry_now(self) {
        self.client.with_value(|c| c.retry_now());
    }

    /// Sends a message the server refused again (`id`: its `data-msg-id`).
    pub fn retry_message(self, id: String) {
        if let Some(id) = merpati_protocol::ClientMsgId::from_hex(&id) {
            self.client.with_value(|c| c.retry_message(id));
        }
    }

    /// Starts (or finds) a 1:1 chat; it opens when the server answers.
    pub fn create_direct(self, username: String) {
        let result = self
            .client
            .with_value(|c| c.act(|engine| engine.create_direct(&username)));
        self.request_error
            .set(result.err().map(|error| error.to_string()));
    }

    /// Creates a group from a name and comma-separated usernames; it opens when the server
    /// answers.
    pub fn create_group(self, name: String, members: String) {
        let result = self
            .client
            .with_value(|c| c.act(|engine| engine.create_group(&name, &members)));
        self.request_error
            .set(result.err().map(|error| error.to_string()));
    }

    /// The person compared the safety number of the chat on screen again: the key-change
    /// banner goes away.
    pub fn acknowledge_key_change(self) {
        if let Some(chat) = self.open_chat.get_untracked() {
            self.client.with_value(|c| c.acknowledge_key_change(chat));
        }
    }

    /// Takes a member (their id) out of the group on screen; the members update when the
    /// server answers.
    pub fn remove_member(self, user: u64) {
        let Some(chat) = self.open_chat.get_untracked() else {
            return;
        };
        let result = self
            .client
            .with_value(|c| c.remove_member(chat, UserId(user)));
        self.request_error
            .set(result.err().map(|error| error.to_string()));
    }

    /// Leaves the group on screen; what was received stays readable.
    pub fn leave_chat(self) {
        let me = self
            .client
            .with_value(|c| c.read(|engine| engine.me().map(|me| me.id.0)));
        if let Some(me) = me {
            self.remove_member(me);
        }
    }

    /// Opens or closes the new-chat panel.
    pub fn show_new_chat(self, mode: Option<NewChatMode>) {
        self.new_chat.set(mode);
    }

    /// Shows a chat (it is marked read).
    pub fn open_chat(self, chat: ChatId) {
        self.open_chat.set(Some(chat));
    }

    /// Back to the chat list.
    pub fn close_chat(self) {
        self.open_chat.set(None);
    }

    /// Loads older messages of the chat on screen.
    pub fn load_older(self) {
        let Some(chat) = self.open_chat.get_untracked() else {
            return;
        };
        let client = self.client.get_value();
        spawn_local(async move { client.load_older(chat).await });
    }

    /// Hides the request error.
    pub fn dismiss_request_error(self) {
        self.request_error.set(None);
    }

    /// Signs out: the server forgets the session and the local database is deleted.
    pub fn sign_out(self) {
        self.open_chat.set(None);
        self.screen.set(Screen::Auth);
        let client = self.client.get_value();
        spawn_local(async move { client.sign_out().await });
    }
}

fn auth_failure_words(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::UsernameTaken => "That username is taken",
        ErrorCode::NoSuchUser => "No account has that username",
        ErrorCode::WrongPassphrase => "Wrong passphrase for that username",
        ErrorCode::UnsupportedVersion => "This version of Merpati is out of date — reload the page",
        ErrorCode::ServerBusy | ErrorCode::RateLimited => {
            "Merpati is very busy right now — try again in a moment"
        }
        ErrorCode::ShuttingDown => "Merpati is restarting — try again in a moment",
        ErrorCode::InvalidKey => "The server could not check this sign-in — try again",
        _ => "Signing in did not work — try again",
    }
}

fn request_failure_words(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::NoSuchUser => "No account has that username",
        ErrorCode::CannotChatWithSelf => "That is you — pick someone else to chat with",
        ErrorCode::InvalidTitle => "A group name needs 1 to 100 characters",
        ErrorCode::TooManyMembers => "A group can have at most 256 members",
        ErrorCode::NoSuchChat => "That chat does not exist any more",
        ErrorCode::AlreadyMember => "They are already in this group",
        ErrorCode::NotAGroup => "Only groups take new members",
        ErrorCode::NotAMember => "They are not in this group (any more)",
        ErrorCode::MessageTooLarge => "That message is too long",
        ErrorCode::RateLimited => "Slow down a little — try again in a moment",
        ErrorCode::ServerBusy | ErrorCode::ShuttingDown => {
            "Merpati is very busy right now — try again in a moment"
        }
        ErrorCode::Internal => "That did not finish — try again",
        _ => "That did not work — try again",
    }
}

fn signed_out_words(reason: SignOutReason) -> Option<&'static str> {
    match reason {
        SignOutReason::Requested => None,
        SignOutReason::ElsewhereInBrowser => Some("You signed out in another tab"),
        SignOutReason::SessionExpired => Some("Your session has ended — sign in again"),
        SignOutReason::Rejected(_) => Some("This device was signed out — sign in again"),
    }
}
