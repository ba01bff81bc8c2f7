//! The presentational components, mounted alone in Chromium and driven like a person would.

use std::sync::{Arc, Mutex, PoisonError};

use leptos::mount::mount_to;
use leptos::prelude::*;
use merpati_app::views::chat_list::ChatList;
use merpati_app::views::composer::Composer;
use merpati_app::views::connection_status::ConnectionStatus;
use merpati_app::views::message_list::{MessageList, MessageRow};
use merpati_core::{ChatSummary, ConnectionPhase, MessageStatus};
use merpati_protocol::{ChatId, ChatKind};
use wasm_bindgen::JsCast;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};
use web_sys::{Element, HtmlElement, HtmlTextAreaElement};

wasm_bindgen_test_configure!(run_in_browser);

fn document() -> web_sys::Document {
    web_sys::window()
        .and_then(|window| window.document())
        .expect("a document")
}

/// A fresh element in the page to mount one component into.
fn container() -> HtmlElement {
    let element = document().create_element("div").expect("a div");
    document()
        .body()
        .expect("a body")
        .append_child(&element)
        .expect("appended");
    element.unchecked_into()
}

fn find(root: &Element, testid: &str) -> Element {
    root.query_selector(&format!("[data-testid={testid}]"))
        .expect("a valid selector")
        .unwrap_or_else(|| panic!("no element with data-testid={testid}"))
}

fn find_all(root: &Element, testid: &str) -> Vec<Element> {
    let list = root
        .query_selector_all(&format!("[data-testid={testid}]"))
        .expect("a valid selector");
    (0..list.length())
        .filter_map(|i| list.item(i)?.dyn_into().ok())
        .collect()
}

fn attr(element: &Element, name: &str) -> String {
    element
        .get_attribute(name)
        .unwrap_or_else(|| panic!("no attribute {name}"))
}

fn text(element: &Element) -> String {
    element.text_content().unwrap_or_default()
}

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

fn summary(id: u64, title: &str, last: &str, unread: usize) -> ChatSummary {
    ChatSummary {
        id: ChatId(id),
        kind: ChatKind::Direct,
        title: title.to_owned(),
        last_text: Some(last.to_owned()),
        last_activity_ms: 0,
        unread,
    }
}

#[wasm_bindgen_test]
async fn the_chat_list_shows_titles_last_messages_and_unread_badges() {
    let chats = RwSignal::new(vec![
        summary(7, "sari", "Sampai besok", 3),
        summary(4, "budi", "Oke", 0),
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
        summary(4, "budi", "Sudah sampai", 1),
        summary(7, "sari", "Sampai besok", 3),
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
