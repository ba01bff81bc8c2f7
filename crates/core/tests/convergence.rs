//! Property test of the sync engine: whatever the interleaving of sends, acknowledgements,
//! disconnects, duplicated and reordered deliveries, every device converges to the server's
//! order with nothing lost and nothing doubled.
//!
//! The server here is a small model of the real one's contract (`docs/protocol.md`): it
//! deduplicates on `client_msg_id`, numbers messages per chat without gaps, acknowledges the
//! sender and fans out to every connected member; its key directory is `support::KeyDirectory`.
//! Every message is end-to-end encrypted, so converging also means every device opened every
//! message to the words that were written — whichever came first, a message or its key.

mod support;

use std::collections::{HashMap, VecDeque};

use merpati_core::{
    Engine, MessageLock, MessageStatus,
    crypto::{AccountKey, KdfParams},
};
use merpati_protocol::{
    ChatId, ChatInfo, ChatKind, ClientFrame, ClientMsgId, Epoch, Member, MessageFrame, Seq,
    ServerFrame, UserId, Username, frames::AuthMethod, keys::DeviceKey,
};
use proptest::prelude::*;
use support::KeyDirectory;

const CHAT: ChatId = ChatId(1);
const EPOCH: Epoch = Epoch(7);

struct ModelServer {
    log: Vec<MessageFrame>,
    by_client_id: HashMap<ClientMsgId, Seq>,
    members: Vec<Member>,
}

impl ModelServer {
    fn info(&self) -> ChatInfo {
        ChatInfo {
            id: CHAT,
            kind: ChatKind::Group,
            title: "Keluarga".into(),
            members: self.members.clone(),
            head: Seq(self.log.len() as u64),
            read: Seq(0),
            created_ms: 0,
        }
    }

    fn page_after(&self, after: Seq, limit: usize) -> ServerFrame {
        let start = after.0 as usize;
        let end = (start + limit).min(self.log.len());
        ServerFrame::Page {
            chat_id: CHAT,
            messages: self
                .log
                .get(start..end)
                .map(<[_]>::to_vec)
                .unwrap_or_default(),
            more: end < self.log.len(),
        }
    }
}

struct Device {
    engine: Engine,
    me: Member,
    connected: bool,
    /// The device this connection published (the server binds it on `PublishKeys`).
    bound: Option<DeviceKey>,
    /// Frames on their way from the server to this device.
    inbound: VecDeque<ServerFrame>,
    /// Frames the engine handed over, on their way to the server.
    outbound: VecDeque<ClientFrame>,
}

impl Device {
    /// Carries out the engine's step as a shell does: this model keeps everything in memory,
    /// so only the frames matter, and they go out only while the connection is up.
    fn take_step(&mut self) {
        let step = self.engine.take_step();
        if self.connected {
            self.outbound.extend(step.frames);
        }
    }
}

#[derive(Debug, Clone)]
enum Step {
    Write { device: usize },
    ClientToServer { device: usize },
    ServerToClient { device: usize, pick: usize },
    DuplicateInbound { device: usize, pick: usize },
    Disconnect { device: usize },
    Reconnect { device: usize },
}

fn step_strategy(devices: usize) -> impl Strategy<Value = Step> {
    let device = 0..devices;
    prop_oneof![
        3 => device.clone().prop_map(|device| Step::Write { device }),
        6 => device.clone().prop_map(|device| Step::ClientToServer { device }),
        6 => (device.clone(), any::<usize>()).prop_map(|(device, pick)| Step::ServerToClient { device, pick }),
        1 => (device.clone(), any::<usize>()).prop_map(|(device, pick)| Step::DuplicateInbound { device, pick }),
        1 => device.clone().prop_map(|device| Step::Disconnect { device }),
        2 => device.prop_map(|device| Step::Reconnect { device }),
    ]
}

struct World {
    server: ModelServer,
    keys: KeyDirectory,
    devices: Vec<Device>,
    written: Vec<ClientMsgId>,
    texts: HashMap<ClientMsgId, String>,
    page_limit: usize,
}

