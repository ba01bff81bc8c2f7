//! The world the steps happen in: the model server and its key directory, the devices (two
//! tabs of alice's and bob's, and browsers added later) with the frames on their way, and what
//! every message said. It applies a step, and settles: everyone reconnects and everything is
//! delivered until nothing moves.

use std::collections::{BTreeMap, HashMap, VecDeque};

use merpati_core::{
    Engine, MessageLock, MessageStatus,
    crypto::{AccountKey, KdfParams},
};
use merpati_protocol::{
    ClientFrame, ClientMsgId, ErrorCode, Member, Seq, ServerFrame, UserId, Username,
    content::MessageContent, frames::AuthMethod, keys::DeviceKey,
};

use crate::model_server::ModelServer;
use crate::steps::Step;
use crate::support::KeyDirectory;
use crate::{CHAT, EMOJI, EPOCH};

pub(crate) struct Device {
    pub(crate) engine: Engine,
    pub(crate) me: Member,
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

pub(crate) struct World {
    pub(crate) server: ModelServer,
    keys: KeyDirectory,
    pub(crate) devices: Vec<Device>,
    /// The ids of the texts written (not of actions on them).
    pub(crate) written: Vec<ClientMsgId>,
    pub(crate) texts: HashMap<ClientMsgId, String>,
    /// What every message said, actions included, by id.
    pub(crate) contents: HashMap<ClientMsgId, MessageContent>,
    page_limit: usize,
}

impl World {
    pub(crate) fn new(page_limit: usize) -> World {
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
                None,
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
            receipts: BTreeMap::new(),
            clock: 0,
        };
        let mut world = World {
            server,
            keys,
            devices,
            written: Vec::new(),
            texts: HashMap::new(),
            contents: HashMap::new(),
            page_limit,
        };
        // Every device publishes its keys before anyone writes: a message sent to a person
        // with no device at all can never be opened by a device created later (by design).
        world.settle();
        world
    }

