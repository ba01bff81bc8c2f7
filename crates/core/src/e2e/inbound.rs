//! Receiving: Olm messages from other devices opened, the room keys they carry held until
//! their sender is checked, inbound Megolm sessions bound to chat and sender, and message
//! bodies opened with them.
//!
//! A session id is a public signing key anyone can claim, so an inbound session is bound to
//! the chat and the device that first shared it: a message opens only if the server's
//! claimed sender, the chat and the session's owner all agree, and its signature and MAC
//! verify. Each Megolm index opens one message: another message at an index seen before is
//! a replay by the server and is refused.

use merpati_protocol::{
    ChatId, MessageFrame,
    content::{EncryptedBody, MessageContent, Sealed, SystemEvent},
    keys::{DeviceKey, DeviceRef},
};
use vodozemac::{
    Curve25519PublicKey,
    megolm::{
        DecryptionError as MegolmError, ExportedSessionKey, InboundGroupSession, MegolmMessage,
        SessionConfig, SessionKey,
    },
    olm::{OlmMessage, SessionConfig as OlmConfig},
};

use super::{DeviceCrypto, OlmBody, RoomKey, ToDevicePayload};

/// Olm sessions kept per other device (the newest are used; older ones still decrypt).
const OLM_SESSIONS_PER_DEVICE: usize = 4;

/// The most room keys held while their sender is checked; past it the oldest is dropped.
const MAX_HELD_KEYS: usize = 1_000;

/// What a message body turned out to be for this device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opened {
    /// Decrypted and verified.
    Content(MessageContent),
    /// This device has no key for it yet; it opens by itself once one arrives.
    Waiting {
        /// The Megolm session whose key is missing.
        session_id: String,
    },
    /// It failed verification and is not shown.
    Refused(Refusal),
    /// A line the server wrote into a group (not encrypted; the server refuses such bodies
    /// from clients, so only it can write one).
    System(SystemEvent),
    /// The body is empty: its sender deleted it for everyone and the server dropped it.
    Deleted,
}

/// Why a message was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The signature or MAC did not verify: the bytes were changed on the way.
    Tampered,
    /// The key was shared by someone else than the server says sent it, or for another chat.
    WrongSender,
    /// Not an encrypted body this version knows.
    Unreadable,
    /// A copy of an earlier message — its Megolm index opened another message already, or
    /// the server delivered it again at another position — which only the server can make:
    /// refused, so that nobody's words are shown twice as if said again.
    Replayed,
}

/// Why a received to-device message was not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ToDeviceError {
    /// Not an Olm message, or it did not decrypt.
    #[error("the to-device message could not be decrypted")]
    Undecryptable,
    /// It decrypted to something this version does not know.
    #[error("the to-device message's content is unknown")]
    UnknownPayload,
}

/// An inbound Megolm session and what it is bound to.
pub(super) struct Inbound {
    pub(super) session: InboundGroupSession,
    pub(super) chat_id: ChatId,
    /// The device that shared it (this one, for its own outbound sessions).
    pub(super) sender: DeviceRef,
    /// Whether the server holds it in the key backup.
    pub(super) backed_up: bool,
}

impl DeviceCrypto {
    /// Decrypts a to-device message from `sender`. Returns the room key it carries, which
    /// the caller checks ([`DeviceCrypto::accept_room_key`]) before it is used.
    pub fn open_to_device(
        &mut self,
        sender: DeviceRef,
        body: &[u8],
    ) -> Result<RoomKey, ToDeviceError> {
        let olm: OlmBody =
            merpati_protocol::decode(body).map_err(|_| ToDeviceError::Undecryptable)?;
        let message = OlmMessage::from_parts(usize::from(olm.message_type), &olm.ciphertext)
            .map_err(|_| ToDeviceError::Undecryptable)?;
        let plaintext = self.olm_decrypt(sender.device, &message)?;
        match merpati_protocol::decode::<ToDevicePayload>(&plaintext) {
            Ok(ToDevicePayload::RoomKey(key)) => Ok(key),
            Err(_) => Err(ToDeviceError::UnknownPayload),
        }
    }

    fn olm_decrypt(
        &mut self,
        sender: DeviceKey,
        message: &OlmMessage,
    ) -> Result<Vec<u8>, ToDeviceError> {
        // Newest first; a session that decrypts becomes the one used for sending to them. No
        // entry is made for a sender without sessions: an empty one would count as a session
        // (`without_session`), and that device's keys would never be claimed.
        if let Some(sessions) = self.olm.get_mut(&sender) {
            for index in (0..sessions.len()).rev() {
                if let Ok(plaintext) = sessions[index].decrypt(message) {
                    let session = sessions.remove(index);
                    sessions.push(session);
                    self.save_olm(sender);
                    return Ok(plaintext);
                }
            }
        }
        let OlmMessage::PreKey(pre_key) = message else {
            return Err(ToDeviceError::Undecryptable);
        };
        let created = self
            .account
            .create_inbound_session(
                OlmConfig::version_1(),
                Curve25519PublicKey::from_bytes(sender.0),
                pre_key,
            )
            .map_err(|_| ToDeviceError::Undecryptable)?;
        let sessions = self.olm.entry(sender).or_default();
        sessions.push(created.session);
        if sessions.len() > OLM_SESSIONS_PER_DEVICE {
            sessions.remove(0);
        }
        self.save_olm(sender);
        // The one-time key is used up: the account changed.
        self.save_account();
        Ok(created.plaintext)
    }

