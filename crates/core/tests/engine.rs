//! The client engine, driven frame by frame as the app drives it: what it sends, what it
//! stores and what it shows.
//!
//! Most tests leave the device's keys unpublished, so the end-to-end flow stays out of the
//! way of what they check; those about sending and reading words go through [`Net`], which
//! answers key frames like the server's directory and plays bob's device.

mod support;

use std::collections::BTreeSet;

use merpati_core::{
    ConnectionPhase, Engine, Event, MessageLock, MessageStatus, StoreWrite,
    crypto::{AccountKey, KdfParams},
    e2e::{CryptoRecordKey, DeviceCrypto},
};
use merpati_protocol::{
    ChatId, ChatInfo, ChatKind, ClientFrame, ClientMsgId, Epoch, ErrorCode, Member, MessageFrame,
    PROTOCOL_VERSION, Seq, ServerFrame, UserId, Username,
    auth::{AuthPurpose, challenge_message},
    content::MessageContent,
    frames::AuthMethod,
    keys::{DeviceKey, DeviceRef},
};
use support::KeyDirectory;
use vodozemac::{Ed25519PublicKey, Ed25519Signature};

const ALICE: UserId = UserId(1);
const BOB: UserId = UserId(2);
const CHAT: ChatId = ChatId(10);

fn name(name: &str) -> Username {
    Username::parse(name).expect("valid username")
}

fn member(id: UserId, username: &str) -> Member {
    Member {
        id,
        username: name(username),
    }
}

fn chat_info(head: u64) -> ChatInfo {
    ChatInfo {
        id: CHAT,
        kind: ChatKind::Direct,
        title: String::new(),
        members: vec![member(ALICE, "alice"), member(BOB, "bob")],
        head: Seq(head),
        read: Seq(0),
        created_ms: 1_000,
    }
}

fn message(seq: u64, sender: UserId, text: &str) -> MessageFrame {
    MessageFrame {
        chat_id: CHAT,
        seq: Seq(seq),
        client_msg_id: ClientMsgId([seq as u8; 16]),
        sender,
        sent_at_ms: 2_000 + seq,
        body: MessageContent::Text { text: text.into() }.to_body(),
    }
}

fn drain(engine: &mut Engine) -> Vec<ClientFrame> {
    std::iter::from_fn(|| engine.poll_frame()).collect()
}

/// Alice's account key for `passphrase` (cheap derivation parameters: tests only).
fn alice_key(passphrase: &str) -> AccountKey {
    AccountKey::derive(&name("alice"), passphrase, KdfParams::FAST_INSECURE).expect("derives")
}

/// The server's key directory and bob's device, around alice's engine.
struct Net {
    keys: KeyDirectory,
    alice_device: Option<DeviceKey>,
    bob: DeviceCrypto,
    bob_device: Option<DeviceKey>,
}

impl Net {
    /// A directory knowing alice's account key and bob's published device.
    fn new() -> Net {
        let bob_key = AccountKey::derive(
            &name("bob"),
            "correct horse battery",
            KdfParams::FAST_INSECURE,
        )
        .expect("derives");
        let mut keys = KeyDirectory::default();
        keys.register(
            ALICE,
            *alice_key("correct horse battery")
                .auth_key()
                .public_key()
                .as_bytes(),
        );
        keys.register(BOB, *bob_key.auth_key().public_key().as_bytes());
        let mut bob =
            DeviceCrypto::new(BOB, &bob_key.auth_key(), bob_key.backup_key()).expect("randomness");
        let (one_time_keys, fallback_key) = bob.unpublished_keys();
        let mut bob_device = None;
        keys.handle(
            BOB,
            &mut bob_device,
            &ClientFrame::PublishKeys {
                device: bob.device_keys(),
                one_time_keys,
                fallback_key,
            },
        );
        Net {
            keys,
            alice_device: None,
            bob,
            bob_device,
        }
    }