    /// A new browser signs in to `member`'s account with the passphrase, and connects.
    pub(crate) fn add_device(&mut self, member: Member) {
        let key = AccountKey::derive(
            &member.username,
            "correct horse battery",
            None,
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

    /// Stores a message (a `Send` or a `SendDeletion`), acknowledges it and fans it out.
    fn store(&mut self, device: usize, sender: UserId, client_msg_id: ClientMsgId, body: Vec<u8>) {
        let (seq, fresh) = self.server.append(sender, client_msg_id, body);
        self.devices[device].inbound.push_back(ServerFrame::Ack {
            chat_id: CHAT,
            client_msg_id,
            seq,
            sent_at_ms: seq.0,
        });
        if fresh {
            let message = self.server.log[seq.0 as usize - 1].clone();
            self.push_to_members(ServerFrame::Message(message));
        }
    }

    fn mark(&mut self, user: UserId, delivered: Seq, read: Seq) {
        if let Some(receipt) = self.server.mark(user, delivered, read) {
            self.push_to_members(ServerFrame::Receipt {
                chat_id: CHAT,
                receipt,
            });
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
                let info = self.server.info_for(me.id);
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
                client_msg_id,
                body,
                ..
            } => self.store(device, me.id, client_msg_id, body),
            ClientFrame::SendDeletion {
                client_msg_id,
                body,
                target,
                ..
            } => {
                let own_target =
                    self.server.log.iter().position(|message| {
                        message.client_msg_id == target && message.sender == me.id
                    });
                match own_target {
                    Some(index) => {
                        self.server.log[index].body = Vec::new();
                        self.store(device, me.id, client_msg_id, body);
                    }
                    None => self.devices[device]
                        .inbound
                        .push_back(ServerFrame::SendFailed {
                            chat_id: CHAT,
                            client_msg_id,
                            code: ErrorCode::NotYourMessage,
                        }),
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
            ClientFrame::MarkRead { seq, .. } => self.mark(me.id, Seq(0), seq),
            ClientFrame::MarkDelivered { seq, .. } => self.mark(me.id, seq, Seq(0)),
            // Signals and settings change nothing this model checks.
            ClientFrame::SetPrivacy { .. }
            | ClientFrame::Typing { .. }
            | ClientFrame::WatchPresence { .. } => {}
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

    pub(crate) fn apply(&mut self, step: Step) {
        match step {
            Step::Write { device } => {
                let text = format!("message {}", self.written.len());
                if let Ok(id) = self.devices[device].engine.send_text(CHAT, &text, 0) {
                    self.written.push(id);
                    self.texts.insert(id, text.clone());
                    self.contents.insert(id, MessageContent::Text { text });
                }
                self.devices[device].take_step();
            }
            Step::Edit { device, pick } => {
                let Some(target) = self.pick(device, pick, true) else {
                    return;
                };
                let text = format!("edit {}", self.contents.len());
                let edited = self.devices[device]
                    .engine
                    .edit_message(CHAT, target, &text, 0);
                let id = edited.expect("an own message that is not deleted can be edited");
                self.contents
                    .insert(id, MessageContent::Edit { target, text });
                self.devices[device].take_step();
            }
            Step::Delete { device, pick } => {
                let Some(target) = self.pick(device, pick, true) else {
                    return;
                };
                let deleted = self.devices[device]
                    .engine
                    .delete_for_everyone(CHAT, target, 0);
                match deleted.expect("an own message that is not deleted can be deleted") {
                    Some(id) => {
                        self.contents.insert(id, MessageContent::Delete { target });
                    }
                    // Taken back before it ever left the device: as if never written, and the
                    // edits and reactions on it (which go only after it) with it.
                    None => {
                        self.written.retain(|written| *written != target);
                        self.texts.remove(&target);
                        self.contents.remove(&target);
                        self.contents
                            .retain(|_, content| content.target() != Some(target));
                    }
                }
                self.devices[device].take_step();
            }
            Step::React {
                device,
                pick,
                emoji,
            } => {
                let Some(target) = self.pick(device, pick, false) else {
                    return;
                };
                let emoji = EMOJI[emoji];
                // Choosing the reaction one has takes it back.
                let mine = self.devices[device]
                    .engine
                    .timeline(CHAT)
                    .into_iter()
                    .find(|item| item.client_msg_id == target)
                    .is_some_and(|item| {
                        item.reactions
                            .iter()
                            .any(|reaction| reaction.emoji == emoji && reaction.mine)
                    });
                let reacted = self.devices[device].engine.react(CHAT, target, emoji, 0);
                let id = reacted.expect("a message that is not deleted takes reactions");
                let emoji = (!mine).then(|| emoji.to_owned());
                self.contents
                    .insert(id, MessageContent::Reaction { target, emoji });
                self.devices[device].take_step();
            }
            Step::Read { device } => {
                self.devices[device].engine.mark_read(CHAT);
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

    /// The `pick`th message the device shows that is not deleted (its own only, if `own`),
    /// confirmed or pending.
    fn pick(&self, device: usize, pick: usize, own: bool) -> Option<ClientMsgId> {
        let candidates: Vec<ClientMsgId> = self.devices[device]
            .engine
            .timeline(CHAT)
            .into_iter()
            .filter(|item| !item.deleted && item.status != MessageStatus::Failed)
            .filter(|item| item.own || !own)
            .filter(|item| item.lock == MessageLock::Open)
            .map(|item| item.client_msg_id)
            .collect();
        candidates.get(pick % candidates.len().max(1)).copied()
    }

    /// Reconnects everyone and delivers everything, in order, until nothing moves.
    pub(crate) fn settle(&mut self) {
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
                if let Some(wanted) = device.engine.older_wanted(CHAT) {
                    device.engine.insert_stored_older(CHAT, wanted, Vec::new());
                    device.take_step();
                }
            }
            let wants_older = self
                .devices
                .iter()
                .any(|device| device.engine.older_wanted(CHAT).is_some());
            if !moved && !wants_older {
                return;
            }
        }
        panic!("the model did not settle");
    }
}