impl World {
    fn new(page_limit: usize) -> World {
        // Devices 0 and 1 are two tabs of alice; device 2 is bob.
        let alice = Member {
            id: UserId(1),
            username: Username::parse("alice").expect("valid"),
        };
        let bob = Member {
            id: UserId(2),
            username: Username::parse("bob").expect("valid"),
        };
        let key_of = |member: &Member| {
            AccountKey::derive(
                &member.username,
                "correct horse battery",
                KdfParams::FAST_INSECURE,
            )
            .expect("derives")
        };
        let mut keys = KeyDirectory::default();
        let mut devices = Vec::new();
        for member in [&alice, &alice, &bob] {
            let key = key_of(member);
            keys.register(member.id, *key.auth_key().public_key().as_bytes());
            let mut engine = Engine::new();
            engine.sign_in(member.username.clone(), &key);
            devices.push(Device {
                engine,
                me: member.clone(),
                connected: false,
                bound: None,
                inbound: VecDeque::new(),
                outbound: VecDeque::new(),
            });
        }
        let server = ModelServer {
            log: Vec::new(),
            by_client_id: HashMap::new(),
            members: vec![alice, bob],
        };
        let mut world = World {
            server,
            keys,
            devices,
            written: Vec::new(),
            texts: HashMap::new(),
            page_limit,
        };
        // Every device publishes its keys before anyone writes: a message sent to a person
        // with no device at all can never be opened by a device created later (by design).
        world.settle();
        world
    }

    /// A new browser signs in to `member`'s account with the passphrase, and connects.
    fn add_device(&mut self, member: Member) {
        let key = AccountKey::derive(
            &member.username,
            "correct horse battery",
            KdfParams::FAST_INSECURE,
        )
        .expect("derives");
        let mut engine = Engine::new();
        engine.sign_in(member.username.clone(), &key);
        self.devices.push(Device {
            engine,
            me: member,
            connected: false,
            bound: None,
            inbound: VecDeque::new(),
            outbound: VecDeque::new(),
        });
        self.connect(self.devices.len() - 1);
    }

    fn connect(&mut self, device: usize) {
        let target = &mut self.devices[device];
        if target.connected {
            return;
        }
        target.connected = true;
        target.outbound.clear();
        target.engine.on_connected();
        target.inbound.push_back(ServerFrame::Challenge {
            version: 1,
            nonce: [0; 32],
            epoch: EPOCH,
        });
    }

    fn disconnect(&mut self, device: usize) {
        let target = &mut self.devices[device];
        if !target.connected {
            return;
        }
        target.connected = false;
        target.bound = None;
        target.inbound.clear();
        target.outbound.clear();
        target.engine.on_disconnected();
        target.take_step();
    }

    fn push_to_members(&mut self, frame: ServerFrame) {
        for device in self.devices.iter_mut().filter(|device| device.connected) {
            device.inbound.push_back(frame.clone());
        }
    }

