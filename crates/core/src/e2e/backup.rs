//! The key backup: inbound Megolm sessions sealed with the account's backup key (derived
//! from the passphrase), so another device of the same account can read earlier history.
//!
//! The server keeps the entries under an id that is a keyed hash of the session id, so it
//! learns neither the sessions nor the chats they belong to. An imported session keeps the
//! chat and sender it was bound to when it was backed up.

use merpati_protocol::{
    ChatId,
    keys::{BackupEntry, DeviceRef},
};
use serde::{Deserialize, Serialize};
use vodozemac::megolm::{ExportedSessionKey, InboundGroupSession, SessionConfig};

use super::DeviceCrypto;

const BACKUP_CONTEXT: &[u8] = b"merpati/key-backup/v1";
const BACKUP_ID_CONTEXT: &[u8] = b"merpati/key-backup-id/v1";

/// What one backup entry seals.
#[derive(Serialize, Deserialize)]
struct BackupPayload {
    chat_id: ChatId,
    sender: DeviceRef,
    exported: Vec<u8>,
}

impl DeviceCrypto {
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
}
