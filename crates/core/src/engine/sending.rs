//! The outbox and sending: a message a person writes is checked, stored in the outbox, and
//! sent as an encrypted `Send` once its chat's key is with every member device — and sent
//! again on every new connection, under the same `client_msg_id`, until acknowledged.
//!
//! [`Engine::send_outbox`] is the one place a `Send` is made. It runs after anything that may
//! let a message move (a new message, a retry, a chat update, every answer of the key flow),
//! and it is also the key flow's round: `keys` settles held keys and gathers what is missing
//! at its start, prepares each chat's key in it, and asks the server at its end.
//!
//! Every kind of content goes this way (texts, replies, forwards, edits, deletions,
//! reactions: [`Engine::queue`]); a deletion goes out as `SendDeletion`, naming its target
//! beside the encrypted body, so the server drops the target's stored body too — and only
//! after its target has gone out, since the server refuses to delete what it does not hold.
//! A message that has certainly not left the device is taken back instead
//! (`Engine::take_back`).

use merpati_protocol::content::{MessageContent, TextBodyError, text_body};
use merpati_protocol::{ChatId, ClientFrame, ClientMsgId, ErrorCode, MAX_BODY_BYTES};
use merpati_words::{Text, t};

use super::{Engine, Event, OutboxEntry};
use crate::crypto::random_bytes;
use crate::store::{OutboxRecord, StoreWrite};

/// Why a message, or an action on one, could not be queued: words a person can act on.
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
    /// This account was removed from the chat, or left it.
    #[error("You are no longer a member of this chat")]
    NotAMember,
    /// The other person of this 1:1 chat is blocked by this account.
    #[error("You blocked this person — unblock them to send messages")]
    Blocked,
    /// The message acted on is not in this chat on this device.
    #[error("That message is not here any more")]
    NoSuchMessage,
    /// Only a message's sender may edit or delete it.
    #[error("You can only edit or delete your own messages")]
    NotYourMessage,
    /// The message acted on was deleted for everyone.
    #[error("That message was deleted")]
    Deleted,
    /// The message has not opened on this device (its key has not arrived), or is a line
    /// the server wrote: it has no text to quote, forward or edit.
    #[error("That message has no text to use — wait until it has opened")]
    NoText,
    /// A reaction must be one emoji of at most `MAX_REACTION_BYTES` bytes.
    #[error("A reaction is a single emoji")]
    InvalidReaction,
    /// Deleting for everyone a message the server refused: it was never stored.
    #[error("That message was never sent — delete it for yourself instead")]
    NeverSent,
    /// A photo or file cannot be edited, nor forwarded as text.
    #[error("A photo or file cannot be edited or forwarded — send it again instead")]
    FileMessage,
}

impl SendError {
    /// Why, in the words of the language in use (`Display` stays English, for logs).
    pub fn words(&self) -> String {
        t(match self {
            SendError::Empty => Text::MessageEmpty,
            SendError::TooLarge => Text::MessageTooLong,
            SendError::NoSuchChat => Text::NoSuchChat,
            SendError::NoRandomness => Text::SomethingWentWrong,
            SendError::NotAMember => Text::NoLongerMemberOfChat,
            SendError::Blocked => Text::YouBlockedThem,
            SendError::NoSuchMessage => Text::MessageGone,
            SendError::NotYourMessage => Text::NotYourMessage,
            SendError::Deleted => Text::MessageWasDeleted,
            SendError::NoText => Text::NoTextYet,
            SendError::InvalidReaction => Text::OneEmoji,
            SendError::NeverSent => Text::NeverSent,
            SendError::FileMessage => Text::FileMessage,
        })
    }
}

impl From<TextBodyError> for SendError {
    fn from(error: TextBodyError) -> SendError {
        match error {
            TextBodyError::Empty => SendError::Empty,
            TextBodyError::TooLarge => SendError::TooLarge,
        }
    }
}

/// The body content becomes, unless it is over [`MAX_BODY_BYTES`].
pub(super) fn content_body(content: &MessageContent) -> Result<Vec<u8>, SendError> {
    let body = content.to_body();
    if body.len() > MAX_BODY_BYTES {
        return Err(SendError::TooLarge);
    }
    Ok(body)
}

