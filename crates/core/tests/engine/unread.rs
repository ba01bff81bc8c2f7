//! The unread count (what counts, moved by reading elsewhere, whole after a reload) and where
//! a chat's unread messages began when it came on screen.

use merpati_core::{MemoryStore, UnreadDivider};
use merpati_protocol::{
    ChatId, ClientMsgId, MessageFrame, Seq, ServerFrame, UserId,
    content::{MessageContent, SystemEvent},
};

use super::receipts::{own, receipt};
use crate::support::alice::{
    ALICE, BOB, CHAT, apply, member, message, online_alice, published_alice, reload,
};

const CAROL: UserId = UserId(3);

#[test]
fn reading_on_another_device_moves_the_unread_count_here() {
    let (mut engine, mut net) = published_alice();
    for seq in 1..=2 {
        let said = net.bob_says(&mut engine, seq, "m");
        engine.handle_frame(ServerFrame::Message(said));
    }
    assert_eq!(engine.chat_list()[0].unread, 2);
    engine.handle_frame(receipt(ALICE, 2, 2, 900));
    assert!(engine.take_step().views_changed);
    assert_eq!(engine.chat_list()[0].unread, 0);
}

#[tokio::test]
async fn every_unread_message_is_counted_after_a_reload_not_only_the_newest_page() {
    let (mut engine, mut net) = published_alice();
    // More than a reload reads of a chat to show it (50), read up to the fifth elsewhere.
    for seq in 1..=120 {
        let said = net.bob_says(&mut engine, seq, "m");
        engine.handle_frame(ServerFrame::Message(said));
    }
    engine.handle_frame(receipt(ALICE, 5, 5, 900));
    let _ = net.serve(&mut engine);
    assert_eq!(engine.chat_list()[0].unread, 115);

    let store = MemoryStore::new();
    apply(&store, net.alice_writes.clone()).await;
    let reloaded = reload(&store).await;
    assert_eq!(reloaded.chat_list()[0].unread, 115);
}

#[test]
fn only_messages_count_as_unread_not_reactions_edits_or_system_lines() {
    let (mut engine, mut net) = published_alice();
    let text = net.bob_says(&mut engine, 1, "halo");
    let reaction = net.bob_sends(
        &mut engine,
        2,
        MessageContent::Reaction {
            target: text.client_msg_id,
            emoji: Some("👍".into()),
        },
    );
    let edit = net.bob_sends(
        &mut engine,
        3,
        MessageContent::Edit {
            target: text.client_msg_id,
            text: "halo!".into(),
        },
    );
    let line = MessageFrame {
        body: SystemEvent::Added {
            by: member(BOB, "bob"),
            user: member(CAROL, "carol"),
        }
        .to_body(),
        ..message(4, BOB, "")
    };
    for frame in [text, reaction, edit, line] {
        engine.handle_frame(ServerFrame::Message(frame));
    }
    let summary = &engine.chat_list()[0];
    assert_eq!(summary.unread, 1);
    assert_eq!(summary.last_text.as_deref(), Some("bob added carol"));
}