    /// Answers alice's key frames (and gives bob what is sent to him) until she sends none;
    /// returns her other frames.
    fn serve(&mut self, engine: &mut Engine) -> Vec<ClientFrame> {
        let mut others = Vec::new();
        loop {
            let frames = drain(engine);
            if frames.is_empty() {
                return others;
            }
            for frame in frames {
                let Some(handled) = self.keys.handle(ALICE, &mut self.alice_device, &frame) else {
                    others.push(frame);
                    continue;
                };
                for reply in handled.reply {
                    engine.handle_frame(reply);
                }
                for (recipient, frame) in handled.deliver {
                    if Some(recipient) == self.bob_device
                        && let ServerFrame::ToDevice { sender, body, .. } = frame
                        && let Ok(key) = self.bob.open_to_device(sender, &body)
                    {
                        self.bob.accept_room_key(sender, &key);
                    }
                }
            }
        }
    }

    /// Bob's device writes message `seq`, sharing its key with alice's device first.
    fn bob_says(&mut self, engine: &mut Engine, seq: u64, text: &str) -> MessageFrame {
        let alice = DeviceRef {
            user: ALICE,
            device: self.alice_device.expect("alice published her device"),
        };
        let mut bob_device = self.bob_device;
        for query in [
            ClientFrame::QueryKeys {
                request: merpati_protocol::RequestId(9_000),
                users: vec![ALICE, BOB],
            },
            ClientFrame::ClaimKeys {
                request: merpati_protocol::RequestId(9_001),
                devices: vec![alice],
            },
        ] {
            let targets: BTreeSet<DeviceRef> = [alice].into();
            if matches!(query, ClientFrame::ClaimKeys { .. })
                && self.bob.without_session(&targets).is_empty()
            {
                continue;
            }
            let handled = self
                .keys
                .handle(BOB, &mut bob_device, &query)
                .expect("a key frame");
            for reply in handled.reply {
                match reply {
                    ServerFrame::Keys { users, .. } => {
                        self.bob.on_keys(users, 0);
                    }
                    ServerFrame::ClaimedKeys { keys, .. } => {
                        self.bob.on_claimed(keys);
                    }
                    _ => {}
                }
            }
        }
        let targets: BTreeSet<DeviceRef> = [alice].into();
        self.bob.ensure_outbound(CHAT, &[ALICE, BOB].into(), 0);
        let need = self.bob.not_shared_with(CHAT, &targets);
        if !need.is_empty() {
            let session = self.bob.outbound_session_id(CHAT).expect("a session");
            let messages = self.bob.share_outbound(CHAT, &need);
            let handled = self
                .keys
                .handle(
                    BOB,
                    &mut bob_device,
                    &ClientFrame::SendToDevice {
                        request: merpati_protocol::RequestId(9_002),
                        messages,
                    },
                )
                .expect("a key frame");
            self.bob
                .mark_shared(CHAT, &session, &need.into_iter().collect::<Vec<_>>());
            for (_, frame) in handled.deliver {
                engine.handle_frame(frame);
            }
            // Alice checks who sent the key before she uses it.
            self.serve(engine);
        }
        let body = self
            .bob
            .encrypt(CHAT, &MessageContent::Text { text: text.into() })
            .expect("encrypts");
        MessageFrame {
            body,
            ..message(seq, BOB, text)
        }
    }
}

impl Net {
    /// Bob's device starts a new session, shares it with alice and writes under it; returns
    /// the message and, separately, the key share, so a test can deliver them in any order.
    fn bob_rotates_and_writes(&mut self, seq: u64, text: &str) -> (MessageFrame, Vec<ServerFrame>) {
        // A member set without bob himself is not a superset of the current one: rotate.
        self.bob.ensure_outbound(CHAT, &[ALICE].into(), 0);
        let alice: BTreeSet<DeviceRef> = [DeviceRef {
            user: ALICE,
            device: self.alice_device.expect("alice published"),
        }]
        .into();
        let messages = self.bob.share_outbound(CHAT, &alice);
        let mut bob_device = self.bob_device;
        let handled = self
            .keys
            .handle(
                BOB,
                &mut bob_device,
                &ClientFrame::SendToDevice {
                    request: merpati_protocol::RequestId(9_003),
                    messages,
                },
            )
            .expect("a key frame");
        let session = self.bob.outbound_session_id(CHAT).expect("a session");
        self.bob
            .mark_shared(CHAT, &session, &alice.into_iter().collect::<Vec<_>>());
        let body = self
            .bob
            .encrypt(CHAT, &MessageContent::Text { text: text.into() })
            .expect("encrypts");
        let message = MessageFrame {
            body,
            ..message(seq, BOB, text)
        };
        (
            message,
            handled
                .deliver
                .into_iter()
                .map(|(_, frame)| frame)
                .collect(),
        )
    }
}

