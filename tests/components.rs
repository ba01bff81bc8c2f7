//! The presentational components, mounted alone in Chromium and driven like a person would.

use std::sync::{Arc, Mutex, PoisonError};

use leptos::mount::mount_to;
use leptos::prelude::*;
use merpati_app::engine_view::{key_change_words, member_rows, message_rows};
use merpati_bridge::{ConnectionPhase, MessageRow, MessageStatus};
use merpati_core::crypto::{AccountKey, KdfParams};
use merpati_core::e2e::safety_number;
use merpati_core::{Engine, Event};
use merpati_page::views::chat_list::ChatList;
use merpati_page::views::chat_view::ChatView;
use merpati_page::views::composer::Composer;
use merpati_page::views::connection_status::ConnectionStatus;
use merpati_page::views::message_list::MessageList;
use merpati_protocol::content::EncryptedBody;
use merpati_protocol::keys::{DeviceKey, DeviceKeys, UserKeys, device_keys_message};
use merpati_protocol::{
    ChatId, ChatInfo, ChatKind, ClientFrame, ClientMsgId, Epoch, Member, MessageFrame,
    PROTOCOL_VERSION, Seq, ServerFrame, UserId, Username,
};
use merpati_words::Text;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};
use web_sys::{Element, HtmlElement, HtmlTextAreaElement};

wasm_bindgen_test_configure!(run_in_browser);

#[path = "support/dom.rs"]
mod dom;
use dom::{attr, container, find, find_all, text};
#[path = "support/rows.rs"]
mod rows;
use rows::chat_row;

fn type_into(textarea: &HtmlTextAreaElement, value: &str) {
    textarea.set_value(value);
    let init = web_sys::EventInit::new();
    init.set_bubbles(true);
    let event = web_sys::Event::new_with_event_init_dict("input", &init).expect("an input event");
    textarea.dispatch_event(&event).expect("dispatched");
}

fn press_enter(target: &Element, shift: bool) -> bool {
    let init = web_sys::KeyboardEventInit::new();
    init.set_key("Enter");
    init.set_shift_key(shift);
    init.set_bubbles(true);
    init.set_cancelable(true);
    let event = web_sys::KeyboardEvent::new_with_keyboard_event_init_dict("keydown", &init)
        .expect("a keydown event");
    target.dispatch_event(&event).expect("dispatched")
}

/// Mounts a composer whose send callback records what it was given and answers `answer`.
fn mounted_composer(
    answer: Result<(), String>,
) -> (HtmlElement, Arc<Mutex<Vec<String>>>, impl Sized) {
    let sent = Arc::new(Mutex::new(Vec::new()));
    let record = sent.clone();
    let on_send = Callback::new(move |text: String| {
        record
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(text);
        answer.clone()
    });
    let root = container();
    let handle = mount_to(root.clone(), move || view! { <Composer on_send/> });
    (root, sent, handle)
}

fn sent_texts(sent: &Arc<Mutex<Vec<String>>>) -> Vec<String> {
    sent.lock().unwrap_or_else(PoisonError::into_inner).clone()
}

fn textarea(root: &Element) -> HtmlTextAreaElement {
    find(root, "composer-input").dyn_into().expect("a textarea")
}

#[wasm_bindgen_test]
async fn enter_sends_the_text_and_clears_the_composer() {
    let (root, sent, _handle) = mounted_composer(Ok(()));
    let input = textarea(&root);
    type_into(&input, "Halo, apa kabar?");
    leptos::task::tick().await;
    let not_cancelled = press_enter(&input, false);
    leptos::task::tick().await;
    assert_eq!(sent_texts(&sent), vec!["Halo, apa kabar?".to_owned()]);
    assert!(!not_cancelled, "Enter must not also insert a newline");
    assert_eq!(input.value(), "", "the composer clears after sending");
}

#[wasm_bindgen_test]
async fn the_send_button_sends_the_text_and_clears_the_composer() {
    let (root, sent, _handle) = mounted_composer(Ok(()));
    let input = textarea(&root);
    type_into(&input, "dari tombol");
    leptos::task::tick().await;
    find(&root, "composer-send")
        .unchecked_into::<HtmlElement>()
        .click();
    leptos::task::tick().await;
    assert_eq!(sent_texts(&sent), vec!["dari tombol".to_owned()]);
    assert_eq!(input.value(), "");
}

