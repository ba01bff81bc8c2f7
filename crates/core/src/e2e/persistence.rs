//! Which piece of a device's state goes into which record, and the device rebuilt from its
//! records.
//!
//! Each piece that changes on its own is one record, named by a [`CryptoRecordKey`]: the
//! Olm account, the Olm sessions with one device, a chat's outbound Megolm session, an
//! inbound Megolm session, a held room key, a person's trusted keys, the messages an inbound
//! session's indexes opened, the pins not yet in the key backup, the fallback key the server
//! has not confirmed holding. A change marks its
//! record written (or deleted, when the piece is gone); [`DeviceCrypto::take_writes`] hands
//! the changes to the engine, which turns them into store writes. Values are postcard bytes
//! only this module reads.

use std::collections::{BTreeMap, BTreeSet};

use merpati_protocol::{
    ChatId, ClientMsgId, UserId,
    keys::{DeviceKey, DeviceRef},
};
use serde::{Deserialize, Serialize};
use vodozemac::{
    megolm::{GroupSession, GroupSessionPickle, InboundGroupSession, InboundGroupSessionPickle},
    olm::{AccountPickle, Session, SessionPickle},
};

use super::{
    CryptoRecord, CryptoRecordKey, DeviceCrypto, RoomKey, directory::KnownUser, inbound::Inbound,
    outbound::Outbound,
};

/// The [`CryptoRecordKey::Account`] record: the Olm account and the account's secrets.
#[derive(Serialize, Deserialize)]
pub(super) struct AccountState {
    pub(super) user: UserId,
    pub(super) account_key: [u8; 32],
    pub(super) device_signature: Vec<u8>,
    pub(super) backup_key: [u8; 32],
    /// Olm session pickles need vodozemac's own (JSON, encrypted) format — postcard cannot
    /// read them back — and that format wants a key. The store seals the result anyway.
    pub(super) olm_pickle_key: [u8; 32],
    pub(super) pickle: AccountPickle,
}

/// A [`CryptoRecordKey::OutboundGroupSession`] record.
#[derive(Serialize, Deserialize)]
struct OutboundState {
    pickle: GroupSessionPickle,
    created_ms: u64,
    encrypted: u32,
    members: BTreeSet<UserId>,
    shared_with: BTreeSet<DeviceRef>,
}

/// A [`CryptoRecordKey::InboundGroupSession`] record.
#[derive(Serialize, Deserialize)]
struct InboundState {
    pickle: InboundGroupSessionPickle,
    chat_id: ChatId,
    sender: DeviceRef,
    backed_up: bool,
}

impl DeviceCrypto {
    /// Rebuilds the state from the records a store kept; `None` without an account record.
    pub fn restore(records: Vec<CryptoRecord>) -> Option<DeviceCrypto> {
        let mut by_key: BTreeMap<CryptoRecordKey, Vec<u8>> =
            crate::sorting::map_from(records.into_iter().map(|record| (record.key, record.value)));
        let account: AccountState = decode_value(&by_key.remove(&CryptoRecordKey::Account)?)?;
        let mut crypto = DeviceCrypto::with_account(account);
        for (key, value) in by_key {
            // A record whose value this version cannot read is skipped rather than failing
            // the device: at worst a key is missing and its messages wait for the backup.
            match key {
                CryptoRecordKey::Account => {}
                CryptoRecordKey::OlmSessions(device) => {
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
                }
                CryptoRecordKey::OutboundGroupSession(chat_id) => {
                    if let Some(state) = decode_value::<OutboundState>(&value) {
                        crypto.outbound.insert(
                            chat_id,
                            Outbound {
                                session: GroupSession::from_pickle(state.pickle),
                                created_ms: state.created_ms,
                                encrypted: state.encrypted,
                                members: state.members,
                                shared_with: state.shared_with,
                            },
                        );
                    }
                }
                CryptoRecordKey::InboundGroupSession(session_id) => {
                    if let Some(state) = decode_value::<InboundState>(&value) {
                        crypto.inbound.insert(
                            session_id,
                            Inbound {
                                session: InboundGroupSession::from_pickle(state.pickle),
                                chat_id: state.chat_id,
                                sender: state.sender,
                                backed_up: state.backed_up,
                            },
                        );
                    }
                }
                CryptoRecordKey::HeldRoomKey(id) => {
                    if let Some(held) = decode_value::<(DeviceRef, RoomKey)>(&value) {
                        crypto.held.insert(id, held);
                    }
                }
                CryptoRecordKey::KnownUser(user) => {
                    if let Some(known) = decode_value::<KnownUser>(&value) {
                        crypto.known.insert(user, known);
                    }
                }
                CryptoRecordKey::PinsToBackUp => {
                    if let Some(pins) = decode_value::<BTreeSet<UserId>>(&value) {
                        crypto.pins_to_back_up = pins;
                    }
                }
                CryptoRecordKey::UnconfirmedFallbackKey => {
                    crypto.unconfirmed_fallback = decode_value::<[u8; 32]>(&value);
                }
                CryptoRecordKey::BackupReading => {
                    if let Some(reading) = decode_value(&value) {
                        crypto.backup_reading = reading;
                    }
                }
                CryptoRecordKey::SeenIndexes(session_id) => {
                    if let Some(seen) = decode_value::<BTreeMap<u32, ClientMsgId>>(&value) {
                        crypto.seen.insert(session_id, seen);
                    }
                }
            }
        }
        crypto.forget_a_foreign_own_key();
        Some(crypto)
    }

