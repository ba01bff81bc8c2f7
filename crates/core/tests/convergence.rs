//! Property test of the sync engine: whatever the interleaving of sends, edits, deletions for
//! everyone, reactions, read positions, acknowledgements, disconnects, duplicated and
//! reordered deliveries, every device converges to the server's order with nothing lost and
//! nothing doubled, and shows every message as the merge rules make it of the server's log
//! (`merpati_core::annotations`): edited, deleted, reacted to, and — for its own messages —
//! delivered or read as the server's receipts say.
//!
//! The server here is a small model of the real one's contract (`docs/protocol.md`): it
//! deduplicates on `client_msg_id`, numbers messages per chat without gaps, acknowledges the
//! sender and fans out to every connected member, drops a deleted message's body, keeps each
//! member's delivery and read positions and pushes `Receipt`s; its key directory is
//! `support::KeyDirectory`. Every message is end-to-end encrypted, so converging also means
//! every device opened every message to the words that were written — whichever came first, a
//! message or its key. The expected view is computed here from the log and what each message
//! said, by the rules written out again (`expected_view`), not by the engine's code.
//!
//! Beside it, one fixed set of events (edits before and after their target, a deletion racing
//! a reaction, an edit after a deletion, receipts out of order) is delivered in every one of
//! its orders, and every order shows the same.

mod support;

use merpati_words::Text;
use std::collections::{BTreeMap, HashMap, VecDeque};

use merpati_core::{
    Engine, MessageLock, MessageStatus,
    crypto::{AccountKey, KdfParams},
};
use merpati_protocol::{
    ChatId, ChatInfo, ChatKind, ClientFrame, ClientMsgId, Epoch, ErrorCode, Member, MessageFrame,
    Receipt, Seq, ServerFrame, UserId, Username, content::MessageContent, frames::AuthMethod,
    keys::DeviceKey,
};
use proptest::prelude::*;
use support::KeyDirectory;

#[path = "convergence/every_order.rs"]
mod every_order;

const CHAT: ChatId = ChatId(1);
const EPOCH: Epoch = Epoch(7);
const EMOJI: [&str; 3] = ["👍", "❤", "😂"];

struct ModelServer {
    log: Vec<MessageFrame>,
    by_client_id: HashMap<ClientMsgId, Seq>,
    members: Vec<Member>,
    /// Each member's delivery and read positions.
    receipts: BTreeMap<UserId, Receipt>,
    /// Dates read positions: a counter, so that `read_at_ms` moves forward.
    clock: u64,
}

impl ModelServer {
    /// The chat as `viewer` is told it: its own read position, the others' receipts.
    fn info_for(&self, viewer: UserId) -> ChatInfo {
        ChatInfo {
            id: CHAT,
            kind: ChatKind::Group,
            title: "Keluarga".into(),
            members: self.members.clone(),
            head: Seq(self.log.len() as u64),
            read: self
                .receipts
                .get(&viewer)
                .map(|receipt| receipt.read)
                .unwrap_or_default(),
            created_ms: 0,
            admins: vec![UserId(1)],
            receipts: self
                .receipts
                .values()
                .filter(|receipt| receipt.user != viewer)
                .copied()
                .collect(),
        }
    }

    /// Moves a member's positions forward (never past the head; reading implies holding);
    /// returns the receipt to push if they moved.
    fn mark(&mut self, user: UserId, delivered: Seq, read: Seq) -> Option<Receipt> {
        let head = Seq(self.log.len() as u64);
        self.clock += 1;
        let clock = self.clock;
        let receipt = self
            .receipts
            .entry(user)
            .or_insert_with(|| Receipt::none(user));
        let before = *receipt;
        let read = read.min(head);
        if read > receipt.read {
            receipt.read = read;
            receipt.read_at_ms = clock;
        }
        receipt.delivered = receipt.delivered.max(delivered.min(head)).max(receipt.read);
        (*receipt != before).then_some(*receipt)
    }

