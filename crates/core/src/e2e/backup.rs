//! The key backup: inbound Megolm sessions sealed with the account's backup key (derived
//! from the passphrase), so another device of the same account can read earlier history;
//! and the account keys this account has pinned, so every tab and device trusts the same
//! ones.
//!
//! The server keeps the entries under an id that is a keyed hash of the session id and the
//! index its copy starts at (or of the pinned person's id), so it learns neither the sessions, the chats they belong to, nor
//! whom the account knows. An imported session keeps the chat and sender it was bound to
//! when it was backed up. Sessions and pins are sealed under contexts of their own: one
//! never opens as the other.

use merpati_protocol::{
    ChatId, UserId,
    keys::{BackupEntry, DeviceRef},
};
use serde::{Deserialize, Serialize};
use vodozemac::megolm::{ExportedSessionKey, InboundGroupSession, SessionConfig};

use super::DeviceCrypto;

const BACKUP_CONTEXT: &[u8] = b"merpati/key-backup/v1";
const BACKUP_ID_CONTEXT: &[u8] = b"merpati/key-backup-id/v1";
const PIN_CONTEXT: &[u8] = b"merpati/key-pin/v1";
const PIN_ID_CONTEXT: &[u8] = b"merpati/key-pin-id/v1";
/// How `backup_pending` names a pin's entry for `mark_backed_up` (session ids are base64:
/// never a colon).
const PIN_NAME_PREFIX: &str = "pin:";
/// Between a session's id and the index its copy starts at, in the name `backup_pending`
/// gives a session's entry (never in base64 either).
const INDEX_SEPARATOR: char = '@';

/// What a pin's entry seals.
#[derive(Serialize, Deserialize)]
struct PinPayload {
    user: UserId,
    account_key: [u8; 32],
}

/// What one backup entry seals.
#[derive(Serialize, Deserialize)]
struct BackupPayload {
    chat_id: ChatId,
    sender: DeviceRef,
    exported: Vec<u8>,
}

/// How far a device has read the key backup. A device new to the account (or signed in
/// again with the passphrase) reads it through before it asks the server whose keys are
/// whose, so that it starts from the account's pins rather than from what the server says;
/// kept, so that a reload or a dropped connection half-way goes on reading rather than
/// trusting the server, and a later read starts where the last one ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct BackupReading {
    /// The position of the last entry read.
    after: u64,
    /// Whether the backup has been read through (its pins with it) since it was to be.
    read_through: bool,
}

impl Default for BackupReading {
    /// A device's before this was kept had read the backup through, as far as it knew.
    fn default() -> Self {
        BackupReading {
            after: 0,
            read_through: true,
        }
    }
}

impl DeviceCrypto {
    /// The backup is to be read through from its start before anyone's keys are asked for
    /// (a device new to the account, a sign-in with the passphrase).
    pub fn read_backup_from_start(&mut self) {
        self.backup_reading = BackupReading {
            after: 0,
            read_through: false,
        };
        self.save_backup_reading();
    }

    /// Whether the backup is still to be read through before anyone's keys are asked for.
    pub fn backup_unread(&self) -> bool {
        !self.backup_reading.read_through
    }

    /// The position of the last backup entry read: the next read asks for those after it.
    pub fn backup_read_after(&self) -> u64 {
        self.backup_reading.after
    }

    /// A page of the backup was read, up to `position` (its last entry's, if it had any);
    /// `more`: it goes on.
    pub fn backup_read_to(&mut self, position: Option<u64>, more: bool) {
        let before = self.backup_reading;
        if let Some(position) = position {
            self.backup_reading.after = self.backup_reading.after.max(position);
        }
        self.backup_reading.read_through |= !more;
        if self.backup_reading != before {
            self.save_backup_reading();
        }
    }

    /// Backup entries for the inbound sessions and pins not yet backed up (at most `limit`),
    /// each with the name [`DeviceCrypto::mark_backed_up`] takes back.
    pub fn backup_pending(&self, limit: usize) -> Vec<(String, BackupEntry)> {
        let mut pending = self.sessions_pending(limit);
        let room = limit.saturating_sub(pending.len());
        pending.extend(
            self.pins_to_back_up
                .iter()
                .filter_map(|user| {
                    let payload = PinPayload {
                        user: *user,
                        account_key: self.pinned_key(*user)?,
                    };
                    let sealed = self
                        .backup
                        .seal(PIN_CONTEXT, &merpati_protocol::encode(&payload))
                        .ok()?;
                    Some((
                        format!("{PIN_NAME_PREFIX}{}", user.0),
                        BackupEntry {
                            id: self
                                .backup
                                .keyed_hash(PIN_ID_CONTEXT, &user.0.to_le_bytes()),
                            sealed,
                        },
                    ))
                })
                .take(room),
        );
        pending
    }

    fn sessions_pending(&self, limit: usize) -> Vec<(String, BackupEntry)> {
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
                // Named by the session and the index it starts at: the server keeps one entry
                // per name, and a copy another device got later (from a later index) must not
                // take the place of this one. Each device's copy from the same index has the
                // same name, so the backup holds a session once per starting index.
                let first_index = inbound.session.first_known_index();
                let mut name = session_id.as_bytes().to_vec();
                name.extend_from_slice(&first_index.to_le_bytes());
                Some((
                    format!("{session_id}{INDEX_SEPARATOR}{first_index}"),
                    BackupEntry {
                        id: self.backup.keyed_hash(BACKUP_ID_CONTEXT, &name),
                        sealed,
                    },
                ))
            })
            .collect()
    }

    /// The server stored these entries (named as [`DeviceCrypto::backup_pending`] named them:
    /// a session's by its id and the index its copy starts at).
    pub fn mark_backed_up(&mut self, session_ids: &[String]) {
        for session_id in session_ids {
            if let Some(user) = session_id
                .strip_prefix(PIN_NAME_PREFIX)
                .and_then(|user| user.parse().ok())
            {
                if self.pins_to_back_up.remove(&UserId(user)) {
                    self.save_pins_to_back_up();
                }
                continue;
            }
            // Only the copy that was written: an earlier one that came meanwhile (its index
            // lower) is still to be backed up.
            let Some((session_id, first_index)) = session_id.rsplit_once(INDEX_SEPARATOR) else {
                continue;
            };
            if let Some(inbound) = self.inbound.get_mut(session_id)
                && first_index.parse() == Ok(inbound.session.first_known_index())
            {
                inbound.backed_up = true;
                self.save_inbound(session_id);
            }
        }
    }

    /// Imports backup entries (sealed by this account's passphrase-derived key): sessions, and
    /// pins (`DeviceCrypto::take_backed_up_pin`); returns the ids of the sessions that were
    /// new. Entries that do not open are skipped.
    pub fn import_backup(&mut self, entries: &[BackupEntry]) -> Vec<String> {
        let mut imported = Vec::new();
        for entry in entries {
            let Some(payload) = self
                .backup
                .open(BACKUP_CONTEXT, &entry.sealed)
                .ok()
                .and_then(|bytes| merpati_protocol::decode::<BackupPayload>(&bytes).ok())
            else {
                if let Some(pin) = self
                    .backup
                    .open(PIN_CONTEXT, &entry.sealed)
                    .ok()
                    .and_then(|bytes| merpati_protocol::decode::<PinPayload>(&bytes).ok())
                    && pin.user != self.user
                {
                    self.take_backed_up_pin(pin.user, pin.account_key);
                }
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
}
