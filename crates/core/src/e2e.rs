//! End-to-end encryption for one device: Olm between devices, Megolm within chats.
//!
//! A [`DeviceCrypto`] is a browser's vodozemac Olm [`Account`] plus everything it learns:
//!
//! - **The key directory it trusts.** Devices are vouched for by their account key (an
//!   Ed25519 signature over [`device_keys_message`]); the first account key seen for a person
//!   is pinned, and a different one later is a [`KeyChange`] the chat announces.
//! - **Olm sessions** with other devices, started from a claimed one-time key and used only
//!   to carry Megolm session keys ([`RoomKey`]).
//! - **One outbound Megolm session per chat**, rotated after [`ROTATE_AFTER_MESSAGES`]
//!   messages, after [`ROTATE_AFTER_MS`], and whenever someone left the chat — so a removed
//!   member never receives a key to anything sent after the removal.
//! - **Inbound Megolm sessions**, each tied to the chat and the device that shared it: a
//!   message decrypts only if the server's claimed sender, the chat and the session's owner
//!   all agree, and its signature and MAC verify.
//! - **The key backup**: every inbound session sealed with a key derived from the passphrase,
//!   so another browser of the same account can read earlier history.
//!
//! Nothing here does I/O. The engine decides when to query, claim and share (see
//! `engine.rs`); this module keeps the keys and produces the bytes. Every change is recorded
//! as a [`CryptoRecord`] write for the local store, which seals it at rest.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use merpati_protocol::{
    ChatId, MessageFrame, UserId,
    content::{EncryptedBody, MessageContent, Sealed},
    keys::{
        BackupEntry, ClaimedKey, DeviceKey, DeviceKeys, DeviceRef, OneTimeKey, ToDeviceMessage,
        UserKeys, device_keys_message, one_time_key_message,
    },
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha512};
use vodozemac::{
    Curve25519PublicKey, Ed25519PublicKey, Ed25519SecretKey, Ed25519Signature,
    megolm::{
        DecryptionError as MegolmError, ExportedSessionKey, GroupSession, GroupSessionPickle,
        InboundGroupSession, InboundGroupSessionPickle, MegolmMessage, SessionConfig, SessionKey,
    },
    olm::{Account, AccountPickle, OlmMessage, Session, SessionConfig as OlmConfig, SessionPickle},
};

use crate::crypto::{CryptoError, StoreCipher, random_bytes};

/// Messages an outbound Megolm session encrypts before the chat gets a new one.
pub const ROTATE_AFTER_MESSAGES: u32 = 100;

/// How long an outbound Megolm session is used before the chat gets a new one (a week).
pub const ROTATE_AFTER_MS: u64 = 7 * 24 * 60 * 60 * 1000;

/// One-time keys a device tries to keep in the directory.
pub const ONE_TIME_KEY_TARGET: u32 = 50;

/// One-time keys per `PublishKeys`: a device tops its keys up a few at a time, so that the
/// frame stays under half the server's 1 KiB WebSocket read buffer. The server's WebSocket
/// codec, having read a frame's header, reserves the frame's whole length on top of the
/// bytes of it already read, so a frame over about 500 bytes doubles that buffer for the rest
/// of the connection — and every idle connection would pay for it (measured with a heap
/// profile: 2 KiB instead of 1 KiB per connection with six keys per frame).
pub const ONE_TIME_KEYS_PER_PUBLISH: u32 = 3;

/// Olm sessions kept per other device (the newest are used; older ones still decrypt).
const OLM_SESSIONS_PER_DEVICE: usize = 4;

const BACKUP_CONTEXT: &[u8] = b"merpati/key-backup/v1";
const BACKUP_ID_CONTEXT: &[u8] = b"merpati/key-backup-id/v1";

