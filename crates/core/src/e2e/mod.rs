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
//! `engine/keys.rs`); this module keeps the keys and produces the bytes. Every change is
//! recorded as a [`CryptoRecord`] write for the local store, which seals it at rest.
//!
//! # Layout
//! This file holds the device itself: its Olm account, identity and one-time keys, and what
//! one device sends another over Olm. Each room of its state has a file:
//! - `directory`: the key directory — pinned account keys, verified device lists, key
//!   changes and safety numbers.
//! - `outbound`: sending — Olm sessions to other devices and one outbound Megolm session per
//!   chat, shared with the members' devices.
//! - `inbound`: receiving — Olm messages opened, room keys held until their sender is
//!   checked, inbound Megolm sessions bound to chat and sender, messages opened.
//! - `backup`: inbound sessions sealed with the backup key, and imported back.
//! - `persistence`: which state goes into which record, and the device rebuilt from them.
//! - `record`: the typed [`CryptoRecordKey`] and the one place it meets its stored form.

mod backup;
mod directory;
mod inbound;
mod outbound;
mod persistence;
mod record;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use merpati_protocol::{
    ChatId, ClientMsgId, UserId,
    keys::{
        DeviceKey, DeviceKeys, DeviceRef, OneTimeKey, device_binding_message, device_keys_message,
        one_time_key_message,
    },
};
use serde::{Deserialize, Serialize};
use vodozemac::{
    Ed25519SecretKey,
    olm::{Account, Session},
};

use crate::crypto::{CryptoError, StoreCipher, random_bytes};

pub use directory::{KeyChange, safety_number};
pub use inbound::{Opened, Refusal, ToDeviceError};
pub use outbound::{ROTATE_AFTER_MESSAGES, ROTATE_AFTER_MS};
pub use record::{CryptoRecord, CryptoRecordKey, MalformedRecordKey, StoredCryptoRecord};

use directory::KnownUser;
use inbound::Inbound;
use outbound::Outbound;
use persistence::AccountState;

/// One-time keys a device tries to keep in the directory.
pub const ONE_TIME_KEY_TARGET: u32 = 50;

/// One-time keys per `PublishKeys`: a device tops its keys up a few at a time, so that the
/// frame stays under half the server's 1 KiB WebSocket read buffer. The server's WebSocket
/// codec, having read a frame's header, reserves the frame's whole length on top of the
/// bytes of it already read, so a frame over about 500 bytes doubles that buffer for the rest
/// of the connection — and every idle connection would pay for it (measured with a heap
/// profile: 2 KiB instead of 1 KiB per connection with six keys per frame).
const ONE_TIME_KEYS_PER_PUBLISH: u32 = 3;

/// A Megolm session key, as carried inside an Olm message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomKey {
    /// The chat it is for.
    pub chat_id: ChatId,
    /// The session's id.
    pub session_id: String,
    /// The vodozemac `SessionKey` bytes (signed by the session's own key), or an
    /// `ExportedSessionKey`'s (from an earlier index: see [`DeviceCrypto::share_outbound`]).
    pub session_key: Vec<u8>,
}

/// What an Olm message between two devices decrypts to.
#[derive(Serialize, Deserialize)]
enum ToDevicePayload {
    RoomKey(RoomKey),
}

/// An Olm message as the body of a `ToDeviceMessage`.
#[derive(Serialize, Deserialize)]
struct OlmBody {
    message_type: u8,
    ciphertext: Vec<u8>,
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
    /// Per inbound session, the message that each index opened first: a Megolm index is
    /// used for one message, so another message at a seen index is a replay.
    seen: HashMap<String, BTreeMap<u32, ClientMsgId>>,
    /// People whose pinned account key is not in the key backup yet: a pin goes there, so
    /// that every tab and device of the account trusts the same keys.
    pins_to_back_up: BTreeSet<UserId>,
    /// The fallback key last handed to a publish, until the server has answered a publish
    /// that carried it. vodozemac forgets a key is to be published once it is marked, so a
    /// publish lost with its connection would leave the directory without this device's
    /// fallback key for good; kept here, it goes again with the next connection's publish.
    unconfirmed_fallback: Option<[u8; 32]>,
    /// How far this device has read the key backup.
    backup_reading: backup::BackupReading,
    /// The records changed since the last [`DeviceCrypto::take_writes`] (`None`: deleted).
    writes: BTreeMap<CryptoRecordKey, Option<Vec<u8>>>,
}

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
            seen: HashMap::new(),
            pins_to_back_up: BTreeSet::new(),
            unconfirmed_fallback: None,
            backup_reading: backup::BackupReading::default(),
            writes: BTreeMap::new(),
        }
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

    /// The device's proof, for the publish that binds a connection to it, that the connection
    /// holds this device: its own signature over the connection's challenge `nonce`.
    pub fn device_proof(&self, nonce: &[u8; 32]) -> Vec<u8> {
        let message = device_binding_message(self.user, &self.device().device, nonce);
        self.account.sign(message).to_bytes().to_vec()
    }

    /// One-time keys and the fallback key not yet handed to a publish, signed; marks them
    /// published. The fallback key is also kept as unconfirmed until
    /// [`DeviceCrypto::fallback_key_held`] (see [`DeviceCrypto::unconfirmed_fallback_key`]).
    /// One-time keys are not kept: one lost with its publish is simply not in the directory,
    /// whose count (`KeysPublished`) asks for new ones — while sending one again could put a
    /// key already claimed, and used, back in the directory to be handed out a second time.
    pub fn unpublished_keys(&mut self) -> (Vec<OneTimeKey>, Option<OneTimeKey>) {
        let mut one_time: Vec<OneTimeKey> = self
            .account
            .one_time_keys()
            .into_values()
            .map(|key| self.sign_key(key.to_bytes(), false))
            .collect();
        crate::sorting::sort_by_key(&mut one_time, |key| key.key);
        let fallback = self
            .account
            .fallback_key()
            .into_values()
            .next()
            .map(|key| self.sign_key(key.to_bytes(), true));
        self.account.mark_keys_as_published();
        self.save_account();
        if let Some(fallback) = &fallback {
            self.unconfirmed_fallback = Some(fallback.key);
            self.save_unconfirmed_fallback();
        }
        (one_time, fallback)
    }

    /// The fallback key handed to a publish that the server has not answered, signed: the
    /// publish may have been lost (its connection dropped, or the shell dropped the step's
    /// frames after a failed store write), so it goes again with the next connection's.
    pub fn unconfirmed_fallback_key(&self) -> Option<OneTimeKey> {
        self.unconfirmed_fallback
            .map(|key| self.sign_key(key, true))
    }

    /// The server answered a publish carrying fallback key `key`: the directory holds it.
    pub fn fallback_key_held(&mut self, key: &[u8; 32]) {
        if self.unconfirmed_fallback.as_ref() == Some(key) {
            self.unconfirmed_fallback = None;
            self.save_unconfirmed_fallback();
        }
    }

    /// A one-time or fallback key of this device, signed as the directory hands it out.
    fn sign_key(&self, key: [u8; 32], fallback: bool) -> OneTimeKey {
        let message = one_time_key_message(&self.device().device, &key, fallback);
        OneTimeKey {
            key,
            fallback,
            signature: self.account.sign(message).to_bytes().to_vec(),
        }
    }

    /// Makes a new fallback key, to publish in place of one the directory has handed out
    /// (sessions started with the old one still open: the account keeps it until the next
    /// rotation).
    pub fn rotate_fallback_key(&mut self) {
        self.account.generate_fallback_key();
        self.save_account();
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
}