    /// The server handles the device's next outgoing frame; returns whether there was one.
    fn client_to_server(&mut self, device: usize) -> bool {
        if !self.devices[device].connected {
            return false;
        }
        self.devices[device].take_step();
        let Some(frame) = self.devices[device].outbound.pop_front() else {
            return false;
        };
        let me = self.devices[device].me.clone();
        let mut bound = self.devices[device].bound;
        if let Some(handled) = self.keys.handle(me.id, &mut bound, &frame) {
            self.devices[device].bound = bound;
            self.devices[device].inbound.extend(handled.reply);
            for (recipient, frame) in handled.deliver {
                for target in &mut self.devices {
                    if target.connected && target.bound == Some(recipient) {
                        target.inbound.push_back(frame.clone());
                    }
                }
            }
            for frame in handled.everyone {
                self.push_to_members(frame);
            }
            return true;
        }
        match frame {
            ClientFrame::Authenticate {
                method: AuthMethod::Login { .. },
                ..
            } => {
                self.devices[device]
                    .inbound
                    .push_back(ServerFrame::Welcome {
                        me,
                        session_token: Some([device as u8; 32]),
                    });
            }
            ClientFrame::Authenticate { .. } => {
                self.devices[device]
                    .inbound
                    .push_back(ServerFrame::Welcome {
                        me,
                        session_token: None,
                    });
            }
            ClientFrame::Sync { epoch, positions } => {
                let info = self.server.info();
                let after = positions
                    .iter()
                    .find(|(chat, _)| *chat == CHAT)
                    .filter(|_| epoch == Some(EPOCH))
                    .map(|(_, seq)| *seq);
                // Like the real server: resume after a known position, else the newest page.
                let page = match after {
                    Some(after) => self.server.page_after(after, self.page_limit),
                    None => {
                        let newest = self.server.log.len().saturating_sub(self.page_limit);
                        let mut page = self.server.page_after(Seq(newest as u64), self.page_limit);
                        if let ServerFrame::Page { more, .. } = &mut page {
                            *more = false;
                        }
                        page
                    }
                };
                let inbound = &mut self.devices[device].inbound;
                inbound.push_back(ServerFrame::Chat {
                    request: None,
                    chat: info,
                });
                inbound.push_back(page);
                inbound.push_back(ServerFrame::SyncDone);
            }
            ClientFrame::Fetch { after, limit, .. } => {
                let page = self
                    .server
                    .page_after(after, self.page_limit.min(limit as usize));
                self.devices[device].inbound.push_back(page);
            }
            ClientFrame::Send {
                chat_id,
                client_msg_id,
                body,
            } => {
                let (seq, fresh) = match self.server.by_client_id.get(&client_msg_id) {
                    Some(seq) => (*seq, false),
                    None => {
                        let seq = Seq(self.server.log.len() as u64 + 1);
                        self.server.by_client_id.insert(client_msg_id, seq);
                        self.server.log.push(MessageFrame {
                            chat_id,
                            seq,
                            client_msg_id,
                            sender: me.id,
                            sent_at_ms: seq.0,
                            body,
                        });
                        (seq, true)
                    }
                };
                self.devices[device].inbound.push_back(ServerFrame::Ack {
                    chat_id,
                    client_msg_id,
                    seq,
                    sent_at_ms: seq.0,
                });
                if fresh {
                    let message = self.server.log[seq.0 as usize - 1].clone();
                    self.push_to_members(ServerFrame::Message(message));
                }
            }
            ClientFrame::History { before, limit, .. } => {
                let end = (before.0 as usize)
                    .saturating_sub(1)
                    .min(self.server.log.len());
                let start = end.saturating_sub(self.page_limit.min(limit as usize));
                self.devices[device].inbound.push_back(ServerFrame::Page {
                    chat_id: CHAT,
                    messages: self.server.log[start..end].to_vec(),
                    more: start > 0,
                });
            }
            ClientFrame::MarkRead { .. } => {}
            other => panic!("unexpected frame in this model: {other:?}"),
        }
        true
    }

    fn server_to_client(&mut self, device: usize, pick: usize) {
        let target = &mut self.devices[device];
        if target.inbound.is_empty() {
            return;
        }
        // Frames of one connection arrive in order over TCP, but the handshake must come
        // first; beyond it, let the test reorder pushed messages to model racing paths.
        let index = if target.engine.connection_phase() == merpati_core::ConnectionPhase::Online {
            pick % target.inbound.len()
        } else {
            0
        };
        if let Some(frame) = target.inbound.remove(index) {
            target.engine.handle_frame(frame);
        }
        target.take_step();
    }

    fn apply(&mut self, step: Step) {
        match step {
            Step::Write { device } => {
                let text = format!("message {}", self.written.len());
                if let Ok(id) = self.devices[device].engine.send_text(CHAT, &text, 0) {
                    self.written.push(id);
                    self.texts.insert(id, text);
                }
                self.devices[device].take_step();
            }
            Step::ClientToServer { device } => {
                self.client_to_server(device);
            }
            Step::ServerToClient { device, pick } => self.server_to_client(device, pick),
            Step::DuplicateInbound { device, pick } => {
                let inbound = &mut self.devices[device].inbound;
                if let Some(frame) = inbound.get(pick % inbound.len().max(1)).cloned()
                    && matches!(frame, ServerFrame::Message(_))
                {
                    inbound.push_back(frame);
                }
            }
            Step::Disconnect { device } => self.disconnect(device),
            Step::Reconnect { device } => self.connect(device),
        }
    }