/// Alice online with her keys published and bob's device in the directory.
fn published_alice() -> (Engine, Net) {
    let mut engine = caught_up_alice();
    let mut net = Net::new();
    let others = net.serve(&mut engine);
    assert!(
        others.iter().all(|frame| matches!(
            frame,
            ClientFrame::Authenticate { .. } | ClientFrame::Sync { .. }
        )),
        "only the sync besides keys: {others:?}"
    );
    engine.take_writes();
    engine.take_events();
    (engine, net)
}

/// An engine signing in as alice: its socket is open and it has answered the challenge.
fn challenged_alice(passphrase: &str) -> Engine {
    let mut engine = Engine::new();
    let key = alice_key(passphrase);
    engine.sign_in(name("alice"), &key);
    engine.on_connected();
    engine.handle_frame(ServerFrame::Challenge {
        version: 1,
        nonce: [1; 32],
        epoch: Epoch(7),
    });
    engine
}

/// Drops the connection and resumes the session with a server whose storage epoch is `epoch`.
fn reconnect(engine: &mut Engine, epoch: Epoch) {
    engine.on_disconnected();
    engine.on_connected();
    engine.handle_frame(ServerFrame::Challenge {
        version: 1,
        nonce: [3; 32],
        epoch,
    });
    engine.handle_frame(ServerFrame::Welcome {
        me: member(ALICE, "alice"),
        session_token: None,
    });
}

/// Alice signed in with the passphrase and caught up on her 1:1 chat with bob; what the
/// engine sends and stores in answer is still queued.
fn caught_up_alice() -> Engine {
    let mut engine = challenged_alice("correct horse battery");
    engine.handle_frame(ServerFrame::Welcome {
        me: member(ALICE, "alice"),
        session_token: Some([5; 32]),
    });
    engine.handle_frame(ServerFrame::Chat {
        request: None,
        chat: chat_info(0),
    });
    engine.handle_frame(ServerFrame::SyncDone);
    engine
}

/// An engine signed in as alice with one 1:1 chat with bob, caught up.
fn online_alice() -> Engine {
    let mut engine = caught_up_alice();
    drain(&mut engine);
    engine.take_writes();
    engine.take_events();
    engine
}

#[test]
fn sign_up_answers_the_challenge_with_a_verifiable_signature() {
    let mut engine = Engine::new();
    let key = alice_key("correct horse battery");
    engine.sign_up(name("alice"), &key);
    engine.on_connected();
    assert_eq!(engine.connection_phase(), ConnectionPhase::Connecting);
    let nonce = [42; 32];
    engine.handle_frame(ServerFrame::Challenge {
        version: 1,
        nonce,
        epoch: Epoch(1),
    });
    let Some(ClientFrame::Authenticate { version, method }) = engine.poll_frame() else {
        panic!("expected an Authenticate frame");
    };
    assert_eq!(version, PROTOCOL_VERSION);
    let AuthMethod::Register {
        username,
        public_key,
        signature,
    } = method
    else {
        panic!("expected Register");
    };
    let public_key = Ed25519PublicKey::from_slice(&public_key).expect("a valid key");
    let signature = Ed25519Signature::from_slice(&signature).expect("a valid signature");
    let signed = challenge_message(AuthPurpose::Register, &username, &nonce);
    assert!(public_key.verify(&signed, &signature).is_ok());
    let other = challenge_message(AuthPurpose::Login, &username, &nonce);
    assert!(
        public_key.verify(&other, &signature).is_err(),
        "purpose is bound"
    );
}