impl Engine {
    /// Queues a text message: it is stored in the outbox at once and sent when connected.
    /// The chat's draft is cleared.
    pub fn send_text(
        &mut self,
        chat_id: ChatId,
        text: &str,
        now_ms: u64,
    ) -> Result<ClientMsgId, SendError> {
        let body = text_body(text)?;
        self.check_can_send(chat_id)?;
        let id = self.queue(chat_id, body, now_ms)?;
        self.clear_draft(chat_id);
        Ok(id)
    }

    /// Whether this account may write in the chat now: it is known, this account is still a
    /// member, and (in a 1:1 chat) the other person is not blocked.
    pub(super) fn check_can_send(&self, chat_id: ChatId) -> Result<(), SendError> {
        let Some(chat) = self.chats.get(&chat_id) else {
            return Err(SendError::NoSuchChat);
        };
        let me = self.my_id();
        // Before the first sign-in the account's id is not known yet: nothing to check.
        if self.me.is_some() && !chat.info.members.iter().any(|member| member.id == me) {
            return Err(SendError::NotAMember);
        }
        if self
            .direct_partner(chat_id)
            .is_some_and(|other| self.settings.blocked.contains(&other))
        {
            return Err(SendError::Blocked);
        }
        Ok(())
    }

    /// Puts an encoded content in the outbox (stored with this step's writes) and sends what
    /// can be sent. The one way anything a person writes enters the outbox.
    pub(super) fn queue(
        &mut self,
        chat_id: ChatId,
        body: Vec<u8>,
        now_ms: u64,
    ) -> Result<ClientMsgId, SendError> {
        let client_msg_id = ClientMsgId(random_bytes().map_err(|_| SendError::NoRandomness)?);
        // The tabs of a browser share the outbox, and each counts its own orders: from the
        // clock they share, a message written later in one tab goes after one written earlier
        // in another, whichever tab counted further.
        let order = self.next_order.max(now_ms);
        let record = OutboxRecord {
            chat_id,
            client_msg_id,
            body,
            created_ms: now_ms,
            order,
            failure: None,
            sent: false,
        };
        self.next_order = order.saturating_add(1);
        self.clock_ms = self.clock_ms.max(now_ms);
        self.writes.push(StoreWrite::PutOutbox(record.clone()));
        self.queued.push(client_msg_id);
        self.outbox.push(OutboxEntry {
            awaiting_upload: super::attachments::carries_file(&record.body),
            record,
            sent_body: None,
        });
        self.views_changed = true;
        // The others stop showing "typing…" when this message reaches them, so the next
        // keystroke must say so again at once rather than wait out the interval.
        self.typing_sent.remove(&chat_id);
        self.send_outbox();
        Ok(client_msg_id)
    }

    /// Sends a failed message again, under the same id; one refused because the server no
    /// longer held its file uploads it again first (`upload_again_if_gone`).
    pub fn retry(&mut self, client_msg_id: ClientMsgId) {
        self.upload_again_if_gone(client_msg_id);
        self.mark_failed(client_msg_id, None);
        self.sent_this_connection.remove(&client_msg_id);
        self.send_outbox();
    }

    /// Sends every outbox message not yet sent on this connection whose chat's key has reached
    /// every member device, and moves the key flow forward for the rest: one round of it (see
    /// the module documentation). Does nothing until the connection is signed in and this
    /// device published; holds a chat's messages while a member's key change is unconfirmed.
    pub(super) fn send_outbox(&mut self) {
        let Some(mut missing) = self.start_key_round() else {
            return;
        };
        let me = self.my_id();
        for chat_id in self.chats_with_unsent_or_owing() {
            let Some(members) = self.members(chat_id) else {
                continue;
            };
            if !members.contains(&me) {
                // Removed from the chat: nothing more can be sent there.
                self.fail_unsent(chat_id);
                continue;
            }
            if self.key_change(chat_id).is_some() {
                // A member's account key changed (a new phone — or the server vouching for a
                // device of its own): nothing goes out there, key shares included, until the
                // person has compared the safety number again and confirmed.
                continue;
            }
            if self.prepare_chat_key(chat_id, &members, &mut missing) {
                if let Some(chat) = self.chats.get_mut(&chat_id) {
                    chat.joined_after = None;
                }
                self.send_unsent(chat_id);
            }
        }
        self.finish_key_round(missing);
    }

