//! Photos and files in the outbox: a message carrying a file is queued like any other, but
//! held back until its shell has uploaded the file's ciphertext, and until the files written
//! before it in its chat are uploaded too (so files picked together arrive in the order
//! picked, not in the order their uploads finish); then it is sent as usual.
//!
//! The upload is I/O, so it is the shell's: it asks [`Engine::awaited_uploads`] which
//! uploads the outbox waits for (after a reload every attachment in the outbox not yet sent
//! is awaited again: the shell asks the server how far each got, resumes it, or learns it is
//! complete; one refused because the server no longer held its upload is awaited again when
//! retried) and reports back with [`Engine::upload_finished`] or
//! [`Engine::upload_failed`]. Nothing about the upload is stored here: the outbox entry
//! itself is the record that an upload is owed, and the shell's kept ciphertext lives as long
//! as the entry does (`StoreWrite::RemoveUpload` when it leaves the outbox).

use merpati_protocol::content::{Attachment, FileCipher, MessageContent};
use merpati_protocol::{BlobId, ChatId, ClientMsgId, ErrorCode};

use super::sending::content_body;
use super::{Engine, SendError};
use crate::store::StoreWrite;

/// An upload the outbox waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwaitedUpload {
    /// The message that carries the file.
    pub client_msg_id: ClientMsgId,
    /// Its chat.
    pub chat_id: ChatId,
    /// The file: its blob, and the size it encrypts to.
    pub attachment: Attachment,
}

impl Engine {
    /// Queues a message carrying a file whose ciphertext, sealed with `cipher`, the shell will
    /// upload as `attachment.blob`. The message is stored at once and shown pending; it is sent once
    /// [`Engine::upload_finished`] says the server holds the whole blob.
    pub fn send_attachment(
        &mut self,
        chat_id: ChatId,
        cipher: FileCipher,
        attachment: Attachment,
        now_ms: u64,
    ) -> Result<ClientMsgId, SendError> {
        self.check_can_send(chat_id)?;
        let body = content_body(&MessageContent::file(cipher, attachment))?;
        self.queue(chat_id, body, now_ms)
    }

    /// The uploads the outbox waits for, in the order their messages were written; failed
    /// ones are left out until the person retries them.
    pub fn awaited_uploads(&self) -> Vec<AwaitedUpload> {
        self.outbox
            .iter()
            .filter(|entry| entry.awaiting_upload && entry.record.failure.is_none())
            .filter_map(|entry| {
                let content = MessageContent::from_body(&entry.record.body)?;
                let (_, attachment) = content.attachment()?;
                Some(AwaitedUpload {
                    client_msg_id: entry.record.client_msg_id,
                    chat_id: entry.record.chat_id,
                    attachment: attachment.clone(),
                })
            })
            .collect()
    }

    /// Before a retry: a message carrying a file that the server refused with
    /// [`ErrorCode::NoSuchBlob`] waits for its upload again. Its upload had finished, but the
    /// message was held (a safety number to confirm, say) past the time the server keeps an
    /// upload no message carries, so the blob was deleted; sending the message again as it is
    /// would be refused again, every time. The shell uploads it anew from the ciphertext it
    /// keeps while the message is in the outbox (a `PUT` creates the deleted upload again);
    /// if that copy is gone too, the upload fails with the same words and the message waits,
    /// failed, for the person.
    pub(super) fn upload_again_if_gone(&mut self, client_msg_id: ClientMsgId) {
        let Some(position) = self.outbox.iter().position(|entry| {
            entry.record.client_msg_id == client_msg_id
                && entry.record.failure == Some(ErrorCode::NoSuchBlob)
                && carries_file(&entry.record.body)
        }) else {
            return;
        };
        let entry = &mut self.outbox[position];
        entry.awaiting_upload = true;
        // The refusal is final (protocol.md, section 10): the server holds no message under
        // this id. Marked unsent, it is uploaded again after a reload too instead of going out
        // without its file, and may be taken back while it uploads.
        entry.record.sent = false;
        self.keep_outbox_record(position);
    }

    /// The server holds the whole file of this outbox message: the message can go.
    pub fn upload_finished(&mut self, client_msg_id: ClientMsgId) {
        if let Some(entry) = self
            .outbox
            .iter_mut()
            .find(|entry| entry.record.client_msg_id == client_msg_id)
        {
            entry.awaiting_upload = false;
        }
        self.send_outbox();
    }

    /// The upload cannot go on (the server refused it: too big, over the account's quota):
    /// the message shows failed with `code`, and waits for the person to retry or delete it.
    pub fn upload_failed(&mut self, client_msg_id: ClientMsgId, code: ErrorCode) {
        self.mark_failed(client_msg_id, Some(code));
    }