#[test]
fn the_phase_follows_the_connection_from_opening_to_online_and_back() {
    let mut engine = Engine::new();
    let key = alice_key("correct horse battery");
    engine.sign_in(name("alice"), &key);
    assert_eq!(engine.connection_phase(), ConnectionPhase::Offline);
    engine.on_connecting();
    assert_eq!(engine.connection_phase(), ConnectionPhase::Connecting);
    engine.on_disconnected();
    assert_eq!(
        engine.connection_phase(),
        ConnectionPhase::Offline,
        "the socket did not open"
    );
    engine.on_connecting();
    engine.on_connected();
    engine.handle_frame(ServerFrame::Challenge {
        version: 1,
        nonce: [1; 32],
        epoch: Epoch(7),
    });
    engine.handle_frame(ServerFrame::Welcome {
        me: member(ALICE, "alice"),
        session_token: None,
    });
    assert_eq!(
        engine.connection_phase(),
        ConnectionPhase::Connecting,
        "still catching up"
    );
    engine.handle_frame(ServerFrame::SyncDone);
    assert_eq!(engine.connection_phase(), ConnectionPhase::Online);
    engine.on_disconnected();
    assert_eq!(engine.connection_phase(), ConnectionPhase::Offline);
}

#[test]
fn welcome_stores_the_session_and_asks_to_sync() {
    let mut engine = challenged_alice("correct horse battery");
    drain(&mut engine);
    engine.handle_frame(ServerFrame::Welcome {
        me: member(ALICE, "alice"),
        session_token: Some([5; 32]),
    });
    // The device's keys first, so that keys queued for it arrive before the messages.
    let frames = drain(&mut engine);
    assert!(
        matches!(frames.as_slice(), [ClientFrame::PublishKeys { device, one_time_keys, fallback_key: Some(_) }, ClientFrame::Sync { epoch: Some(Epoch(7)), positions }]
            if device.user == ALICE && !one_time_keys.is_empty() && positions.is_empty()),
        "{frames:?}"
    );
    let writes = engine.take_writes();
    assert!(writes.iter().any(|write| matches!(
        write,
        StoreWrite::PutAccount(account) if account.session_token == [5; 32]
    )));
    assert!(
        writes
            .iter()
            .any(|write| matches!(write, StoreWrite::PutCrypto(record) if record.key == CryptoRecordKey::Account)),
        "the new device's keys are stored"
    );
    assert_eq!(
        engine.take_events(),
        vec![Event::SignedIn(member(ALICE, "alice"))]
    );
    engine.handle_frame(ServerFrame::SyncDone);
    assert_eq!(engine.connection_phase(), ConnectionPhase::Online);
}

#[test]
fn a_wrong_passphrase_is_reported() {
    let mut engine = challenged_alice("not the passphrase");
    engine.handle_frame(ServerFrame::Error {
        request: None,
        code: ErrorCode::WrongPassphrase,
        detail: String::new(),
    });
    assert_eq!(
        engine.take_events(),
        vec![Event::AuthFailed(ErrorCode::WrongPassphrase)]
    );
    assert!(!engine.has_credentials());
}

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
    ] = sent.as_slice()
    else {
        panic!("one Send after the key share: {sent:?}");
    };
    assert_eq!(*client_msg_id, id);
    assert!(
        !body.windows(8).any(|window| window == b"halo bob"),
        "the body is encrypted"
    );
    let body = body.clone();
    assert!(
        engine
            .take_writes()
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
    let writes = engine.take_writes();
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
        drain(&mut engine).is_empty(),
        "nothing goes out while offline"
    );

    engine.on_connected();
    engine.handle_frame(ServerFrame::Challenge {
        version: 1,
        nonce: [2; 32],
        epoch: Epoch(7),
    });
    assert!(matches!(
        drain(&mut engine).as_slice(),
        [ClientFrame::Authenticate { method: AuthMethod::Resume { session_token }, .. }]
            if *session_token == [5; 32]
    ));
    engine.handle_frame(ServerFrame::Welcome {
        me: member(ALICE, "alice"),
        session_token: None,
    });
    let sent: Vec<ClientMsgId> = net
        .serve(&mut engine)
        .into_iter()
        .filter_map(|frame| match frame {
            ClientFrame::Send { client_msg_id, .. } => Some(client_msg_id),
            _ => None,
        })
        .collect();
    assert_eq!(
        sent,
        vec![first, second],
        "in the order written, under the same ids"
    );
}