    /// [`Engine::chats_with_unsent`], then the chats whose key is owed to someone who joined
    /// (see `keys`), though nothing waits to be sent there; a chat that owes nothing after all
    /// forgets the join.
    fn chats_with_unsent_or_owing(&mut self) -> Vec<ChatId> {
        let mut chats = self.chats_with_unsent();
        let joined: Vec<ChatId> = self
            .chats
            .iter()
            .filter(|(_, chat)| chat.joined_after.is_some())
            .map(|(&chat_id, _)| chat_id)
            .collect();
        for chat_id in joined {
            if self.earliest_index_owed(chat_id).is_none() {
                if let Some(chat) = self.chats.get_mut(&chat_id) {
                    chat.joined_after = None;
                }
            } else if !chats.contains(&chat_id) {
                chats.push(chat_id);
            }
        }
        chats
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
        self.outbox.iter().filter(|entry| self.can_go_now(entry))
    }

    /// Whether an outbox entry goes out next on this connection: not sent on it yet, not
    /// refused, not waiting for its file's upload, not a file waiting for an earlier one, and
    /// not a deletion waiting for its target.
    fn can_go_now(&self, entry: &OutboxEntry) -> bool {
        entry.record.failure.is_none()
            && !entry.awaiting_upload
            && !self
                .sent_this_connection
                .contains(&entry.record.client_msg_id)
            && !self.waits_for_an_earlier_file(entry)
            && !self.waits_for_its_target(entry)
    }

    /// Whether an entry is a deletion of a message still in the outbox that has not gone out
    /// on this connection (its file still uploading, say). The server refuses to delete a
    /// message it does not hold, and would then store the message when it comes: the deletion
    /// goes after it. (An entry is sent in the order written, so a target that can go goes
    /// first, in the same round.)
    fn waits_for_its_target(&self, entry: &OutboxEntry) -> bool {
        let Some(MessageContent::Delete { target }) = MessageContent::from_body(&entry.record.body)
        else {
            return false;
        };
        !self.sent_this_connection.contains(&target)
            && self
                .outbox
                .iter()
                .any(|other| other.record.client_msg_id == target)
    }

    /// Encrypts and sends the chat's unsent messages, in the order they were written. Each is
    /// encrypted again on every connection; the server keeps the first copy it stored.
    fn send_unsent(&mut self, chat_id: ChatId) {
        for position in 0..self.outbox.len() {
            let entry = &self.outbox[position];
            if entry.record.chat_id != chat_id || !self.can_go_now(entry) {
                continue;
            }
            let id = entry.record.client_msg_id;
            let Some(content) = MessageContent::from_body(&entry.record.body) else {
                continue;
            };
            let Some(crypto) = self.crypto.as_mut() else {
                return;
            };
            let Some(body) = crypto.encrypt(chat_id, &content) else {
                continue;
            };
            self.mark_sent(position);
            self.outbox[position].sent_body = Some(body.clone());
            self.sent_this_connection.insert(id);
            self.frames.push(match content {
                MessageContent::Delete { target } => ClientFrame::SendDeletion {
                    chat_id,
                    client_msg_id: id,
                    body,
                    target,
                },
                content => ClientFrame::Send {
                    chat_id,
                    client_msg_id: id,
                    attachment: content.attachment().map(|(_, attachment)| attachment.blob),
                    body,
                },
            });
        }
    }

    /// Takes back the outbox entry at `position`, which has not left the device (or whose
    /// file is still uploading: [`Engine::cancel_upload`]): it leaves the outbox and the screen,
    /// its file's kept copy with it. So do the person's edits and reactions on it that have not
    /// left either: an edit would carry new words of it to the others, about a message they
    /// never get. A deletion of it stays: it carries nothing of it, and is refused harmlessly
    /// if the server does not hold the message.
    pub(super) fn take_back(&mut self, position: usize) {
        let taken = self.take_from_outbox(position).record.client_msg_id;
        let acts_on_taken = |entry: &OutboxEntry| {
            !entry.record.sent
                && matches!(
                    MessageContent::from_body(&entry.record.body),
                    Some(MessageContent::Edit { target, .. } | MessageContent::Reaction { target, .. })
                        if target == taken
                )
        };
        while let Some(position) = self.outbox.iter().position(acts_on_taken) {
            self.take_from_outbox(position);
        }
        self.views_changed = true;
    }

    fn fail_unsent(&mut self, chat_id: ChatId) {
        let unsent: Vec<ClientMsgId> = self
            .outbox
            .iter()
            .filter(|entry| entry.record.chat_id == chat_id && entry.record.failure.is_none())
            .map(|entry| entry.record.client_msg_id)
            .collect();
        for id in unsent {
            self.refuse(id, ErrorCode::NoSuchChat);
        }
    }

