//! The engine's end-to-end key flow: when to query, claim, share and back up keys, and how
//! messages get opened.
//!
//! Sending in a chat needs, in order: a verified device list of every member (queried once per
//! connection, again after `DevicesChanged`), an Olm session with each of those devices (claimed
//! one-time keys), the chat's outbound Megolm session shared with every device that lacks it, and
//! only then the encrypted `Send`s (`sending`). Someone who joins while this device's messages are
//! on their way is owed the session from the earliest of those (the server serves them what is
//! stored after the join), whether or not more is sent. The messages wait for `ToDeviceSent`, the
//! server's word that the share is stored: a device whose mailbox is full is refused there, and is
//! left out of the session on this connection, rather than sent messages it has no key for — and a
//! refusal for one device never holds up the others.
//!
//! The flow moves in rounds, run by `Engine::send_outbox` after anything that may move it:
//! [`Engine::start_key_round`] settles held keys and gathers the device lists wanted,
//! [`Engine::prepare_chat_key`] brings each chat with unsent messages as far as it can, and
//! [`Engine::finish_key_round`] asks the server for what is still missing (one query, one
//! claim and one backup request in flight at a time).
//!
//! Receiving: a room key arriving over Olm is held (persisted) until its sender is known to
//! be a device its account key vouches for and a member of the chat; then messages waiting
//! for it open by themselves. Every inbound session goes to the key backup, and so does every
//! pinned account key; a device that signs in with the passphrase, or meets a message it
//! cannot open, reads the backup — a device new to the account reads it through before it
//! queries anyone's keys, so that it starts from the account's pins.

use std::collections::{BTreeSet, HashMap};

use merpati_protocol::{
    ChatId, ClientFrame, ErrorCode, MAX_KEY_REQUEST, MAX_TO_DEVICE_BATCH, RequestId, UserId,
    keys::{ClaimedKey, DeviceRef, ToDeviceMessage, UserKeys},
};

use super::retry::Retry;
use super::to_device_done::DoneBatch;
use super::{Engine, Event};
use crate::e2e::Opened;
use crate::store::{MessageRecord, StoreWrite};

/// Keeps one `SendToDevice` or `PutBackup` frame well under the frame limit.
pub(super) const FRAME_BUDGET: usize = 48 * 1024;

/// People asked about in one `QueryKeys`: their devices' keys must fit one answer frame. With
/// many devices each they may not (the server refuses with `LimitReached`), and the engine
/// asks for half as many at a time, down to one.
const QUERY_USERS: usize = 32;

/// What the engine tracks about keys during one connection; reset on every disconnect.
#[derive(Debug, Default)]
pub(super) struct KeyFlow {
    /// `KeysPublished` came: the server knows this connection's device.
    pub(super) published: bool,
    /// `PublishKeys` sent on this connection and not answered by `KeysPublished` yet.
    pub(super) publishes_unanswered: u32,
    /// The connection's first `PublishKeys` — its first frame after `Welcome` — was answered,
    /// accepted or refused (`publishing`).
    pub(super) first_publish_answered: bool,
    /// A publish refused for now (too many requests) is sent again later: until one is
    /// accepted, the connection is sent no keys and can send nothing end-to-end encrypted.
    pub(super) publish_retry: Retry,
    /// The newest fallback key a publish on this connection carried, until every publish
    /// sent is answered: then the server holds it (a refused publish leaves it unconfirmed,
    /// and the next connection sends it again).
    pub(super) fallback_sent: Option<[u8; 32]>,
    /// People whose device lists were fetched on this connection.
    pub(super) fresh: BTreeSet<UserId>,
    /// People whose device lists are wanted (held room keys, 1:1 safety numbers).
    pub(super) wanted: BTreeSet<UserId>,
    /// The `QueryKeys` in flight, and whom it asks about.
    pub(super) query: Option<(RequestId, BTreeSet<UserId>)>,
    /// How many people a `QueryKeys` asks about at most on this connection (`0`: as many as
    /// [`QUERY_USERS`]).
    pub(super) query_users: usize,
    /// The `ClaimKeys` in flight, and the devices it names.
    pub(super) claim: Option<(RequestId, Vec<DeviceRef>)>,
    /// Devices that published no key to start a session with, on this connection.
    pub(super) unreachable: BTreeSet<DeviceRef>,
    /// Key shares sent and not yet stored: request → (chat, session, devices).
    pub(super) shares: HashMap<RequestId, (ChatId, String, Vec<DeviceRef>)>,
    /// The `PutBackup` in flight, and the sessions it backs up.
    pub(super) backup_put: Option<(RequestId, Vec<String>)>,
    /// The `FetchBackup` in flight.
    pub(super) backup_fetch: Option<RequestId>,
    /// Read the backup (after a passphrase sign-in, or when a message waits for a key).
    pub(super) backup_wanted: bool,
    /// Senders of held keys whose device was missing from a fresh device list, queried once
    /// more in case the device is newer than the list.
    pub(super) requeried: BTreeSet<DeviceRef>,
    /// The server refused a backup write on this connection (e.g. its limit): stop trying.
    pub(super) backup_refused: bool,
    /// A backup read refused is tried again later...
    pub(super) backup_read_retry: Retry,
    /// ...and so is a backup write refused for now (too many requests, a failure of the
    /// server's), apart: a write held back does not hold back reading the pins.
    pub(super) backup_write_retry: Retry,
    /// A key share the server refused whole (too many requests, say) is tried again later;
    /// until then the messages that need it wait.
    pub(super) share_retry: Retry,
    /// Likewise a refused query of device lists...
    pub(super) query_retry: Retry,
    /// ...and a refused claim of one-time keys: a message sent without them would be one
    /// those people's devices can never read.
    pub(super) claim_retry: Retry,
    /// To-device messages processed and not yet acknowledged (`to_device_done`).
    pub(super) done: DoneBatch,
}

