//! The outbox: a message goes from pending to sent once, messages written offline go out
//! after the next sign-in, a refused one can be retried (and stays refused across a reload
//! until it is) and stays among the messages of its time, what cannot be sent never enters,
//! and what another tab of the browser left in the shared outbox goes out from this one —
//! unless this one received it, which takes it out.

use merpati_core::{ConnectionPhase, MemoryStore, MessageStatus, SendError, Store, StoreWrite};
use merpati_protocol::{
    ClientFrame, ClientMsgId, Epoch, ErrorCode, MAX_BODY_BYTES, Seq, ServerFrame,
    content::MessageContent, frames::AuthMethod,
};

use crate::support::alice::{
    ALICE, BOB, CHAT, apply, caught_up_alice, member, message, online_alice, published_alice,
    reconnect, reload, sent_ids, take_frames,
};

#[test]
fn a_sent_message_goes_from_pending_to_sent_once() {
    let (mut engine, mut net) = published_alice();
    let id = engine.send_text(CHAT, "halo bob", 5_000).expect("queued");
    let items = engine.timeline(CHAT);
    assert_eq!(items.len(), 1);
    assert_eq!(
        (items[0].status, items[0].own),
        (MessageStatus::Pending, true)
    );
    let sent = net.serve(&mut engine);
    let [
        ClientFrame::Send {
            client_msg_id,
            body,
            ..
        },
    ] = sent.frames.as_slice()
    else {
        panic!("one Send after the key share: {:?}", sent.frames);
    };
    assert_eq!(*client_msg_id, id);
    assert!(
        !body.windows(8).any(|window| window == b"halo bob"),
        "the body is encrypted"
    );
    let body = body.clone();
    assert!(
        sent.writes
            .iter()
            .any(|w| matches!(w, StoreWrite::PutOutbox(_)))
    );

    engine.handle_frame(ServerFrame::Ack {
        chat_id: CHAT,
        client_msg_id: id,
        seq: Seq(1),
        sent_at_ms: 5_001,
    });
    // The server's fan-out delivers the same message to the sender's sessions too.
    let mut echoed = message(1, ALICE, "halo bob");
    echoed.client_msg_id = id;
    echoed.body = body.clone();
    engine.handle_frame(ServerFrame::Message(echoed.clone()));
    // Bob, who was sent the key, reads it.
    assert_eq!(
        net.bob.open(&echoed),
        merpati_core::e2e::Opened::Content(MessageContent::Text {
            text: "halo bob".into()
        })
    );

    let items = engine.timeline(CHAT);
    assert_eq!(items.len(), 1, "shown exactly once");
    assert_eq!(
        (items[0].status, items[0].seq, items[0].text.as_str()),
        (MessageStatus::Sent, Some(Seq(1)), "halo bob")
    );
    let writes = engine.take_step().writes;
    assert!(writes.contains(&StoreWrite::RemoveOutbox(id)));
    assert_eq!(engine.pending_count(), 0);
}

#[test]
fn messages_written_offline_are_sent_after_the_next_sign_in() {
    let (mut engine, mut net) = published_alice();
    engine.on_disconnected();
    assert_eq!(engine.connection_phase(), ConnectionPhase::Offline);
    let first = engine.send_text(CHAT, "satu", 1).expect("queued");
    let second = engine.send_text(CHAT, "dua", 2).expect("queued");
    assert!(
        take_frames(&mut engine).is_empty(),
        "nothing goes out while offline"
    );

    engine.on_connected();
    engine.handle_frame(ServerFrame::Challenge {
        version: 1,
        nonce: [2; 32],
        epoch: Epoch(7),
    });
    assert!(matches!(
        take_frames(&mut engine).as_slice(),
        [ClientFrame::Authenticate { method: AuthMethod::Resume { session_token }, .. }]
            if *session_token == [5; 32]
    ));
    engine.handle_frame(ServerFrame::Welcome {
        me: member(ALICE, "alice"),
        session_token: None,
    });
    let sent = sent_ids(&net.serve(&mut engine).frames);
    assert_eq!(
        sent,
        vec![first, second],
        "in the order written, under the same ids"
    );
}

