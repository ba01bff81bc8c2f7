//! Receipts: what this device reports (delivered once per step, and again after a reconnect
//! in case the report was lost with its connection; read at once for the chat on screen),
//! and what it learns of the others (merged, persisted, shown at once). The unread count is
//! in `unread`.

use merpati_core::{Engine, MemoryStore, MessageStatus, PrivacySettings, StoreWrite};
use merpati_protocol::{
    ChatKind, ClientFrame, ClientMsgId, Epoch, MessageFrame, Receipt, Seq, ServerFrame, UserId,
    content::SystemEvent,
};

use crate::support::alice::{
    ALICE, BOB, CHAT, Net, apply, chat_info, member, message, online_alice, published_alice,
    reconnect, reload, take_frames,
};

const CAROL: UserId = UserId(3);

/// Alice's own message `seq` (written on another device of hers: only its place matters).
pub(super) fn own(seq: u64) -> MessageFrame {
    MessageFrame {
        body: vec![0xff],
        ..message(seq, ALICE, "")
    }
}

pub(super) fn receipt(user: UserId, delivered: u64, read: u64, at: u64) -> ServerFrame {
    ServerFrame::Receipt {
        chat_id: CHAT,
        receipt: Receipt {
            user,
            delivered: Seq(delivered),
            read: Seq(read),
            read_at_ms: at,
        },
    }
}

fn status_of_last(engine: &Engine) -> MessageStatus {
    engine.timeline(CHAT).last().expect("a message").status
}

#[test]
fn a_read_receipt_shows_at_once_without_waiting_for_another_message() {
    let mut engine = online_alice();
    engine.handle_frame(ServerFrame::Message(own(1)));
    let _ = engine.take_step();
    assert_eq!(status_of_last(&engine), MessageStatus::Sent);

    engine.handle_frame(receipt(BOB, 1, 0, 0));
    let step = engine.take_step();
    assert!(
        step.views_changed,
        "the views are told, though nothing else happened"
    );
    assert_eq!(status_of_last(&engine), MessageStatus::Delivered);

    engine.handle_frame(receipt(BOB, 1, 1, 700));
    assert!(engine.take_step().views_changed);
    assert_eq!(status_of_last(&engine), MessageStatus::Read);

    // An older receipt arriving late changes nothing.
    engine.handle_frame(receipt(BOB, 1, 0, 0));
    assert!(engine.take_step().is_empty());
    assert_eq!(status_of_last(&engine), MessageStatus::Read);
}

#[test]
fn delivery_is_reported_once_per_chat_in_the_step_that_stores_the_messages() {
    let mut engine = online_alice();
    engine.handle_frame(ServerFrame::Page {
        chat_id: CHAT,
        messages: (1..=3).map(|seq| message(seq, BOB, "m")).collect(),
        more: false,
    });
    engine.handle_frame(ServerFrame::Message(message(4, BOB, "m")));
    let step = engine.take_step();
    assert!(
        step.writes
            .iter()
            .any(|write| matches!(write, StoreWrite::PutMessages(_)))
    );
    assert_eq!(
        step.frames,
        vec![ClientFrame::MarkDelivered {
            chat_id: CHAT,
            seq: Seq(4)
        }],
        "one report, after the writes that made them durable"
    );
    engine.handle_frame(ServerFrame::Message(message(4, BOB, "m")));
    assert!(
        take_frames(&mut engine).is_empty(),
        "nothing moved: nothing reported"
    );
}

#[test]
fn a_delivery_report_lost_with_its_connection_is_made_again_after_the_next_sync_and_only_then() {
    let mut engine = online_alice();
    engine.handle_frame(ServerFrame::Message(message(1, BOB, "m")));
    // The report was taken for the socket, which closed before it went out.
    assert_eq!(
        take_frames(&mut engine),
        [ClientFrame::MarkDelivered {
            chat_id: CHAT,
            seq: Seq(1)
        }]
    );
    let report_again = || {
        vec![ClientFrame::MarkDelivered {
            chat_id: CHAT,
            seq: Seq(1),
        }]
    };
    reconnect(&mut engine, Epoch(7));
    let _ = take_frames(&mut engine);
    engine.handle_frame(ServerFrame::SyncDone);
    assert_eq!(take_frames(&mut engine), report_again());

    // Made again once: a connection that reported nothing new reports nothing the next time.
    reconnect(&mut engine, Epoch(7));
    let _ = take_frames(&mut engine);
    engine.handle_frame(ServerFrame::SyncDone);
    assert_eq!(take_frames(&mut engine), []);
}