/// What a round of the key flow found missing, to ask the server for at its end.
#[derive(Debug, Default)]
pub(super) struct MissingKeys {
    /// People whose device lists are needed.
    device_lists: BTreeSet<UserId>,
    /// Devices without an Olm session: one of their one-time keys is to be claimed.
    devices_without_session: BTreeSet<DeviceRef>,
}

impl KeyFlow {
    fn in_flight_for(&self, chat_id: ChatId, session_id: &str) -> BTreeSet<DeviceRef> {
        crate::sorting::set_from(
            self.shares
                .values()
                .filter(|(chat, session, _)| *chat == chat_id && session == session_id)
                .flat_map(|(_, _, devices)| devices.iter().copied()),
        )
    }
}

impl Engine {
    /// The clock reached the time a refused key request is to be tried again: try it.
    pub(super) fn retry_key_share_if_due(&mut self) {
        let share = self.keys.share_retry.take_due(self.now_ms);
        let query = self.keys.query_retry.take_due(self.now_ms);
        let claim = self.keys.claim_retry.take_due(self.now_ms);
        let read = self.keys.backup_read_retry.take_due(self.now_ms);
        let write = self.keys.backup_write_retry.take_due(self.now_ms);
        let backup = read || write;
        if share || query || claim || backup {
            self.send_outbox();
        }
    }

    /// A key request failed (`code`); returns whether the request was one of the key flow's.
    /// Nothing is retried on the same connection in a way that could loop: a query whose
    /// answer would not fit a frame is asked again of half as many people at a time; another
    /// failed query, claim or share is tried again after a growing wait — the messages that
    /// need it wait too, for a message sent before its key reached every device stays
    /// unreadable there —, and so is a backup read, or a write refused for now; a write
    /// refused as it is (the backup full) stops backup writes on the connection.
    pub(super) fn on_key_request_failed(&mut self, request: RequestId, code: ErrorCode) -> bool {
        if self.keys.query.as_ref().map(|(id, _)| *id) == Some(request) {
            if let Some((_, users)) = self.keys.query.take() {
                if code == ErrorCode::LimitReached && users.len() > 1 {
                    self.keys.query_users = users.len() / 2;
                } else {
                    self.keys.query_retry.refused(self.now_ms);
                }
            }
        } else if self.keys.claim.as_ref().map(|(id, _)| *id) == Some(request) {
            self.keys.claim = None;
            self.keys.claim_retry.refused(self.now_ms);
        } else if self.keys.shares.remove(&request).is_some() {
            self.keys.share_retry.refused(self.now_ms);
        } else if self.keys.backup_put.as_ref().map(|(id, _)| *id) == Some(request) {
            self.keys.backup_put = None;
            if matches!(code, ErrorCode::TooManyRequests | ErrorCode::Internal) {
                self.keys.backup_write_retry.refused(self.now_ms);
            } else {
                // Full, or refused as it is: not written on this connection.
                self.keys.backup_refused = true;
            }
        } else if self.keys.backup_fetch == Some(request) {
            // Read again later: a device still to read the pins must not go on without them,
            // or a server refusing the read would have it trust whatever keys it hands out.
            self.keys.backup_fetch = None;
            self.keys.backup_read_retry.refused(self.now_ms);
        } else {
            return false;
        }
        self.send_outbox();
        true
    }