#[test]
fn a_refused_message_is_shown_failed_and_can_be_retried() {
    let (mut engine, mut net) = published_alice();
    let id = engine.send_text(CHAT, "x", 1).expect("queued");
    let _ = net.serve(&mut engine);
    engine.handle_frame(ServerFrame::SendFailed {
        chat_id: CHAT,
        client_msg_id: id,
        code: ErrorCode::Internal,
    });
    assert_eq!(engine.timeline(CHAT)[0].status, MessageStatus::Failed);
    engine.retry(id);
    assert_eq!(engine.timeline(CHAT)[0].status, MessageStatus::Pending);
    assert!(
        matches!(net.serve(&mut engine).frames.as_slice(), [ClientFrame::Send { client_msg_id, .. }] if *client_msg_id == id)
    );
}

#[tokio::test]
async fn a_refused_message_stays_failed_after_a_reload_and_goes_again_only_when_retried() {
    let store = MemoryStore::new();
    let mut engine = caught_up_alice();
    let id = engine.send_text(CHAT, "x", 1).expect("queued");
    apply(&store, engine.take_step().writes).await;
    engine.handle_frame(ServerFrame::SendFailed {
        chat_id: CHAT,
        client_msg_id: id,
        code: ErrorCode::Blocked,
    });
    apply(&store, engine.take_step().writes).await;

    let mut reloaded = reload(&store).await;
    let shown = reloaded.timeline(CHAT);
    assert_eq!(
        (shown[0].status, shown[0].failure),
        (MessageStatus::Failed, Some(ErrorCode::Blocked)),
        "shown refused, and why, as before the reload"
    );
    assert_eq!(reloaded.pending_count(), 0);
    reconnect(&mut reloaded, Epoch(7));
    let frames = take_frames(&mut reloaded);
    assert!(
        !frames
            .iter()
            .any(|frame| matches!(frame, ClientFrame::Send { .. })),
        "not sent again by itself: {frames:?}"
    );

    reloaded.retry(id);
    assert_eq!(reloaded.timeline(CHAT)[0].status, MessageStatus::Pending);
    apply(&store, reloaded.take_step().writes).await;
    let kept = store.outbox().await.unwrap_or_else(|never| match never {});
    assert_eq!(
        kept[0].failure, None,
        "sent again: a reload now sends it too"
    );
}

#[test]
fn a_refused_message_stays_among_the_messages_of_its_time_not_below_later_ones() {
    let (mut engine, mut net) = published_alice();
    let refused = engine.send_text(CHAT, "x", 1_500).expect("queued");
    let _ = net.serve(&mut engine);
    engine.handle_frame(ServerFrame::SendFailed {
        chat_id: CHAT,
        client_msg_id: refused,
        code: ErrorCode::QuotaExceeded,
    });
    // Afterwards bob writes, and alice sends another, which the server takes.
    let bobs = message(1, BOB, "later");
    engine.handle_frame(ServerFrame::Message(bobs.clone()));
    let sent = engine.send_text(CHAT, "y", 3_000).expect("queued");
    let served = net.serve(&mut engine);
    let Some(body) = served.frames.iter().find_map(|frame| match frame {
        ClientFrame::Send {
            client_msg_id,
            body,
            ..
        } if *client_msg_id == sent => Some(body.clone()),
        _ => None,
    }) else {
        panic!("y is sent: {:?}", served.frames);
    };
    engine.handle_frame(ServerFrame::Ack {
        chat_id: CHAT,
        client_msg_id: sent,
        seq: Seq(2),
        sent_at_ms: 3_001,
    });
    let mut echoed = message(2, ALICE, "y");
    echoed.client_msg_id = sent;
    echoed.body = body;
    echoed.sent_at_ms = 3_001;
    engine.handle_frame(ServerFrame::Message(echoed));
    let last = |engine: &merpati_core::Engine| engine.chat_list()[0].last_text.clone();
    assert_eq!(
        last(&engine).as_deref(),
        Some("y"),
        "the chat list shows what is last in the chat"
    );
    // And one more, still on its way.
    let pending = engine.send_text(CHAT, "z", 4_000).expect("queued");

    let shown: Vec<(ClientMsgId, MessageStatus)> = engine
        .timeline(CHAT)
        .iter()
        .map(|item| (item.client_msg_id, item.status))
        .collect();
    assert_eq!(
        shown,
        [
            (refused, MessageStatus::Failed),
            (bobs.client_msg_id, MessageStatus::Sent),
            (sent, MessageStatus::Sent),
            (pending, MessageStatus::Pending),
        ]
    );
    assert_eq!(last(&engine).as_deref(), Some("z"));
    engine.handle_frame(ServerFrame::SendFailed {
        chat_id: CHAT,
        client_msg_id: pending,
        code: ErrorCode::QuotaExceeded,
    });
    assert_eq!(
        last(&engine).as_deref(),
        Some("z"),
        "refused after the last message sent: still the last"
    );
    // Sent again, it is on its way like any new one: below what was sent, and above what
    // was written after it.
    engine.retry(refused);
    let shown: Vec<ClientMsgId> = engine
        .timeline(CHAT)
        .iter()
        .map(|item| item.client_msg_id)
        .collect();
    assert_eq!(shown, [bobs.client_msg_id, sent, refused, pending]);
}

