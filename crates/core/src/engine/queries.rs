//! What the views read: the chat list, a chat's timeline and members, safety numbers and key
//! changes. Queries take `&self` and change nothing; a view reads them again after each step.

use merpati_protocol::{ChatId, ChatInfo, ChatKind, Seq, UserId, Username};

use super::Engine;
use crate::e2e::{DeviceCrypto, Opened, Refusal};
use crate::store::MessageRecord;
use crate::timeline::{
    MessageLock, MessageStatus, TAMPERED_TEXT, TimelineItem, UNREADABLE_TEXT, WAITING_TEXT,
    WRONG_SENDER_TEXT, body_text,
};

/// A chat row of the chat list.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ChatSummary {
    /// The chat.
    pub id: ChatId,
    /// 1:1 or group.
    pub kind: ChatKind,
    /// The group title, or the other person's name.
    pub title: String,
    /// The newest message's text (pending ones included).
    pub last_text: Option<String>,
    /// When anything last happened in the chat.
    pub last_activity_ms: u64,
    /// Messages from others not yet read.
    pub unread: usize,
}

impl Engine {
    /// The chats, most recently active first.
    pub fn chat_list(&self) -> Vec<ChatSummary> {
        let me = self.my_id();
        let mut list: Vec<ChatSummary> = self
            .chats
            .values()
            .map(|chat| {
                let last_confirmed = chat.timeline.last();
                let last_pending = self
                    .outbox
                    .iter()
                    .rev()
                    .find(|entry| entry.record.chat_id == chat.info.id);
                let (last_text, last_activity_ms) = match (last_pending, last_confirmed) {
                    (Some(pending), _) => (
                        Some(body_text(&pending.record.body)),
                        pending.record.created_ms,
                    ),
                    (None, Some(message)) => {
                        (Some(self.lock_and_text(message).1), message.sent_at_ms)
                    }
                    (None, None) => (None, chat.info.created_ms),
                };
                ChatSummary {
                    id: chat.info.id,
                    kind: chat.info.kind,
                    title: chat_title(&chat.info, me),
                    last_text,
                    last_activity_ms: last_activity_ms.max(chat.info.created_ms),
                    unread: chat.timeline.unread_after(chat.info.read, me),
                }
            })
            .collect();
        list.sort_by(|a, b| {
            b.last_activity_ms
                .cmp(&a.last_activity_ms)
                .then(b.id.cmp(&a.id))
        });
        list
    }

    /// A chat's description.
    pub fn chat(&self, chat_id: ChatId) -> Option<&ChatInfo> {
        self.chats.get(&chat_id).map(|chat| &chat.info)
    }

    /// A chat's title as this account sees it.
    pub fn chat_title(&self, chat_id: ChatId) -> Option<String> {
        let me = self.my_id();
        self.chats
            .get(&chat_id)
            .map(|chat| chat_title(&chat.info, me))
    }

    /// A chat's messages in display order: confirmed by sequence, then pending ones in the
    /// order they were written.
    pub fn timeline(&self, chat_id: ChatId) -> Vec<TimelineItem> {
        let me = self.my_id();
        let Some(chat) = self.chats.get(&chat_id) else {
            return Vec::new();
        };
        let read_by_others = chat.others_read.values().copied().max().unwrap_or_default();
        let confirmed = chat.timeline.messages().map(|message| {
            let (lock, text) = self.lock_and_text(message);
            TimelineItem {
                client_msg_id: message.client_msg_id,
                seq: Some(message.seq),
                sender: message.sender,
                own: message.sender == me,
                status: if message.sender == me && message.seq <= read_by_others {
                    MessageStatus::Read
                } else {
                    MessageStatus::Sent
                },
                sent_at_ms: message.sent_at_ms,
                lock,
                text,
            }
        });
        let pending = self
            .outbox
            .iter()
            .filter(|entry| entry.record.chat_id == chat_id)
            .map(|entry| TimelineItem {
                client_msg_id: entry.record.client_msg_id,
                seq: None,
                sender: me,
                own: true,
                status: if entry.failed {
                    MessageStatus::Failed
                } else {
                    MessageStatus::Pending
                },
                sent_at_ms: entry.record.created_ms,
                lock: MessageLock::Open,
                text: body_text(&entry.record.body),
            });
        confirmed.chain(pending).collect()
    }

