//! Alice's engine in the states the engine tests start from, and [`Net`]: the server's key
//! directory and bob's device around her, answering her key frames as the server would.
//!
//! Alice's 1:1 chat with bob is [`CHAT`]. Storage plays no part here: the writes of the steps
//! these helpers take are dropped unless a helper returns them.

use std::collections::BTreeSet;

use merpati_core::{
    AccountRecord, Engine, MemoryStore, Step, Store, StoreWrite, StoredState,
    crypto::{AccountKey, KdfParams},
    e2e::DeviceCrypto,
};
use merpati_protocol::{
    ChatId, ChatInfo, ChatKind, ClientFrame, ClientMsgId, Epoch, Member, MessageFrame, RequestId,
    Seq, ServerFrame, UserId, Username,
    content::MessageContent,
    keys::{DeviceKey, DeviceRef},
};

use super::KeyDirectory;

/// Alice's account.
pub const ALICE: UserId = UserId(1);
/// Bob's account.
pub const BOB: UserId = UserId(2);
/// Alice's 1:1 chat with bob.
pub const CHAT: ChatId = ChatId(10);

/// A valid username.
pub fn name(name: &str) -> Username {
    Username::parse(name).expect("valid username")
}

/// A member of a chat.
pub fn member(id: UserId, username: &str) -> Member {
    Member {
        id,
        username: name(username),
    }
}

/// The 1:1 chat of alice and bob, whose newest message is `head`.
pub fn chat_info(head: u64) -> ChatInfo {
    ChatInfo {
        id: CHAT,
        kind: ChatKind::Direct,
        title: String::new(),
        members: vec![member(ALICE, "alice"), member(BOB, "bob")],
        head: Seq(head),
        read: Seq(0),
        created_ms: 1_000,
        admins: Vec::new(),
        receipts: Vec::new(),
    }
}

/// Message `seq` of the chat, not encrypted (only its place and sender matter).
pub fn message(seq: u64, sender: UserId, text: &str) -> MessageFrame {
    MessageFrame {
        chat_id: CHAT,
        seq: Seq(seq),
        client_msg_id: ClientMsgId([seq as u8; 16]),
        sender,
        sent_at_ms: 2_000 + seq,
        body: MessageContent::Text { text: text.into() }.to_body(),
    }
}

/// The ids of the messages `frames` send.
pub fn sent_ids(frames: &[ClientFrame]) -> Vec<merpati_protocol::ClientMsgId> {
    frames
        .iter()
        .filter_map(|frame| match frame {
            ClientFrame::Send { client_msg_id, .. } => Some(*client_msg_id),
            _ => None,
        })
        .collect()
}

/// The body the `Send` of message `id` among `frames` carries, if one does.
pub fn sent_body(frames: &[ClientFrame], id: merpati_protocol::ClientMsgId) -> Option<Vec<u8>> {
    frames.iter().find_map(|frame| match frame {
        ClientFrame::Send {
            client_msg_id,
            body,
            ..
        } if *client_msg_id == id => Some(body.clone()),
        _ => None,
    })
}

/// The frames of the engine's step so far (its writes and events are not looked at).
pub fn take_frames(engine: &mut Engine) -> Vec<ClientFrame> {
    engine.take_step().frames
}

/// Alice's account key for `passphrase` (cheap derivation parameters: tests only).
pub fn alice_key(passphrase: &str) -> AccountKey {
    AccountKey::derive(&name("alice"), passphrase, None, KdfParams::FAST_INSECURE).expect("derives")
}

/// The server's key directory and bob's device, around alice's engine.
pub struct Net {
    /// The directory.
    pub keys: KeyDirectory,
    /// The device alice's connection published, once it has.
    pub alice_device: Option<DeviceKey>,
    /// Bob's device.
    pub bob: DeviceCrypto,
    /// Bob's device as the directory knows it.
    pub bob_device: Option<DeviceKey>,
    /// Every write of alice's steps taken by [`Net::serve`]: what her store would hold.
    pub alice_writes: Vec<StoreWrite>,
}