#[test]
fn the_chat_on_screen_is_read_at_once_and_as_messages_arrive() {
    let mut engine = online_alice();
    engine.handle_frame(ServerFrame::Message(message(1, BOB, "satu")));
    let _ = engine.take_step();
    engine.set_chat_on_screen(Some(CHAT));
    assert_eq!(
        take_frames(&mut engine),
        vec![ClientFrame::MarkRead {
            chat_id: CHAT,
            seq: Seq(1)
        }],
        "at once, not at the next step"
    );
    engine.handle_frame(ServerFrame::Message(message(2, BOB, "dua")));
    assert!(take_frames(&mut engine).contains(&ClientFrame::MarkRead {
        chat_id: CHAT,
        seq: Seq(2)
    }));
    // The tab is hidden: what arrives now stays unread.
    engine.set_chat_on_screen(None);
    engine.handle_frame(ServerFrame::Message(message(3, BOB, "tiga")));
    assert!(
        !take_frames(&mut engine)
            .iter()
            .any(|frame| matches!(frame, ClientFrame::MarkRead { .. }))
    );
    assert_eq!(engine.chat_list()[0].unread, 1);
}

#[test]
fn the_chat_on_screen_is_read_only_as_far_as_it_holds_every_message() {
    let mut engine = online_alice();
    engine.handle_frame(ServerFrame::Message(message(1, BOB, "satu")));
    engine.set_chat_on_screen(Some(CHAT));
    let _ = engine.take_step();
    // 2 to 4 are on their way (a page asked for): 5 arrives first. They are not on screen, so
    // they are not read, nor is anything after them.
    engine.handle_frame(ServerFrame::Message(message(5, BOB, "lima")));
    assert!(
        !take_frames(&mut engine)
            .iter()
            .any(|frame| matches!(frame, ClientFrame::MarkRead { .. })),
        "nothing past the gap is read"
    );
    engine.set_chat_on_screen(None);
    engine.handle_frame(ServerFrame::Page {
        chat_id: CHAT,
        messages: (2..=4).map(|seq| message(seq, BOB, "m")).collect(),
        more: false,
    });
    assert_eq!(engine.chat_list()[0].unread, 4, "2 to 5 are still unread");
}

#[test]
fn a_gap_skipped_rather_than_filled_leaves_the_chat_on_screen_read() {
    let mut engine = online_alice();
    engine.handle_frame(ServerFrame::Message(message(1, BOB, "satu")));
    engine.set_chat_on_screen(Some(CHAT));
    // Out of the chat from 2 to 4 (removed, then added again): 5 and 6 arrive past a gap, and
    // the page asked for it starts at 5 — nothing new, the gap is skipped.
    for seq in 5..=6 {
        engine.handle_frame(ServerFrame::Message(message(seq, BOB, "lagi")));
    }
    let _ = engine.take_step();
    engine.handle_frame(ServerFrame::Page {
        chat_id: CHAT,
        messages: (5..=6).map(|seq| message(seq, BOB, "lagi")).collect(),
        more: false,
    });
    assert!(take_frames(&mut engine).contains(&ClientFrame::MarkRead {
        chat_id: CHAT,
        seq: Seq(6)
    }));
}

#[test]
fn a_group_message_says_who_has_read_it_and_when() {
    let mut engine = online_alice();
    let mut group = chat_info(1);
    group.kind = ChatKind::Group;
    group.members.push(member(CAROL, "carol"));
    engine.handle_frame(ServerFrame::Chat {
        request: None,
        chat: group,
    });
    let mine = own(1);
    engine.handle_frame(ServerFrame::Message(mine.clone()));
    engine.handle_frame(receipt(BOB, 1, 1, 1_234));
    engine.handle_frame(receipt(CAROL, 1, 0, 0));
    assert_eq!(
        status_of_last(&engine),
        MessageStatus::Delivered,
        "read only when everyone read it"
    );
    let details: Vec<(String, bool, bool, Option<u64>)> = engine
        .message_receipts(CHAT, mine.client_msg_id)
        .into_iter()
        .map(|receipt| {
            (
                receipt
                    .person
                    .username
                    .map(|name| name.to_string())
                    .unwrap_or_default(),
                receipt.delivered,
                receipt.read,
                receipt.read_at_ms,
            )
        })
        .collect();
    assert_eq!(
        details,
        vec![
            ("bob".to_owned(), true, true, Some(1_234)),
            ("carol".to_owned(), true, false, None)
        ]
    );
}

