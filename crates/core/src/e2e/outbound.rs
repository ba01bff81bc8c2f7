//! Sending: Olm sessions to other devices, and one outbound Megolm session per chat.
//!
//! An Olm session starts from a one-time key claimed from the directory, once the claimed
//! key's signature checks out against the device's verified keys; it only ever carries
//! Megolm session keys. A chat's outbound Megolm session encrypts this device's messages in
//! it; its key goes to each member device over Olm, and the session is replaced after
//! [`ROTATE_AFTER_MESSAGES`] messages, after [`ROTATE_AFTER_MS`], or when someone left.

use std::collections::BTreeSet;

use merpati_protocol::{
    ChatId, UserId,
    content::{EncryptedBody, MessageContent, Sealed},
    keys::{ClaimedKey, DeviceRef, ToDeviceMessage, one_time_key_message},
};
use vodozemac::{
    Curve25519PublicKey, Ed25519PublicKey, Ed25519Signature,
    megolm::{GroupSession, InboundGroupSession, MegolmMessage, SessionConfig},
    olm::SessionConfig as OlmConfig,
};

use super::{DeviceCrypto, OlmBody, RoomKey, ToDevicePayload, inbound::Inbound};

/// Messages an outbound Megolm session encrypts before the chat gets a new one.
pub const ROTATE_AFTER_MESSAGES: u32 = 100;

/// How long an outbound Megolm session is used before the chat gets a new one (a week).
pub const ROTATE_AFTER_MS: u64 = 7 * 24 * 60 * 60 * 1000;

/// A chat's current outbound Megolm session and whom it was made for.
pub(super) struct Outbound {
    pub(super) session: GroupSession,
    pub(super) created_ms: u64,
    pub(super) encrypted: u32,
    /// The members it was made for: anyone leaving calls for a new session.
    pub(super) members: BTreeSet<UserId>,
    /// The devices the server holds its key for.
    pub(super) shared_with: BTreeSet<DeviceRef>,
}

impl DeviceCrypto {
    /// Which of these devices have no Olm session yet (their one-time keys must be claimed).
    pub fn without_session(&self, devices: &BTreeSet<DeviceRef>) -> Vec<DeviceRef> {
        devices
            .iter()
            .filter(|device| !self.olm.contains_key(&device.device))
            .copied()
            .collect()
    }

    /// Starts Olm sessions from claimed one-time keys whose device signature verifies.
    /// Returns the devices that could not be reached (no key, or a bad signature).
    pub fn on_claimed(&mut self, keys: Vec<ClaimedKey>) -> Vec<DeviceRef> {
        let mut unreachable = Vec::new();
        for claimed in keys {
            let session = claimed.key.and_then(|key| {
                let device = self.verified_device(claimed.device)?;
                let signer = Ed25519PublicKey::from_slice(&device.ed25519).ok()?;
                let signature = Ed25519Signature::from_slice(&key.signature).ok()?;
                signer
                    .verify(
                        &one_time_key_message(&claimed.device.device, &key.key, key.fallback),
                        &signature,
                    )
                    .ok()?;
                self.account
                    .create_outbound_session(
                        OlmConfig::version_1(),
                        Curve25519PublicKey::from_bytes(claimed.device.device.0),
                        Curve25519PublicKey::from_bytes(key.key),
                    )
                    .ok()
            });
            match session {
                Some(session) => {
                    self.olm
                        .entry(claimed.device.device)
                        .or_default()
                        .push(session);
                    self.save_olm(claimed.device.device);
                }
                None => unreachable.push(claimed.device),
            }
        }
        unreachable
    }

    /// Makes sure the chat has a usable outbound session for these members: creates one, or
    /// a new one when the current is too old, has encrypted enough, or someone left.
    pub fn ensure_outbound(&mut self, chat_id: ChatId, members: &BTreeSet<UserId>, now_ms: u64) {
        let usable = self.outbound.get(&chat_id).is_some_and(|outbound| {
            outbound.encrypted < ROTATE_AFTER_MESSAGES
                && now_ms.saturating_sub(outbound.created_ms) < ROTATE_AFTER_MS
                && outbound.members.is_subset(members)
        });
        if usable {
            if let Some(outbound) = self.outbound.get_mut(&chat_id)
                && outbound.members != *members
            {
                // Someone joined: they get the current key (and so read from now on).
                outbound.members = members.clone();
                self.save_outbound(chat_id);
            }
            return;
        }
        let session = GroupSession::new(SessionConfig::version_1());
        // This device reads its own messages (and its backup holds them) like anyone else's.
        let inbound = InboundGroupSession::new(&session.session_key(), SessionConfig::version_1());
        let session_id = session.session_id();
        self.inbound.insert(
            session_id.clone(),
            Inbound {
                session: inbound,
                chat_id,
                sender: self.device(),
                backed_up: false,
            },
        );
        self.save_inbound(&session_id);
        self.outbound.insert(
            chat_id,
            Outbound {
                session,
                created_ms: now_ms,
                encrypted: 0,
                members: members.clone(),
                shared_with: BTreeSet::new(),
            },
        );
        self.save_outbound(chat_id);
    }