    pub(super) fn on_keys(&mut self, request: RequestId, users: Vec<UserKeys>) {
        if self.keys.query.as_ref().map(|(id, _)| *id) != Some(request) {
            return;
        }
        let Some((_, asked)) = self.keys.query.take() else {
            return;
        };
        let now = self.clock_ms;
        if let Some(crypto) = self.crypto.as_mut() {
            for change in crypto.on_keys(users, now) {
                self.events.push(Event::KeyChanged { user: change.user });
            }
        }
        self.keys.fresh.extend(asked.iter().copied());
        for user in &asked {
            self.keys.wanted.remove(user);
        }
        self.keys.query_retry.served();
        self.send_outbox();
    }

    pub(super) fn on_claimed_keys(&mut self, request: RequestId, keys: Vec<ClaimedKey>) {
        if self.keys.claim.as_ref().map(|(id, _)| *id) != Some(request) {
            return;
        }
        let Some((_, asked)) = self.keys.claim.take() else {
            return;
        };
        if let Some(crypto) = self.crypto.as_mut() {
            let unreachable = crypto.on_claimed(keys);
            self.keys.unreachable.extend(unreachable);
            // A device the answer leaves out (gone from the directory since it was listed)
            // has no key to start a session with either: asked for again at once, it would
            // be asked for again and again.
            let asked: BTreeSet<DeviceRef> = crate::sorting::set_from(asked);
            self.keys.unreachable.extend(crypto.without_session(&asked));
        }
        self.keys.claim_retry.served();
        self.send_outbox();
    }

    /// A key share is stored, but for the devices the server `refused` (their mailbox is
    /// full): those are left out of this session's recipients on this connection, and the
    /// messages waiting for the share go out.
    pub(super) fn on_to_device_sent(&mut self, request: RequestId, refused: Vec<DeviceRef>) {
        let Some((chat_id, session_id, devices)) = self.keys.shares.remove(&request) else {
            return;
        };
        if let Some(crypto) = self.crypto.as_mut() {
            let accepted: Vec<DeviceRef> = devices
                .into_iter()
                .filter(|device| !refused.contains(device))
                .collect();
            crypto.mark_shared(chat_id, &session_id, &accepted);
        }
        self.keys.share_retry.served();
        self.keys.unreachable.extend(refused);
        self.send_outbox();
    }

    pub(super) fn on_to_device(&mut self, id: u64, sender: DeviceRef, body: &[u8]) {
        if let Some(crypto) = self.crypto.as_mut() {
            // A message that does not decrypt is dropped: it cannot be decrypted later either
            // (Olm message keys are used once), and the sender re-shares on its next send.
            if let Ok(key) = crypto.open_to_device(sender, body) {
                crypto.hold(sender, key);
            }
        }
        // The held key is persisted with this step's writes, which the shell applies before it
        // sends this step's frames or takes the next step (see `Step`): the batch that tells
        // the server to drop the message leaves in this step or a later one, after the key.
        self.acknowledge_to_device(id);
        self.send_outbox();
    }

    pub(super) fn on_devices_changed(&mut self, user: UserId) {
        self.keys.fresh.remove(&user);
        self.send_outbox();
    }

    /// Starts a round of the key flow: settles the held room keys that can now be checked, and
    /// gathers the device lists they (and 1:1 safety numbers) want. `None` while the flow
    /// cannot run: before this connection is signed in and its device published.
    pub(super) fn start_key_round(&mut self) -> Option<MissingKeys> {
        if !self.is_authenticated() || !self.keys.published || self.crypto.is_none() {
            return None;
        }
        self.settle_held_keys();
        Some(MissingKeys {
            device_lists: crate::sorting::set_from(
                self.keys.wanted.difference(&self.keys.fresh).copied(),
            ),
            devices_without_session: BTreeSet::new(),
        })
    }