    /// Keeps a decrypted room key until its sender can be checked (persisted: the Olm message
    /// it came in cannot be decrypted a second time).
    pub fn hold(&mut self, sender: DeviceRef, key: RoomKey) {
        let id = self.held.keys().next_back().map_or(1, |last| last + 1);
        self.held.insert(id, (sender, key));
        self.save_held(id);
        while self.held.len() > MAX_HELD_KEYS {
            if let Some((oldest, _)) = self.held.pop_first() {
                self.save_held(oldest);
            }
        }
    }

    /// The room keys waiting for their sender to be checked, oldest first.
    pub fn held(&self) -> Vec<(u64, DeviceRef, RoomKey)> {
        self.held
            .iter()
            .map(|(id, (sender, key))| (*id, *sender, key.clone()))
            .collect()
    }

    /// A held room key was decided on (accepted or refused).
    pub fn release_held(&mut self, id: u64) {
        if self.held.remove(&id).is_some() {
            self.save_held(id);
        }
    }

    /// Stores a verified room key: a session key, or one exported from an earlier index (see
    /// [`DeviceCrypto::share_outbound`]). Returns whether it was new.
    pub fn accept_room_key(&mut self, sender: DeviceRef, key: &RoomKey) -> bool {
        let session = match SessionKey::from_bytes(&key.session_key) {
            Ok(session_key) => InboundGroupSession::new(&session_key, SessionConfig::version_1()),
            Err(_) => match ExportedSessionKey::from_bytes(&key.session_key) {
                Ok(exported) => InboundGroupSession::import(&exported, SessionConfig::version_1()),
                Err(_) => return false,
            },
        };
        if session.session_id() != key.session_id {
            return false;
        }
        self.add_inbound(session, key.chat_id, sender)
    }

    /// Keeps an inbound session bound to `chat_id` and `sender`, or improves the one held
    /// with the same binding. Returns whether anything changed.
    pub(super) fn add_inbound(
        &mut self,
        mut session: InboundGroupSession,
        chat_id: ChatId,
        sender: DeviceRef,
    ) -> bool {
        let session_id = session.session_id();
        match self.inbound.get_mut(&session_id) {
            Some(existing) if existing.chat_id == chat_id && existing.sender == sender => {
                // The same session again, perhaps from an earlier index: keep the better.
                match existing.session.merge(&mut session) {
                    Some(merged)
                        if merged.first_known_index() < existing.session.first_known_index() =>
                    {
                        existing.session = merged;
                        existing.backed_up = false;
                    }
                    _ => return false,
                }
            }
            // A session id is a public signing key: one claimed for another chat or sender is
            // an attempt to confuse us, and the first binding stands.
            Some(_) => return false,
            None => {
                self.inbound.insert(
                    session_id.clone(),
                    Inbound {
                        session,
                        chat_id,
                        sender,
                        backed_up: false,
                    },
                );
            }
        }
        self.save_inbound(&session_id);
        true
    }

    /// Opens a message body: decrypts it and checks that the session belongs to the chat and
    /// to the sender the server names. A server-written line and an emptied body (deleted for
    /// everyone) need no key.
    pub fn open(&mut self, message: &MessageFrame) -> Opened {
        if message.body.is_empty() {
            return Opened::Deleted;
        }
        let (sender_device, session_id, ciphertext) = match EncryptedBody::from_body(&message.body)
        {
            Some(EncryptedBody::MegolmV1 {
                sender_device,
                session_id,
                ciphertext,
            }) => (sender_device, session_id, ciphertext),
            Some(EncryptedBody::System(event)) => return Opened::System(event),
            None => return Opened::Refused(Refusal::Unreadable),
        };
        let Some(inbound) = self.inbound.get_mut(&session_id) else {
            return Opened::Waiting { session_id };
        };
        if inbound.chat_id != message.chat_id
            || inbound.sender.user != message.sender
            || inbound.sender.device != sender_device
        {
            return Opened::Refused(Refusal::WrongSender);
        }
        let Ok(megolm) = MegolmMessage::from_bytes(&ciphertext) else {
            return Opened::Refused(Refusal::Tampered);
        };
        let decrypted = match inbound.session.decrypt(&megolm) {
            Ok(decrypted) => decrypted,
            Err(MegolmError::UnknownMessageIndex(..)) => return Opened::Waiting { session_id },
            Err(_) => return Opened::Refused(Refusal::Tampered),
        };
        let opened_first = self
            .seen
            .entry(session_id.clone())
            .or_default()
            .entry(decrypted.message_index)
            .or_insert(message.client_msg_id);
        if *opened_first != message.client_msg_id {
            return Opened::Refused(Refusal::Replayed);
        }
        self.save_seen(&session_id);
        match merpati_protocol::decode::<Sealed>(&decrypted.plaintext) {
            Ok(sealed) if sealed.chat_id == message.chat_id => Opened::Content(sealed.content),
            Ok(_) => Opened::Refused(Refusal::WrongSender),
            Err(_) => Opened::Refused(Refusal::Unreadable),
        }
    }
}