/// A persisted piece of the device's crypto state: `key` names it, `value` is postcard bytes
/// this module alone reads. The store seals both like every other record.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CryptoRecord {
    /// What it is: `account`, `olm/<device>`, `out/<chat>`, `in/<session>`, `user/<id>`.
    pub key: String,
    /// Its encoding: private keys among it, so never printed.
    pub value: Vec<u8>,
}

impl std::fmt::Debug for CryptoRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CryptoRecord")
            .field("key", &self.key)
            .field("value", &format_args!("<{} bytes>", self.value.len()))
            .finish()
    }
}

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
}

/// A person's pinned account key changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyChange {
    /// The person.
    pub user: UserId,
    /// When this device noticed, in milliseconds since the Unix epoch.
    pub at_ms: u64,
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

/// A Megolm session key, as carried inside an Olm message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomKey {
    /// The chat it is for.
    pub chat_id: ChatId,
    /// The session's id.
    pub session_id: String,
    /// The vodozemac `SessionKey` bytes (signed by the session's own key).
    pub session_key: Vec<u8>,
}

#[derive(Serialize, Deserialize)]
enum ToDevicePayload {
    RoomKey(RoomKey),
}

#[derive(Serialize, Deserialize)]
struct OlmBody {
    message_type: u8,
    ciphertext: Vec<u8>,
}

#[derive(Serialize, Deserialize)]
struct AccountState {
    user: UserId,
    account_key: [u8; 32],
    device_signature: Vec<u8>,
    backup_key: [u8; 32],
    /// Olm session pickles need vodozemac's own (JSON, encrypted) format — postcard cannot
    /// read them back — and that format wants a key. The store seals the result anyway.
    olm_pickle_key: [u8; 32],
    pickle: AccountPickle,
}

#[derive(Serialize, Deserialize)]
struct OutboundState {
    pickle: GroupSessionPickle,
    created_ms: u64,
    encrypted: u32,
    members: BTreeSet<UserId>,
    shared_with: BTreeSet<DeviceRef>,
}

#[derive(Serialize, Deserialize)]
struct InboundState {
    pickle: InboundGroupSessionPickle,
    chat_id: ChatId,
    sender: DeviceRef,
    backed_up: bool,
}

/// A person's keys as this device trusts them.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct KnownUser {
    account_key: [u8; 32],
    devices: Vec<DeviceKeys>,
    changed_ms: Option<u64>,
    /// The safety number with this person, computed when first shown (views ask on every
    /// change, and it costs 1,024 SHA-512 rounds); a new account key comes with a new entry.
    #[serde(skip)]
    safety_number: std::cell::OnceCell<String>,
}

#[derive(Serialize, Deserialize)]
struct BackupPayload {
    chat_id: ChatId,
    sender: DeviceRef,
    exported: Vec<u8>,
}

struct Outbound {
    session: GroupSession,
    created_ms: u64,
    encrypted: u32,
    members: BTreeSet<UserId>,
    shared_with: BTreeSet<DeviceRef>,
}

struct Inbound {
    session: InboundGroupSession,
    chat_id: ChatId,
    sender: DeviceRef,
    backed_up: bool,
}

/// One device's end-to-end encryption state. See the module documentation.
pub struct DeviceCrypto {
    user: UserId,
    account_key: [u8; 32],
    device_signature: Vec<u8>,
    backup: StoreCipher,
    olm_pickle_key: [u8; 32],
    account: Account,
    olm: HashMap<DeviceKey, Vec<Session>>,
    outbound: HashMap<ChatId, Outbound>,
    inbound: HashMap<String, Inbound>,
    known: BTreeMap<UserId, KnownUser>,
    held: BTreeMap<u64, (DeviceRef, RoomKey)>,
    writes: BTreeMap<String, Option<Vec<u8>>>,
}

/// The most room keys held while their sender is checked; past it the oldest is dropped.
const MAX_HELD_KEYS: usize = 1_000;

impl std::fmt::Debug for DeviceCrypto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceCrypto")
            .field("user", &self.user)
            .field("device", &self.device())
            .field("outbound", &self.outbound.len())
            .field("inbound", &self.inbound.len())
            .finish_non_exhaustive()
    }
}