#[wasm_bindgen_test]
async fn an_empty_or_blank_message_is_not_sent() {
    let (root, sent, _handle) = mounted_composer(Ok(()));
    let input = textarea(&root);
    press_enter(&input, false);
    find(&root, "composer-send")
        .unchecked_into::<HtmlElement>()
        .click();
    type_into(&input, "   \n  ");
    leptos::task::tick().await;
    press_enter(&input, false);
    find(&root, "composer-send")
        .unchecked_into::<HtmlElement>()
        .click();
    leptos::task::tick().await;
    assert!(
        sent_texts(&sent).is_empty(),
        "nothing to send, nothing sent"
    );
}

#[wasm_bindgen_test]
async fn shift_enter_does_not_send() {
    let (root, sent, _handle) = mounted_composer(Ok(()));
    let input = textarea(&root);
    type_into(&input, "baris satu");
    leptos::task::tick().await;
    let not_cancelled = press_enter(&input, true);
    leptos::task::tick().await;
    assert!(sent_texts(&sent).is_empty());
    assert!(
        not_cancelled,
        "Shift+Enter is left to the textarea (a new line)"
    );
    assert_eq!(input.value(), "baris satu");
}

#[wasm_bindgen_test]
async fn a_refused_message_stays_and_the_reason_shows() {
    let (root, sent, _handle) = mounted_composer(Err(
        "The message is too long (at most 16384 bytes)".to_owned(),
    ));
    let input = textarea(&root);
    type_into(&input, "terlalu panjang");
    leptos::task::tick().await;
    press_enter(&input, false);
    leptos::task::tick().await;
    assert_eq!(sent_texts(&sent).len(), 1);
    assert_eq!(
        input.value(),
        "terlalu panjang",
        "the text is kept to be shortened"
    );
    assert!(text(&find(&root, "composer-error")).contains("too long"));
}

fn row(id: &str, status: MessageStatus, own: bool, text: &str) -> MessageRow {
    MessageRow {
        id: id.to_owned(),
        status,
        own,
        text: text.to_owned(),
        sender: (!own).then(|| "budi".to_owned()),
        time: "09:41".to_owned(),
        ..MessageRow::default()
    }
}

#[wasm_bindgen_test]
async fn the_message_list_renders_messages_in_order_with_their_state() {
    let rows = RwSignal::new(vec![
        row("aa01", MessageStatus::Sent, false, "Selamat pagi"),
        row("aa02", MessageStatus::Read, true, "Pagi juga!"),
        row("aa03", MessageStatus::Pending, true, "Sudah sarapan?"),
    ]);
    let root = container();
    let _handle = mount_to(root.clone(), move || {
        view! { <MessageList rows on_reach_top=Callback::new(|()| {})/> }
    });
    leptos::task::tick().await;

    let messages = find_all(&root, "message");
    let seen: Vec<(String, String, String, String)> = messages
        .iter()
        .map(|message| {
            (
                attr(message, "data-msg-id"),
                attr(message, "data-status"),
                attr(message, "data-own"),
                text(&find(message, "message-text")),
            )
        })
        .collect();
    let expected = [
        ("aa01", "sent", "false", "Selamat pagi"),
        ("aa02", "read", "true", "Pagi juga!"),
        ("aa03", "pending", "true", "Sudah sarapan?"),
    ]
    .map(|(a, b, c, d)| (a.to_owned(), b.to_owned(), c.to_owned(), d.to_owned()));
    assert_eq!(seen, expected);
    assert!(
        text(&messages[0]).contains("budi"),
        "others' messages name the sender"
    );
    assert!(
        text(&messages[2]).contains("Sending"),
        "a pending message says so"
    );

    // The server acknowledges: the same element turns sent, in place (a test or a person
    // holding on to it sees the change).
    let pending = messages[2].clone();
    rows.update(|rows| rows[2].status = MessageStatus::Sent);
    leptos::task::tick().await;
    let messages = find_all(&root, "message");
    assert_eq!(messages.len(), 3);
    assert!(
        pending.is_same_node(Some(&messages[2])),
        "the row was not replaced"
    );
    assert_eq!(attr(&pending, "data-msg-id"), "aa03");
    assert_eq!(attr(&pending, "data-status"), "sent");
    assert!(text(&pending).contains("Sent"));

    // A new message goes below the others.
    rows.update(|rows| rows.push(row("aa04", MessageStatus::Sent, false, "Belum")));
    leptos::task::tick().await;
    let ids: Vec<String> = find_all(&root, "message")
        .iter()
        .map(|m| attr(m, "data-msg-id"))
        .collect();
    assert_eq!(ids, ["aa01", "aa02", "aa03", "aa04"]);
}

