//! What a device's end-to-end key state is stored as: [`CryptoRecord`]s named by a typed
//! [`CryptoRecordKey`], and the one place a key meets its stored form.
//!
//! The engine and the stores handle keys as [`CryptoRecordKey`]s; only
//! [`CryptoRecordKey::to_stored`] and [`CryptoRecordKey::from_stored`] know how one is
//! spelt. The stored form is the strings Merpati has always written — `account`,
//! `olm/<device key, hex>`, `out/<chat id>`, `in/<session id>`, `held/<n>`, `user/<user id>`,
//! `seen/<session id>`, `pins`, `fallback`, `backup-read` — so databases written before the key was typed read as they are, and there is nothing to
//! migrate. A store that serialises records keeps a [`StoredCryptoRecord`], whose encoding is
//! the one those databases hold.
//!
//! Only a key's canonical spelling is read back (lowercase hex, decimal numbers without sign
//! or leading zeros): a store that indexes records by a hash of the stored form (IndexedDB
//! does) must reach the same record again when the key is written back or deleted. Anything
//! else — a kind this version does not know (written by a newer one, say) or a malformed
//! key — is refused with the reason ([`MalformedRecordKey`]), and the store skips that record
//! rather than failing the device: at worst a key is missing and its messages wait for the
//! backup.

use merpati_protocol::{ChatId, UserId, keys::DeviceKey};
use serde::{Deserialize, Serialize};

/// Names one record of a device's end-to-end key state.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CryptoRecordKey {
    /// The Olm account, with the account's public key, the device's signature and the
    /// backup key.
    Account,
    /// The Olm sessions with one other device.
    OlmSessions(DeviceKey),
    /// A chat's current outbound Megolm session.
    OutboundGroupSession(ChatId),
    /// An inbound Megolm session, by its session id.
    InboundGroupSession(String),
    /// A room key held until its sender can be checked, by its place in line.
    HeldRoomKey(u64),
    /// A person's pinned account key and verified devices.
    KnownUser(UserId),
    /// The messages an inbound Megolm session's indexes opened first, by session id.
    SeenIndexes(String),
    /// The people whose pinned key is not in the key backup yet.
    PinsToBackUp,
    /// The fallback key handed to a publish the server has not answered yet.
    UnconfirmedFallbackKey,
    /// How far this device has read the key backup, and whether it has read its pins.
    BackupReading,
}

/// A stored record key this version does not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("crypto record key {stored:?} is not read: {reason}")]
pub struct MalformedRecordKey {
    /// The key as stored.
    pub stored: String,
    /// Why it is not read.
    pub reason: &'static str,
}

impl CryptoRecordKey {
    /// The key's stored form (see the module documentation).
    pub fn to_stored(&self) -> String {
        match self {
            CryptoRecordKey::Account => "account".to_owned(),
            CryptoRecordKey::OlmSessions(device) => format!("olm/{}", hex::encode(device.0)),
            CryptoRecordKey::OutboundGroupSession(chat) => format!("out/{}", chat.0),
            CryptoRecordKey::InboundGroupSession(session_id) => format!("in/{session_id}"),
            CryptoRecordKey::HeldRoomKey(id) => format!("held/{id}"),
            CryptoRecordKey::KnownUser(user) => format!("user/{}", user.0),
            CryptoRecordKey::SeenIndexes(session_id) => format!("seen/{session_id}"),
            CryptoRecordKey::PinsToBackUp => "pins".to_owned(),
            CryptoRecordKey::UnconfirmedFallbackKey => "fallback".to_owned(),
            CryptoRecordKey::BackupReading => "backup-read".to_owned(),
        }
    }

    /// Reads a key from its stored form; refuses anything but a known kind, canonically
    /// spelt.
    pub fn from_stored(stored: &str) -> Result<CryptoRecordKey, MalformedRecordKey> {
        let refuse = |reason| MalformedRecordKey {
            stored: stored.to_owned(),
            reason,
        };
        let number = |text: &str, reason| text.parse::<u64>().map_err(|_| refuse(reason));
        let key = match stored.split_once('/') {
            None if stored == "account" => CryptoRecordKey::Account,
            None if stored == "pins" => CryptoRecordKey::PinsToBackUp,
            None if stored == "fallback" => CryptoRecordKey::UnconfirmedFallbackKey,
            None if stored == "backup-read" => CryptoRecordKey::BackupReading,
            Some(("olm", device)) => {
                let bytes = hex::decode(device)
                    .ok()
                    .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
                    .ok_or_else(|| refuse("not a device key (64 hex digits)"))?;
                CryptoRecordKey::OlmSessions(DeviceKey(bytes))
            }
            Some(("out", chat)) => {
                CryptoRecordKey::OutboundGroupSession(ChatId(number(chat, "not a chat id")?))
            }
            Some(("in", "")) => return Err(refuse("no session id")),
            Some(("in", session_id)) => CryptoRecordKey::InboundGroupSession(session_id.to_owned()),
            Some(("seen", "")) => return Err(refuse("no session id")),
            Some(("seen", session_id)) => CryptoRecordKey::SeenIndexes(session_id.to_owned()),
            Some(("held", id)) => CryptoRecordKey::HeldRoomKey(number(id, "not a number")?),
            Some(("user", user)) => {
                CryptoRecordKey::KnownUser(UserId(number(user, "not a user id")?))
            }
            _ => return Err(refuse("not a kind of record this version knows")),
        };
        if key.to_stored() != stored {
            return Err(refuse("not spelt canonically"));
        }
        Ok(key)
    }
}