    /// Brings the chat's outbound Megolm session as close to every member device as it can
    /// get without an answer: notes in `missing` the device lists and Olm sessions still
    /// needed, or shares the session with the devices that lack it. Returns whether the chat
    /// is ready for messages: every reachable member device holds the session or has its share
    /// queued on this connection, ahead of the messages.
    pub(super) fn prepare_chat_key(
        &mut self,
        chat_id: ChatId,
        members: &BTreeSet<UserId>,
        missing: &mut MissingKeys,
    ) -> bool {
        let unknown: Vec<UserId> = members.difference(&self.keys.fresh).copied().collect();
        if !unknown.is_empty() {
            missing.device_lists.extend(unknown);
            return false;
        }
        let Some(crypto) = self.crypto.as_mut() else {
            return false;
        };
        let devices: BTreeSet<DeviceRef> = crate::sorting::set_from(
            crypto
                .devices_of(members)
                .difference(&self.keys.unreachable)
                .copied(),
        );
        let no_session = crypto.without_session(&devices);
        if !no_session.is_empty() {
            missing.devices_without_session.extend(no_session);
            return false;
        }
        crypto.ensure_outbound(chat_id, members, self.clock_ms);
        let from_index = self.earliest_index_owed(chat_id);
        let Some(crypto) = self.crypto.as_mut() else {
            return false;
        };
        let Some(session_id) = crypto.outbound_session_id(chat_id) else {
            return false;
        };
        let in_flight = self.keys.in_flight_for(chat_id, &session_id);
        let need: BTreeSet<DeviceRef> = crate::sorting::set_from(
            crypto
                .not_shared_with(chat_id, &devices)
                .difference(&in_flight)
                .copied(),
        );
        if !need.is_empty() {
            if self.keys.share_retry.is_waiting() {
                // A share was refused whole: wait for the retry time before asking again.
                return false;
            }
            let messages = crypto.share_outbound_from(chat_id, &need, from_index);
            self.send_to_devices(chat_id, &session_id, messages);
            return false;
        }
        // Messages wait until the server has accepted the key for every device they are meant
        // for: a share it refuses (a full mailbox) must not leave a message nobody can read.
        in_flight.is_empty()
    }

    /// The lowest Megolm index, in the chat's current outbound session, among this device's
    /// messages someone who joined the chat (after `joined_after`) may be served though they
    /// were encrypted before this device knew of them: those sent and not yet acknowledged,
    /// and those stored after the join. `None` when nobody joined, or nothing is owed.
    pub(super) fn earliest_index_owed(&self, chat_id: ChatId) -> Option<u32> {
        let chat = self.chats.get(&chat_id)?;
        let joined_after = chat.joined_after?;
        let crypto = self.crypto.as_ref()?;
        let me = self.my_id();
        let in_flight = self
            .outbox
            .iter()
            .filter(|entry| entry.record.chat_id == chat_id)
            .filter_map(|entry| entry.sent_body.as_deref());
        let stored_after = chat
            .timeline
            .messages()
            .filter(|message| message.sender == me && message.seq > joined_after)
            .map(|message| message.body.as_slice());
        in_flight
            .chain(stored_after)
            .filter_map(|body| crypto.index_in_outbound(chat_id, body))
            .min()
    }

    /// Ends a round of the key flow: asks for the device lists and one-time keys still
    /// missing, and moves the backup along.
    pub(super) fn finish_key_round(&mut self, missing: MissingKeys) {
        // A device new to the account reads the backup's pins before it asks the server
        // whose keys are whose: what it pins first, it trusts.
        if !missing.device_lists.is_empty()
            && self.keys.query.is_none()
            && !self.keys.query_retry.is_waiting()
            && !self.backup_unread()
        {
            // The rest are asked for when this answer comes.
            let at_once = match self.keys.query_users {
                0 => QUERY_USERS,
                fewer => fewer,
            };
            let users: BTreeSet<UserId> =
                crate::sorting::set_from(missing.device_lists.into_iter().take(at_once));
            let request = self.next_request_id();
            self.frames.push(ClientFrame::QueryKeys {
                request,
                users: users.iter().copied().collect(),
            });
            self.keys.query = Some((request, users));
        }
        if !missing.devices_without_session.is_empty()
            && self.keys.claim.is_none()
            && !self.keys.claim_retry.is_waiting()
        {
            let request = self.next_request_id();
            // The rest are claimed when this answer comes.
            let devices: Vec<DeviceRef> = missing
                .devices_without_session
                .into_iter()
                .take(MAX_KEY_REQUEST)
                .collect();
            self.frames.push(ClientFrame::ClaimKeys {
                request,
                devices: devices.clone(),
            });
            self.keys.claim = Some((request, devices));
        }
        self.move_backup_along();
    }