impl DeviceCrypto {
    /// A new device of `user`: a fresh Olm account whose keys the account key vouches for,
    /// with one-time keys and a fallback key ready to publish.
    pub fn new(
        user: UserId,
        account_key: &Ed25519SecretKey,
        backup_key: [u8; 32],
    ) -> Result<Self, CryptoError> {
        let mut account = Account::new();
        // One: the first publish also carries the fallback key, and must stay as small as
        // the others (see `ONE_TIME_KEYS_PER_PUBLISH`).
        account.generate_one_time_keys(1);
        account.generate_fallback_key();
        let identity = account.identity_keys();
        let device = DeviceKey(identity.curve25519.to_bytes());
        let signature = account_key
            .sign(&device_keys_message(
                user,
                &device,
                identity.ed25519.as_bytes(),
            ))
            .to_bytes()
            .to_vec();
        let mut crypto = DeviceCrypto::with_account(AccountState {
            user,
            account_key: *account_key.public_key().as_bytes(),
            device_signature: signature,
            backup_key,
            olm_pickle_key: random_bytes()?,
            pickle: account.pickle(),
        });
        crypto.save_account();
        Ok(crypto)
    }

    /// A device with its account and nothing learnt yet.
    fn with_account(state: AccountState) -> DeviceCrypto {
        DeviceCrypto {
            user: state.user,
            account_key: state.account_key,
            device_signature: state.device_signature,
            backup: StoreCipher::import_key(state.backup_key),
            olm_pickle_key: state.olm_pickle_key,
            account: Account::from_pickle(state.pickle),
            olm: HashMap::new(),
            outbound: HashMap::new(),
            inbound: HashMap::new(),
            known: BTreeMap::new(),
            held: BTreeMap::new(),
            writes: BTreeMap::new(),
        }
    }

    /// Rebuilds the state from the records a store kept; `None` without an account record.
    pub fn restore(records: Vec<CryptoRecord>) -> Option<DeviceCrypto> {
        let mut by_key: BTreeMap<String, Vec<u8>> = records
            .into_iter()
            .map(|record| (record.key, record.value))
            .collect();
        let account: AccountState = decode_value(&by_key.remove("account")?)?;
        let mut crypto = DeviceCrypto::with_account(account);
        for (key, value) in by_key {
            // A record this version cannot read is skipped rather than failing the device:
            // at worst a key is missing and its messages wait for the backup.
            if let Some(device) = key.strip_prefix("olm/").and_then(parse_device) {
                if let Some(pickles) = decode_value::<Vec<String>>(&value) {
                    let sessions: Vec<Session> = pickles
                        .iter()
                        .filter_map(|pickle| {
                            SessionPickle::from_encrypted(pickle, &crypto.olm_pickle_key).ok()
                        })
                        .map(Session::from_pickle)
                        .collect();
                    crypto.olm.insert(device, sessions);
                }
            } else if let Some(chat) = key.strip_prefix("out/").and_then(|id| id.parse().ok()) {
                if let Some(state) = decode_value::<OutboundState>(&value) {
                    crypto.outbound.insert(
                        ChatId(chat),
                        Outbound {
                            session: GroupSession::from_pickle(state.pickle),
                            created_ms: state.created_ms,
                            encrypted: state.encrypted,
                            members: state.members,
                            shared_with: state.shared_with,
                        },
                    );
                }
            } else if let Some(session_id) = key.strip_prefix("in/") {
                if let Some(state) = decode_value::<InboundState>(&value) {
                    crypto.inbound.insert(
                        session_id.to_owned(),
                        Inbound {
                            session: InboundGroupSession::from_pickle(state.pickle),
                            chat_id: state.chat_id,
                            sender: state.sender,
                            backed_up: state.backed_up,
                        },
                    );
                }
            } else if let Some(id) = key.strip_prefix("held/").and_then(|id| id.parse().ok()) {
                if let Some(held) = decode_value::<(DeviceRef, RoomKey)>(&value) {
                    crypto.held.insert(id, held);
                }
            } else if let Some(user) = key.strip_prefix("user/").and_then(|id| id.parse().ok())
                && let Some(known) = decode_value::<KnownUser>(&value)
            {
                crypto.known.insert(UserId(user), known);
            }
        }
        Some(crypto)
    }

