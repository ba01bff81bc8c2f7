//! What the person does to a message: reply to it, edit it, delete it for everyone or only
//! for themselves, react to it, forward it to another chat.
//!
//! Each action is checked first and refused with a [`SendError`] whose words say what to do
//! (not your message, not a member any more, too long, no such message), so nothing is
//! dropped silently and nothing already stored is lost. Accepted actions are messages like
//! any other: encrypted content in the outbox ([`Engine::queue`]), sent and resent until
//! acknowledged, and shown at once — the outbox's actions fold into their targets
//! optimistically ([`crate::annotations`]).

use merpati_protocol::{
    ChatId, ClientMsgId, Seq, UserId,
    content::{MAX_QUOTE_CHARS, MAX_REACTION_BYTES, MessageContent, Quote},
};
use merpati_words::{Text, t};

use super::sending::content_body;
use super::{Engine, SendError};
use crate::annotations::Folded;
use crate::e2e::Opened;
use crate::store::{HiddenRecord, StoreWrite};

/// A message an action names, as this device holds it.
struct Target {
    sender: UserId,
    /// Its position, once confirmed.
    seq: Option<Seq>,
    /// Its text as shown now (edits applied), if it has one; for a photo or file, what a
    /// reply quotes of it ("📎" and its name).
    text: Option<String>,
    /// It carries a photo or file (which has no text to edit or forward as text).
    file: bool,
    /// Its edits, deletion and reactions so far (the outbox's included).
    folded: Folded,
    /// Still in the outbox, refused by the server.
    refused: bool,
}

