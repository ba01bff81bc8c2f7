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
        if let Some((position, _)) = entries.last() {
            self.backup_position = self.backup_position.max(*position);
        }
        let entries: Vec<BackupEntry> = entries.into_iter().map(|(_, entry)| entry).collect();
        let imported = match self.crypto.as_mut() {
            Some(crypto) => crypto.import_backup(&entries),
            None => Vec::new(),
        };
        self.keys.backup_wanted = more;
        self.pins_unread &= more;
        for session_id in imported {
            self.reopen_waiting(&session_id);
        }
        self.send_outbox();
    }

    /// Writes new inbound sessions to the key backup, and reads it when wanted.
    pub(super) fn move_backup_along(&mut self) {
        if self.keys.backup_put.is_none()
            && !self.keys.backup_refused
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
        if self.keys.backup_wanted && self.keys.backup_fetch.is_none() {
            let request = self.next_request_id();
            self.frames.push(ClientFrame::FetchBackup {
                request,
                after: self.backup_position,
            });
            self.keys.backup_fetch = Some(request);
        }
    }
}