#[test]
fn a_message_read_by_everyone_stays_read_when_someone_joins_after_it() {
    let mut engine = online_alice();
    let mut group = chat_info(0);
    group.kind = ChatKind::Group;
    group.admins = vec![ALICE];
    engine.handle_frame(ServerFrame::Chat {
        request: None,
        chat: group.clone(),
    });
    let before = own(1);
    engine.handle_frame(ServerFrame::Message(before.clone()));
    engine.handle_frame(receipt(BOB, 1, 1, 1_234));
    assert_eq!(status_of_last(&engine), MessageStatus::Read);

    // Alice adds carol: the line, and the group as it now stands.
    let added = MessageFrame {
        body: SystemEvent::Added {
            by: member(ALICE, "alice"),
            user: member(CAROL, "carol"),
        }
        .to_body(),
        ..message(2, ALICE, "")
    };
    engine.handle_frame(ServerFrame::Message(added));
    group.members.push(member(CAROL, "carol"));
    group.head = Seq(2);
    engine.handle_frame(ServerFrame::Chat {
        request: None,
        chat: group,
    });
    let _ = engine.take_step();
    let status_of = |engine: &Engine, seq: u64| {
        engine
            .timeline(CHAT)
            .into_iter()
            .find(|item| item.seq == Some(Seq(seq)))
            .expect("the message")
            .status
    };
    assert_eq!(
        status_of(&engine, 1),
        MessageStatus::Read,
        "carol never had it: bob's read is everyone's"
    );
    let readers: Vec<UserId> = engine
        .message_receipts(CHAT, before.client_msg_id)
        .into_iter()
        .map(|receipt| receipt.person.id)
        .collect();
    assert_eq!(
        readers,
        vec![BOB],
        "carol is not listed under a message sent before her"
    );

    // A message after the line is carol's too.
    engine.handle_frame(ServerFrame::Message(own(3)));
    engine.handle_frame(receipt(BOB, 3, 3, 2_000));
    let _ = engine.take_step();
    assert_eq!(status_of(&engine, 3), MessageStatus::Sent);
    engine.handle_frame(receipt(CAROL, 3, 3, 2_100));
    let _ = engine.take_step();
    assert_eq!(status_of(&engine, 3), MessageStatus::Read);
}

/// Alice writes `text` and the server stores it at `seq`: returns its id, once acknowledged.
fn alice_sends(engine: &mut Engine, net: &mut Net, text: &str, seq: u64) -> ClientMsgId {
    let id = engine.send_text(CHAT, text, 5_000).expect("queued");
    let sent = net.serve(engine).frames;
    assert!(
        sent.iter().any(|frame| matches!(frame,
            ClientFrame::Send { client_msg_id, .. } if *client_msg_id == id)),
        "{sent:?}"
    );
    engine.handle_frame(ServerFrame::Ack {
        chat_id: CHAT,
        client_msg_id: id,
        seq: Seq(seq),
        sent_at_ms: 6_000,
    });
    id
}

#[tokio::test]
async fn an_own_message_goes_delivered_then_read_and_stays_so_after_a_reload_from_the_store() {
    let (mut engine, mut net) = published_alice();
    let id = alice_sends(&mut engine, &mut net, "halo bob", 1);
    let _ = net.serve(&mut engine);
    assert_eq!(status_of_last(&engine), MessageStatus::Sent);
    engine.handle_frame(receipt(BOB, 1, 0, 0));
    let _ = net.serve(&mut engine);
    assert_eq!(status_of_last(&engine), MessageStatus::Delivered);
    engine.handle_frame(receipt(BOB, 1, 1, 500));
    let _ = net.serve(&mut engine);
    assert_eq!(status_of_last(&engine), MessageStatus::Read);

    // Everything her steps wrote, applied as the browser's store applies it.
    let store = MemoryStore::new();
    apply(&store, net.alice_writes.clone()).await;
    let reloaded = reload(&store).await;
    let shown = reloaded.timeline(CHAT);
    assert_eq!(
        shown
            .iter()
            .map(|item| (item.client_msg_id, item.text.as_str(), item.status))
            .collect::<Vec<_>>(),
        vec![(id, "halo bob", MessageStatus::Read)]
    );
    assert_eq!(reloaded.message_receipts(CHAT, id)[0].read_at_ms, Some(500));
}

