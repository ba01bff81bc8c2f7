//! The outbox and sending: a message a person writes is checked, stored in the outbox, and
//! sent as an encrypted `Send` once its chat's key is with every member device — and sent
//! again on every new connection, under the same `client_msg_id`, until acknowledged.
//!
//! [`Engine::send_outbox`] is the one place a `Send` is made. It runs after anything that may
//! let a message move (a new message, a retry, a chat update, every answer of the key flow),
//! and it is also the key flow's round: `keys` settles held keys and gathers what is missing
//! at its start, prepares each chat's key in it, and asks the server at its end.

use merpati_protocol::content::{MessageContent, TextBodyError, text_body};
use merpati_protocol::{ChatId, ClientFrame, ClientMsgId, MAX_BODY_BYTES};

use super::{Engine, OutboxEntry};
use crate::crypto::random_bytes;
use crate::store::{OutboxRecord, StoreWrite};

/// Why a message could not be queued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Nothing to send.
    #[error("The message is empty")]
    Empty,
    /// Over [`MAX_BODY_BYTES`] once encoded.
    #[error("The message is too long (at most {MAX_BODY_BYTES} bytes)")]
    TooLarge,
    /// The chat is not known on this device.
    #[error("That chat does not exist")]
    NoSuchChat,
    /// The system's random source failed.
    #[error("No randomness available")]
    NoRandomness,
}

impl Engine {
    /// Queues a text message: it is stored in the outbox at once and sent when connected.
    pub fn send_text(
        &mut self,
        chat_id: ChatId,
        text: &str,
        now_ms: u64,
    ) -> Result<ClientMsgId, SendError> {
        let body = text_body(text).map_err(|error| match error {
            TextBodyError::Empty => SendError::Empty,
            TextBodyError::TooLarge => SendError::TooLarge,
        })?;
        if !self.chats.contains_key(&chat_id) {
            return Err(SendError::NoSuchChat);
        }
        let client_msg_id = ClientMsgId(random_bytes().map_err(|_| SendError::NoRandomness)?);
        let record = OutboxRecord {
            chat_id,
            client_msg_id,
            body,
            created_ms: now_ms,
            order: self.next_order,
        };
        self.next_order += 1;
        self.clock_ms = self.clock_ms.max(now_ms);
        self.writes.push(StoreWrite::PutOutbox(record.clone()));
        self.outbox.push(OutboxEntry {
            record,
            failed: false,
        });
        self.send_outbox();
        Ok(client_msg_id)
    }

    /// Sends a failed message again, under the same id.
    pub fn retry(&mut self, client_msg_id: ClientMsgId) {
        if let Some(entry) = self
            .outbox
            .iter_mut()
            .find(|entry| entry.record.client_msg_id == client_msg_id)
        {
            entry.failed = false;
            self.sent_this_connection.remove(&client_msg_id);
        }
        self.send_outbox();
    }

    /// Sends every outbox message not yet sent on this connection whose chat's key has reached
    /// every member device, and moves the key flow forward for the rest: one round of it (see
    /// the module documentation). Does nothing until the connection is signed in and this
    /// device published.
    pub(super) fn send_outbox(&mut self) {
        let Some(mut missing) = self.start_key_round() else {
            return;
        };
        let me = self.my_id();
        for chat_id in self.chats_with_unsent() {
            let Some(members) = self.members(chat_id) else {
                continue;
            };
            if !members.contains(&me) {
                // Removed from the chat: nothing more can be sent there.
                self.fail_unsent(chat_id);
                continue;
            }
            if self.prepare_chat_key(chat_id, &members, &mut missing) {
                self.send_unsent(chat_id);
            }
        }
        self.finish_key_round(missing);
    }

    /// Chats with outbox entries not yet sent on this connection, in outbox order.
    fn chats_with_unsent(&self) -> Vec<ChatId> {
        let mut chats = Vec::new();
        for entry in self.unsent() {
            if !chats.contains(&entry.record.chat_id) {
                chats.push(entry.record.chat_id);
            }
        }
        chats
    }

    fn unsent(&self) -> impl Iterator<Item = &OutboxEntry> {
        self.outbox.iter().filter(|entry| {
            !entry.failed
                && !self
                    .sent_this_connection
                    .contains(&entry.record.client_msg_id)
        })
    }

    /// Encrypts and sends the chat's unsent messages, in the order they were written. Each is
    /// encrypted again on every connection; the server keeps the first copy it stored.
    fn send_unsent(&mut self, chat_id: ChatId) {
        let Some(crypto) = self.crypto.as_mut() else {
            return;
        };
        for entry in self
            .outbox
            .iter()
            .filter(|entry| entry.record.chat_id == chat_id && !entry.failed)
        {
            let id = entry.record.client_msg_id;
            if self.sent_this_connection.contains(&id) {
                continue;
            }
            let Some(content) = MessageContent::from_body(&entry.record.body) else {
                continue;
            };
            let Some(body) = crypto.encrypt(chat_id, &content) else {
                continue;
            };
            self.sent_this_connection.insert(id);
            self.sent_bodies.insert(id, body.clone());
            self.frames.push(ClientFrame::Send {
                chat_id,
                client_msg_id: id,
                body,
            });
        }
    }

    fn fail_unsent(&mut self, chat_id: ChatId) {
        for entry in self
            .outbox
            .iter_mut()
            .filter(|entry| entry.record.chat_id == chat_id)
        {
            entry.failed = true;
        }
    }
}