#[wasm_bindgen_test]
async fn the_chat_list_shows_titles_last_messages_and_unread_badges() {
    let chats = RwSignal::new(vec![
        chat_row(7, "sari", "Sampai besok", 3),
        chat_row(4, "budi", "Oke", 0),
    ]);
    let opened = Arc::new(Mutex::new(Vec::new()));
    let record = opened.clone();
    let root = container();
    let _handle = mount_to(root.clone(), move || {
        let on_select = Callback::new(move |chat: ChatId| {
            record
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(chat);
        });
        view! { <ChatList chats selected=Signal::derive(|| None) on_select/> }
    });
    leptos::task::tick().await;

    let items = find_all(&root, "chat-list-item");
    assert_eq!(items.len(), 2);
    assert_eq!(
        (
            attr(&items[0], "data-chat-id"),
            attr(&items[0], "data-title")
        ),
        ("7".into(), "sari".into())
    );
    assert!(text(&items[0]).contains("Sampai besok"));
    assert_eq!(text(&find(&items[0], "unread-badge")), "3");
    assert!(
        find_all(&items[1], "unread-badge").is_empty(),
        "no badge without unread messages"
    );

    items[1].unchecked_ref::<HtmlElement>().click();
    assert_eq!(
        *opened.lock().unwrap_or_else(PoisonError::into_inner),
        vec![ChatId(4)]
    );

    // A new message in "budi" moves its row to the top, the same element, now with a badge.
    let budi = items[1].clone();
    chats.set(vec![
        chat_row(4, "budi", "Sudah sampai", 1),
        chat_row(7, "sari", "Sampai besok", 3),
    ]);
    leptos::task::tick().await;
    let items = find_all(&root, "chat-list-item");
    assert!(
        budi.is_same_node(Some(&items[0])),
        "the row moved instead of being replaced"
    );
    assert!(text(&budi).contains("Sudah sampai"));
    assert_eq!(text(&find(&budi, "unread-badge")), "1");
}

#[wasm_bindgen_test]
async fn the_connection_status_names_its_state() {
    let phase = RwSignal::new(ConnectionPhase::Offline);
    let root = container();
    let _handle = mount_to(root.clone(), move || {
        view! { <ConnectionStatus phase pending=Signal::derive(|| 2)/> }
    });
    leptos::task::tick().await;
    let status = find(&root, "connection-status");
    assert_eq!(attr(&status, "data-state"), "offline");
    assert!(text(&status).contains("2 messages will be sent"));
    phase.set(ConnectionPhase::Online);
    leptos::task::tick().await;
    assert_eq!(attr(&status, "data-state"), "online");
}

#[wasm_bindgen_test]
async fn offline_shows_when_the_next_try_is_and_offers_to_retry_now() {
    let phase = RwSignal::new(ConnectionPhase::Offline);
    let retry_in_s = RwSignal::new(Some(7u32));
    let retried = Arc::new(Mutex::new(0));
    let counter = retried.clone();
    let root = container();
    let _handle = mount_to(root.clone(), move || {
        let counter = counter.clone();
        let on_retry = Callback::new(move |()| {
            *counter.lock().unwrap_or_else(PoisonError::into_inner) += 1;
        });
        view! { <ConnectionStatus phase pending=Signal::derive(|| 0) retry_in_s on_retry/> }
    });
    leptos::task::tick().await;
    let status = find(&root, "connection-status");
    assert!(
        text(&status).contains("retrying in 7 s"),
        "{}",
        text(&status)
    );
    let button: HtmlElement = find(&root, "connection-retry").unchecked_into();
    assert!(!button.hidden());
    button.click();
    leptos::task::tick().await;
    assert_eq!(*retried.lock().unwrap_or_else(PoisonError::into_inner), 1);

    phase.set(ConnectionPhase::Online);
    retry_in_s.set(None);
    leptos::task::tick().await;
    assert!(button.hidden(), "nothing to retry while online");
}