    /// How many messages wait in the outbox.
    pub fn pending_count(&self) -> usize {
        self.outbox.iter().filter(|entry| !entry.failed).count()
    }

    /// The position below which the local store should be asked for older messages of a chat
    /// (the oldest message loaded in memory), or `None` when nothing older exists anywhere.
    pub fn older_wanted_before(&self, chat_id: ChatId) -> Option<Seq> {
        let chat = self.chats.get(&chat_id)?;
        let oldest = chat.timeline.oldest_loaded()?;
        (oldest > Seq(1)).then_some(oldest)
    }

    /// Whether this account is still a member of the chat (a removed member keeps what it
    /// had, read-only).
    pub fn is_member(&self, chat_id: ChatId) -> bool {
        let me = self.me.as_ref().map(|me| me.id);
        self.chats
            .get(&chat_id)
            .is_some_and(|chat| chat.info.members.iter().any(|member| Some(member.id) == me))
    }

    /// A member's username in a chat.
    pub fn member_name(&self, chat_id: ChatId, user: UserId) -> Option<&Username> {
        self.chats
            .get(&chat_id)?
            .info
            .members
            .iter()
            .find(|member| member.id == user)
            .map(|member| &member.username)
    }

    /// The safety number of a 1:1 chat (see [`crate::e2e::safety_number`]); `None` for a
    /// group, or until the other person's keys are known.
    pub fn safety_number(&self, chat_id: ChatId) -> Option<String> {
        let other = self.direct_partner(chat_id)?;
        self.crypto.as_ref()?.safety_number(other)
    }

    /// A member of the chat whose account key changed, with when this device noticed.
    pub fn key_change(&self, chat_id: ChatId) -> Option<(Username, u64)> {
        let crypto = self.crypto.as_ref()?;
        let chat = self.chats.get(&chat_id)?;
        chat.info.members.iter().find_map(|member| {
            let at = crypto.key_changed(member.id)?;
            Some((member.username.clone(), at))
        })
    }

    /// This device's end-to-end keys, once signed in.
    pub fn device_crypto(&self) -> Option<&DeviceCrypto> {
        self.crypto.as_ref()
    }

    fn direct_partner(&self, chat_id: ChatId) -> Option<UserId> {
        let chat = self.chats.get(&chat_id)?;
        if chat.info.kind != ChatKind::Direct {
            return None;
        }
        let me = self.me.as_ref()?.id;
        chat.info
            .members
            .iter()
            .map(|member| member.id)
            .find(|id| *id != me)
    }

    /// How a stored message shows: whether it opened, and its words (or the placeholder that
    /// says why not).
    fn lock_and_text(&self, message: &MessageRecord) -> (MessageLock, String) {
        match self.opened.get(&message.client_msg_id) {
            Some(Opened::Content(content)) => (MessageLock::Open, content.text().to_owned()),
            Some(Opened::Waiting { .. }) | None => (MessageLock::Waiting, WAITING_TEXT.to_owned()),
            Some(Opened::Refused(Refusal::Tampered)) => {
                (MessageLock::Refused, TAMPERED_TEXT.to_owned())
            }
            Some(Opened::Refused(Refusal::WrongSender)) => {
                (MessageLock::Refused, WRONG_SENDER_TEXT.to_owned())
            }
            Some(Opened::Refused(Refusal::Unreadable)) => {
                (MessageLock::Refused, UNREADABLE_TEXT.to_owned())
            }
        }
    }
}

/// A chat's title as `me` sees it: a group's own, or the other person's name.
fn chat_title(info: &ChatInfo, me: UserId) -> String {
    match info.kind {
        ChatKind::Group => info.title.clone(),
        ChatKind::Direct => info
            .members
            .iter()
            .find(|member| member.id != me)
            .or_else(|| info.members.first())
            .map(|member| member.username.to_string())
            .unwrap_or_default(),
    }
}