#[test]
fn a_message_delivered_twice_is_shown_once_in_sequence_order() {
    let (mut engine, mut net) = published_alice();
    let satu = net.bob_says(&mut engine, 1, "satu");
    let dua = net.bob_says(&mut engine, 2, "dua");
    engine.handle_frame(ServerFrame::Message(dua.clone()));
    engine.handle_frame(ServerFrame::Message(satu.clone()));
    engine.handle_frame(ServerFrame::Message(dua.clone()));
    engine.handle_frame(ServerFrame::Page {
        chat_id: CHAT,
        messages: vec![satu, dua],
        more: false,
    });
    let texts: Vec<(MessageLock, String)> = engine
        .timeline(CHAT)
        .into_iter()
        .map(|item| (item.lock, item.text))
        .collect();
    assert_eq!(
        texts,
        vec![
            (MessageLock::Open, "satu".to_owned()),
            (MessageLock::Open, "dua".to_owned())
        ]
    );
}

#[test]
fn a_message_whose_key_comes_later_opens_by_itself_and_a_changed_one_is_refused() {
    let (mut engine, mut net) = published_alice();
    let early = net.bob_says(&mut engine, 1, "halo");
    let (locked, key_share) = net.bob_rotates_and_writes(2, "kemudian");
    engine.handle_frame(ServerFrame::Message(early));
    engine.handle_frame(ServerFrame::Message(locked));
    let shown = |engine: &Engine| -> Vec<(MessageLock, String)> {
        engine
            .timeline(CHAT)
            .into_iter()
            .map(|item| (item.lock, item.text))
            .collect()
    };
    assert_eq!(shown(&engine)[0], (MessageLock::Open, "halo".to_owned()));
    assert_eq!(shown(&engine)[1].0, MessageLock::Waiting);
    assert!(
        shown(&engine)[1].1.contains("Waiting"),
        "a clear placeholder"
    );

    // The key arrives after the message: the waiting one opens by itself.
    for frame in key_share {
        engine.handle_frame(frame);
    }
    net.serve(&mut engine);
    let later = net.bob_says(&mut engine, 3, "asli");
    let mut changed = later.clone();
    changed.seq = Seq(4);
    changed.client_msg_id = ClientMsgId([44; 16]);
    let last = changed.body.len() - 1;
    changed.body[last] ^= 1;
    engine.handle_frame(ServerFrame::Message(later));
    engine.handle_frame(ServerFrame::Message(changed));
    let now = shown(&engine);
    assert_eq!(now[1], (MessageLock::Open, "kemudian".to_owned()));
    assert_eq!(now[2], (MessageLock::Open, "asli".to_owned()));
    assert_eq!(
        now[3].0,
        MessageLock::Refused,
        "a changed byte is refused: {now:?}"
    );
    assert!(now[3].1.contains("altered"));
}

#[test]
fn a_message_beyond_the_start_of_an_empty_chat_fetches_what_came_before() {
    let mut engine = online_alice();
    engine.handle_frame(ServerFrame::Message(message(3, BOB, "tiga")));
    assert_eq!(
        drain(&mut engine),
        vec![ClientFrame::Fetch {
            chat_id: CHAT,
            after: Seq(0),
            limit: 500
        }]
    );
}

