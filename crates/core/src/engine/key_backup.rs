//! The key backup as the key flow moves it: new inbound sessions written to it (a frame's
//! worth at a time), read when a message waits for a key or another session of the account
//! added to it, and what it brings opening the messages that waited.

use merpati_protocol::{ClientFrame, MAX_BACKUP_BATCH, RequestId, keys::BackupEntry};

use super::Engine;
use super::keys::FRAME_BUDGET;

impl Engine {
    pub(super) fn on_backup_changed(&mut self) {
        if !self.waiting.is_empty() {
            self.keys.backup_wanted = true;
            self.send_outbox();
        }
    }

    pub(super) fn on_backup_stored(&mut self, request: RequestId) {
        if self
            .keys
            .backup_put
            .as_ref()
            .is_some_and(|(id, _)| *id == request)
            && let Some((_, sessions)) = self.keys.backup_put.take()
            && let Some(crypto) = self.crypto.as_mut()
        {
            self.keys.backup_write_retry.served();
            crypto.mark_backed_up(&sessions);
        }
        self.send_outbox();
    }

    pub(super) fn on_backup(
        &mut self,
        request: RequestId,
        entries: Vec<(u64, BackupEntry)>,
        more: bool,
    ) {
        if self.keys.backup_fetch != Some(request) {
            return;
        }
        self.keys.backup_fetch = None;
        self.keys.backup_read_retry.served();
        let last = entries.last().map(|(position, _)| *position);
        let entries: Vec<BackupEntry> = entries.into_iter().map(|(_, entry)| entry).collect();
        let imported = match self.crypto.as_mut() {
            Some(crypto) => {
                let imported = crypto.import_backup(&entries);
                crypto.backup_read_to(last, more);
                imported
            }
            None => Vec::new(),
        };
        self.keys.backup_wanted = more;
        for session_id in imported {
            self.reopen_waiting(&session_id);
        }
        self.send_outbox();
    }

    /// Whether this device is still to read the key backup through before it asks anyone's
    /// keys (new to the account, or signed in with the passphrase: see
    /// [`crate::e2e::DeviceCrypto::read_backup_from_start`]).
    pub(super) fn backup_unread(&self) -> bool {
        self.crypto
            .as_ref()
            .is_some_and(crate::e2e::DeviceCrypto::backup_unread)
    }

    /// Writes new inbound sessions to the key backup, and reads it when wanted — and until it
    /// has been read through, whatever connection the last read was lost with.
    pub(super) fn move_backup_along(&mut self) {
        if self.keys.backup_put.is_none()
            && !self.keys.backup_refused
            && !self.keys.backup_write_retry.is_waiting()
            && let Some(crypto) = self.crypto.as_ref()
        {
            let mut budget = FRAME_BUDGET;
            let pending: Vec<(String, BackupEntry)> = crypto
                .backup_pending(MAX_BACKUP_BATCH)
                .into_iter()
                .take_while(|(_, entry)| {
                    let size = entry.sealed.len() + entry.id.len() + 8;
                    let fits = size <= budget;
                    budget = budget.saturating_sub(size);
                    fits
                })
                .collect();
            if !pending.is_empty() {
                let request = self.next_request_id();
                let (sessions, entries): (Vec<String>, Vec<BackupEntry>) =
                    pending.into_iter().unzip();
                self.frames
                    .push(ClientFrame::PutBackup { request, entries });
                self.keys.backup_put = Some((request, sessions));
            }
        }
        if (self.keys.backup_wanted || self.backup_unread())
            && self.keys.backup_fetch.is_none()
            && !self.keys.backup_read_retry.is_waiting()
            && let Some(after) = self
                .crypto
                .as_ref()
                .map(|crypto| crypto.backup_read_after())
        {
            let request = self.next_request_id();
            self.frames
                .push(ClientFrame::FetchBackup { request, after });
            self.keys.backup_fetch = Some(request);
        }
    }
}