    /// Reconnects everyone and delivers everything, in order, until nothing moves.
    fn settle(&mut self) {
        for device in 0..self.devices.len() {
            // A fresh connection, so that every device resyncs from a clean handshake.
            self.disconnect(device);
            self.connect(device);
        }
        for _ in 0..10_000 {
            let mut moved = false;
            for device in 0..self.devices.len() {
                while !self.devices[device].inbound.is_empty() {
                    self.server_to_client(device, 0);
                    moved = true;
                }
                // A frame without an answer (`ToDeviceDone`, `MarkRead`) still moves things.
                moved |= self.client_to_server(device);
            }
            // Scroll back: the person reads the whole history (this model's devices keep
            // everything in memory, so only the server can have older messages).
            for device in &mut self.devices {
                if device.engine.older_wanted_before(CHAT).is_some() {
                    device.engine.insert_stored_older(CHAT, Vec::new());
                    device.take_step();
                }
            }
            let wants_older = self
                .devices
                .iter()
                .any(|device| device.engine.older_wanted_before(CHAT).is_some());
            if !moved && !wants_older {
                return;
            }
        }
        panic!("the model did not settle");
    }
}

fn check_converged(world: &World) {
    let server_ids: Vec<ClientMsgId> = world.server.log.iter().map(|m| m.client_msg_id).collect();
    let mut written = world.written.clone();
    written.sort();
    let mut stored = server_ids.clone();
    stored.sort();
    assert_eq!(
        stored, written,
        "every message written is stored exactly once"
    );
    for (index, device) in world.devices.iter().enumerate() {
        let items = device.engine.timeline(CHAT);
        let ids: Vec<ClientMsgId> = items.iter().map(|item| item.client_msg_id).collect();
        assert_eq!(
            ids, server_ids,
            "device {index} shows the server's order, once each"
        );
        let seqs: Vec<Option<Seq>> = items.iter().map(|item| item.seq).collect();
        let expected: Vec<Option<Seq>> = (1..=server_ids.len() as u64)
            .map(|n| Some(Seq(n)))
            .collect();
        assert_eq!(seqs, expected);
        assert!(
            items
                .iter()
                .all(|item| item.status != MessageStatus::Pending),
            "nothing pending"
        );
        for item in &items {
            assert_eq!(
                (item.lock, Some(&item.text)),
                (MessageLock::Open, world.texts.get(&item.client_msg_id)),
                "device {index} opened every message to what was written"
            );
        }
        assert_eq!(device.engine.pending_count(), 0);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn devices_converge_to_the_server_order(
        steps in proptest::collection::vec(step_strategy(3), 0..160),
        page_limit in 1usize..6,
    ) {
        let mut world = World::new(page_limit);
        for step in steps {
            world.apply(step);
        }
        world.settle();
        check_converged(&world);
    }
}

#[test]
fn a_lost_ack_is_repaired_by_an_idempotent_resend() {
    let mut world = World::new(100);
    world.settle();
    world.apply(Step::Write { device: 2 });
    world.apply(Step::ClientToServer { device: 2 });
    // The connection drops before the ack (and the fan-out) reach the device.
    world.apply(Step::Disconnect { device: 2 });
    world.settle();
    assert_eq!(world.server.log.len(), 1, "the resend was stored once");
    check_converged(&world);
}

#[test]
fn a_new_browser_of_the_account_reads_the_history_written_before_it() {
    let mut world = World::new(3);
    for device in [0, 2, 1, 2, 0, 2, 2, 1] {
        world.apply(Step::Write { device });
    }
    world.settle();
    check_converged(&world);
    // Nobody shared those messages' keys with a device that did not exist: it reads them
    // through the key backup its account's other devices filled.
    let alice = world.devices[0].me.clone();
    world.add_device(alice);
    world.settle();
    assert_eq!(world.devices.len(), 4);
    check_converged(&world);
    // And what is written from now on reaches it directly.
    world.apply(Step::Write { device: 2 });
    world.settle();
    check_converged(&world);
}