#[wasm_bindgen_test]
async fn a_refused_message_offers_retry_with_its_id() {
    let rows = RwSignal::new(vec![
        row("bb01", MessageStatus::Sent, true, "sampai"),
        row("bb02", MessageStatus::Failed, true, "ditolak"),
    ]);
    let retried = Arc::new(Mutex::new(Vec::<String>::new()));
    let seen = retried.clone();
    let root = container();
    let _handle = mount_to(root.clone(), move || {
        let seen = seen.clone();
        let on_retry = Callback::new(move |id: String| {
            seen.lock().unwrap_or_else(PoisonError::into_inner).push(id);
        });
        view! { <MessageList rows on_reach_top=Callback::new(|()| {}) on_retry/> }
    });
    leptos::task::tick().await;
    let messages = find_all(&root, "message");
    let sent_retry: HtmlElement = find(&messages[0], "message-retry").unchecked_into();
    let failed_retry: HtmlElement = find(&messages[1], "message-retry").unchecked_into();
    assert!(sent_retry.hidden(), "only refused messages offer a retry");
    assert!(!failed_retry.hidden());
    assert!(text(&messages[1]).contains("Not sent"));
    failed_retry.click();
    leptos::task::tick().await;
    assert_eq!(
        *retried.lock().unwrap_or_else(PoisonError::into_inner),
        ["bb02"]
    );
}

// ----- end-to-end encryption and membership, driven by a real engine ----------------------

const ALICE: UserId = UserId(1);
const BOB: UserId = UserId(2);
const CICI: UserId = UserId(3);
const DIRECT: ChatId = ChatId(10);
const GROUP: ChatId = ChatId(20);
const CREATED_MS: u64 = 1_764_000_000_000;

fn name(text: &str) -> Username {
    Username::parse(text).unwrap_or_else(|error| panic!("{text}: {error}"))
}

fn person(id: UserId, username: &str) -> Member {
    Member {
        id,
        username: name(username),
    }
}

fn account_key(username: &str, passphrase: &str) -> AccountKey {
    AccountKey::derive(&name(username), passphrase, None, KdfParams::FAST_INSECURE)
        .unwrap_or_else(|error| panic!("key: {error}"))
}

fn public_key(key: &AccountKey) -> [u8; 32] {
    *key.auth_key().public_key().as_bytes()
}

/// What the key directory says about someone: their account key, and one device it signed.
fn user_keys(user: UserId, key: &AccountKey) -> UserKeys {
    let device = DeviceKey([user.0 as u8; 32]);
    let ed25519 = public_key(&account_key("device", "device passphrase"));
    UserKeys {
        user,
        account_key: public_key(key),
        devices: vec![DeviceKeys {
            user,
            device,
            ed25519,
            signature: key
                .auth_key()
                .sign(&device_keys_message(user, &device, &ed25519))
                .to_bytes()
                .to_vec(),
        }],
    }
}

/// A chat as the server describes it; a group's first member created it and is its admin.
fn chat_info(id: ChatId, kind: ChatKind, members: Vec<Member>) -> ChatInfo {
    let admins = match kind {
        ChatKind::Group => members.iter().take(1).map(|member| member.id).collect(),
        ChatKind::Direct => Vec::new(),
    };
    ChatInfo {
        id,
        kind,
        title: if kind == ChatKind::Group {
            "Arisan".to_owned()
        } else {
            String::new()
        },
        members,
        head: Seq(0),
        read: Seq(0),
        created_ms: CREATED_MS,
        admins,
        receipts: Vec::new(),
    }
}

fn frames(engine: &mut Engine) -> Vec<ClientFrame> {
    engine.take_step().frames
}