/// A persisted piece of the device's crypto state: `key` names it, `value` is postcard bytes
/// only the `e2e` module reads. The store seals both like every other record.
#[derive(Clone, PartialEq, Eq)]
pub struct CryptoRecord {
    /// What it is.
    pub key: CryptoRecordKey,
    /// Its encoding: private keys among it, so never printed.
    pub value: Vec<u8>,
}

impl std::fmt::Debug for CryptoRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CryptoRecord")
            .field("key", &format_args!("{}", self.key.to_stored()))
            .field("value", &format_args!("<{} bytes>", self.value.len()))
            .finish()
    }
}

/// A [`CryptoRecord`] as a store that serialises records keeps it: the key in its stored
/// form. Its serde encoding is the one such stores have always written.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredCryptoRecord {
    key: String,
    value: Vec<u8>,
}

impl std::fmt::Debug for StoredCryptoRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredCryptoRecord")
            .field("key", &self.key)
            .field("value", &format_args!("<{} bytes>", self.value.len()))
            .finish()
    }
}

impl From<CryptoRecord> for StoredCryptoRecord {
    fn from(record: CryptoRecord) -> StoredCryptoRecord {
        StoredCryptoRecord {
            key: record.key.to_stored(),
            value: record.value,
        }
    }
}

impl TryFrom<StoredCryptoRecord> for CryptoRecord {
    type Error = MalformedRecordKey;

    fn try_from(stored: StoredCryptoRecord) -> Result<CryptoRecord, MalformedRecordKey> {
        Ok(CryptoRecord {
            key: CryptoRecordKey::from_stored(&stored.key)?,
            value: stored.value,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store_suite::sample_crypto_keys;

    fn read(stored: &str) -> Result<CryptoRecordKey, MalformedRecordKey> {
        CryptoRecordKey::from_stored(stored)
    }

    #[test]
    fn every_key_round_trips_through_its_stored_form() {
        let mut keys = sample_crypto_keys();
        keys.extend([
            CryptoRecordKey::OutboundGroupSession(ChatId(0)),
            CryptoRecordKey::OutboundGroupSession(ChatId(u64::MAX)),
            // Session ids are base64: a `/` inside belongs to the id.
            CryptoRecordKey::InboundGroupSession("ab/cd+ef/".to_owned()),
            CryptoRecordKey::HeldRoomKey(u64::MAX),
            CryptoRecordKey::KnownUser(UserId(0)),
            CryptoRecordKey::SeenIndexes("ab/cd+ef/".to_owned()),
            CryptoRecordKey::PinsToBackUp,
            CryptoRecordKey::UnconfirmedFallbackKey,
        ]);
        for key in keys {
            assert_eq!(read(&key.to_stored()), Ok(key.clone()), "{key:?}");
        }
    }

    #[test]
    fn the_stored_forms_are_the_ones_databases_already_hold() {
        let device = format!("olm/{}", "ab".repeat(32));
        let expected = [
            (CryptoRecordKey::Account, "account"),
            (CryptoRecordKey::OlmSessions(DeviceKey([0xab; 32])), &device),
            (CryptoRecordKey::OutboundGroupSession(ChatId(42)), "out/42"),
            (
                CryptoRecordKey::InboundGroupSession("s1".to_owned()),
                "in/s1",
            ),
            (CryptoRecordKey::HeldRoomKey(7), "held/7"),
            (CryptoRecordKey::KnownUser(UserId(9)), "user/9"),
            (CryptoRecordKey::SeenIndexes("s1".to_owned()), "seen/s1"),
            (CryptoRecordKey::PinsToBackUp, "pins"),
            (CryptoRecordKey::UnconfirmedFallbackKey, "fallback"),
        ];
        for (key, stored) in expected {
            assert_eq!(key.to_stored(), stored);
        }
    }

    #[test]
    fn a_malformed_or_unknown_stored_key_is_refused_with_its_reason() {
        let short_device = format!("olm/{}", "ab".repeat(31));
        let upper_device = format!("olm/{}", "AB".repeat(32));
        for stored in [
            "",
            "accounts",
            "pins/",
            "fallback/",
            "account/",
            "olm/",
            "olm/zz",
            &short_device,
            &upper_device,
            "out/",
            "out/-1",
            "out/+1",
            "out/01",
            "out/seven",
            "in/",
            "seen/",
            "held/",
            "held/1.5",
            "user/",
            "user/18446744073709551616",
            "later/1",
            "OLM/00",
        ] {
            let refused = read(stored).expect_err(stored);
            assert_eq!(refused.stored, stored);
            assert!(!refused.reason.is_empty());
        }
    }

    #[test]
    fn a_stored_record_is_encoded_as_databases_already_hold_it() {
        let record = CryptoRecord {
            key: CryptoRecordKey::InboundGroupSession("s1".to_owned()),
            value: vec![1, 2, 3],
        };
        // A string and a byte string, each after its length: what `{ key: String, value:
        // Vec<u8> }` always encoded to.
        let bytes = [5, b'i', b'n', b'/', b's', b'1', 3, 1, 2, 3];
        let encoded = postcard::to_allocvec(&StoredCryptoRecord::from(record.clone()));
        assert_eq!(encoded.as_deref(), Ok(&bytes[..]));
        let decoded: StoredCryptoRecord = postcard::from_bytes(&bytes).expect("decodes");
        assert_eq!(CryptoRecord::try_from(decoded), Ok(record));
    }

    #[test]
    fn a_stored_record_of_an_unknown_kind_is_refused() {
        let stored: StoredCryptoRecord =
            postcard::from_bytes(&[7, b'l', b'a', b't', b'e', b'r', b'/', b'1', 0])
                .expect("decodes");
        let refused = CryptoRecord::try_from(stored).expect_err("an unknown kind");
        assert_eq!(refused.stored, "later/1");
    }
}
