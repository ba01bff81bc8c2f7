//! Messages sent to one process reach a member on another in order and once: with the message
//! in the wake-up or without it, while NATS is stopped, paused or restarted (also under more
//! wake-ups than can wait for it), when the chat's members could not be read at first, and
//! to a session that starts following a chat just after another one there; read receipts and
//! typing cross the processes too.

use std::time::Duration;

use merpati_protocol::{ChatId, ClientFrame, Seq, ServerFrame};
use merpati_server::Config;
use merpati_testkit::poll::poll_until;

use super::{Shared, said_and_received};
use crate::support::{Client, TestServer, msg_id};

/// alice on one process, bob on the other, and their chat: bob's process is told of it,
/// and follows it.
async fn alice_and_bob(one: &TestServer, other: &TestServer) -> (Client, Client, ChatId) {
    let (mut alice, ..) = one.signed_up("alice").await;
    let (mut bob, ..) = other.signed_up("bob").await;
    let chat = alice.direct("bob").await.id;
    assert_eq!(
        bob.expect_pushed_chat().await.id,
        chat,
        "bob is told on his process"
    );
    (alice, bob, chat)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_sent_to_one_process_reaches_a_member_on_another_in_order_once() {
    let shared = Shared::start().await;
    let one = shared.process().await;
    let other = shared.process().await;
    let (mut alice, mut bob, chat) = alice_and_bob(&one, &other).await;

    said_and_received(&mut alice, &mut bob, chat, 1, 30).await;
    bob.expect_nothing_before_a_sentinel().await;

    // And the other way: bob's process tells alice's, which alice follows once she syncs.
    alice.sync(None, Vec::new()).await;
    said_and_received(&mut bob, &mut alice, chat, 31, 40).await;
    alice.expect_nothing_before_a_sentinel().await;
    drop(shared.postgres);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wake_ups_without_the_message_make_the_other_process_read_it_in_order_once() {
    let shared = Shared::start().await;
    // Head checks a minute apart: only the wake-ups can bring the messages in time.
    let header_only = |config: &mut Config| {
        config.wake_up_body = false;
        config.head_check_ms = 60_000;
    };
    let one = shared.process_with(header_only).await;
    let other = shared.process_with(header_only).await;
    let (mut alice, mut bob, chat) = alice_and_bob(&one, &other).await;

    said_and_received(&mut alice, &mut bob, chat, 1, 30).await;
    bob.expect_nothing_before_a_sentinel().await;
    let read = other.metrics().await["merpati_messages_caught_up_total"];
    assert_eq!(
        read, 30.0,
        "bob's process read each message it was woken for"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_nats_stopped_paused_or_restarted_every_message_still_arrives_in_order_once() {
    let mut shared = Shared::start().await;
    let one = shared.process().await;
    let other = shared.process().await;
    let (mut alice, mut bob, chat) = alice_and_bob(&one, &other).await;
    said_and_received(&mut alice, &mut bob, chat, 1, 5).await;

    // Stopped: sends are still acknowledged (the database has them); the head check
    // delivers them on the other process.
    shared.nats.kill().unwrap();
    said_and_received(&mut alice, &mut bob, chat, 6, 15).await;

    // Back: wake-ups again, after the clients reconnect on their own.
    shared.nats.restart().await.unwrap();
    said_and_received(&mut alice, &mut bob, chat, 16, 25).await;

    // Paused (SIGSTOP): what the processes publish waits in their sockets; the head check
    // delivers meanwhile, and what NATS delivers after the resume is not delivered twice.
    shared.nats.pause().unwrap();
    said_and_received(&mut alice, &mut bob, chat, 26, 35).await;
    shared.nats.resume().unwrap();
    said_and_received(&mut alice, &mut bob, chat, 36, 45).await;

    bob.expect_nothing_before_a_sentinel().await;
}

/// More wake-ups than can wait for a NATS that cannot be reached: async-nats queues 2,048
/// commands, and the cluster 1,024 publishes more before it drops them.
const MORE_THAN_WAIT_FOR_NATS: u64 = 3_500;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_nats_gone_the_processes_deliver_and_sign_in_however_much_waits_for_it() {
    let mut shared = Shared::start().await;
    let one = shared
        .process_with(|config| {
            config.send_rate = 100_000;
            config.send_burst = 100_000;
        })
        .await;
    let other = shared.process().await;
    let (mut alice, mut bob, chat) = alice_and_bob(&one, &other).await;
    shared.nats.kill().unwrap();

    // Each message is a wake-up alice's process cannot hand NATS: her own copy still comes
    // back (her process delivers it), and bob's process still delivers it by its head checks.
    let sending = async {
        let mut sent = 1..=MORE_THAN_WAIT_FOR_NATS;
        while sent.clone().next().is_some() {
            let window: Vec<u64> = sent.by_ref().take(SENDS_IN_FLIGHT).collect();
            sent_at_once(&mut alice, chat, &window).await;
        }
    };
    let receiving = async {
        for n in 1..=MORE_THAN_WAIT_FOR_NATS {
            let message = bob.expect_message().await;
            assert_eq!(message.seq, Seq(n), "bob receives the chat in order");
        }
    };
    tokio::join!(sending, receiving);
    let dropped = one.metrics().await["merpati_nats_publishes_dropped_total"];
    assert!(dropped > 0.0, "the wake-ups past what waits were dropped");
    // A sign-in on alice's process is not held up by what waits for NATS.
    let (mut carol, ..) = one.signed_up("carol").await;
    carol.expect_nothing_before_a_sentinel().await;

    // Back: both processes take up NATS again, and nothing is delivered twice.
    shared.nats.restart().await.unwrap();
    let next = MORE_THAN_WAIT_FOR_NATS + 1;
    said_and_received(&mut alice, &mut bob, chat, next, next + 4).await;
    bob.expect_nothing_before_a_sentinel().await;
    alice.expect_nothing_before_a_sentinel().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_whose_members_could_not_be_read_is_delivered_once_they_can() {
    let mut shared = Shared::start().await;
    let one = shared.process().await;
    // Head checks a minute apart: what bob gets, the wake-ups bring.
    let other = shared.process_checking_every(60_000).await;
    let (mut alice, mut bob, chat) = alice_and_bob(&one, &other).await;
    // Both processes subscribed to the chat's wake-ups (paused, NATS would take a later
    // subscription only after what is published meanwhile).
    let wake_ups = format!("merpati.chat.{}", chat.0);
    poll_until(
        "both processes subscribed",
        Duration::from_secs(30),
        || async {
            let subscribed = shared.nats.subscriptions_to(&wake_ups).await.ok()?;
            (subscribed == 2).then_some(())
        },
    )
    .await
    .unwrap();

    // Message 1's wake-up waits in paused NATS while the database goes away, so bob's process
    // has it when it cannot read who is in the chat (nothing read them there yet).
    shared.nats.pause().unwrap();
    alice.say(chat, msg_id(1), b"m1").await;
    shared.postgres.kill().unwrap();
    shared.nats.resume().unwrap();
    poll_until("a delivery deferred", Duration::from_secs(30), || async {
        let metrics = other.metrics().await;
        (metrics["merpati_deliveries_deferred_total"] > 0.0).then_some(())
    })
    .await
    .unwrap();

    // Back: message 2's wake-up finds message 1 not delivered, and reads it first.
    shared.postgres.restart().await.unwrap();
    alice.say(chat, msg_id(2), b"m2").await;
    for n in 1..=2 {
        let message = bob.expect_message().await;
        assert_eq!(
            message.seq,
            Seq(n),
            "bob receives the chat in order, nothing left out"
        );
    }
    bob.expect_nothing_before_a_sentinel().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_receipt_on_one_process_reaches_the_sender_on_another() {
    let shared = Shared::start().await;
    let one = shared.process().await;
    let other = shared.process().await;
    let (mut alice, ..) = one.signed_up("alice").await;
    let (mut bob, bob_me, _) = other.signed_up("bob").await;
    let chat = alice.direct("bob").await.id;
    assert_eq!(bob.expect_pushed_chat().await.id, chat);
    said_and_received(&mut alice, &mut bob, chat, 1, 1).await;

    bob.mark_read(chat, 1).await;
    let (receipt_chat, receipt) = alice.expect_receipt().await;
    assert_eq!(receipt_chat, chat);
    assert_eq!(
        (receipt.user, receipt.delivered, receipt.read),
        (bob_me.id, Seq(1), Seq(1)),
        "alice sees bob read it, across the processes"
    );
    alice.expect_nothing_before_a_sentinel().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typing_on_one_process_reaches_the_other_member_on_another() {
    let shared = Shared::start().await;
    let one = shared.process().await;
    let other = shared.process().await;
    let (mut alice, alice_me, _) = one.signed_up("alice").await;
    let (mut bob, ..) = other.signed_up("bob").await;
    let chat = alice.direct("bob").await.id;
    assert_eq!(bob.expect_pushed_chat().await.id, chat);

    alice
        .send(&merpati_protocol::ClientFrame::Typing { chat_id: chat })
        .await;
    assert_eq!(
        bob.recv().await,
        ServerFrame::Typing {
            chat_id: chat,
            user: alice_me.id
        }
    );
    bob.expect_nothing_before_a_sentinel().await;
}

/// How many sends the flood has in flight at once: they commit together.
const SENDS_IN_FLIGHT: usize = 100;

/// Sends the messages numbered `window` at once, then reads each one's ack and the sender's
/// own copy, which come in order.
async fn sent_at_once(client: &mut Client, chat: ChatId, window: &[u64]) {
    for &n in window {
        client
            .send(&ClientFrame::Send {
                chat_id: chat,
                client_msg_id: msg_id(n),
                body: format!("m{n}").into_bytes(),
                attachment: None,
            })
            .await;
    }
    let (mut acks, mut copies) = (window.iter(), window.iter());
    for _ in 0..window.len() * 2 {
        match client.recv().await {
            ServerFrame::Ack { client_msg_id, .. } => {
                assert_eq!(Some(client_msg_id), acks.next().map(|&n| msg_id(n)));
            }
            ServerFrame::Message(message) => {
                assert_eq!(Some(message.seq), copies.next().map(|&n| Seq(n)));
            }
            other => panic!("expected an ack or my own message back, got {other:?}"),
        }
    }
}

/// The numbers of the messages in a frame of a sync's answer, or a live message.
fn messages_in(frame: ServerFrame) -> Vec<Seq> {
    match frame {
        ServerFrame::Page { messages, .. } => messages.iter().map(|message| message.seq).collect(),
        ServerFrame::Message(message) => vec![message.seq],
        ServerFrame::Chat { request: None, .. }
        | ServerFrame::Privacy { .. }
        | ServerFrame::BlockList { request: None, .. } => Vec::new(),
        other => panic!("expected a sync's answer or a live message, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_following_a_chat_after_a_later_sync_gets_what_lies_between_once_in_order() {
    let shared = Shared::start().await;
    let one = shared.process_checking_every(60_000).await;
    // Head checks a minute apart: what the tablet gets, it gets from its sync and the live
    // messages, not from a check.
    let (other, hold) = shared.holding_first("follow", 60_000).await;
    let (mut alice, ..) = one.signed_up("alice").await;
    one.signed_up("bob").await;
    let chat = alice.direct("bob").await.id;
    for n in 1..=5 {
        alice.say(chat, msg_id(n), format!("m{n}").as_bytes()).await;
    }
    // bob's tablet syncs on the other process: it reads the chat at 5, and its Follow is
    // held back in the cluster's task.
    let mut tablet = Client::logged_in(&other.endpoint(), "bob").await;
    let sync = ClientFrame::Sync {
        epoch: None,
        positions: Vec::new(),
    };
    tablet.send(&sync).await;
    hold.held().await;
    // Message 6 reaches no one there live: no session follows the chat there yet.
    alice.say(chat, msg_id(6), b"m6").await;
    // bob's phone syncs there after it, and the process follows the chat from 6 on.
    let mut phone = Client::logged_in(&other.endpoint(), "bob").await;
    let synced = phone.sync(None, Vec::new()).await;
    let (_, page, _) = &synced.pages[0];
    assert_eq!(page.last().map(|message| message.seq), Some(Seq(6)));
    merpati_testkit::poll::poll_until("the chat followed", Duration::from_secs(30), || async {
        let metrics = other.metrics().await.ok()?;
        (metrics.get("merpati_chats_followed") == Some(&1.0)).then_some(())
    })
    .await
    .unwrap();
    // Now the tablet's Follow, older than the chat's cursor, reaches the task; its sync
    // ends, then message 7 is live.
    hold.release();
    let mut received = Vec::new();
    loop {
        match tablet.recv().await {
            ServerFrame::SyncDone => break,
            frame => received.extend(messages_in(frame)),
        }
    }
    alice.say(chat, msg_id(7), b"m7").await;
    while received.last() != Some(&Seq(7)) {
        received.extend(messages_in(tablet.recv().await));
    }
    let expected: Vec<Seq> = (1..=7).map(Seq).collect();
    assert_eq!(
        received, expected,
        "the tablet gets 1 to 7, once each, in order"
    );
    tablet.expect_nothing_before_a_sentinel().await;
}
