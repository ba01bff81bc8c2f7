//! The message list: messages in order with their state, updated in place, and a refused
//! message's retry.

use std::sync::{Arc, Mutex, PoisonError};

use leptos::mount::mount_to;
use leptos::prelude::*;
use merpati_bridge::{MessageRow, MessageStatus};
use merpati_page::views::message_list::MessageList;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::wasm_bindgen_test;
use web_sys::HtmlElement;

use crate::dom::{attr, container, find, find_all, text};

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

#[wasm_bindgen_test]
async fn each_message_takes_the_direction_of_its_own_text() {
    let rows = RwSignal::new(vec![
        row("1", MessageStatus::Sent, false, "مرحبا، كيف حالك؟"),
        row("2", MessageStatus::Sent, true, "Baik, terima kasih!"),
    ]);
    let root = container();
    let _handle = mount_to(root.clone(), move || {
        view! { <MessageList rows on_reach_top=Callback::new(|()| {})/> }
    });
    leptos::task::tick().await;
    let texts = find_all(&root, "message-text");
    let directions: Vec<&str> = texts
        .iter()
        .map(|text| {
            if text.matches(":dir(rtl)").expect("a valid selector") {
                "rtl"
            } else {
                "ltr"
            }
        })
        .collect();
    assert_eq!(
        directions,
        ["rtl", "ltr"],
        "Arabic right to left, Indonesian left to right"
    );
}