    /// The devices among `devices` the chat's current outbound session was not yet shared with.
    pub fn not_shared_with(
        &self,
        chat_id: ChatId,
        devices: &BTreeSet<DeviceRef>,
    ) -> BTreeSet<DeviceRef> {
        match self.outbound.get(&chat_id) {
            Some(outbound) => {
                crate::sorting::set_from(devices.difference(&outbound.shared_with).copied())
            }
            None => devices.clone(),
        }
    }

    /// The Megolm index `body` (a message this device encrypted) was encrypted at, if it was
    /// encrypted with the chat's current outbound session.
    pub fn index_in_outbound(&self, chat_id: ChatId, body: &[u8]) -> Option<u32> {
        let outbound = self.outbound.get(&chat_id)?;
        let Some(EncryptedBody::MegolmV1 {
            session_id,
            ciphertext,
            ..
        }) = EncryptedBody::from_body(body)
        else {
            return None;
        };
        if session_id != outbound.session.session_id() {
            return None;
        }
        MegolmMessage::from_bytes(&ciphertext)
            .ok()
            .map(|message| message.message_index())
    }

    /// The id of the chat's current outbound session.
    pub fn outbound_session_id(&self, chat_id: ChatId) -> Option<String> {
        self.outbound
            .get(&chat_id)
            .map(|outbound| outbound.session.session_id())
    }

    /// Olm-encrypts the chat's current session key, from its current index, for each device
    /// that has an Olm session.
    pub fn share_outbound(
        &mut self,
        chat_id: ChatId,
        devices: &BTreeSet<DeviceRef>,
    ) -> Vec<ToDeviceMessage> {
        self.share_outbound_from(chat_id, devices, None)
    }

    /// [`DeviceCrypto::share_outbound`] from `from_index` if that is earlier — for devices of a
    /// member who joined while messages this session encrypted before were still on their
    /// way (the server serves them those, being stored after the join). The earlier key is
    /// exported from this device's own copy of the session, unsigned: the Olm channel it
    /// travels in says whose it is.
    pub fn share_outbound_from(
        &mut self,
        chat_id: ChatId,
        devices: &BTreeSet<DeviceRef>,
        from_index: Option<u32>,
    ) -> Vec<ToDeviceMessage> {
        let Some(outbound) = self.outbound.get(&chat_id) else {
            return Vec::new();
        };
        let session_id = outbound.session.session_id();
        let earlier = from_index
            .filter(|&index| index < outbound.session.message_index())
            .and_then(|index| self.inbound.get_mut(&session_id)?.session.export_at(index));
        let session_key = match earlier {
            Some(exported) => exported.to_bytes(),
            None => outbound.session.session_key().to_bytes(),
        };
        let payload = merpati_protocol::encode(&ToDevicePayload::RoomKey(RoomKey {
            chat_id,
            session_id,
            session_key,
        }));
        let mut messages = Vec::new();
        for device in devices {
            let Some(session) = self
                .olm
                .get_mut(&device.device)
                .and_then(|sessions| sessions.last_mut())
            else {
                continue;
            };
            let Ok(message) = session.encrypt(&payload) else {
                continue;
            };
            let (message_type, ciphertext) = message.to_parts();
            messages.push(ToDeviceMessage {
                recipient: *device,
                body: merpati_protocol::encode(&OlmBody {
                    message_type: u8::try_from(message_type).unwrap_or(u8::MAX),
                    ciphertext,
                }),
            });
            self.save_olm(device.device);
        }
        messages
    }

    /// The server stored the key of session `session_id` for these devices.
    pub fn mark_shared(&mut self, chat_id: ChatId, session_id: &str, devices: &[DeviceRef]) {
        if let Some(outbound) = self.outbound.get_mut(&chat_id)
            && outbound.session.session_id() == session_id
        {
            outbound.shared_with.extend(devices.iter().copied());
            self.save_outbound(chat_id);
        }
    }

    /// Encrypts content for a chat with its current outbound session (see
    /// [`DeviceCrypto::ensure_outbound`]); `None` if it has none.
    pub fn encrypt(&mut self, chat_id: ChatId, content: &MessageContent) -> Option<Vec<u8>> {
        let sender_device = self.device().device;
        let outbound = self.outbound.get_mut(&chat_id)?;
        let plaintext = merpati_protocol::encode(&Sealed {
            chat_id,
            content: content.clone(),
        });
        let message = outbound.session.encrypt(&plaintext);
        outbound.encrypted = outbound.encrypted.saturating_add(1);
        let body = EncryptedBody::MegolmV1 {
            sender_device,
            session_id: outbound.session.session_id(),
            ciphertext: message.to_bytes(),
        };
        self.save_outbound(chat_id);
        Some(body.to_body())
    }
}