#[test]
fn too_long_and_empty_messages_are_refused_before_the_outbox() {
    let mut engine = online_alice();
    assert_eq!(engine.send_text(CHAT, "   ", 1), Err(SendError::Empty));
    let long = "a".repeat(MAX_BODY_BYTES + 1);
    assert_eq!(engine.send_text(CHAT, &long, 1), Err(SendError::TooLarge));
    assert!(engine.take_step().writes.is_empty());
}

#[tokio::test]
async fn a_message_another_tab_left_in_the_outbox_goes_out_on_this_tabs_next_connection() {
    // Two tabs of one browser share the store. Tab B writes a message offline and is closed.
    let store = MemoryStore::new();
    let (mut tab_a, mut net) = published_alice();
    apply(&store, net.alice_writes.clone()).await;
    let mut tab_b = reload(&store).await;
    let id = tab_b.send_text(CHAT, "dari tab lain", 5).expect("queued");
    apply(&store, tab_b.take_step().writes).await;
    drop(tab_b);

    // Tab A, open all along, takes the outbox in as a connection opens, and sends it.
    let outbox = store.outbox().await.unwrap_or_else(|never| match never {});
    tab_a.take_in_outbox(outbox.clone());
    let sent = sent_ids(&net.serve(&mut tab_a).frames);
    assert_eq!(sent, [id]);
    assert_eq!(
        tab_a.timeline(CHAT).last().map(|item| item.text.clone()),
        Some("dari tab lain".to_owned())
    );
    // Taken in once, however often it is read again.
    tab_a.take_in_outbox(outbox);
    assert_eq!(tab_a.pending_count(), 1);
}

#[tokio::test]
async fn messages_written_offline_in_two_tabs_go_in_the_order_they_were_written() {
    // Tab A has been open a while: two messages sent and stored.
    let store = MemoryStore::new();
    let (mut tab_a, mut net) = published_alice();
    for (n, text) in ["satu", "dua"].into_iter().enumerate() {
        let id = tab_a.send_text(CHAT, text, 100 + n as u64).expect("queued");
        let _ = net.serve(&mut tab_a);
        tab_a.handle_frame(ServerFrame::Ack {
            chat_id: CHAT,
            client_msg_id: id,
            seq: Seq(n as u64 + 1),
            sent_at_ms: 200,
        });
    }
    let _ = net.serve(&mut tab_a);
    apply(&store, net.alice_writes.clone()).await;
    // Tab B opens on the same store; then the network goes, and the person writes in A,
    // then in B.
    let mut tab_b = reload(&store).await;
    tab_a.on_disconnected();
    tab_b.on_disconnected();
    let first = tab_a.send_text(CHAT, "tiga", 5_000).expect("queued");
    apply(&store, tab_a.take_step().writes).await;
    let second = tab_b.send_text(CHAT, "empat", 6_000).expect("queued");
    apply(&store, tab_b.take_step().writes).await;

    // Back online, tab A takes in B's message and sends both, in the order written.
    reconnect(&mut tab_a, Epoch(7));
    let outbox = store.outbox().await.unwrap_or_else(|never| match never {});
    tab_a.take_in_outbox(outbox);
    assert_eq!(sent_ids(&net.serve(&mut tab_a).frames), [first, second]);
}