#[test]
fn a_receipt_that_arrives_before_the_ack_applies_once_the_message_is_confirmed() {
    let (mut engine, mut net) = published_alice();
    let id = engine
        .send_text(CHAT, "cepat sekali", 5_000)
        .expect("queued");
    let _ = net.serve(&mut engine);
    // Bob's device read it and its receipt overtook the server's answer to alice.
    engine.handle_frame(receipt(BOB, 1, 1, 5_100));
    assert_eq!(status_of_last(&engine), MessageStatus::Pending);
    engine.handle_frame(ServerFrame::Ack {
        chat_id: CHAT,
        client_msg_id: id,
        seq: Seq(1),
        sent_at_ms: 5_050,
    });
    assert_eq!(status_of_last(&engine), MessageStatus::Read);
    assert_eq!(engine.message_receipts(CHAT, id)[0].read_at_ms, Some(5_100));
}

#[test]
fn with_read_receipts_off_reading_still_counts_here_and_the_server_hears_the_setting_first() {
    let mut engine = online_alice();
    for seq in 1..=2 {
        engine.handle_frame(ServerFrame::Message(message(seq, BOB, "m")));
    }
    engine.set_privacy(PrivacySettings {
        share_read_receipts: false,
        share_presence: true,
    });
    assert!(take_frames(&mut engine).contains(&ClientFrame::SetPrivacy {
        share_read_receipts: false,
        share_presence: true
    }));

    // Read while offline: it counts here at once, and is kept.
    engine.on_disconnected();
    let _ = engine.take_step();
    engine.set_chat_on_screen(Some(CHAT));
    let step = engine.take_step();
    assert!(step.frames.is_empty(), "offline: nothing to send");
    assert!(step.writes.iter().any(|write| matches!(write,
        StoreWrite::PutChat(record) if record.info.read == Seq(2))));
    assert_eq!(engine.chat_list()[0].unread, 0);

    // Back online: the server hears the setting before the read position, so it never
    // passes that position on to bob (it keeps it for alice's other devices' unread counts).
    engine.set_chat_on_screen(None);
    reconnect(&mut engine, Epoch(7));
    engine.handle_frame(ServerFrame::Chat {
        request: None,
        chat: chat_info(2),
    });
    let frames = take_frames(&mut engine);
    let position = |wanted: ClientFrame| {
        frames
            .iter()
            .position(|frame| *frame == wanted)
            .unwrap_or_else(|| panic!("{wanted:?} missing from {frames:?}"))
    };
    let setting = position(ClientFrame::SetPrivacy {
        share_read_receipts: false,
        share_presence: true,
    });
    let read = position(ClientFrame::MarkRead {
        chat_id: CHAT,
        seq: Seq(2),
    });
    assert!(setting < read, "{frames:?}");
    assert_eq!(
        engine.chat_list()[0].unread,
        0,
        "the server's older position loses"
    );
}

#[test]
fn with_read_receipts_off_nobody_elses_read_shows_here_either() {
    let mut engine = online_alice();
    let mine = own(1);
    engine.handle_frame(ServerFrame::Message(mine.clone()));
    engine.handle_frame(receipt(BOB, 1, 1, 700));
    assert_eq!(status_of_last(&engine), MessageStatus::Read);

    let off = PrivacySettings {
        share_read_receipts: false,
        share_presence: true,
    };
    engine.set_privacy(off);
    assert!(engine.take_step().views_changed);
    assert_eq!(status_of_last(&engine), MessageStatus::Delivered);
    let details = &engine.message_receipts(CHAT, mine.client_msg_id)[0];
    assert_eq!(
        (details.delivered, details.read, details.read_at_ms),
        (true, false, None)
    );

    engine.set_privacy(PrivacySettings::default());
    assert_eq!(status_of_last(&engine), MessageStatus::Read);
}