    /// The records changed since the last call, for the local store (`None`: delete).
    pub fn take_writes(&mut self) -> Vec<(CryptoRecordKey, Option<Vec<u8>>)> {
        std::mem::take(&mut self.writes).into_iter().collect()
    }

    pub(super) fn save_account(&mut self) {
        let state = AccountState {
            user: self.user,
            account_key: self.account_key,
            device_signature: self.device_signature.clone(),
            backup_key: self.backup.export_key(),
            olm_pickle_key: self.olm_pickle_key,
            pickle: self.account.pickle(),
        };
        self.writes.insert(
            CryptoRecordKey::Account,
            Some(merpati_protocol::encode(&state)),
        );
    }

    pub(super) fn save_olm(&mut self, device: DeviceKey) {
        let key = self.olm_pickle_key;
        let value = self.olm.get(&device).map(|sessions| {
            let pickles: Vec<String> = sessions
                .iter()
                .map(|session| session.pickle().encrypt(&key))
                .collect();
            merpati_protocol::encode(&pickles)
        });
        self.writes
            .insert(CryptoRecordKey::OlmSessions(device), value);
    }

    pub(super) fn save_outbound(&mut self, chat_id: ChatId) {
        let value = self.outbound.get(&chat_id).map(|outbound| {
            merpati_protocol::encode(&OutboundState {
                pickle: outbound.session.pickle(),
                created_ms: outbound.created_ms,
                encrypted: outbound.encrypted,
                members: outbound.members.clone(),
                shared_with: outbound.shared_with.clone(),
            })
        });
        self.writes
            .insert(CryptoRecordKey::OutboundGroupSession(chat_id), value);
    }

    pub(super) fn save_inbound(&mut self, session_id: &str) {
        let value = self.inbound.get(session_id).map(|inbound| {
            merpati_protocol::encode(&InboundState {
                pickle: inbound.session.pickle(),
                chat_id: inbound.chat_id,
                sender: inbound.sender,
                backed_up: inbound.backed_up,
            })
        });
        self.writes.insert(
            CryptoRecordKey::InboundGroupSession(session_id.to_owned()),
            value,
        );
    }

    pub(super) fn save_held(&mut self, id: u64) {
        let value = self.held.get(&id).map(merpati_protocol::encode);
        self.writes.insert(CryptoRecordKey::HeldRoomKey(id), value);
    }

    pub(super) fn save_seen(&mut self, session_id: &str) {
        let value = self.seen.get(session_id).map(merpati_protocol::encode);
        self.writes
            .insert(CryptoRecordKey::SeenIndexes(session_id.to_owned()), value);
    }

    pub(super) fn save_pins_to_back_up(&mut self) {
        let value = merpati_protocol::encode(&self.pins_to_back_up);
        self.writes
            .insert(CryptoRecordKey::PinsToBackUp, Some(value));
    }

    pub(super) fn save_backup_reading(&mut self) {
        let value = merpati_protocol::encode(&self.backup_reading);
        self.writes
            .insert(CryptoRecordKey::BackupReading, Some(value));
    }

    pub(super) fn save_unconfirmed_fallback(&mut self) {
        let value = self
            .unconfirmed_fallback
            .map(|key| merpati_protocol::encode(&key));
        self.writes
            .insert(CryptoRecordKey::UnconfirmedFallbackKey, value);
    }

    pub(super) fn save_known_user(&mut self, user: UserId) {
        let value = self.known.get(&user).map(merpati_protocol::encode);
        self.writes.insert(CryptoRecordKey::KnownUser(user), value);
    }
}

fn decode_value<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Option<T> {
    postcard::from_bytes(bytes).ok()
}