impl Engine {
    /// Replies to a message: a new message with `text` and a quote of the target (the start
    /// of its text, up to `MAX_QUOTE_CHARS` characters, and who wrote it).
    pub fn send_reply(
        &mut self,
        chat_id: ChatId,
        target: ClientMsgId,
        text: &str,
        now_ms: u64,
    ) -> Result<ClientMsgId, SendError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(SendError::Empty);
        }
        self.check_can_send(chat_id)?;
        let answered = self.live_target(chat_id, target)?;
        let quoted = answered.text.ok_or(SendError::NoText)?;
        let body = content_body(&MessageContent::Reply {
            text: text.to_owned(),
            quote: Quote {
                target,
                sender: answered.sender,
                text: quoted.chars().take(MAX_QUOTE_CHARS).collect(),
            },
        })?;
        let id = self.queue(chat_id, body, now_ms)?;
        self.clear_draft(chat_id);
        Ok(id)
    }

    /// A reply's `quote` as its target stands now, when the target is loaded: who really
    /// wrote it, and its text as edited since, or that it was deleted — not what the reply
    /// said of it, which its sender wrote and may have made up. As written, otherwise.
    pub(super) fn quote_now(&self, chat: &super::ChatState, quote: &Quote) -> Quote {
        let Some(target) = self
            .opened_at
            .get(&quote.target)
            .and_then(|(_, seq)| chat.timeline.get(*seq))
            .filter(|target| target.client_msg_id == quote.target)
        else {
            return quote.clone();
        };
        let author = super::incoming::author_of(target);
        let folded = chat
            .annotations
            .fold(quote.target, author, self.my_id(), []);
        let text = match self.opened.get(&quote.target) {
            _ if folded.deleted => t(Text::MessageDeleted),
            Some(Opened::Deleted) => t(Text::MessageDeleted),
            Some(Opened::Content(content)) => quotable_text(content, &folded).unwrap_or_default(),
            _ => quote.text.clone(),
        };
        Quote {
            target: quote.target,
            sender: target.sender,
            text: text.chars().take(MAX_QUOTE_CHARS).collect(),
        }
    }

    /// Replaces the text of one of this account's messages, for everyone.
    pub fn edit_message(
        &mut self,
        chat_id: ChatId,
        target: ClientMsgId,
        text: &str,
        now_ms: u64,
    ) -> Result<ClientMsgId, SendError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(SendError::Empty);
        }
        let body = content_body(&MessageContent::Edit {
            target,
            text: text.to_owned(),
        })?;
        self.check_can_send(chat_id)?;
        let edited = self.own_target(chat_id, target)?;
        if edited.file {
            return Err(SendError::FileMessage);
        }
        if edited.text.is_none() {
            return Err(SendError::NoText);
        }
        // The chat's draft is not the edit's text: it stays, for the composer to show again.
        self.queue(chat_id, body, now_ms)
    }

    /// Deletes one of this account's messages for everyone: every member's device shows
    /// "This message was deleted" in its place, and the server drops its stored body. Answers
    /// the deleting message, queued behind its target if that is still in the outbox.
    ///
    /// A message that has certainly not left this device (written offline, its file still
    /// uploading) is taken back instead, as if it had never been written: nothing is sent, and
    /// the answer is `None`. One that may have reached the server (sent and not acknowledged,
    /// or restored from the store) cannot be: the server would keep it.
    pub fn delete_for_everyone(
        &mut self,
        chat_id: ChatId,
        target: ClientMsgId,
        now_ms: u64,
    ) -> Result<Option<ClientMsgId>, SendError> {
        let deleted = self.own_target(chat_id, target)?;
        if let Some(position) = self.unsent_position(chat_id, target) {
            self.take_back(position);
            return Ok(None);
        }
        self.check_can_send(chat_id)?;
        if deleted.refused {
            return Err(SendError::NeverSent);
        }
        let body = content_body(&MessageContent::Delete { target })?;
        self.queue(chat_id, body, now_ms).map(Some)
    }

    /// Whether this device's outbox holds message `client_msg_id` of `chat_id` as not yet sent
    /// from here: deleting it for everyone would take it back ([`Engine::delete_for_everyone`]).
    /// The shell asks the outbox its tabs share first, which may know it sent from another
    /// ([`Engine::sent_elsewhere`]).
    pub fn holds_unsent(&self, chat_id: ChatId, client_msg_id: ClientMsgId) -> bool {
        self.unsent_position(chat_id, client_msg_id).is_some()
    }

    /// Where this device's outbox holds message `client_msg_id` of `chat_id`, if it does as
    /// not yet sent from here.
    fn unsent_position(&self, chat_id: ChatId, client_msg_id: ClientMsgId) -> Option<usize> {
        self.outbox.iter().position(|entry| {
            entry.record.chat_id == chat_id
                && entry.record.client_msg_id == client_msg_id
                && !entry.record.sent
        })
    }

    /// Sets this account's reaction to a message, or — choosing the one it already has —
    /// takes it back. One reaction per person and message: a new one replaces the old.
    pub fn react(
        &mut self,
        chat_id: ChatId,
        target: ClientMsgId,
        emoji: &str,
        now_ms: u64,
    ) -> Result<ClientMsgId, SendError> {
        let emoji = emoji.trim();
        if emoji.is_empty() || emoji.len() > MAX_REACTION_BYTES {
            return Err(SendError::InvalidReaction);
        }
        self.check_can_send(chat_id)?;
        let reacted = self.live_target(chat_id, target)?;
        let mine = reacted.folded.reactions.get(&self.my_id());
        let emoji = (mine.map(String::as_str) != Some(emoji)).then(|| emoji.to_owned());
        let body = content_body(&MessageContent::Reaction { target, emoji })?;
        self.queue(chat_id, body, now_ms)
    }

    /// Forwards a message's text to another chat, as a new message encrypted for that chat
    /// and marked forwarded.
    pub fn forward(
        &mut self,
        from: ChatId,
        target: ClientMsgId,
        to: ChatId,
        now_ms: u64,
    ) -> Result<ClientMsgId, SendError> {
        let forwarded = self.live_target(from, target)?;
        if forwarded.file {
            return Err(SendError::FileMessage);
        }
        let text = forwarded.text.ok_or(SendError::NoText)?;
        self.check_can_send(to)?;
        let body = content_body(&MessageContent::Forwarded { text })?;
        self.queue(to, body, now_ms)
    }

    /// Deletes a message on this account's devices only (this device now; it is not told to
    /// others): it disappears from the chat, and its stored body is dropped. A message still
    /// in the outbox is not sent any more. Allowed in a chat this account has left.
    pub fn delete_for_me(&mut self, chat_id: ChatId, target: ClientMsgId) -> Result<(), SendError> {
        let hidden = self.target(chat_id, target)?;
        if let Some(position) = self
            .outbox
            .iter()
            .position(|entry| entry.record.client_msg_id == target)
        {
            self.take_from_outbox(position);
        }
        self.hidden.insert((chat_id, target));
        self.unindex(target);
        self.writes.push(StoreWrite::HideMessage(HiddenRecord {
            chat_id,
            client_msg_id: target,
        }));
        if let Some(seq) = hidden.seq {
            self.erase(chat_id, seq);
        }
        self.views_changed = true;
        Ok(())
    }

    /// A message of this account's, not deleted.
    fn own_target(&self, chat_id: ChatId, id: ClientMsgId) -> Result<Target, SendError> {
        let target = self.live_target(chat_id, id)?;
        if target.sender != self.my_id() {
            return Err(SendError::NotYourMessage);
        }
        Ok(target)
    }

    /// A message not deleted for everyone.
    fn live_target(&self, chat_id: ChatId, id: ClientMsgId) -> Result<Target, SendError> {
        let target = self.target(chat_id, id)?;
        if target.folded.deleted {
            return Err(SendError::Deleted);
        }
        Ok(target)
    }

    /// A message shown in the chat (confirmed or in the outbox), not one that acts on another
    /// and not one deleted for this account.
    fn target(&self, chat_id: ChatId, id: ClientMsgId) -> Result<Target, SendError> {
        let chat = self.chats.get(&chat_id).ok_or(SendError::NoSuchChat)?;
        if self.hidden.contains(&(chat_id, id)) {
            return Err(SendError::NoSuchMessage);
        }
        let me = self.my_id();
        let (sender, seq, content, refused) = if let Some(message) = chat
            .timeline
            .messages()
            .find(|message| message.client_msg_id == id)
        {
            let content = match self.opened.get(&id) {
                Some(Opened::Content(content)) => Some(content.clone()),
                Some(Opened::Deleted) => return Err(SendError::Deleted),
                _ => None,
            };
            (message.sender, Some(message.seq), content, false)
        } else if let Some(entry) = self
            .outbox
            .iter()
            .find(|entry| entry.record.chat_id == chat_id && entry.record.client_msg_id == id)
        {
            let content = MessageContent::from_body(&entry.record.body);
            (me, None, content, entry.record.failure.is_some())
        } else {
            return Err(SendError::NoSuchMessage);
        };
        if content
            .as_ref()
            .is_some_and(|content| content.target().is_some())
        {
            return Err(SendError::NoSuchMessage);
        }
        let folded = self.fold(chat_id, id, sender);
        Ok(Target {
            sender,
            seq,
            file: content
                .as_ref()
                .is_some_and(|content| content.attachment().is_some()),
            text: content
                .as_ref()
                .and_then(|content| quotable_text(content, &folded)),
            folded,
            refused,
        })
    }
}

/// What a reply quotes of a message with `content`, its actions `folded` in: its text as last
/// edited, or the name of the file it carries; `None` for neither.
fn quotable_text(content: &MessageContent, folded: &Folded) -> Option<String> {
    match (content.text(), content.attachment()) {
        (Some(text), _) => Some(folded.edit.clone().unwrap_or_else(|| text.to_owned())),
        (None, Some((_, file))) => Some(format!("📎 {}", file.name)),
        (None, None) => None,
    }
}