#[tokio::test]
async fn a_message_delivered_but_still_in_the_outbox_shows_once_after_a_reload() {
    // Sent from a tab closed before its Ack; another tab received it and kept it.
    let store = MemoryStore::new();
    let mut engine = caught_up_alice();
    let id = engine.send_text(CHAT, "sekali saja", 5).expect("queued");
    apply(&store, engine.take_step().writes).await;
    let mut delivered = message(1, ALICE, "sekali saja");
    delivered.client_msg_id = id;
    apply(&store, vec![StoreWrite::PutMessages(vec![delivered])]).await;

    let mut reloaded = reload(&store).await;
    let shown: Vec<Option<Seq>> = reloaded
        .timeline(CHAT)
        .into_iter()
        .map(|item| item.seq)
        .collect();
    assert_eq!(shown, [Some(Seq(1))], "once, as delivered");
    assert_eq!(reloaded.pending_count(), 0);
    assert!(
        reloaded
            .take_step()
            .writes
            .contains(&StoreWrite::RemoveOutbox(id))
    );
}

#[tokio::test]
async fn a_message_another_tab_sent_and_this_one_received_leaves_the_shared_outbox() {
    // Tab B sends a message and is closed before its Ack; tab A, online, receives it.
    let store = MemoryStore::new();
    let (mut tab_a, net) = published_alice();
    apply(&store, net.alice_writes.clone()).await;
    let mut tab_b = reload(&store).await;
    let id = tab_b.send_text(CHAT, "dari tab lain", 5).expect("queued");
    apply(&store, tab_b.take_step().writes).await;
    drop(tab_b);
    let mut delivered = message(1, ALICE, "dari tab lain");
    delivered.client_msg_id = id;
    tab_a.handle_frame(ServerFrame::Message(delivered));
    // More than a reload loads come after it.
    for seq in 2..=61 {
        tab_a.handle_frame(ServerFrame::Message(message(seq, BOB, "lagi")));
    }
    apply(&store, tab_a.take_step().writes).await;

    let outbox = store.outbox().await.unwrap_or_else(|never| match never {});
    assert!(outbox.is_empty(), "still in the shared outbox: {outbox:?}");
    assert_eq!(reload(&store).await.pending_count(), 0);
}

/// A message this device sent long ago and still had in its outbox (its Ack lost, the message
/// delivered and stored), sent again after a reload and acknowledged at its first position,
/// far below the messages loaded: it is not shown there on its own, above a stretch that is
/// not loaded, and scrolling up loads every stored message down to it.
#[tokio::test]
async fn an_old_message_acknowledged_again_below_what_is_loaded_leaves_no_hole_above_it() {
    let store = MemoryStore::new();
    let (mut engine, mut net) = published_alice();
    let id = engine.send_text(CHAT, "lama", 5).expect("queued");
    let _ = net.serve(&mut engine);
    apply(&store, net.alice_writes.clone()).await;
    // Its Ack never stored here; the message is stored at 20 all the same, among bob's.
    let stored: Vec<_> = (1..=100)
        .map(|seq| match seq {
            20 => {
                let mut own = message(20, ALICE, "lama");
                own.client_msg_id = id;
                own
            }
            seq => message(seq, BOB, "m"),
        })
        .collect();
    apply(&store, vec![StoreWrite::PutMessages(stored)]).await;
    let mut chat = store
        .chats()
        .await
        .unwrap_or_else(|never| match never {})
        .remove(0);
    (chat.floor, chat.synced, chat.info.head, chat.info.read) =
        (Seq(1), Seq(100), Seq(100), Seq(100));
    apply(&store, vec![StoreWrite::PutChat(chat)]).await;

    // After a reload the newest 50 are loaded, and the message waits to go again.
    let mut reloaded = reload(&store).await;
    reconnect(&mut reloaded, Epoch(7));
    reloaded.handle_frame(ServerFrame::SyncDone);
    let resent = net.serve(&mut reloaded).frames;
    assert!(sent_ids(&resent).contains(&id), "{resent:?}");
    reloaded.handle_frame(ServerFrame::Ack {
        chat_id: CHAT,
        client_msg_id: id,
        seq: Seq(20),
        sent_at_ms: 5,
    });
    assert_eq!(reloaded.pending_count(), 0);
    let seqs: Vec<Option<Seq>> = reloaded
        .timeline(CHAT)
        .into_iter()
        .map(|item| item.seq)
        .collect();
    assert_eq!(
        seqs,
        (51..=100).map(|seq| Some(Seq(seq))).collect::<Vec<_>>()
    );
    let wanted = reloaded.older_wanted(CHAT).expect("older exist");
    assert_eq!(wanted.before, Seq(51));
}
