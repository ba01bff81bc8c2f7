//! End-to-end encryption as the chat shows it: a message waiting for its key, the safety
//! number of a 1:1 chat, and the banner when someone's key changes.

use leptos::mount::mount_to;
use leptos::prelude::*;
use merpati_app::engine_view::message_rows;
use merpati_core::Event;
use merpati_core::e2e::safety_number;
use merpati_page::views::message_list::MessageList;
use merpati_protocol::content::EncryptedBody;
use merpati_protocol::keys::DeviceKey;
use merpati_protocol::{ChatKind, ClientMsgId, MessageFrame, Seq, ServerFrame};
use merpati_words::Text;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::wasm_bindgen_test;
use web_sys::HtmlElement;

use crate::dom::{attr, container, find, find_all, text};
use crate::engine::{
    ALICE, BOB, CREATED_MS, DIRECT, GROUP, account_key, alice_online, alice_with_bob,
    answer_key_query, chat_info, mounted_chat_view, person, public_key, user_keys, with_engine,
};

/// alice online, in a group with bob.
fn alice_in_a_group() -> merpati_core::Engine {
    let mut engine = alice_online();
    engine.handle_frame(ServerFrame::Chat {
        request: None,
        chat: chat_info(
            GROUP,
            ChatKind::Group,
            vec![person(ALICE, "alice"), person(BOB, "bob")],
        ),
    });
    engine
}

/// bob's message in the group at `seq`, encrypted with a Megolm session his device has not
/// shared with alice's.
fn not_shared_yet(seq: u64) -> MessageFrame {
    MessageFrame {
        chat_id: GROUP,
        seq: Seq(seq),
        client_msg_id: ClientMsgId([0xcc; 16]),
        sender: BOB,
        sent_at_ms: CREATED_MS + 1,
        body: EncryptedBody::MegolmV1 {
            sender_device: DeviceKey([2; 32]),
            session_id: "a session not shared yet".to_owned(),
            ciphertext: vec![3; 40],
        }
        .to_body(),
    }
}

/// The group's message list as `engine` shows it, mounted: its root, and the mount.
async fn group_list_mounted(
    engine: &merpati_core::Engine,
) -> (HtmlElement, leptos::mount::UnmountHandle<impl Mountable>) {
    let rows = RwSignal::new(message_rows(engine, GROUP));
    let root = container();
    let handle = mount_to(root.clone(), move || {
        view! { <MessageList rows on_reach_top=Callback::new(|()| {})/> }
    });
    leptos::task::tick().await;
    (root, handle)
}

#[wasm_bindgen_test]
async fn a_message_whose_key_has_not_arrived_shows_as_waiting() {
    let mut engine = alice_in_a_group();
    engine.handle_frame(ServerFrame::Message(not_shared_yet(1)));
    engine
        .send_text(GROUP, "Sudah terima kuncinya?", CREATED_MS + 2)
        .expect("queued");
    let (root, _handle) = group_list_mounted(&engine).await;

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

/// A message the server delivers again at another position is a row of its own, refused as a
/// copy, beside the message it copies: the list does not take one for the other.
#[wasm_bindgen_test]
async fn a_copy_of_a_message_delivered_again_is_a_row_of_its_own() {
    let mut engine = alice_in_a_group();
    engine.handle_frame(ServerFrame::Message(not_shared_yet(1)));
    engine.handle_frame(ServerFrame::Message(not_shared_yet(2)));
    let (root, _handle) = group_list_mounted(&engine).await;

    let messages = find_all(&root, "message");
    assert_eq!(messages.len(), 2);
    assert_eq!(attr(&messages[0], "data-lock"), "waiting");
    assert_eq!(attr(&messages[1], "data-lock"), "refused");
    assert_eq!(
        text(&find(&messages[1], "message-text")),
        Text::MessageReplayed.english()
    );
    assert_ne!(
        attr(&messages[0], "data-msg-id"),
        attr(&messages[1], "data-msg-id")
    );
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
