//! Two server processes on one PostgreSQL database, telling each other through NATS: a
//! message sent to one reaches a member connected to the other, in order and once — also
//! while NATS is stopped, paused or restarted, when the head check (every 100 ms here) reads
//! what the wake-ups did not bring.
//!
//! Each test starts its own PostgreSQL cluster and NATS server (`merpati_testkit`). "Once" is
//! shown by a sentinel after the last message: nothing came between.

use std::net::SocketAddr;

use merpati_protocol::{ChatId, ClientFrame, Presence, Seq, ServerFrame};
use merpati_testkit::{Endpoint, NatsProcess, PostgresProcess, ServerOptions, ServerProcess};

use merpati_server::Config;

use crate::support::{Client, Device, TestServer, key, msg_id};

/// A database on the test's own PostgreSQL, and the NATS server its processes share.
struct Shared {
    postgres: PostgresProcess,
    nats: NatsProcess,
    database: String,
}

impl Shared {
    async fn start() -> Shared {
        let postgres = PostgresProcess::start().await.unwrap();
        let nats = NatsProcess::start().await.unwrap();
        let database = postgres.create_database("merpati").unwrap();
        Shared {
            postgres,
            nats,
            database,
        }
    }

    /// A connection to the shared database, for what a test does behind the processes' back.
    async fn db(&self) -> tokio_postgres::Client {
        let (db, connection) = tokio_postgres::connect(&self.database, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        db
    }

    /// A server process on the shared database and NATS.
    async fn process(&self) -> TestServer {
        self.process_checking_every(100).await
    }

    /// A server process on the shared database and NATS, checking heads every `ms`.
    async fn process_checking_every(&self, ms: u64) -> TestServer {
        self.process_with(|config| config.head_check_ms = ms).await
    }

    /// A server process on the shared database and NATS, configured by `change` too.
    async fn process_with(&self, change: impl FnOnce(&mut Config)) -> TestServer {
        let database = self.database.clone();
        let nats = self.nats.url();
        TestServer::start_configured(move |config| {
            config.database_url = Some(database);
            config.nats_url = Some(nats);
            config.head_check_ms = 100;
            change(config);
        })
        .await
    }
}

impl Shared {
    /// The server binary on the shared database and NATS, listening on `addr` with the
    /// other processes given it.
    async fn binary(&self, addr: SocketAddr) -> ServerProcess {
        self.binary_with(addr, ServerOptions::new()).await
    }

    /// The server binary on the shared database and NATS, on a port of its own (so that a
    /// test knows which process each client is on).
    async fn binary_alone(&self, options: ServerOptions) -> ServerProcess {
        let addr = merpati_testkit::free_loopback_addr().unwrap();
        self.binary_with(addr, options).await
    }

    /// Two binaries on ports of their own: one that loses its pushes to accounts
    /// (`MERPATI_FAULT_LOSE_PUSHES=lost`: `device` or `all`), and one that does not.
    async fn losing_and_plain(&self, lost: &str) -> (ServerProcess, ServerProcess) {
        let losing = ServerOptions::new().env("MERPATI_FAULT_LOSE_PUSHES", lost);
        let one = self.binary_alone(losing).await;
        let other = self.binary_alone(ServerOptions::new()).await;
        (one, other)
    }