    /// The account this device belongs to.
    pub fn user(&self) -> UserId {
        self.user
    }

    /// This device.
    pub fn device(&self) -> DeviceRef {
        DeviceRef {
            user: self.user,
            device: DeviceKey(self.account.curve25519_key().to_bytes()),
        }
    }

    /// This device's keys as published in the directory.
    pub fn device_keys(&self) -> DeviceKeys {
        DeviceKeys {
            user: self.user,
            device: self.device().device,
            ed25519: *self.account.ed25519_key().as_bytes(),
            signature: self.device_signature.clone(),
        }
    }

    /// One-time keys and the fallback key not yet published, signed; marks them published.
    pub fn unpublished_keys(&mut self) -> (Vec<OneTimeKey>, Option<OneTimeKey>) {
        let device = self.device().device;
        let sign = |account: &Account, key: Curve25519PublicKey, fallback: bool| OneTimeKey {
            key: key.to_bytes(),
            fallback,
            signature: account
                .sign(one_time_key_message(&device, &key.to_bytes(), fallback))
                .to_bytes()
                .to_vec(),
        };
        let mut one_time: Vec<OneTimeKey> = self
            .account
            .one_time_keys()
            .into_values()
            .map(|key| sign(&self.account, key, false))
            .collect();
        one_time.sort_by_key(|key| key.key);
        let fallback = self
            .account
            .fallback_key()
            .into_values()
            .next()
            .map(|key| sign(&self.account, key, true));
        self.account.mark_keys_as_published();
        self.save_account();
        (one_time, fallback)
    }

    /// The directory holds `stored` of this device's one-time keys: below the target,
    /// generates the next few to publish (each answer to a publish asks again, so the keys
    /// fill up frame by frame). Returns whether there is something new to publish.
    pub fn replenish(&mut self, stored: u32) -> bool {
        if stored >= ONE_TIME_KEY_TARGET {
            return false;
        }
        let next = ONE_TIME_KEY_TARGET
            .saturating_sub(stored)
            .min(ONE_TIME_KEYS_PER_PUBLISH);
        self.account.generate_one_time_keys(next as usize);
        self.save_account();
        true
    }

    // ----- the key directory --------------------------------------------------------------

    /// Takes a `Keys` answer: keeps the devices whose signature the account key verifies,
    /// pins first-seen account keys, and reports pinned keys that changed.
    pub fn on_keys(&mut self, users: Vec<UserKeys>, now_ms: u64) -> Vec<KeyChange> {
        let mut changes = Vec::new();
        for keys in users {
            let Ok(account_key) = Ed25519PublicKey::from_slice(&keys.account_key) else {
                continue;
            };
            let devices: Vec<DeviceKeys> = keys
                .devices
                .into_iter()
                .filter(|device| device.user == keys.user && verify_device(&account_key, device))
                .collect();
            let changed_ms = match self.known.get(&keys.user) {
                Some(known) if known.account_key != keys.account_key => {
                    changes.push(KeyChange {
                        user: keys.user,
                        at_ms: now_ms,
                    });
                    Some(now_ms)
                }
                Some(known) => known.changed_ms,
                None => None,
            };
            // The same account key keeps its safety number; a new one gets its own.
            let safety_number = match self.known.get(&keys.user) {
                Some(known) if known.account_key == keys.account_key => known.safety_number.clone(),
                _ => std::cell::OnceCell::new(),
            };
            let known = KnownUser {
                account_key: keys.account_key,
                devices,
                changed_ms,
                safety_number,
            };
            self.writes.insert(
                format!("user/{}", keys.user.0),
                Some(merpati_protocol::encode(&known)),
            );
            self.known.insert(keys.user, known);
        }
        changes
    }