/// An engine signed in as alice with her passphrase, online, its device published.
fn alice_online() -> Engine {
    let mut engine = Engine::new();
    engine.sign_in(
        name("alice"),
        &account_key("alice", "correct horse battery"),
    );
    engine.on_connected();
    engine.handle_frame(ServerFrame::Challenge {
        version: PROTOCOL_VERSION,
        nonce: [1; 32],
        epoch: Epoch(1),
    });
    engine.handle_frame(ServerFrame::Welcome {
        me: person(ALICE, "alice"),
        session_token: Some([2; 32]),
    });
    engine.handle_frame(ServerFrame::KeysPublished { one_time_keys: 50 });
    engine.handle_frame(ServerFrame::SyncDone);
    // Signed in with the passphrase: the key backup (its pins) is read before any keys are
    // asked for. It is empty.
    let fetch = frames(&mut engine)
        .into_iter()
        .find_map(|frame| match frame {
            ClientFrame::FetchBackup { request, .. } => Some(request),
            _ => None,
        })
        .expect("the backup is read");
    engine.handle_frame(ServerFrame::Backup {
        request: fetch,
        entries: Vec::new(),
        more: false,
    });
    let _ = engine.take_step();
    engine
}

/// Answers the engine's pending key query (it must have one) with `keys`.
fn answer_key_query(engine: &mut Engine, keys: Vec<UserKeys>) {
    let request = frames(engine)
        .into_iter()
        .find_map(|frame| match frame {
            ClientFrame::QueryKeys { request, .. } => Some(request),
            _ => None,
        })
        .expect("the engine asks for the keys");
    engine.handle_frame(ServerFrame::Keys {
        request,
        users: keys,
    });
}

/// alice's engine with a 1:1 chat with bob, whose keys the directory gave as `bob_key`.
fn alice_with_bob(bob_key: &AccountKey) -> Engine {
    let mut engine = alice_online();
    engine.handle_frame(ServerFrame::Chat {
        request: None,
        chat: chat_info(
            DIRECT,
            ChatKind::Direct,
            vec![person(ALICE, "alice"), person(BOB, "bob")],
        ),
    });
    answer_key_query(&mut engine, vec![user_keys(BOB, bob_key)]);
    engine
}

#[wasm_bindgen_test]
async fn a_message_whose_key_has_not_arrived_shows_as_waiting() {
    let mut engine = alice_online();
    engine.handle_frame(ServerFrame::Chat {
        request: None,
        chat: chat_info(
            GROUP,
            ChatKind::Group,
            vec![person(ALICE, "alice"), person(BOB, "bob")],
        ),
    });
    // bob's device encrypted it with a Megolm session it has not shared with this device.
    engine.handle_frame(ServerFrame::Message(MessageFrame {
        chat_id: GROUP,
        seq: Seq(1),
        client_msg_id: ClientMsgId([0xcc; 16]),
        sender: BOB,
        sent_at_ms: CREATED_MS + 1,
        body: EncryptedBody::MegolmV1 {
            sender_device: DeviceKey([2; 32]),
            session_id: "a session not shared yet".to_owned(),
            ciphertext: vec![3; 40],
        }
        .to_body(),
    }));
    engine
        .send_text(GROUP, "Sudah terima kuncinya?", CREATED_MS + 2)
        .expect("queued");
    let rows = RwSignal::new(message_rows(&engine, GROUP));
    let root = container();
    let _handle = mount_to(root.clone(), move || {
        view! { <MessageList rows on_reach_top=Callback::new(|()| {})/> }
    });
    leptos::task::tick().await;

    let messages = find_all(&root, "message");
    assert_eq!(messages.len(), 2);
    assert_eq!(attr(&messages[0], "data-msg-id"), "cc".repeat(16));
    assert_eq!(attr(&messages[0], "data-lock"), "waiting");
    assert_eq!(
        text(&find(&messages[0], "message-text")),
        Text::MessageWaiting.english()
    );
    assert!(text(&messages[0]).contains("bob"), "the sender is named");
    assert_eq!(
        attr(&messages[1], "data-lock"),
        "open",
        "what this device wrote is open"
    );
    assert_eq!(
        text(&find(&messages[1], "message-text")),
        "Sudah terima kuncinya?"
    );
}

