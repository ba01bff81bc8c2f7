//! The lines between messages: each day's first message has its day above it, and the first
//! message that was unread when the chat came on screen has the unread divider.

use leptos::mount::mount_to;
use leptos::prelude::*;
use merpati_app::engine_view::message_rows;
use merpati_core::Engine;
use merpati_page::views::message_list::MessageList;
use merpati_protocol::content::EncryptedBody;
use merpati_protocol::keys::DeviceKey;
use merpati_protocol::{ChatKind, ClientMsgId, MessageFrame, Seq, ServerFrame};
use wasm_bindgen_test::wasm_bindgen_test;

use crate::dom::{attr, container, find_all, text};
use crate::engine::{ALICE, BOB, GROUP, alice_online, chat_info, person};

/// Noon of the day `days_back` days before today, by the calendar.
fn noon(days_back: u32) -> u64 {
    let day = js_sys::Date::new_0();
    day.set_hours(12);
    day.set_minutes(0);
    day.set_date(day.get_date() - days_back);
    day.get_time() as u64
}

/// bob's message `seq`, sent at `sent_at_ms`. It waits for its key (a session not shared with
/// this device), and counts as unread all the same.
fn from_bob(seq: u64, sent_at_ms: u64) -> ServerFrame {
    ServerFrame::Message(MessageFrame {
        chat_id: GROUP,
        seq: Seq(seq),
        client_msg_id: ClientMsgId([seq as u8; 16]),
        sender: BOB,
        sent_at_ms,
        body: EncryptedBody::MegolmV1 {
            sender_device: DeviceKey([2; 32]),
            session_id: "a session not shared yet".to_owned(),
            ciphertext: vec![3; 40],
        }
        .to_body(),
    })
}

/// alice's group with bob: two messages of 5 March 2020, read; then, while she was away, one
/// of yesterday and one of today; then her own, today.
fn alice_back_in_the_group() -> Engine {
    let mut engine = alice_online();
    engine.handle_frame(ServerFrame::Chat {
        request: None,
        chat: chat_info(
            GROUP,
            ChatKind::Group,
            vec![person(ALICE, "alice"), person(BOB, "bob")],
        ),
    });
    let long_ago =
        js_sys::Date::new_with_year_month_day_hr_min(2020, 2, 5, 12, 0).get_time() as u64;
    engine.handle_frame(from_bob(1, long_ago));
    engine.handle_frame(from_bob(2, long_ago + 3_600_000));
    engine.set_chat_on_screen(Some(GROUP));
    engine.set_chat_on_screen(None);
    engine.handle_frame(from_bob(3, noon(1)));
    engine.handle_frame(from_bob(4, js_sys::Date::now() as u64));
    engine.set_chat_on_screen(Some(GROUP));
    engine
        .send_text(GROUP, "Maaf, baru lihat", js_sys::Date::now() as u64)
        .expect("queued");
    engine
}

#[wasm_bindgen_test]
fn the_worker_gives_each_days_first_message_its_day_and_the_first_unread_the_divider() {
    let rows = message_rows(&alice_back_in_the_group(), GROUP);
    let days: Vec<Option<&str>> = rows.iter().map(|row| row.day.as_deref()).collect();
    assert_eq!(
        days,
        [
            Some("5 Mar 2020"),
            None,
            Some("Yesterday"),
            Some("Today"),
            None
        ]
    );
    let dividers: Vec<Option<&str>> = rows
        .iter()
        .map(|row| row.unread_from_here.as_deref())
        .collect();
    assert_eq!(
        dividers,
        [None, None, Some("2 unread messages"), None, None],
        "above what was unread when she came back, though it is read now"
    );
}

#[wasm_bindgen_test]
async fn the_list_draws_the_lines_above_their_messages_and_moves_them_with_the_rows() {
    let rows = RwSignal::new(message_rows(&alice_back_in_the_group(), GROUP));
    let root = container();
    let _handle = mount_to(root.clone(), move || {
        view! { <MessageList rows on_reach_top=Callback::new(|()| {})/> }
    });
    leptos::task::tick().await;

    let days: Vec<String> = find_all(&root, "day-separator").iter().map(text).collect();
    assert_eq!(days, ["5 Mar 2020", "Yesterday", "Today"]);
    let dividers = find_all(&root, "unread-divider");
    assert_eq!(dividers.len(), 1);
    assert_eq!(text(&dividers[0]), "2 unread messages");
    // In order: yesterday's line, the divider, then the message they stand above.
    let yesterday = &find_all(&root, "day-separator")[1];
    let after_day = yesterday.next_element_sibling().expect("a sibling");
    assert!(after_day.is_same_node(Some(&dividers[0])));
    let after_divider = dividers[0].next_element_sibling().expect("a sibling");
    assert_eq!(attr(&after_divider, "data-testid"), "message");
    assert_eq!(attr(&after_divider, "data-msg-id"), "03".repeat(16));

    // The chat left and opened again with nothing unread: the divider goes, the days stay.
    rows.update(|rows| rows[2].unread_from_here = None);
    leptos::task::tick().await;
    assert!(find_all(&root, "unread-divider").is_empty());
    assert_eq!(find_all(&root, "day-separator").len(), 3);
}