    /// Whether this device holds a verified key list for the person.
    pub fn knows(&self, user: UserId) -> bool {
        self.known.contains_key(&user)
    }

    /// The verified devices of these people, this device excluded.
    pub fn devices_of(&self, users: &BTreeSet<UserId>) -> BTreeSet<DeviceRef> {
        let me = self.device();
        users
            .iter()
            .filter_map(|user| self.known.get(user))
            .flat_map(|known| &known.devices)
            .map(|device| DeviceRef {
                user: device.user,
                device: device.device,
            })
            .filter(|device| *device != me)
            .collect()
    }

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

    fn verified_device(&self, device: DeviceRef) -> Option<&DeviceKeys> {
        self.known
            .get(&device.user)?
            .devices
            .iter()
            .find(|known| known.device == device.device)
    }

    /// When the person's pinned account key last changed, if it ever did.
    pub fn key_changed(&self, user: UserId) -> Option<u64> {
        self.known.get(&user)?.changed_ms
    }

    /// The person has compared safety numbers again: stop announcing the change.
    pub fn acknowledge_key_change(&mut self, user: UserId) {
        if let Some(known) = self.known.get_mut(&user) {
            known.changed_ms = None;
            let value = merpati_protocol::encode(&*known);
            self.writes.insert(format!("user/{}", user.0), Some(value));
        }
    }

    /// The safety number of a conversation between this account and `other`: 60 digits in
    /// 12 groups, the same on both sides, derived from both pinned account keys. `None`
    /// until `other`'s keys are known.
    pub fn safety_number(&self, other: UserId) -> Option<String> {
        let known = self.known.get(&other)?;
        let number = known.safety_number.get_or_init(|| {
            safety_number((self.user, self.account_key), (other, known.account_key))
        });
        Some(number.clone())
    }