/// Mounts a chat view of `chat` as alice's engine sees it; the engine and a version signal
/// (bumped after every change to it) stay with the test.
fn mounted_chat_view(
    engine: Engine,
    chat: ChatId,
) -> (HtmlElement, Arc<Mutex<Engine>>, RwSignal<u64>, impl Sized) {
    let engine = Arc::new(Mutex::new(engine));
    let version = RwSignal::new(0u64);
    let root = container();
    let shared = engine.clone();
    let handle = mount_to(root.clone(), move || {
        // A view of the engine, read again whenever the test bumps `version`.
        macro_rules! read {
            ($query:expr) => {{
                let engine = shared.clone();
                Signal::derive(move || {
                    version.track();
                    $query(
                        &*engine.lock().unwrap_or_else(PoisonError::into_inner),
                        chat,
                    )
                })
            }};
        }
        let title = read!(|engine: &Engine, chat| engine.chat_title(chat).unwrap_or_default());
        let rows = read!(message_rows);
        let kind = read!(|engine: &Engine, chat| engine.chat(chat).map(|info| info.kind));
        let safety_number = read!(|engine: &Engine, chat| engine.safety_number(chat));
        let key_change = read!(key_change_words);
        let members = read!(member_rows);
        let is_member = read!(|engine: &Engine, chat| engine.is_member(chat));
        let am_admin = read!(|engine: &Engine, chat| engine.am_admin(chat));
        let act = {
            let engine = shared.clone();
            move |f: Box<dyn Fn(&mut Engine) + Send + Sync>| {
                let engine = engine.clone();
                Callback::new(move |()| {
                    f(&mut engine.lock().unwrap_or_else(PoisonError::into_inner));
                    version.update(|version| *version += 1);
                })
            }
        };
        let on_key_change_ok = act(Box::new(move |engine| engine.acknowledge_key_change(chat)));
        let on_leave = act(Box::new(move |engine| {
            engine.remove_member(chat, ALICE).expect("online");
        }));
        let remover = shared.clone();
        let on_remove_member = Callback::new(move |user: u64| {
            remover
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove_member(chat, UserId(user))
                .expect("online");
        });
        view! {
            <ChatView
                key=Signal::derive(move || chat.0)
                title
                rows
                on_send=Callback::new(|_: String| Ok(()))
                on_reach_top=Callback::new(|()| {})
                on_retry=Callback::new(|_: String| {})
                on_back=Callback::new(|()| {})
                kind
                safety_number
                key_change
                on_key_change_ok
                members
                is_member
                on_remove_member
                on_leave
                am_admin
            />
        }
    });
    (root, engine, version, handle)
}

fn with_engine<R>(engine: &Arc<Mutex<Engine>>, f: impl FnOnce(&mut Engine) -> R) -> R {
    f(&mut engine.lock().unwrap_or_else(PoisonError::into_inner))
}

#[wasm_bindgen_test]
async fn a_direct_chat_shows_its_safety_number_once_the_keys_are_known() {
    let bob_key = account_key("bob", "bob's long passphrase");
    let mut engine = alice_online();
    engine.handle_frame(ServerFrame::Chat {
        request: None,
        chat: chat_info(
            DIRECT,
            ChatKind::Direct,
            vec![person(ALICE, "alice"), person(BOB, "bob")],
        ),
    });
    let (root, engine, version, _handle) = mounted_chat_view(engine, DIRECT);
    leptos::task::tick().await;
    let number = find(&root, "safety-number");
    assert_eq!(text(&number), "Not yet available");
    let details = number
        .closest("details")
        .expect("a valid selector")
        .expect("inside the chat's details");
    assert!(
        details.has_attribute("open"),
        "the safety number shows without a click"
    );
    assert!(
        find_all(&root, "chat-members").is_empty(),
        "a 1:1 chat has no members panel"
    );

    with_engine(&engine, |engine| {
        answer_key_query(engine, vec![user_keys(BOB, &bob_key)])
    });
    version.update(|version| *version += 1);
    leptos::task::tick().await;

    let expected = safety_number(
        (
            ALICE,
            public_key(&account_key("alice", "correct horse battery")),
        ),
        (BOB, public_key(&bob_key)),
    );
    let displayed = text(&find(&root, "safety-number"));
    assert_eq!(displayed, expected, "the number both sides compute");
    let groups: Vec<&str> = displayed.split(' ').collect();
    assert_eq!(groups.len(), 12);
    assert!(
        groups
            .iter()
            .all(|group| group.len() == 5 && group.bytes().all(|b| b.is_ascii_digit()))
    );
    assert!(
        find_all(&root, "key-changed").is_empty(),
        "a first key is pinned, not a change"
    );
}