#[test]
fn a_chat_brought_on_screen_remembers_where_its_unread_messages_began_until_another_is() {
    let mut engine = online_alice();
    engine.handle_frame(ServerFrame::Message(message(1, BOB, "satu")));
    assert_eq!(engine.unread_divider(CHAT), None, "not on screen yet");
    engine.set_chat_on_screen(Some(CHAT));
    let first_look = UnreadDivider {
        chat_id: CHAT,
        first: Seq(1),
        first_id: ClientMsgId([1; 16]),
        count: 1,
    };
    assert_eq!(engine.unread_divider(CHAT), Some(first_look));
    engine.set_chat_on_screen(None);
    for seq in 2..=4 {
        engine.handle_frame(ServerFrame::Message(message(seq, BOB, "m")));
    }
    engine.handle_frame(ServerFrame::Message(own(5)));
    let _ = engine.take_step();

    engine.set_chat_on_screen(Some(CHAT));
    let divider = UnreadDivider {
        chat_id: CHAT,
        first: Seq(2),
        first_id: ClientMsgId([2; 16]),
        count: 3,
    };
    assert_eq!(engine.unread_divider(CHAT), Some(divider));
    assert_eq!(
        engine.chat_list()[0].unread,
        0,
        "read, and still shown where it began"
    );
    // Arriving while on screen, it is read at once: the divider stays where it was.
    engine.handle_frame(ServerFrame::Message(message(6, BOB, "enam")));
    engine.set_chat_on_screen(Some(CHAT));
    assert_eq!(engine.unread_divider(CHAT), Some(divider));
    // The tab hidden and shown again with nothing new: it stays.
    engine.set_chat_on_screen(None);
    engine.set_chat_on_screen(Some(CHAT));
    assert_eq!(engine.unread_divider(CHAT), Some(divider));
    // Hidden while one more arrived: it moves to that one.
    engine.set_chat_on_screen(None);
    engine.handle_frame(ServerFrame::Message(message(7, BOB, "tujuh")));
    engine.set_chat_on_screen(Some(CHAT));
    assert_eq!(
        engine.unread_divider(CHAT),
        Some(UnreadDivider {
            chat_id: CHAT,
            first: Seq(7),
            first_id: ClientMsgId([7; 16]),
            count: 1
        })
    );
    // Another chat opened: it goes.
    engine.set_chat_on_screen(Some(ChatId(99)));
    engine.set_chat_on_screen(Some(CHAT));
    assert_eq!(engine.unread_divider(CHAT), None);
}

#[test]
fn a_chat_closed_and_opened_again_has_no_divider_but_one_only_hidden_keeps_it() {
    let mut engine = online_alice();
    engine.handle_frame(ServerFrame::Message(message(1, BOB, "satu")));
    engine.chat_opened(Some(CHAT));
    engine.set_chat_on_screen(Some(CHAT));
    assert!(engine.unread_divider(CHAT).is_some());
    // The tab hidden and shown: the chat stayed open.
    engine.set_chat_on_screen(None);
    engine.set_chat_on_screen(Some(CHAT));
    assert!(engine.unread_divider(CHAT).is_some());
    // Back to the chat list (a phone), then the chat again: what was read is read.
    engine.chat_opened(None);
    engine.set_chat_on_screen(None);
    engine.chat_opened(Some(CHAT));
    engine.set_chat_on_screen(Some(CHAT));
    assert_eq!(engine.unread_divider(CHAT), None);
}

#[tokio::test]
async fn a_reload_reads_unread_messages_within_a_budget_for_all_chats_together() {
    use merpati_core::store::{UNREAD_READ_AT_START, UNREAD_READ_AT_START_IN_ALL};
    use merpati_core::{ChatRecord, StoreWrite, StoredState};
    // More chats left unread, each past what one chat reads, than the budget covers.
    let chats = UNREAD_READ_AT_START_IN_ALL / UNREAD_READ_AT_START + 3;
    let store = MemoryStore::new();
    let mut writes = Vec::new();
    for n in 0..chats as u64 {
        let chat = ChatId(100 + n);
        let head = UNREAD_READ_AT_START as u64 + 10;
        let mut info = crate::support::alice::chat_info(head);
        info.id = chat;
        writes.push(StoreWrite::PutChat(ChatRecord {
            info,
            floor: Seq(1),
            synced: Seq(head),
            delivered: Seq(head),
            read_log: Vec::new(),
        }));
        writes.push(StoreWrite::PutMessages(
            (1..=head)
                .map(|seq| MessageFrame {
                    chat_id: chat,
                    ..message(seq, BOB, "m")
                })
                .collect(),
        ));
    }
    apply(&store, writes).await;
    let page = 50;
    let stored = StoredState::read(&store, page)
        .await
        .unwrap_or_else(|never| match never {});
    assert_eq!(
        stored.messages.len(),
        chats * page + UNREAD_READ_AT_START_IN_ALL,
        "every chat's page, and the budget beyond them"
    );
}
