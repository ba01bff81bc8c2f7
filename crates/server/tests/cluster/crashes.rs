//! A process that dies under its clients: killed, its member signs in on another and misses
//! nothing; crashing between a commit and its wake-up, it leaves nothing undelivered.

use merpati_protocol::{ChatId, Seq, ServerFrame};
use merpati_testkit::{Endpoint, ServerOptions, ServerProcess};

use super::{Shared, said_and_received, sent};
use crate::support::{Client, key, msg_id};

/// How many WebSocket connections `server` holds.
async fn connections(server: &ServerProcess) -> f64 {
    server.metrics().await.unwrap()["merpati_connections_open"]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_whose_process_is_killed_signs_in_on_another_and_misses_nothing() {
    let shared = Shared::start().await;
    let addr = merpati_testkit::free_loopback_addr().unwrap();
    let endpoint = Endpoint::websocket(addr);
    let mut doomed = shared.binary(addr).await;
    // The only process on the port yet: bob is on the one that will be killed.
    let (mut bob, ..) = Client::signed_up(&endpoint, "bob").await;
    let survivor = shared.binary(addr).await;
    // The kernel spreads connections over both: alice reconnects until she lands on the
    // survivor (each process counts its own).
    let mut alice = loop {
        let before = connections(&survivor).await;
        let client = Client::connect(&endpoint).await;
        if connections(&survivor).await > before {
            break client;
        }
    };
    assert!(matches!(
        alice.register("alice", &key("alice")).await,
        ServerFrame::Welcome { .. }
    ));
    let chat = alice.direct("bob").await.id;
    let epoch = bob.epoch();
    assert_eq!(bob.expect_pushed_chat().await.id, chat);
    said_and_received(&mut alice, &mut bob, chat, 1, 10).await;

    doomed.kill();
    // alice's process lives on: her sends are stored while bob is away.
    for n in 11..=20 {
        alice.say(chat, msg_id(n), format!("m{n}").as_bytes()).await;
    }
    // bob's browser signs in again, on the one process left, and syncs from what it holds.
    let mut bob = Client::logged_in(&endpoint, "bob").await;
    let synced = bob.sync(Some(epoch), vec![(chat, Seq(10))]).await;
    let caught_up: Vec<u64> = synced
        .pages
        .iter()
        .flat_map(|(_, messages, _)| messages.iter().map(|message| message.seq.0))
        .collect();
    assert_eq!(
        caught_up,
        (11..=20).collect::<Vec<_>>(),
        "the sync holds what he missed"
    );
    said_and_received(&mut alice, &mut bob, chat, 21, 30).await;
    bob.expect_nothing_before_a_sentinel().await;
}

/// bob receives exactly `from..=to` of `chat`, in order.
async fn received(bob: &mut Client, chat: ChatId, from: u64, to: u64) {
    for n in from..=to {
        let message = bob.expect_message().await;
        assert_eq!((message.chat_id, message.seq), (chat, Seq(n)));
        assert_eq!(message.body, format!("m{n}").into_bytes());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_dying_between_a_commit_and_its_wake_up_leaves_nothing_undelivered() {
    let shared = Shared::start().await;
    let addr = merpati_testkit::free_loopback_addr().unwrap();
    let endpoint = Endpoint::websocket(addr);
    // Publishes five wake-ups, then crashes at the next commit before its publish.
    let crashing = ServerOptions::new().env("MERPATI_FAULT_CRASH_AFTER_PUBLISHES", "5");
    let mut doomed = shared.binary_with(addr, crashing).await;
    let (mut alice, ..) = Client::signed_up(&endpoint, "alice").await;
    let survivor = shared.binary(addr).await;
    let mut bob = loop {
        let before = connections(&survivor).await;
        let client = Client::connect(&endpoint).await;
        if connections(&survivor).await > before {
            break client;
        }
    };
    assert!(matches!(
        bob.register("bob", &key("bob")).await,
        ServerFrame::Welcome { .. }
    ));
    let chat = alice.direct("bob").await.id;
    assert_eq!(bob.expect_pushed_chat().await.id, chat);
    for n in 1..=5 {
        assert_eq!(sent(&mut alice, chat, n).await, Seq(n));
    }
    received(&mut bob, chat, 1, 5).await;

    // Message 6 is committed, and its process dies before it tells anyone.
    alice
        .send(&merpati_protocol::ClientFrame::Send {
            chat_id: chat,
            client_msg_id: msg_id(6),
            body: b"m6".to_vec(),
            attachment: None,
        })
        .await;
    let _ = alice.until_closed().await;
    let status = doomed.terminate().await.unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(6),
        "the process crashed (SIGABRT) at that commit: {status}"
    );
    // Her browser signs in on the process left and sends it again, not knowing it was
    // stored: it is acknowledged with its first number, and stored once.
    let mut alice = Client::logged_in(&endpoint, "alice").await;
    assert_eq!(sent(&mut alice, chat, 6).await, Seq(6));
    // bob gets 6 from the survivor's head check alone: no wake-up was ever sent, the
    // resend stored nothing new, and no later message shows the gap.
    received(&mut bob, chat, 6, 6).await;
    for n in 7..=10 {
        assert_eq!(sent(&mut alice, chat, n).await, Seq(n));
    }
    received(&mut bob, chat, 7, 10).await;
    bob.expect_nothing_before_a_sentinel().await;
}