impl Net {
    /// A directory knowing alice's account key and bob's published device.
    pub fn new() -> Net {
        let bob_key = AccountKey::derive(
            &name("bob"),
            "correct horse battery",
            None,
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
                device_proof: Some(bob.device_proof(&[0; 32])),
                one_time_keys,
                fallback_key,
            },
        );
        Net {
            keys,
            alice_device: None,
            bob,
            bob_device,
            alice_writes: Vec::new(),
        }
    }

    /// Answers alice's key frames (and gives bob what is sent to him) until she sends none;
    /// returns the rest of her steps: her other frames, and every write and event.
    pub fn serve(&mut self, engine: &mut Engine) -> Step {
        self.serve_holding(engine, |_| false)
    }

    /// As [`Net::serve`], but key frames `hold` picks are not answered: they are returned
    /// with the rest (the test answers them, or refuses them, itself).
    pub fn serve_holding(
        &mut self,
        engine: &mut Engine,
        hold: impl Fn(&ClientFrame) -> bool,
    ) -> Step {
        let mut rest = Step::default();
        loop {
            let step = engine.take_step();
            rest.events.extend(step.events);
            self.alice_writes.extend(step.writes.iter().cloned());
            rest.writes.extend(step.writes);
            if step.frames.is_empty() {
                return rest;
            }
            for frame in step.frames {
                if hold(&frame) {
                    rest.frames.push(frame);
                    continue;
                }
                let Some(handled) = self.keys.handle(ALICE, &mut self.alice_device, &frame) else {
                    rest.frames.push(frame);
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
    pub fn bob_says(&mut self, engine: &mut Engine, seq: u64, text: &str) -> MessageFrame {
        self.bob_sends(engine, seq, MessageContent::Text { text: text.into() })
    }

    /// Bob's device writes message `seq` with any content (a reply, an edit, a reaction...),
    /// sharing its key with alice's device first.
    pub fn bob_sends(
        &mut self,
        engine: &mut Engine,
        seq: u64,
        content: MessageContent,
    ) -> MessageFrame {
        let alice = DeviceRef {
            user: ALICE,
            device: self.alice_device.expect("alice published her device"),
        };
        let mut bob_device = self.bob_device;
        for query in [
            ClientFrame::QueryKeys {
                request: RequestId(9_000),
                users: vec![ALICE, BOB],
            },
            ClientFrame::ClaimKeys {
                request: RequestId(9_001),
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
                        request: RequestId(9_002),
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
            let _ = self.serve(engine);
        }
        let body = self.bob.encrypt(CHAT, &content).expect("encrypts");
        MessageFrame {
            body,
            ..message(seq, BOB, "")
        }
    }
}

impl Net {
    /// Bob's device starts a new session, shares it with alice and writes under it; returns
    /// the message and, separately, the key share, so a test can deliver them in any order.
    pub fn bob_rotates_and_writes(
        &mut self,
        seq: u64,
        text: &str,
    ) -> (MessageFrame, Vec<ServerFrame>) {
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
                    request: RequestId(9_003),
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
pub fn published_alice() -> (Engine, Net) {
    let mut engine = caught_up_alice();
    let mut net = Net::new();
    let others = net.serve(&mut engine).frames;
    assert!(
        others.iter().all(|frame| matches!(
            frame,
            ClientFrame::Authenticate { .. }
                | ClientFrame::SetPrivacy { .. }
                | ClientFrame::Sync { .. }
        )),
        "only the settings and the sync besides keys: {others:?}"
    );
    (engine, net)
}

/// An engine signing in as alice: its socket is open and it has answered the challenge.
pub fn challenged_alice(passphrase: &str) -> Engine {
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
pub fn reconnect(engine: &mut Engine, epoch: Epoch) {
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
pub fn caught_up_alice() -> Engine {
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
pub fn online_alice() -> Engine {
    let mut engine = caught_up_alice();
    let _ = engine.take_step();
    engine
}

/// The account record alice's sign-in with the passphrase stored, as a browser keeps it: the
/// next connection of an engine restored from it resumes with the session token `[5; 32]`.
pub fn stored_account() -> AccountRecord {
    let mut engine = caught_up_alice();
    engine
        .take_step()
        .writes
        .into_iter()
        .find_map(|write| match write {
            StoreWrite::PutAccount(account) => Some(account),
            _ => None,
        })
        .expect("the account is stored")
}

/// Applies `writes` to `store`, as the shell does after a step.
pub async fn apply(store: &MemoryStore, writes: Vec<StoreWrite>) {
    store
        .apply(writes)
        .await
        .unwrap_or_else(|never| match never {});
}

/// A new engine restored from `store` (the newest 50 messages of each chat), as after a
/// reload.
pub async fn reload(store: &MemoryStore) -> Engine {
    let mut engine = Engine::new();
    engine.restore(
        StoredState::read(store, 50)
            .await
            .unwrap_or_else(|never| match never {}),
    );
    engine
}