    fn send_to_devices(
        &mut self,
        chat_id: ChatId,
        session_id: &str,
        messages: Vec<ToDeviceMessage>,
    ) {
        let mut batch: Vec<ToDeviceMessage> = Vec::new();
        let mut batch_bytes = 0;
        let mut batches = Vec::new();
        for message in messages {
            let size = message.body.len() + 64;
            if !batch.is_empty()
                && (batch.len() >= MAX_TO_DEVICE_BATCH || batch_bytes + size > FRAME_BUDGET)
            {
                batches.push(std::mem::take(&mut batch));
                batch_bytes = 0;
            }
            batch_bytes += size;
            batch.push(message);
        }
        if !batch.is_empty() {
            batches.push(batch);
        }
        for messages in batches {
            let request = self.next_request_id();
            let devices = messages.iter().map(|message| message.recipient).collect();
            self.keys
                .shares
                .insert(request, (chat_id, session_id.to_owned(), devices));
            self.frames
                .push(ClientFrame::SendToDevice { request, messages });
        }
    }

    /// Decides on held room keys whose sender and chat can now be checked.
    fn settle_held_keys(&mut self) {
        let Some(crypto) = self.crypto.as_ref() else {
            return;
        };
        let mut accepted = Vec::new();
        let mut refused = Vec::new();
        for (id, sender, key) in crypto.held() {
            if !self.keys.fresh.contains(&sender.user) {
                self.keys.wanted.insert(sender.user);
                continue;
            }
            let Some(members) = self.members(key.chat_id) else {
                // The chat is not known yet: its `Chat` frame comes with the sync.
                continue;
            };
            if !members.contains(&sender.user) {
                refused.push(id);
            } else if crypto.is_verified_device(sender) {
                accepted.push((id, sender, key));
            } else if self.keys.requeried.insert(sender) {
                self.keys.fresh.remove(&sender.user);
                self.keys.wanted.insert(sender.user);
            } else {
                // Still not vouched for by the sender's account key: never use it.
                refused.push(id);
            }
        }
        let Some(crypto) = self.crypto.as_mut() else {
            return;
        };
        for id in refused {
            crypto.release_held(id);
        }
        let mut opened = Vec::new();
        for (id, sender, key) in accepted {
            if crypto.accept_room_key(sender, &key) {
                opened.push(key.session_id);
            }
            crypto.release_held(id);
        }
        for session_id in opened {
            self.reopen_waiting(&session_id);
        }
    }

    /// Opens messages as they enter a timeline, remembering what each turned out to be. A
    /// message whose id was opened at another position is a copy the server made: refused.
    pub(super) fn open_messages(&mut self, messages: &[MessageRecord]) {
        for message in messages {
            let position = (message.chat_id, message.seq);
            if let Some(first) = self.opened_at.get(&message.client_msg_id)
                && *first != position
            {
                self.replayed.insert(position);
                self.views_changed = true;
                continue;
            }
            if self.opened.contains_key(&message.client_msg_id) {
                continue;
            }
            let Some(crypto) = self.crypto.as_mut() else {
                return;
            };
            let opened = crypto.open(message);
            if let Opened::Waiting { session_id } = &opened {
                self.waiting
                    .entry(session_id.clone())
                    .or_default()
                    .insert((message.chat_id, message.seq));
                self.keys.backup_wanted = true;
            }
            self.remember_opened(message, opened);
        }
    }

    pub(super) fn reopen_waiting(&mut self, session_id: &str) {
        let Some(positions) = self.waiting.remove(session_id) else {
            return;
        };
        let messages: Vec<MessageRecord> = positions
            .into_iter()
            .filter_map(|(chat_id, seq)| self.chats.get(&chat_id)?.timeline.get(seq).cloned())
            .collect();
        for message in &messages {
            self.opened.remove(&message.client_msg_id);
        }
        self.open_messages(&messages);
        for message in messages {
            self.erase_deleted(message.chat_id, vec![message.client_msg_id]);
        }
    }

    /// Turns the crypto state's changes into store writes.
    pub(super) fn crypto_writes(&mut self) -> Vec<StoreWrite> {
        let Some(crypto) = self.crypto.as_mut() else {
            return Vec::new();
        };
        crypto
            .take_writes()
            .into_iter()
            .map(|(key, value)| match value {
                Some(value) => StoreWrite::PutCrypto(crate::e2e::CryptoRecord { key, value }),
                None => StoreWrite::RemoveCrypto(key),
            })
            .collect()
    }
}