    // ----- sending ------------------------------------------------------------------------

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
            Some(outbound) => devices.difference(&outbound.shared_with).copied().collect(),
            None => devices.clone(),
        }
    }

    /// The id of the chat's current outbound session.
    pub fn outbound_session_id(&self, chat_id: ChatId) -> Option<String> {
        self.outbound
            .get(&chat_id)
            .map(|outbound| outbound.session.session_id())
    }

    /// Olm-encrypts the chat's current session key for each device that has an Olm session.
    pub fn share_outbound(
        &mut self,
        chat_id: ChatId,
        devices: &BTreeSet<DeviceRef>,
    ) -> Vec<ToDeviceMessage> {
        let Some(outbound) = self.outbound.get(&chat_id) else {
            return Vec::new();
        };
        let payload = merpati_protocol::encode(&ToDevicePayload::RoomKey(RoomKey {
            chat_id,
            session_id: outbound.session.session_id(),
            session_key: outbound.session.session_key().to_bytes(),
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

    // ----- receiving ----------------------------------------------------------------------

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
        let sessions = self.olm.entry(sender).or_default();
        // Newest first; a session that decrypts becomes the one used for sending to them.
        for index in (0..sessions.len()).rev() {
            if let Ok(plaintext) = sessions[index].decrypt(message) {
                let session = sessions.remove(index);
                sessions.push(session);
                self.save_olm(sender);
                return Ok(plaintext);
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

    /// Whether `sender` is a device its account key vouches for, as far as this device knows.
    pub fn is_verified_device(&self, sender: DeviceRef) -> bool {
        self.verified_device(sender).is_some()
    }

    /// Keeps a decrypted room key until its sender can be checked (persisted: the Olm message
    /// it came in cannot be decrypted a second time).
    pub fn hold(&mut self, sender: DeviceRef, key: RoomKey) {
        let id = self.held.keys().next_back().map_or(1, |last| last + 1);
        self.writes.insert(
            format!("held/{id}"),
            Some(merpati_protocol::encode(&(sender, &key))),
        );
        self.held.insert(id, (sender, key));
        while self.held.len() > MAX_HELD_KEYS {
            if let Some((oldest, _)) = self.held.pop_first() {
                self.writes.insert(format!("held/{oldest}"), None);
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
            self.writes.insert(format!("held/{id}"), None);
        }
    }

    /// Stores a verified room key. Returns whether it was new.
    pub fn accept_room_key(&mut self, sender: DeviceRef, key: &RoomKey) -> bool {
        let Ok(session_key) = SessionKey::from_bytes(&key.session_key) else {
            return false;
        };
        let session = InboundGroupSession::new(&session_key, SessionConfig::version_1());
        if session.session_id() != key.session_id {
            return false;
        }
        self.add_inbound(session, key.chat_id, sender)
    }

    fn add_inbound(
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
    /// to the sender the server names.
    pub fn open(&mut self, message: &MessageFrame) -> Opened {
        let Some(EncryptedBody::MegolmV1 {
            sender_device,
            session_id,
            ciphertext,
        }) = EncryptedBody::from_body(&message.body)
        else {
            return Opened::Refused(Refusal::Unreadable);
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
        match merpati_protocol::decode::<Sealed>(&decrypted.plaintext) {
            Ok(sealed) if sealed.chat_id == message.chat_id => Opened::Content(sealed.content),
            Ok(_) => Opened::Refused(Refusal::WrongSender),
            Err(_) => Opened::Refused(Refusal::Unreadable),
        }
    }

    // ----- the key backup -----------------------------------------------------------------

    /// Backup entries for the inbound sessions not yet backed up (at most `limit`).
    pub fn backup_pending(&self, limit: usize) -> Vec<(String, BackupEntry)> {
        self.inbound
            .iter()
            .filter(|(_, inbound)| !inbound.backed_up)
            .take(limit)
            .filter_map(|(session_id, inbound)| {
                let payload = BackupPayload {
                    chat_id: inbound.chat_id,
                    sender: inbound.sender,
                    exported: inbound.session.export_at_first_known_index().to_bytes(),
                };
                let sealed = self
                    .backup
                    .seal(BACKUP_CONTEXT, &merpati_protocol::encode(&payload))
                    .ok()?;
                Some((
                    session_id.clone(),
                    BackupEntry {
                        id: self
                            .backup
                            .keyed_hash(BACKUP_ID_CONTEXT, session_id.as_bytes()),
                        sealed,
                    },
                ))
            })
            .collect()
    }

    /// The server stored the backup of these sessions.
    pub fn mark_backed_up(&mut self, session_ids: &[String]) {
        for session_id in session_ids {
            if let Some(inbound) = self.inbound.get_mut(session_id) {
                inbound.backed_up = true;
                self.save_inbound(session_id);
            }
        }
    }

    /// Imports backup entries (sealed by this account's passphrase-derived key); returns the
    /// ids of the sessions that were new. Entries that do not open are skipped.
    pub fn import_backup(&mut self, entries: &[BackupEntry]) -> Vec<String> {
        let mut imported = Vec::new();
        for entry in entries {
            let Some(payload) = self
                .backup
                .open(BACKUP_CONTEXT, &entry.sealed)
                .ok()
                .and_then(|bytes| merpati_protocol::decode::<BackupPayload>(&bytes).ok())
            else {
                continue;
            };
            let Ok(exported) = ExportedSessionKey::from_bytes(&payload.exported) else {
                continue;
            };
            let session = InboundGroupSession::import(&exported, SessionConfig::version_1());
            let session_id = session.session_id();
            if self.add_inbound(session, payload.chat_id, payload.sender) {
                if let Some(inbound) = self.inbound.get_mut(&session_id) {
                    // It came from the backup: no need to put it back.
                    inbound.backed_up = true;
                }
                self.save_inbound(&session_id);
                imported.push(session_id);
            }
        }
        imported
    }

    // ----- persistence --------------------------------------------------------------------

    /// The records changed since the last call, for the local store (`None`: delete).
    pub fn take_writes(&mut self) -> Vec<(String, Option<Vec<u8>>)> {
        std::mem::take(&mut self.writes).into_iter().collect()
    }

    fn save_account(&mut self) {
        let state = AccountState {
            user: self.user,
            account_key: self.account_key,
            device_signature: self.device_signature.clone(),
            backup_key: self.backup.export_key(),
            olm_pickle_key: self.olm_pickle_key,
            pickle: self.account.pickle(),
        };
        self.writes
            .insert("account".to_owned(), Some(merpati_protocol::encode(&state)));
    }

    fn save_olm(&mut self, device: DeviceKey) {
        let key = self.olm_pickle_key;
        let value = self.olm.get(&device).map(|sessions| {
            let pickles: Vec<String> = sessions
                .iter()
                .map(|session| session.pickle().encrypt(&key))
                .collect();
            merpati_protocol::encode(&pickles)
        });
        self.writes
            .insert(format!("olm/{}", hex::encode(device.0)), value);
    }

    fn save_outbound(&mut self, chat_id: ChatId) {
        let value = self.outbound.get(&chat_id).map(|outbound| {
            merpati_protocol::encode(&OutboundState {
                pickle: outbound.session.pickle(),
                created_ms: outbound.created_ms,
                encrypted: outbound.encrypted,
                members: outbound.members.clone(),
                shared_with: outbound.shared_with.clone(),
            })
        });
        self.writes.insert(format!("out/{}", chat_id.0), value);
    }

    fn save_inbound(&mut self, session_id: &str) {
        let value = self.inbound.get(session_id).map(|inbound| {
            merpati_protocol::encode(&InboundState {
                pickle: inbound.session.pickle(),
                chat_id: inbound.chat_id,
                sender: inbound.sender,
                backed_up: inbound.backed_up,
            })
        });
        self.writes.insert(format!("in/{session_id}"), value);
    }
}

fn verify_device(account_key: &Ed25519PublicKey, device: &DeviceKeys) -> bool {
    let Ok(signature) = Ed25519Signature::from_slice(&device.signature) else {
        return false;
    };
    account_key
        .verify(
            &device_keys_message(device.user, &device.device, &device.ed25519),
            &signature,
        )
        .is_ok()
}

fn decode_value<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Option<T> {
    postcard::from_bytes(bytes).ok()
}

fn parse_device(text: &str) -> Option<DeviceKey> {
    let bytes: [u8; 32] = hex::decode(text).ok()?.try_into().ok()?;
    Some(DeviceKey(bytes))
}

/// The safety number of two accounts: SHA-512 iterated over both (id, key) pairs in a fixed
/// order, read as 12 groups of 5 digits. Both sides compute the same string; comparing it in
/// person proves no one sits between them.
pub fn safety_number(a: (UserId, [u8; 32]), b: (UserId, [u8; 32])) -> String {
    let (first, second) = if a <= b { (a, b) } else { (b, a) };
    let mut digest = Sha512::new();
    digest.update(b"merpati/safety-number/v1");
    for (user, key) in [first, second] {
        digest.update(user.0.to_be_bytes());
        digest.update(key);
    }
    let mut hash = digest.finalize();
    // Iterating makes a brute-force search for a colliding key pair costlier.
    for _ in 0..1024 {
        let mut round = Sha512::new();
        round.update(hash);
        round.update(first.1);
        round.update(second.1);
        hash = round.finalize();
    }
    hash.chunks(5)
        .take(12)
        .map(|chunk| {
            let value = chunk
                .iter()
                .fold(0u64, |acc, byte| (acc << 8) | u64::from(*byte));
            format!("{:05}", value % 100_000)
        })
        .collect::<Vec<_>>()
        .join(" ")
}