    /// Stores a message once (a resend gets the first copy's sequence); returns its sequence
    /// and whether it is new.
    fn append(&mut self, sender: UserId, client_msg_id: ClientMsgId, body: Vec<u8>) -> (Seq, bool) {
        if let Some(seq) = self.by_client_id.get(&client_msg_id) {
            return (*seq, false);
        }
        let seq = Seq(self.log.len() as u64 + 1);
        self.by_client_id.insert(client_msg_id, seq);
        self.log.push(MessageFrame {
            chat_id: CHAT,
            seq,
            client_msg_id,
            sender,
            sent_at_ms: seq.0,
            body,
        });
        (seq, true)
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
    Write {
        device: usize,
    },
    /// Edit one of the device's own messages (the `pick`th it shows).
    Edit {
        device: usize,
        pick: usize,
    },
    /// Delete one of the device's own messages for everyone.
    Delete {
        device: usize,
        pick: usize,
    },
    /// React with `EMOJI[emoji]` to any message shown (choosing it again takes it back).
    React {
        device: usize,
        pick: usize,
        emoji: usize,
    },
    /// The person reads the chat on this device.
    Read {
        device: usize,
    },
    ClientToServer {
        device: usize,
    },
    ServerToClient {
        device: usize,
        pick: usize,
    },
    DuplicateInbound {
        device: usize,
        pick: usize,
    },
    Disconnect {
        device: usize,
    },
    Reconnect {
        device: usize,
    },
}

fn step_strategy(devices: usize) -> impl Strategy<Value = Step> {
    let device = 0..devices;
    prop_oneof![
        3 => device.clone().prop_map(|device| Step::Write { device }),
        1 => (device.clone(), any::<usize>()).prop_map(|(device, pick)| Step::Edit { device, pick }),
        1 => (device.clone(), any::<usize>()).prop_map(|(device, pick)| Step::Delete { device, pick }),
        2 => (device.clone(), any::<usize>(), 0..EMOJI.len())
            .prop_map(|(device, pick, emoji)| Step::React { device, pick, emoji }),
        1 => device.clone().prop_map(|device| Step::Read { device }),
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
    /// The ids of the texts written (not of actions on them).
    written: Vec<ClientMsgId>,
    texts: HashMap<ClientMsgId, String>,
    /// What every message said, actions included, by id.
    contents: HashMap<ClientMsgId, MessageContent>,
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
    fn add_device(&mut self, member: Member) {
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

    fn apply(&mut self, step: Step) {
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
                let id = deleted.expect("an own message that is not deleted can be deleted");
                self.contents.insert(id, MessageContent::Delete { target });
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

/// A message as the rules make it of the server's log: (id, text, edited, deleted, reactions
/// as (emoji, who) sorted).
type Expected = (ClientMsgId, String, bool, bool, Vec<(String, Vec<UserId>)>);

/// What every device must show, computed from the server's log and what each message said —
/// the rules of `merpati_core::annotations` written out again, by a different route: per
/// target, the log in sequence order.
fn expected_view(world: &World) -> Vec<Expected> {
    let log = &world.server.log;
    let content = |message: &MessageFrame| world.contents.get(&message.client_msg_id);
    let mut shown = Vec::new();
    for target in log {
        let Some(MessageContent::Text { text }) = content(target) else {
            continue;
        };
        let (mut text, mut edited, mut deleted) = (text.clone(), false, false);
        let mut reactions: BTreeMap<UserId, String> = BTreeMap::new();
        for later in log.iter().filter(|later| later.seq > target.seq) {
            let by_sender = later.sender == target.sender;
            match content(later) {
                _ if deleted => {}
                Some(MessageContent::Edit {
                    target: id,
                    text: new,
                }) if *id == target.client_msg_id && by_sender => {
                    text = new.clone();
                    edited = true;
                }
                Some(MessageContent::Delete { target: id })
                    if *id == target.client_msg_id && by_sender =>
                {
                    deleted = true;
                }
                Some(MessageContent::Reaction { target: id, emoji })
                    if *id == target.client_msg_id =>
                {
                    match emoji {
                        Some(emoji) => reactions.insert(later.sender, emoji.clone()),
                        None => reactions.remove(&later.sender),
                    };
                }
                _ => {}
            }
        }
        if deleted {
            (text, edited) = (Text::MessageDeleted.english().to_owned(), false);
            reactions.clear();
        }
        let mut by_emoji: BTreeMap<String, Vec<UserId>> = BTreeMap::new();
        for (user, emoji) in reactions {
            by_emoji.entry(emoji).or_default().push(user);
        }
        shown.push((
            target.client_msg_id,
            text,
            edited,
            deleted,
            by_emoji.into_iter().collect(),
        ));
    }
    shown
}

/// The status the server's receipts give a message of `sender`'s at `seq`.
fn expected_status(world: &World, sender: UserId, seq: Seq) -> MessageStatus {
    let others: Vec<Receipt> = world
        .server
        .members
        .iter()
        .filter(|member| member.id != sender)
        .map(|member| {
            world
                .server
                .receipts
                .get(&member.id)
                .copied()
                .unwrap_or(Receipt::none(member.id))
        })
        .collect();
    if others.iter().all(|receipt| receipt.read >= seq) {
        MessageStatus::Read
    } else if others.iter().all(|receipt| receipt.delivered >= seq) {
        MessageStatus::Delivered
    } else {
        MessageStatus::Sent
    }
}

fn check_converged(world: &World) {
    let server_ids: Vec<ClientMsgId> = world
        .server
        .log
        .iter()
        .map(|m| m.client_msg_id)
        .filter(|id| world.texts.contains_key(id))
        .collect();
    let mut written = world.written.clone();
    written.sort();
    let mut stored = server_ids.clone();
    stored.sort();
    assert_eq!(
        stored, written,
        "every message written is stored exactly once"
    );
    assert_eq!(
        world.server.log.len(),
        world.contents.len(),
        "every action too"
    );
    let expected = expected_view(world);
    for (index, device) in world.devices.iter().enumerate() {
        let items = device.engine.timeline(CHAT);
        let ids: Vec<ClientMsgId> = items.iter().map(|item| item.client_msg_id).collect();
        assert_eq!(
            ids, server_ids,
            "device {index} shows the server's order, once each, and no action as a message"
        );
        let seqs: Vec<Option<Seq>> = items.iter().map(|item| item.seq).collect();
        let expected_seqs: Vec<Option<Seq>> = world
            .server
            .log
            .iter()
            .filter(|message| world.texts.contains_key(&message.client_msg_id))
            .map(|message| Some(message.seq))
            .collect();
        assert_eq!(seqs, expected_seqs);
        assert!(
            items
                .iter()
                .all(|item| item.status != MessageStatus::Pending),
            "nothing pending"
        );
        let shown: Vec<Expected> = items
            .iter()
            .map(|item| {
                (
                    item.client_msg_id,
                    item.text.clone(),
                    item.edited,
                    item.deleted,
                    item.reactions
                        .iter()
                        .map(|reaction| {
                            let mut who: Vec<UserId> =
                                reaction.people.iter().map(|person| person.id).collect();
                            who.sort();
                            (reaction.emoji.clone(), who)
                        })
                        .collect::<BTreeMap<_, _>>()
                        .into_iter()
                        .collect(),
                )
            })
            .collect();
        assert_eq!(
            shown, expected,
            "device {index} folds every action the same way"
        );
        for item in &items {
            assert_eq!(
                item.lock,
                MessageLock::Open,
                "device {index} opened {item:?}"
            );
            if item.own {
                let seq = item.seq.expect("confirmed");
                assert_eq!(
                    item.status,
                    expected_status(world, device.me.id, seq),
                    "device {index}: the receipts of {:?}",
                    item.client_msg_id
                );
            }
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