    /// Records that the outbox entry at `position` is going out: from now on the server may
    /// hold it. Kept before the frame leaves (a step's writes are stored before its frames
    /// go), in the write that queued it if that is in this step still.
    fn mark_sent(&mut self, position: usize) {
        let record = &mut self.outbox[position].record;
        if record.sent {
            return;
        }
        record.sent = true;
        self.keep_outbox_record(position);
    }

    /// Takes in outbox records read from the store: all of them when the device starts, and
    /// those another tab of this browser wrote since whenever a connection opens — the tabs
    /// share one outbox, and a message written in a tab closed before it went out would
    /// otherwise wait for some tab's reload to go. A record of a message this device holds as
    /// delivered already (its Ack lost with a tab) is deleted rather than shown twice; one
    /// held in this engine's outbox already is left as it is. One that went out had its
    /// upload done first: it is not taken back for a cancel (the server may hold it), only
    /// waited for like any message sent. Resending what another tab may be sending too is
    /// safe: the server stores a message once under its `client_msg_id`.
    pub fn take_in_outbox(&mut self, records: Vec<OutboxRecord>) {
        let mut took = false;
        for record in records {
            let id = record.client_msg_id;
            if self
                .outbox
                .iter()
                .any(|entry| entry.record.client_msg_id == id)
            {
                continue;
            }
            let delivered = self.chats.get(&record.chat_id).is_some_and(|chat| {
                chat.timeline
                    .messages()
                    .any(|message| message.client_msg_id == id)
            });
            if delivered {
                let file = super::attachments::carried_blob(&record.body);
                self.forget_outbox_record(id, file);
                continue;
            }
            self.next_order = self.next_order.max(record.order + 1);
            self.outbox.push(OutboxEntry {
                awaiting_upload: super::attachments::carries_file(&record.body) && !record.sent,
                record,
                sent_body: None,
            });
            took = true;
        }
        if took {
            crate::sorting::sort_by_key(&mut self.outbox, |entry| entry.record.order);
            self.views_changed = true;
            self.send_outbox();
        }
    }

    /// Stores the outbox entry at `position` as it is now: in the write of it already in this
    /// step, if there is one (a message queued and sent at once costs one write), else in a
    /// new one.
    pub(super) fn keep_outbox_record(&mut self, position: usize) {
        let record = &self.outbox[position].record;
        let queued = self.writes.iter_mut().rev().find_map(|write| match write {
            StoreWrite::PutOutbox(kept) if kept.client_msg_id == record.client_msg_id => Some(kept),
            _ => None,
        });
        match queued {
            Some(kept) => kept.clone_from(record),
            None => self.writes.push(StoreWrite::PutOutbox(record.clone())),
        }
    }

    /// Records that an outbox entry was refused (`Some`, with why) or is to be sent again
    /// (`None`), in the store too.
    pub(super) fn mark_failed(&mut self, client_msg_id: ClientMsgId, failure: Option<ErrorCode>) {
        let Some(position) = self
            .outbox
            .iter()
            .position(|entry| entry.record.client_msg_id == client_msg_id)
        else {
            return;
        };
        let record = &mut self.outbox[position].record;
        if record.failure != failure {
            record.failure = failure;
            self.keep_outbox_record(position);
            self.views_changed = true;
        }
    }

    /// An outbox entry is refused for good (by the server, or because this account left the
    /// chat): a text stays, shown failed, for the person to retry; an action on another
    /// message is dropped, so its optimistic effect disappears. Either way the person hears
    /// why ([`Event::SendFailed`]).
    pub(super) fn refuse(&mut self, client_msg_id: ClientMsgId, code: ErrorCode) {
        let Some(position) = self
            .outbox
            .iter()
            .position(|entry| entry.record.client_msg_id == client_msg_id)
        else {
            return;
        };
        let entry = &mut self.outbox[position];
        let chat_id = entry.record.chat_id;
        let acts_on_another = MessageContent::from_body(&entry.record.body)
            .is_some_and(|content| content.target().is_some());
        if acts_on_another {
            self.take_from_outbox(position);
        } else {
            self.mark_failed(client_msg_id, Some(code));
        }
        self.events.push(Event::SendFailed {
            chat_id,
            client_msg_id,
            code,
        });
        self.views_changed = true;
    }
}
