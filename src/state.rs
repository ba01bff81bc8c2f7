//! The app context: one shared handle, provided once at the root and used by every screen.
//!
//! [`AppContext`] is a small `Copy` handle. The engine runs in the engine worker
//! ([`crate::worker`]); the context holds the page's [`EngineLink`] to it, keeps what the
//! worker last showed ([`View`]) in signals, and turns people's actions into [`Command`]s.
//! Views never see the link: they read signals and call the context's methods (`sign_in`,
//! `send_text`, ...). Failures come back as words a person can act on.

use leptos::prelude::*;
use leptos::task::spawn_local;
use merpati_core::crypto::check_passphrase;
use merpati_core::{ChatSummary, ConnectionPhase, text_body};
use merpati_protocol::{ChatId, ChatKind, ClientMsgId, ErrorCode, UserId, Username};

use crate::bridge::{AuthMode, Command, SignOutReason, Update, View};
use crate::services::clock;
use crate::services::engine_link::{self, EngineLink};
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
    link: StoredValue<Option<EngineLink>, LocalStorage>,
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

/// Creates the app context over the `"merpati"` database, provides it, starts the engine
/// worker and looks for a stored session.
pub fn provide_app_context() -> AppContext {
    let view = RwSignal::new(None::<View>);
    let screen = RwSignal::new(Screen::Loading);
    let auth_step = RwSignal::new(None);
    let auth_error = RwSignal::new(None);
    let request_error = RwSignal::new(None);
    let open_chat = RwSignal::new(None::<ChatId>);
    let new_chat = RwSignal::new(None);

    let on_update = move |update: Update| match update {
        Update::Ready => {}
        Update::View(new) => view.set(Some(*new)),
        Update::Resumed(resumed) => {
            if resumed {
                screen.set(Screen::Main);
            } else if screen.get_untracked() == Screen::Loading {
                screen.set(Screen::Auth);
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
            screen.set(Screen::Main);
        }
        Update::AuthFailed(code) => {
            auth_step.set(None);
            auth_error.set(Some(auth_failure_words(code).to_owned()));
            screen.set(Screen::Auth);
        }
        Update::ChatReady(chat) => {
            request_error.set(None);
            new_chat.set(None);
            open_chat.set(Some(chat));
        }
        Update::RequestFailed(code) => {
            request_error.set(Some(request_failure_words(code).to_owned()));
        }
        Update::RequestError(words) => request_error.set(Some(words)),
        Update::SignedOut(reason) => {
            open_chat.set(None);
            new_chat.set(None);
            request_error.set(None);
            auth_step.set(None);
            auth_error.set(signed_out_words(reason).map(str::to_owned));
            screen.set(Screen::Auth);
        }
    };
    let on_failure = move || {
        auth_step.set(None);
        auth_error.set(Some(
            "Merpati could not start here — reload the page".to_owned(),
        ));
        screen.set(Screen::Auth);
    };
    let start = Command::Start {
        db_name: DATABASE_NAME.to_owned(),
        socket_url: engine_link::socket_url().unwrap_or_default(),
    };
    let link = EngineLink::start(engine_link::WORKER_SCRIPT, start, on_update, on_failure)
        .map_err(|error| leptos::logging::warn!("could not start the engine worker: {error:?}"))
        .ok();
    if link.is_none() {
        on_failure();
    }
    let link = StoredValue::new_local(link);

    // What the worker showed last, as the views read it.
    let chats = Memo::new(move |_| {
        view.with(|view| view.as_ref().map(|view| view.chats.clone()))
            .unwrap_or_default()
    });
    let phase = Memo::new(move |_| {
        view.with(|view| {
            view.as_ref()
                .map_or(ConnectionPhase::Offline, |view| view.phase)
        })
    });
    let next_attempt = Memo::new(move |_| {
        view.with(|view| view.as_ref().and_then(|view| view.next_attempt_at_ms))
    });
    let pending =
        Memo::new(move |_| view.with(|view| view.as_ref().map_or(0, |view| view.pending)));
    let me = Memo::new(move |_| view.with(|view| view.as_ref().and_then(|view| view.me.clone())));
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
    let retry_in_s = Memo::new(move |_| {
        let at = next_attempt.get()?;
        Some(((at - now_ms.get()) / 1000.0).ceil().max(0.0) as u32)
    });

    // The chat on screen, once the worker has shown it (a moment after it was opened).
    let shown = Memo::new(move |_| {
        let open = open_chat.get();
        view.with(|view| {
            view.as_ref()
                .and_then(|view| view.shown.clone())
                .filter(|shown| Some(shown.id) == open)
        })
    });
    let title = Memo::new(move |_| {
        shown.with(|shown| {
            shown
                .as_ref()
                .map(|shown| shown.title.clone())
                .unwrap_or_default()
        })
    });
    let rows = Memo::new(move |_| {
        shown.with(|shown| {
            shown
                .as_ref()
                .map(|shown| shown.rows.clone())
                .unwrap_or_default()
        })
    });
    let kind = Memo::new(move |_| shown.with(|shown| shown.as_ref().and_then(|shown| shown.kind)));
    let safety_number = Memo::new(move |_| {
        shown.with(|shown| shown.as_ref().and_then(|shown| shown.safety_number.clone()))
    });
    let key_change = Memo::new(move |_| {
        shown.with(|shown| shown.as_ref().and_then(|shown| shown.key_change.clone()))
    });
    let members = Memo::new(move |_| {
        shown.with(|shown| {
            shown
                .as_ref()
                .map(|shown| shown.members.clone())
                .unwrap_or_default()
        })
    });
    let is_member =
        Memo::new(move |_| shown.with(|shown| shown.as_ref().is_some_and(|shown| shown.is_member)));

    // The worker marks the chat on screen read and shows it; tell it which one that is.
    Effect::new(move |_| {
        let chat = open_chat.get();
        link.with_value(|link| {
            if let Some(link) = link {
                link.send(Command::ShowChat(chat));
            }
        });
    });

    let app = AppContext {
        link,
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

    // With no database there is no session to wait for: the sign-in form shows at once,
    // while the worker is still loading.
    spawn_local(async move {
        if engine_link::has_database(DATABASE_NAME).await == Some(false)
            && screen.get_untracked() == Screen::Loading
        {
            screen.set(Screen::Auth);
        }
    });
    app
}

/// The app context provided by [`provide_app_context`].
pub fn use_app() -> AppContext {
    expect_context::<AppContext>()
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
        if let Err(error) = Username::parse(&username) {
            self.auth_error.set(Some(error.to_string()));
            return;
        }
        if let Err(error) = check_passphrase(&passphrase) {
            self.auth_error.set(Some(error.to_string()));
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

    fn send(self, command: Command) {
        self.link.with_value(|link| match link {
            Some(link) => link.send(command),
            None => leptos::logging::warn!("no engine worker for {command:?}"),
        });
    }

    /// Sends a text to the chat on screen; `Err` carries words for the composer.
    pub fn send_text(self, text: String) -> Result<(), String> {
        let Some(chat) = self.open_chat.get_untracked() else {
            return Err("Open a chat first".to_owned());
        };
        text_body(&text).map_err(|error| error.to_string())?;
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
        if let Some(chat) = self.open_chat.get_untracked() {
            self.send(Command::AcknowledgeKeyChange(chat));
        }
    }

    /// Takes a member (their id) out of the group on screen; the members update when the
    /// server answers.
    pub fn remove_member(self, user: u64) {
        if let Some(chat) = self.open_chat.get_untracked() {
            self.request_error.set(None);
            self.send(Command::RemoveMember {
                chat,
                user: UserId(user),
            });
        }
    }

    /// Leaves the group on screen; what was received stays readable.
    pub fn leave_chat(self) {
        if let Some(chat) = self.open_chat.get_untracked() {
            self.request_error.set(None);
            self.send(Command::LeaveChat(chat));
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
        if let Some(chat) = self.open_chat.get_untracked() {
            self.send(Command::LoadOlder(chat));
        }
    }

    /// Hides the request error.
    pub fn dismiss_request_error(self) {
        self.request_error.set(None);
    }

    /// Signs out: the server forgets the session and the local database is deleted.
    pub fn sign_out(self) {
        self.open_chat.set(None);
        self.screen.set(Screen::Auth);
        self.send(Command::SignOut);
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