    /// Takes back a message whose file is still uploading: it leaves the outbox and the
    /// screen, and was never sent. Refused once the upload is done (the message may be on its
    /// way: delete it instead).
    pub fn cancel_upload(&mut self, client_msg_id: ClientMsgId) -> Result<(), SendError> {
        let position = self
            .outbox
            .iter()
            .position(|entry| entry.record.client_msg_id == client_msg_id && entry.awaiting_upload)
            .ok_or(SendError::NoSuchMessage)?;
        self.take_back(position);
        Ok(())
    }

    /// The shell, about to put this message with a file on the wire, found it taken back
    /// from the outbox the tabs of its browser share, in another tab. Its frame was not sent;
    /// it leaves this outbox too, unsent. (One gone because another tab heard it delivered
    /// goes on as sent: the shell sends its frame, whose acknowledgement settles it.)
    pub fn gone_from_shared_outbox(&mut self, client_msg_id: ClientMsgId) {
        self.sent_this_connection.remove(&client_msg_id);
        if let Some(position) = self
            .outbox
            .iter()
            .position(|entry| entry.record.client_msg_id == client_msg_id)
        {
            self.take_back(position);
        }
    }

    /// Another tab of the shell's browser claimed this message for sending (its upload done
    /// there), or it was delivered: it waits for no upload here, and cannot be taken back. It
    /// goes out from here too if it must (the server stores it once) and leaves the outbox as
    /// any message sent does. Nothing is written: the shared outbox holds it as sent, or no
    /// longer at all.
    pub fn sent_elsewhere(&mut self, client_msg_id: ClientMsgId) {
        if let Some(entry) = self
            .outbox
            .iter_mut()
            .find(|entry| entry.record.client_msg_id == client_msg_id)
        {
            entry.awaiting_upload = false;
            entry.record.sent = true;
            self.views_changed = true;
        }
        self.send_outbox();
    }

    /// The file a message of `chat_id` carries, and the cipher that sealed it, if it is open on
    /// this device and not deleted: what the shell needs to download and open it.
    pub fn attachment(
        &self,
        chat_id: ChatId,
        client_msg_id: ClientMsgId,
    ) -> Option<(FileCipher, Attachment)> {
        self.timeline(chat_id)
            .into_iter()
            .find(|item| item.client_msg_id == client_msg_id && !item.deleted)
            .and_then(|item| item.attachment)
    }
}

impl Engine {
    /// Whether an entry carries a file and was written after another file of its chat whose
    /// upload is still awaited. Files picked together reach the others in the order picked,
    /// not in the order their uploads finish (a small one overtaking a large one picked
    /// before it). A text waits for no file, and a file whose upload failed holds none back.
    pub(super) fn waits_for_an_earlier_file(&self, entry: &super::OutboxEntry) -> bool {
        let id = entry.record.client_msg_id;
        let chat_id = entry.record.chat_id;
        self.outbox
            .iter()
            .take_while(|earlier| earlier.record.client_msg_id != id)
            .any(|earlier| {
                earlier.record.chat_id == chat_id
                    && earlier.awaiting_upload
                    && earlier.record.failure.is_none()
            })
            && carries_file(&entry.record.body)
    }

    /// Takes the outbox entry at `position` out, in the store too, and with it the ciphertext
    /// the shell keeps for its file, if it carries one: however the message leaves the outbox
    /// (acknowledged, cancelled, deleted), nothing uploads that file again.
    pub(super) fn take_from_outbox(&mut self, position: usize) -> super::OutboxEntry {
        let entry = self.outbox.remove(position);
        let file = carried_blob(&entry.record.body);
        self.forget_outbox_record(entry.record.client_msg_id, file);
        entry
    }

    /// Deletes the shared outbox's record `id`, with the ciphertext kept for its `file`: also
    /// a record this engine never held (another tab's, whose message was delivered), which no
    /// tab would otherwise ever let go of.
    pub(super) fn forget_outbox_record(&mut self, id: ClientMsgId, file: Option<BlobId>) {
        self.writes.push(StoreWrite::RemoveOutbox(id));
        if let Some(blob) = file {
            self.writes.push(StoreWrite::RemoveUpload(blob));
        }
    }
}

/// The blob of the file a message body carries, if it carries one.
pub(super) fn carried_blob(body: &[u8]) -> Option<BlobId> {
    attached_blob(&MessageContent::from_body(body)?)
}

/// The blob of the file `content` carries, if it carries one.
pub(super) fn attached_blob(content: &MessageContent) -> Option<BlobId> {
    content.attachment().map(|(_, file)| file.blob)
}

/// Whether a stored outbox body carries a file (and so waits for its upload when queued or
/// restored).
pub(super) fn carries_file(body: &[u8]) -> bool {
    MessageContent::from_body(body).is_some_and(|content| content.attachment().is_some())
}