#[test]
fn a_gap_is_fetched_from_the_last_contiguous_sequence() {
    let mut engine = online_alice();
    engine.handle_frame(ServerFrame::Message(message(1, BOB, "satu")));
    engine.handle_frame(ServerFrame::Message(message(4, BOB, "empat")));
    assert_eq!(
        drain(&mut engine),
        vec![ClientFrame::Fetch {
            chat_id: CHAT,
            after: Seq(1),
            limit: 500
        }]
    );
    engine.handle_frame(ServerFrame::Page {
        chat_id: CHAT,
        messages: vec![
            message(2, BOB, "dua"),
            message(3, BOB, "tiga"),
            message(4, BOB, "empat"),
        ],
        more: false,
    });
    let seqs: Vec<Option<Seq>> = engine
        .timeline(CHAT)
        .into_iter()
        .map(|item| item.seq)
        .collect();
    assert_eq!(
        seqs,
        vec![Some(Seq(1)), Some(Seq(2)), Some(Seq(3)), Some(Seq(4))]
    );
    assert!(drain(&mut engine).is_empty(), "caught up: no further fetch");
}

#[test]
fn resync_sends_the_last_contiguous_position_per_chat() {
    let mut engine = online_alice();
    for seq in 1..=3 {
        engine.handle_frame(ServerFrame::Message(message(seq, BOB, "m")));
    }
    reconnect(&mut engine, Epoch(7));
    assert!(drain(&mut engine).contains(&ClientFrame::Sync {
        epoch: Some(Epoch(7)),
        positions: vec![(CHAT, Seq(3))],
    }));
}

#[test]
fn a_changed_epoch_drops_old_positions() {
    let mut engine = online_alice();
    engine.handle_frame(ServerFrame::Message(message(1, BOB, "m")));
    reconnect(&mut engine, Epoch(8));
    assert!(drain(&mut engine).contains(&ClientFrame::Sync {
        epoch: Some(Epoch(8)),
        positions: vec![],
    }));
}

#[test]
fn unread_counts_others_messages_until_marked_read() {
    let (mut engine, mut net) = published_alice();
    let satu = net.bob_says(&mut engine, 1, "satu");
    let dua = net.bob_says(&mut engine, 2, "dua");
    engine.handle_frame(ServerFrame::Message(satu));
    engine.handle_frame(ServerFrame::Message(dua));
    let summary = &engine.chat_list()[0];
    assert_eq!((summary.title.as_str(), summary.unread), ("bob", 2));
    assert_eq!(summary.last_text.as_deref(), Some("dua"));
    engine.mark_read(CHAT);
    assert_eq!(engine.chat_list()[0].unread, 0);
    assert_eq!(
        drain(&mut engine),
        vec![ClientFrame::MarkRead {
            chat_id: CHAT,
            seq: Seq(2)
        }]
    );
}

#[test]
fn the_chat_list_is_ordered_by_latest_activity() {
    let mut engine = online_alice();
    let mut group = chat_info(0);
    group.id = ChatId(11);
    group.kind = ChatKind::Group;
    group.title = "Keluarga".into();
    group.created_ms = 500;
    engine.handle_frame(ServerFrame::Chat {
        request: None,
        chat: group,
    });
    assert_eq!(engine.chat_list()[0].title, "bob", "created later");
    let mut in_group = message(1, BOB, "halo semua");
    in_group.chat_id = ChatId(11);
    engine.handle_frame(ServerFrame::Message(in_group));
    assert_eq!(
        engine.chat_list()[0].title,
        "Keluarga",
        "newest message first"
    );
}

#[test]
fn a_refused_message_is_shown_failed_and_can_be_retried() {
    let (mut engine, mut net) = published_alice();
    let id = engine.send_text(CHAT, "x", 1).expect("queued");
    net.serve(&mut engine);
    engine.handle_frame(ServerFrame::SendFailed {
        chat_id: CHAT,
        client_msg_id: id,
        code: ErrorCode::Internal,
    });
    assert_eq!(engine.timeline(CHAT)[0].status, MessageStatus::Failed);
    engine.retry(id);
    assert_eq!(engine.timeline(CHAT)[0].status, MessageStatus::Pending);
    assert!(
        matches!(net.serve(&mut engine).as_slice(), [ClientFrame::Send { client_msg_id, .. }] if *client_msg_id == id)
    );
}