    async fn binary_with(&self, addr: SocketAddr, options: ServerOptions) -> ServerProcess {
        let options = options
            .shared_addr(addr)
            .env("MERPATI_DATABASE_URL", &self.database)
            .env("MERPATI_NATS_URL", self.nats.url())
            .env("MERPATI_HEAD_CHECK_MS", "100");
        ServerProcess::start(options).await.unwrap()
    }
}

/// How many WebSocket connections `server` holds.
async fn connections(server: &ServerProcess) -> f64 {
    server.metrics().await.unwrap()["merpati_connections_open"]
}

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

/// alice says `from..=to`; bob receives exactly those, in order.
async fn said_and_received(alice: &mut Client, bob: &mut Client, chat: ChatId, from: u64, to: u64) {
    for n in from..=to {
        let seq = alice.say(chat, msg_id(n), format!("m{n}").as_bytes()).await;
        assert_eq!(seq, Seq(n), "sequence numbers are dense");
    }
    for n in from..=to {
        let message = bob.expect_message().await;
        assert_eq!(message.chat_id, chat);
        assert_eq!(message.seq, Seq(n), "bob receives the chat in order");
        assert_eq!(message.body, format!("m{n}").into_bytes());
    }
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

/// Sends message `n` and reads until its acknowledgement, passing over the messages pushed
/// meanwhile (the sender's own copies, and what others send): its sequence number.
async fn sent(client: &mut Client, chat: ChatId, n: u64) -> Seq {
    client
        .send(&merpati_protocol::ClientFrame::Send {
            chat_id: chat,
            client_msg_id: msg_id(n),
            body: format!("m{n}").into_bytes(),
            attachment: None,
        })
        .await;
    loop {
        match client.recv().await {
            ServerFrame::Ack {
                client_msg_id, seq, ..
            } if client_msg_id == msg_id(n) => return seq,
            ServerFrame::Message(_) | ServerFrame::Chat { request: None, .. } => {}
            other => panic!("expected the ack of message {n}, got {other:?}"),
        }
    }
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

/// Reads `client`'s frames until a pushed chat, passing over messages.
async fn until_pushed_chat(client: &mut Client) -> merpati_protocol::ChatInfo {
    loop {
        match client.recv().await {
            ServerFrame::Chat {
                request: None,
                chat,
            } => return chat,
            ServerFrame::Message(_) => {}
            other => panic!("expected a pushed chat, got {other:?}"),
        }
    }
}

/// Reads `client`'s frames until the message `body`, passing over other messages (the
/// lines a group change writes) and the chat as changed; its sequence number.
async fn until_message(client: &mut Client, chat: ChatId, body: &str) -> Seq {
    loop {
        match client.recv().await {
            ServerFrame::Message(message) if message.chat_id == chat => {
                if message.body == body.as_bytes() {
                    return message.seq;
                }
            }
            ServerFrame::Chat { request: None, .. } => {}
            other => panic!("expected messages of chat {}, got {other:?}", chat.0),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_made_or_changed_on_one_process_reaches_its_members_on_another() {
    let shared = Shared::start().await;
    let one = shared.process().await;
    let other = shared.process().await;
    let (mut alice, ..) = one.signed_up("alice").await;
    let (mut bob, ..) = other.signed_up("bob").await;
    let (mut carol, carol_member, _) = other.signed_up("carol").await;
    let (mut dave, ..) = other.signed_up("dave").await;

    // Made on alice's process: bob and carol, online on the other, are told, and follow it.
    let group = alice.group("Trip", &["bob", "carol"]).await;
    // The group's first line may come just before it (it travels on the chat's subject, the
    // group on each member's): the app, not knowing the chat yet, fetches it after.
    for member in [&mut bob, &mut carol] {
        let pushed = until_pushed_chat(member).await;
        assert_eq!((pushed.id, pushed.head), (group.id, Seq(1)));
    }
    alice.say(group.id, msg_id(1), b"hello").await;
    for member in [&mut bob, &mut carol] {
        assert_eq!(until_message(member, group.id, "hello").await, Seq(2));
    }

    // dave joins there too: he is told, and gets what is said from then on.
    let added = alice
        .request(|request| merpati_protocol::ClientFrame::AddMember {
            request,
            chat_id: group.id,
            username: merpati_protocol::Username::parse("dave").unwrap(),
        })
        .await;
    assert!(matches!(added, ServerFrame::Chat { .. }), "{added:?}");
    // Each is told, and gets the line the change wrote, in whichever order the two
    // subjects' messages meet on their process.
    for member in [&mut bob, &mut carol, &mut dave] {
        assert_eq!(until_pushed_chat(member).await.members.len(), 4);
    }
    sent(&mut alice, group.id, 2).await;
    for member in [&mut alice, &mut bob, &mut carol, &mut dave] {
        until_message(member, group.id, "m2").await;
    }

    // carol is taken out there: once she is told, nothing more of the group reaches her.
    let removed = alice
        .request(|request| merpati_protocol::ClientFrame::RemoveMember {
            request,
            chat_id: group.id,
            user: carol_member.id,
        })
        .await;
    assert!(matches!(removed, ServerFrame::Chat { .. }), "{removed:?}");
    loop {
        match carol.recv().await {
            ServerFrame::Chat {
                request: None,
                chat,
            } => {
                assert!(
                    !chat
                        .members
                        .iter()
                        .any(|member| member.id == carol_member.id)
                );
                break;
            }
            ServerFrame::Message(_) => {}
            other => panic!("expected carol's removal, got {other:?}"),
        }
    }
    sent(&mut alice, group.id, 3).await;
    for member in [&mut bob, &mut dave] {
        until_message(member, group.id, "m3").await;
    }
    carol.expect_nothing_before_a_sentinel().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_whose_push_was_lost_reaches_its_member_on_another_process_by_a_head_check() {
    let shared = Shared::start().await;
    // alice's process never pushes to accounts: bob's learns of the chat she makes with him
    // only from the members table, at a head check.
    let (one, other) = shared.losing_and_plain("all").await;
    let (mut alice, ..) = Client::signed_up(&one.endpoint(), "alice").await;
    let (mut bob, ..) = Client::signed_up(&other.endpoint(), "bob").await;
    let chat = alice.direct("bob").await.id;
    assert_eq!(until_pushed_chat(&mut bob).await.id, chat);
    // And his process follows it from then on.
    assert_eq!(sent(&mut alice, chat, 1).await, Seq(1));
    assert_eq!(until_message(&mut bob, chat, "m1").await, Seq(1));
    bob.expect_nothing_before_a_sentinel().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_removed_on_one_process_whose_news_is_lost_gets_nothing_more_and_is_told_by_a_head_check()
 {
    let shared = Shared::start().await;
    // alice's process never pushes to accounts: the other process learns of carol's removal
    // only from the line it wrote into the group, which comes in order with the messages.
    let (one, other) = shared.losing_and_plain("all").await;
    let (mut alice, alice_me, _) = Client::signed_up(&one.endpoint(), "alice").await;
    let (mut bob, ..) = Client::signed_up(&other.endpoint(), "bob").await;
    let (mut carol, carol_me, _) = Client::signed_up(&other.endpoint(), "carol").await;
    let group = bob.group("Trip", &["alice", "carol"]).await;
    until_pushed_chat(&mut alice).await;
    until_pushed_chat(&mut carol).await;
    let made_admin = bob
        .request(|request| ClientFrame::SetAdmin {
            request,
            chat_id: group.id,
            user: alice_me.id,
            admin: true,
        })
        .await;
    assert!(
        matches!(made_admin, ServerFrame::Chat { .. }),
        "{made_admin:?}"
    );
    sent(&mut alice, group.id, 1).await;
    until_message(&mut carol, group.id, "m1").await;

    let removal = alice.request_id();
    alice
        .send(&ClientFrame::RemoveMember {
            request: removal,
            chat_id: group.id,
            user: carol_me.id,
        })
        .await;
    loop {
        match alice.recv().await {
            ServerFrame::Chat {
                request: Some(request),
                ..
            } if request == removal => break,
            ServerFrame::Message(_) | ServerFrame::Chat { request: None, .. } => {}
            other => panic!("expected carol removed, got {other:?}"),
        }
    }
    sent(&mut alice, group.id, 2).await;
    // bob gets it on the other process, so it has delivered everything up to it there…
    let after = until_message(&mut bob, group.id, "m2").await;
    // …and carol, on the same process, got neither the removal's line nor what followed.
    // The push that tells her she was removed is lost: a head check tells her instead, with
    // the group as it now stands (before the sentinel or after it).
    let sentinel = carol.request_id();
    carol
        .send(&ClientFrame::QueryKeys {
            request: sentinel,
            users: Vec::new(),
        })
        .await;
    let (mut answered, mut told) = (false, false);
    while !(answered && told) {
        match carol.recv().await {
            ServerFrame::Keys { request, .. } if request == sentinel => answered = true,
            ServerFrame::Message(message) => assert!(
                message.seq < after && message.body != b"m2",
                "carol got {message:?} after her removal"
            ),
            ServerFrame::Chat {
                request: None,
                chat,
            } if chat.id == group.id => {
                told = chat.members.iter().all(|member| member.id != carol_me.id);
            }
            other => panic!("expected the sentinel and the group without carol, got {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_changes_and_to_device_messages_reach_accounts_on_another_process() {
    let shared = Shared::start().await;
    let one = shared.process().await;
    let other = shared.process().await;
    let (mut alice, alice_me, _) = one.signed_up("alice").await;
    let (mut bob, bob_me, _) = other.signed_up("bob").await;
    let chat = alice.direct("bob").await.id;
    assert_eq!(bob.expect_pushed_chat().await.id, chat);
    // Each hears of the other's new device, across the processes.
    let alice_device = Device::new("alice", alice_me.id);
    alice.publish_device(&alice_device).await;
    let alice_changed = ServerFrame::DevicesChanged { user: alice_me.id };
    assert_eq!(bob.recv().await, alice_changed);
    let bob_device = Device::new("bob", bob_me.id);
    bob.publish_device(&bob_device).await;
    let bob_changed = ServerFrame::DevicesChanged { user: bob_me.id };
    assert_eq!(alice.recv().await, bob_changed);

    // A key share (say) from alice's device to bob's, sent to alice's process.
    let sent = alice
        .send_to_device(vec![merpati_protocol::keys::ToDeviceMessage {
            recipient: bob_device.at(),
            body: b"olm".to_vec(),
        }])
        .await;
    assert!(matches!(sent, ServerFrame::ToDeviceSent { .. }), "{sent:?}");
    let (_, sender, body) = bob.expect_to_device().await;
    assert_eq!((sender, body.as_slice()), (alice_device.at(), &b"olm"[..]));
    bob.expect_nothing_before_a_sentinel().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_share_whose_push_is_lost_reaches_its_device_from_its_mailbox() {
    let shared = Shared::start().await;
    // alice's process stores her key shares and acknowledges them, but never pushes them
    // to the other processes: what NATS dropping them, or a crash before publishing, leaves.
    let (one, other) = shared.losing_and_plain("device").await;
    let (mut alice, alice_me, _) = Client::signed_up(&one.endpoint(), "alice").await;
    let (mut bob, bob_me, _) = Client::signed_up(&other.endpoint(), "bob").await;
    let chat = alice.direct("bob").await.id;
    assert_eq!(bob.expect_pushed_chat().await.id, chat);
    let alice_device = Device::new("alice", alice_me.id);
    alice.publish_device(&alice_device).await;
    assert_eq!(
        bob.recv().await,
        ServerFrame::DevicesChanged { user: alice_me.id }
    );
    let bob_device = Device::new("bob", bob_me.id);
    bob.publish_device(&bob_device).await;
    // His session has read his (empty) mailbox once it answers the sentinel: what comes
    // after cannot have come from that first read.
    bob.expect_nothing_before_a_sentinel().await;
    assert_eq!(
        alice.recv().await,
        ServerFrame::DevicesChanged { user: bob_me.id }
    );

    let sent = alice
        .send_to_device(vec![merpati_protocol::keys::ToDeviceMessage {
            recipient: bob_device.at(),
            body: b"olm".to_vec(),
        }])
        .await;
    assert!(matches!(sent, ServerFrame::ToDeviceSent { .. }), "{sent:?}");
    // No push carried it: bob's process hands it from his mailbox at a head check.
    let (id, sender, body) = bob.expect_to_device().await;
    assert_eq!((sender, body.as_slice()), (alice_device.at(), &b"olm"[..]));
    let handed = other.metrics().await.unwrap()["merpati_to_device_handed_again_total"];
    assert!(handed >= 1.0, "it came from the mailbox: {handed}");
    // Once bob has it, it is gone from his mailbox: a check that read it just before may
    // hand it once more, with the same id, and nothing else comes.
    bob.send(&merpati_protocol::ClientFrame::ToDeviceDone { ids: vec![id] })
        .await;
    let sentinel = bob.request_id();
    bob.send(&merpati_protocol::ClientFrame::QueryKeys {
        request: sentinel,
        users: Vec::new(),
    })
    .await;
    loop {
        match bob.recv().await {
            ServerFrame::ToDevice { id: again, .. } => assert_eq!(again, id),
            ServerFrame::Keys { request, .. } if request == sentinel => break,
            other => panic!("expected the sentinel, got {other:?}"),
        }
    }
}

/// Reads `client`'s frames until its connection closes; asserts it was told its session
/// ended, for good.
async fn told_session_ended(client: &mut Client) {
    let (frames, close) = client.until_closed().await;
    let goodbye = ServerFrame::Goodbye {
        code: merpati_protocol::ErrorCode::SessionExpired,
        retry_after_ms: None,
    };
    assert!(frames.contains(&goodbye), "{frames:?}");
    assert_eq!(close.map(|close| u16::from(close.code)), Some(1008));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_ended_on_one_process_closes_its_connection_on_another_at_once() {
    let shared = Shared::start().await;
    // Head checks a minute apart: only the push can close it within the client's patience.
    let one = shared.process_checking_every(60_000).await;
    let other = shared.process_checking_every(60_000).await;
    let (mut phone, ..) = one.signed_up("alice").await;
    let mut laptop = other.logged_in("alice").await;
    let sessions = match laptop
        .request(|request| merpati_protocol::ClientFrame::ListSessions { request })
        .await
    {
        ServerFrame::Sessions { sessions, .. } => sessions,
        other => panic!("expected Sessions, got {other:?}"),
    };
    let phone_session = sessions.iter().find(|s| !s.current).unwrap().session;
    let ended = laptop
        .request(|request| merpati_protocol::ClientFrame::EndSession {
            request,
            session: phone_session,
        })
        .await;
    assert!(
        matches!(ended, ServerFrame::SessionEnded { .. }),
        "{ended:?}"
    );
    told_session_ended(&mut phone).await;
    laptop.expect_nothing_before_a_sentinel().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_ended_whose_word_was_lost_is_closed_by_the_next_head_check() {
    let shared = Shared::start().await;
    let one = shared.process().await;
    let (mut alice, ..) = one.signed_up("alice").await;
    let (mut bob, ..) = one.signed_up("bob").await;
    // Ended by a process that died before telling anyone: only the database knows.
    let db = shared.db().await;
    let deleted = db
        .execute(
            "DELETE FROM sessions WHERE account_id =
                 (SELECT id FROM accounts WHERE username = 'alice')",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(deleted, 1);
    told_session_ended(&mut alice).await;
    bob.expect_nothing_before_a_sentinel().await;
}

/// Reads `watcher`'s frames until `user`'s presence is `wanted`, passing over the presence
/// frames `passable` allows (what the watcher may see again, or on the way) and nothing else.
async fn until_presence(
    watcher: &mut Client,
    user: merpati_protocol::UserId,
    wanted: impl Fn(&Presence) -> bool,
    passable: impl Fn(&Presence) -> bool,
) -> Presence {
    loop {
        match watcher.recv().await {
            ServerFrame::Presence { user: of, presence } if of == user && wanted(&presence) => {
                return presence;
            }
            ServerFrame::Presence { user: of, presence } if of == user && passable(&presence) => {}
            other => panic!("expected {user:?}'s presence, got {other:?}"),
        }
    }
}

fn online(presence: &Presence) -> bool {
    *presence == Presence::Online
}

fn last_seen(presence: &Presence) -> bool {
    matches!(presence, Presence::LastSeen { .. })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_crosses_processes_as_each_side_allows() {
    let shared = Shared::start().await;
    // Head checks a minute apart: what arrives comes from the presence news alone.
    let one = shared.process_checking_every(60_000).await;
    let other = shared.process_checking_every(60_000).await;
    let (mut alice, alice_me, _) = one.signed_up("alice").await;
    let (mut bob, ..) = other.signed_up("bob").await;
    let chat = alice.direct("bob").await.id;
    assert_eq!(bob.expect_pushed_chat().await.id, chat);

    // bob opens their chat: alice is online, on the other process. His process may answer
    // before alice's has told it (as last seen), never anything else.
    bob.send(&ClientFrame::WatchPresence {
        user: Some(alice_me.id),
    })
    .await;
    until_presence(&mut bob, alice_me.id, online, last_seen).await;

    // alice closes her app: bob sees when she was last seen.
    drop(alice);
    let gone = until_presence(&mut bob, alice_me.id, last_seen, online).await;
    assert!(
        matches!(gone, Presence::LastSeen { at_ms } if at_ms > 0),
        "{gone:?}"
    );

    // She comes back, on her process, and then stops sharing her presence.
    let mut alice = one.logged_in("alice").await;
    until_presence(&mut bob, alice_me.id, online, |_| false).await;
    alice
        .send(&ClientFrame::SetPrivacy {
            share_read_receipts: true,
            share_presence: false,
        })
        .await;
    let hidden = |presence: &Presence| *presence == Presence::Hidden;
    until_presence(&mut bob, alice_me.id, hidden, |_| false).await;
    bob.expect_nothing_before_a_sentinel().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_on_a_process_that_dies_is_last_seen_after_a_few_head_checks() {
    let shared = Shared::start().await;
    let mut doomed = shared.binary_alone(ServerOptions::new()).await;
    let survivor = shared.binary_alone(ServerOptions::new()).await;
    let (mut alice, alice_me, _) = Client::signed_up(&doomed.endpoint(), "alice").await;
    let (mut bob, ..) = Client::signed_up(&survivor.endpoint(), "bob").await;
    let chat = alice.direct("bob").await.id;
    assert_eq!(bob.expect_pushed_chat().await.id, chat);
    bob.send(&ClientFrame::WatchPresence {
        user: Some(alice_me.id),
    })
    .await;
    until_presence(&mut bob, alice_me.id, online, last_seen).await;

    // Her process dies without a word: it stops answering the survivor's head checks, and
    // after a few of them she no longer counts as online.
    doomed.kill();
    until_presence(&mut bob, alice_me.id, last_seen, online).await;
    bob.expect_nothing_before_a_sentinel().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_made_on_one_process_holds_for_the_accounts_sessions_on_another() {
    let shared = Shared::start().await;
    let one = shared.process_checking_every(60_000).await;
    let other = shared.process_checking_every(60_000).await;
    let (mut alice_phone, ..) = one.signed_up("alice").await;
    let mut alice_laptop = other.logged_in("alice").await;
    let (mut bob, bob_me, _) = other.signed_up("bob").await;
    let chat = bob.direct("alice").await.id;
    assert_eq!(alice_phone.expect_pushed_chat().await.id, chat);
    assert_eq!(alice_laptop.expect_pushed_chat().await.id, chat);

    // alice blocks bob on her phone: her laptop, on the other process, is told the new list.
    let answer = alice_phone
        .request(|request| ClientFrame::SetBlocked {
            request,
            user: bob_me.id,
            blocked: true,
        })
        .await;
    assert!(
        matches!(answer, ServerFrame::BlockList { .. }),
        "{answer:?}"
    );
    assert_eq!(
        alice_laptop.recv().await,
        ServerFrame::BlockList {
            request: None,
            users: vec![bob_me.id]
        }
    );
    // And the laptop's process holds it: bob typing reaches neither of her sessions.
    bob.send(&ClientFrame::Typing { chat_id: chat }).await;
    bob.expect_nothing_before_a_sentinel().await;
    alice_laptop.expect_nothing_before_a_sentinel().await;
    alice_phone.expect_nothing_before_a_sentinel().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_failed_over_under_a_running_process_gets_a_new_epoch_and_its_clients_resync() {
    let shared = Shared::start().await;
    let one = shared.process().await;
    let (mut alice, ..) = one.signed_up("alice").await;
    let before = alice.epoch();
    // The database now answers on another timeline than its epoch was chosen on, as after a
    // standby's promotion or a point-in-time recovery.
    let db = shared.db().await;
    let moved = db
        .execute(
            "UPDATE meta SET cluster_timeline = cluster_timeline + 1",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        moved, 1,
        "the identity was noted when the database was opened"
    );

    // The process notices at its next head check: alice is told to come back, and finds a
    // new epoch, so her app drops its positions and syncs afresh.
    let (frames, _) = alice.until_closed().await;
    assert!(
        frames.iter().any(|frame| matches!(
            frame,
            ServerFrame::Goodbye {
                code: merpati_protocol::ErrorCode::ServerBusy,
                ..
            }
        )),
        "{frames:?}"
    );
    let alice = one.logged_in("alice").await;
    assert_ne!(alice.epoch(), before);
    // Another process opening the database now finds the identity it was given: the same
    // epoch.
    let other = shared.process().await;
    assert_eq!(other.logged_in("alice").await.epoch(), alice.epoch());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_restored_into_another_postgresql_gets_a_new_epoch() {
    let shared = Shared::start().await;
    let first = shared.process().await;
    let (alice, ..) = first.signed_up("alice").await;
    let before = alice.epoch();
    drop(alice);
    first.stop().await;

    // pg_dump of the database, restored into another PostgreSQL cluster.
    let elsewhere = PostgresProcess::start().await.unwrap();
    let dump = std::process::Command::new(shared.postgres.program("pg_dump"))
        .args(["--dbname", &shared.database])
        .output()
        .unwrap();
    assert!(dump.status.success(), "{dump:?}");
    let restored = elsewhere.create_database("merpati").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("merpati.sql");
    std::fs::write(&file, &dump.stdout).unwrap();
    let restore = std::process::Command::new(elsewhere.program("psql"))
        .args([
            "--quiet",
            "--set",
            "ON_ERROR_STOP=1",
            "--dbname",
            &restored,
            "--file",
        ])
        .arg(&file)
        .output()
        .unwrap();
    assert!(restore.status.success(), "{restore:?}");

    let server = TestServer::start_configured(move |config| {
        config.database_url = Some(restored);
    })
    .await;
    let alice = server.logged_in("alice").await;
    assert_ne!(
        alice.epoch(),
        before,
        "her positions are of the database before"
    );
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