#[wasm_bindgen_test]
async fn the_key_changed_banner_goes_away_once_acknowledged() {
    let mut engine = alice_with_bob(&account_key("bob", "bob's long passphrase"));
    let before = engine.safety_number(DIRECT).expect("bob's keys are known");
    // bob's account key is replaced (or someone claims to be him): the directory says so.
    engine.handle_frame(ServerFrame::DevicesChanged { user: BOB });
    engine.handle_frame(ServerFrame::Chat {
        request: None,
        chat: chat_info(
            DIRECT,
            ChatKind::Direct,
            vec![person(ALICE, "alice"), person(BOB, "bob")],
        ),
    });
    answer_key_query(
        &mut engine,
        vec![user_keys(
            BOB,
            &account_key("bob", "a different passphrase"),
        )],
    );
    assert_eq!(
        engine.take_step().events,
        vec![Event::KeyChanged { user: BOB }]
    );
    let (root, engine, _version, _handle) = mounted_chat_view(engine, DIRECT);
    leptos::task::tick().await;

    let banner = find(&root, "key-changed");
    let words = text(&banner);
    assert!(
        words.starts_with("bob's security key changed on ")
            && words.contains(
                "Compare the safety number again; nothing you write here is sent until you \
                 confirm."
            ),
        "{words}"
    );
    assert_ne!(
        text(&find(&root, "safety-number")),
        before,
        "the number follows the new key"
    );

    find(&root, "key-changed-ok")
        .unchecked_into::<HtmlElement>()
        .click();
    leptos::task::tick().await;
    assert!(find_all(&root, "key-changed").is_empty());
    assert_eq!(
        with_engine(&engine, |engine| engine.key_change(DIRECT)),
        None
    );
}

#[wasm_bindgen_test]
async fn a_member_who_left_reads_on_but_the_composer_is_gone() {
    let mut engine = alice_online();
    let everyone = vec![
        person(ALICE, "alice"),
        person(BOB, "bob"),
        person(CICI, "cici"),
    ];
    engine.handle_frame(ServerFrame::Chat {
        request: None,
        chat: chat_info(GROUP, ChatKind::Group, everyone),
    });
    let (root, engine, version, _handle) = mounted_chat_view(engine, GROUP);
    leptos::task::tick().await;

    let names: Vec<String> = find_all(&root, "chat-member")
        .iter()
        .map(|member| attr(member, "data-username"))
        .collect();
    assert_eq!(names, ["alice", "bob", "cici"]);
    let removes = find_all(&root, "member-remove");
    assert_eq!(removes.len(), 2, "everyone but oneself can be removed");
    assert!(find_all(&root, "safety-number").is_empty());
    find(&root, "composer-input");
    assert!(find_all(&root, "chat-left").is_empty());

    // Removing cici asks the server to.
    removes[1].unchecked_ref::<HtmlElement>().click();
    leptos::task::tick().await;
    let sent = with_engine(&engine, frames);
    assert!(
        sent.iter().any(|frame| matches!(
            frame,
            ClientFrame::RemoveMember {
                chat_id: GROUP,
                user: CICI,
                ..
            }
        )),
        "{sent:?}"
    );

    // Leaving: the request goes out, and the server's updated chat no longer has alice.
    find(&root, "chat-leave")
        .unchecked_into::<HtmlElement>()
        .click();
    leptos::task::tick().await;
    let sent = with_engine(&engine, frames);
    assert!(
        sent.iter().any(|frame| matches!(
            frame,
            ClientFrame::RemoveMember {
                chat_id: GROUP,
                user: ALICE,
                ..
            }
        )),
        "{sent:?}"
    );
    with_engine(&engine, |engine| {
        engine.handle_frame(ServerFrame::Chat {
            request: None,
            chat: chat_info(GROUP, ChatKind::Group, vec![person(BOB, "bob")]),
        });
    });
    version.update(|version| *version += 1);
    leptos::task::tick().await;

    let notice = find(&root, "chat-left");
    assert_eq!(
        text(&notice),
        "You are no longer a member of this group. You can still read what you received."
    );
    assert!(find_all(&root, "composer-input").is_empty());
    assert!(find_all(&root, "composer-send").is_empty());
    assert!(find_all(&root, "chat-leave").is_empty());
    assert!(
        find_all(&root, "member-remove")
            .iter()
            .all(|button| button.unchecked_ref::<HtmlElement>().hidden()),
        "no removing once out"
    );
}