#[test]
fn too_long_and_empty_messages_are_refused_before_the_outbox() {
    let mut engine = online_alice();
    assert_eq!(
        engine.send_text(CHAT, "   ", 1),
        Err(merpati_core::SendError::Empty)
    );
    let long = "a".repeat(merpati_protocol::MAX_BODY_BYTES + 1);
    assert_eq!(
        engine.send_text(CHAT, &long, 1),
        Err(merpati_core::SendError::TooLarge)
    );
    assert!(engine.take_writes().is_empty());
}

#[test]
fn created_chats_are_reported_ready() {
    let mut engine = online_alice();
    let request = engine
        .create_group("Keluarga", "bob, carol")
        .expect("connected");
    assert!(matches!(
        drain(&mut engine).as_slice(),
        [ClientFrame::CreateChat { .. }]
    ));
    let mut group = chat_info(0);
    group.id = ChatId(12);
    engine.handle_frame(ServerFrame::Chat {
        request: Some(request),
        chat: group,
    });
    assert!(engine.take_events().contains(&Event::ChatReady {
        request,
        chat_id: ChatId(12)
    }));
    assert!(engine.create_direct("not valid!").is_err());
}

#[test]
fn older_history_comes_from_the_server_when_the_store_has_none() {
    // A new device: the chat already holds 100 messages, the sync sends the newest 50.
    let mut engine = challenged_alice("correct horse battery");
    engine.handle_frame(ServerFrame::Welcome {
        me: member(ALICE, "alice"),
        session_token: None,
    });
    engine.handle_frame(ServerFrame::Chat {
        request: None,
        chat: chat_info(100),
    });
    engine.handle_frame(ServerFrame::Page {
        chat_id: CHAT,
        messages: (51..=100).map(|seq| message(seq, BOB, "m")).collect(),
        more: false,
    });
    engine.handle_frame(ServerFrame::SyncDone);
    drain(&mut engine);
    let before = engine.older_wanted_before(CHAT).expect("older exist");
    assert_eq!(before, Seq(51));
    engine.insert_stored_older(CHAT, vec![]);
    assert_eq!(
        drain(&mut engine),
        vec![ClientFrame::History {
            chat_id: CHAT,
            before: Seq(51),
            limit: 50
        }]
    );
    engine.handle_frame(ServerFrame::Page {
        chat_id: CHAT,
        messages: (1..=50).map(|seq| message(seq, BOB, "m")).collect(),
        more: false,
    });
    assert_eq!(engine.timeline(CHAT).len(), 100);
    assert_eq!(engine.older_wanted_before(CHAT), None);
}

#[test]
fn a_new_tab_of_a_signed_in_browser_becomes_a_device_of_its_own() {
    // The first tab signed in with the passphrase; the store keeps the account record.
    let mut first = challenged_alice("correct horse battery");
    first.handle_frame(ServerFrame::Welcome {
        me: member(ALICE, "alice"),
        session_token: Some([5; 32]),
    });
    let account = first
        .take_writes()
        .into_iter()
        .find_map(|write| match write {
            StoreWrite::PutAccount(account) => Some(account),
            _ => None,
        })
        .expect("the account is stored");
    let first_device = first.device_crypto().expect("a device").device();

    // A second tab restores the account but none of the first tab's device keys.
    let mut second = Engine::new();
    second.restore(Some(account), vec![], vec![], vec![], vec![]);
    assert!(second.take_events().is_empty(), "no passphrase needed");
    reconnect(&mut second, Epoch(7));
    let published = drain(&mut second)
        .into_iter()
        .find_map(|frame| match frame {
            ClientFrame::PublishKeys { device, .. } => Some(device),
            _ => None,
        })
        .expect("the tab publishes a device");
    assert_eq!(published.user, ALICE);
    assert_ne!(published.device, first_device.device, "its own device");
    // Vouched for by the account key, like a device signed in with the passphrase.
    let account_key = alice_key("correct horse battery").auth_key().public_key();
    let signature = Ed25519Signature::from_slice(&published.signature).expect("64 bytes");
    assert!(
        account_key
            .verify(
                &merpati_protocol::keys::device_keys_message(
                    ALICE,
                    &published.device,
                    &published.ed25519
                ),
                &signature
            )
            .is_ok()
    );
}

#[test]
fn a_refused_key_query_is_not_retried_in_a_loop_on_the_same_connection() {
    let mut engine = caught_up_alice();
    engine.handle_frame(ServerFrame::KeysPublished { one_time_keys: 50 });
    let query = drain(&mut engine)
        .into_iter()
        .find_map(|frame| match frame {
            ClientFrame::QueryKeys { request, .. } => Some(request),
            _ => None,
        })
        .expect("bob's keys are asked for");
    engine.handle_frame(ServerFrame::Error {
        request: Some(query),
        code: ErrorCode::LimitReached,
        detail: String::new(),
    });
    assert!(
        !drain(&mut engine)
            .iter()
            .any(|frame| matches!(frame, ClientFrame::QueryKeys { .. })),
        "not asked again on this connection"
    );
    assert!(
        engine
            .take_events()
            .iter()
            .all(|event| !matches!(event, Event::RequestFailed { .. })),
        "the key flow's own failure is not the person's"
    );
}

#[test]
fn a_waiting_message_reads_the_backup_again_when_another_device_adds_to_it() {
    let (mut engine, mut net) = published_alice();
    // A message under a session whose key alice's device was never sent.
    let (locked, _key_share_lost) = net.bob_rotates_and_writes(1, "lewat cadangan");
    engine.handle_frame(ServerFrame::Message(locked));
    assert_eq!(engine.timeline(CHAT)[0].lock, MessageLock::Waiting);
    let fetches = |frames: &[ClientFrame]| {
        frames
            .iter()
            .filter(|frame| matches!(frame, ClientFrame::FetchBackup { .. }))
            .count()
    };
    // It looks in the backup at once (the directory answers: nothing there yet) ...
    net.serve(&mut engine);
    assert_eq!(engine.timeline(CHAT)[0].lock, MessageLock::Waiting);
    assert!(drain(&mut engine).is_empty(), "then waits");
    // ... and again when another device of the account says it added keys.
    engine.handle_frame(ServerFrame::BackupChanged);
    let frames = drain(&mut engine);
    assert_eq!(fetches(&frames), 1, "{frames:?}");
}

#[test]
fn keys_are_published_in_frames_small_enough_for_the_servers_read_buffer() {
    let mut engine = challenged_alice("correct horse battery");
    engine.handle_frame(ServerFrame::Welcome {
        me: member(ALICE, "alice"),
        session_token: Some([5; 32]),
    });
    let mut stored = 0u32;
    let mut frames = 0;
    loop {
        let publishes: Vec<ClientFrame> = drain(&mut engine)
            .into_iter()
            .filter(|frame| matches!(frame, ClientFrame::PublishKeys { .. }))
            .collect();
        let Some(publish) = publishes.first() else {
            break;
        };
        let ClientFrame::PublishKeys { one_time_keys, .. } = publish else {
            unreachable!("filtered");
        };
        // The server reads frames into a 1 KiB buffer that a frame over half of it grows for
        // good (see `ONE_TIME_KEYS_PER_PUBLISH`).
        let size = merpati_protocol::encode(publish).len();
        assert!(size <= 500, "a {size}-byte PublishKeys");
        stored += one_time_keys.len() as u32;
        frames += 1;
        engine.handle_frame(ServerFrame::KeysPublished {
            one_time_keys: stored,
        });
        assert!(frames < 30, "tops up to a target and stops");
    }
    assert_eq!(stored, merpati_core::e2e::ONE_TIME_KEY_TARGET);
}
