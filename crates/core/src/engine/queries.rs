//! What the views read: the chat list, a chat's timeline (with replies, edits, deletions,
//! reactions and system lines folded in) and members, safety numbers and key changes.
//! Queries take `&self` and change nothing; a view reads them again after each step that says
//! `views_changed`.

use std::collections::{BTreeMap, HashMap};

use merpati_protocol::{
    ChatId, ChatInfo, ChatKind, ClientMsgId, ErrorCode, Seq, UserId, Username,
    content::{MessageContent, SystemEvent},
};

use super::{ChatState, Engine, OutboxEntry};
use crate::annotations::{Action, Folded};
use crate::e2e::{DeviceCrypto, Opened, Refusal};
use crate::store::MessageRecord;
use crate::timeline::{
    MessageLock, MessageStatus, Person, ReactionSummary, TimelineItem, system_text,
};
use merpati_words::{Text, t};

/// A chat row of the chat list.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ChatSummary {
    /// The chat.
    pub id: ChatId,
    /// 1:1 or group.
    pub kind: ChatKind,
    /// The group title, or the other person's name.
    pub title: String,
    /// The newest message's text as shown (pending ones included; edits applied; actions on
    /// other messages left out).
    pub last_text: Option<String>,
    /// The newest message from someone else as shown, and who sent it: what a notification
    /// of the chat says (never the person's own message, pending or sent).
    pub last_received: Option<(UserId, String)>,
    /// When anything last happened in the chat.
    pub last_activity_ms: u64,
    /// Messages from others not yet read: only what shows as a message (not reactions,
    /// edits or system lines).
    pub unread: usize,
    /// What the person typed here and has not sent (the app shows "Draft: …").
    pub draft: Option<String>,
}

/// What a message's body shows, before the actions on it are folded in.
enum Body<'a> {
    /// A text, a reply or a forward.
    Text(&'a MessageContent),
    /// A line the server wrote.
    System(&'a SystemEvent),
    /// Deleted for everyone (the body is gone).
    Deleted,
    /// Not opened: why, in words.
    Locked(MessageLock, Text),
}

/// What an item shows besides its body.
struct Head {
    id: ClientMsgId,
    seq: Option<Seq>,
    sender: UserId,
    status: MessageStatus,
    sent_at_ms: u64,
    failure: Option<ErrorCode>,
}

/// What an opened message shows; `None` for a message that acts on another (it shows on its
/// target instead).
fn body_of(opened: Option<&Opened>) -> Option<Body<'_>> {
    Some(match opened {
        Some(Opened::Content(content)) if content.target().is_some() => return None,
        Some(Opened::Content(content)) => Body::Text(content),
        Some(Opened::System(event)) => Body::System(event),
        Some(Opened::Deleted) => Body::Deleted,
        Some(Opened::Waiting { .. }) | None => {
            Body::Locked(MessageLock::Waiting, Text::MessageWaiting)
        }
        Some(Opened::Refused(Refusal::Tampered)) => {
            Body::Locked(MessageLock::Refused, Text::MessageTampered)
        }
        Some(Opened::Refused(Refusal::WrongSender)) => {
            Body::Locked(MessageLock::Refused, Text::MessageWrongSender)
        }
        Some(Opened::Refused(Refusal::Unreadable)) => {
            Body::Locked(MessageLock::Refused, Text::MessageUnreadable)
        }
        Some(Opened::Refused(Refusal::Replayed)) => {
            Body::Locked(MessageLock::Refused, Text::MessageReplayed)
        }
    })
}

/// What a copy of an earlier message shows.
static REPLAYED: Opened = Opened::Refused(Refusal::Replayed);

impl Engine {
    /// What `message` turned out to be when opened: a copy of an earlier message at another
    /// position is refused as a replay, whatever its first copy showed.
    pub(super) fn opened_of(&self, message: &MessageRecord) -> Option<&Opened> {
        if self.replayed.contains(&(message.chat_id, message.seq)) {
            return Some(&REPLAYED);
        }
        self.opened.get(&message.client_msg_id)
    }

    /// Whether the message at `seq` of `chat` is a copy of an earlier one that the server
    /// delivered again (shown refused): not the message its id names, which is shown where it
    /// was first opened. A view that names its rows by message id names this one apart.
    pub fn is_replayed_copy(&self, chat: ChatId, seq: Seq) -> bool {
        self.replayed.contains(&(chat, seq))
    }

    /// The chats, most recently active first.
    pub fn chat_list(&self) -> Vec<ChatSummary> {
        let me = self.my_id();
        let mut list: Vec<ChatSummary> = self
            .chats
            .values()
            .map(|chat| {
                let chat_id = chat.info.id;
                let newest = self.newest_item(chat);
                let (last_text, last_activity_ms) = match newest {
                    Some(item) => (Some(item.text), item.sent_at_ms),
                    None => (None, chat.info.created_ms),
                };
                ChatSummary {
                    id: chat_id,
                    kind: chat.info.kind,
                    title: chat_title(&chat.info, me),
                    last_text,
                    last_received: self.newest_received(chat),
                    last_activity_ms: last_activity_ms.max(chat.info.created_ms),
                    unread: chat.timeline.unread_after(chat.info.read, |message| {
                        message.sender != me && self.counts_as_unread(chat, message)
                    }),
                    // Not where this account can no longer write (taken out of the group):
                    // the composer is gone, and with it any way to clear it. Added back, the
                    // draft is there again.
                    draft: self
                        .drafts
                        .get(&chat_id)
                        .filter(|_| chat.info.members.iter().any(|member| member.id == me))
                        .cloned(),
                }
            })
            .collect();
        crate::sorting::sort_by(&mut list, |a, b| {
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
    /// order they were written. A refused one is not pending: it stays among the messages of
    /// its time, after the last one sent before it was written, rather than below whatever
    /// came after it while it waited for the person. Edits, deletions and reactions (the
    /// outbox's too) are folded into their targets; messages deleted for this account are left
    /// out.
    pub fn timeline(&self, chat_id: ChatId) -> Vec<TimelineItem> {
        let Some(chat) = self.chats.get(&chat_id) else {
            return Vec::new();
        };
        let pending = self.pending_actions(chat_id);
        let confirmed = chat
            .timeline
            .messages()
            .filter_map(|message| self.confirmed_item(chat, &pending, message));
        let mut items: Vec<TimelineItem> = confirmed.collect();
        let written = self
            .outbox
            .iter()
            .filter(|entry| entry.record.chat_id == chat_id)
            .filter_map(|entry| self.pending_item(chat, &pending, entry));
        for item in written {
            if item.failure.is_none() {
                items.push(item);
                continue;
            }
            // After the last message sent before it, and after what was written after that
            // and shown already (the refused and pending ones before it in the outbox).
            let mut at = items
                .iter()
                .rposition(|shown| shown.seq.is_some() && shown.sent_at_ms <= item.sent_at_ms)
                .map_or(0, |last| last + 1);
            while items.get(at).is_some_and(|shown| shown.seq.is_none()) {
                at += 1;
            }
            items.insert(at, item);
        }
        items
    }

    /// The newest item of a chat's timeline: the last of [`Engine::timeline`], found without
    /// making all of it.
    fn newest_item(&self, chat: &ChatState) -> Option<TimelineItem> {
        let chat_id = chat.info.id;
        let pending = self.pending_actions(chat_id);
        let mut written = self
            .outbox
            .iter()
            .rev()
            .filter(|entry| entry.record.chat_id == chat_id)
            .filter_map(|entry| self.pending_item(chat, &pending, entry));
        let newest_written = written.next();
        if let Some(item) = newest_written
            .as_ref()
            .filter(|item| item.failure.is_none())
        {
            return Some(item.clone());
        }
        let newest_confirmed = chat
            .timeline
            .messages()
            .rev()
            .find_map(|message| self.confirmed_item(chat, &pending, message));
        // The newest written is refused (or there is none); it is last if nothing shown was
        // sent after it was written, and pending ones before it are last with it.
        let Some(refused) = newest_written else {
            return newest_confirmed;
        };
        match newest_confirmed {
            Some(confirmed) if confirmed.sent_at_ms > refused.sent_at_ms => written
                .find(|item| item.failure.is_none())
                .or(Some(confirmed)),
            _ => Some(refused),
        }
    }

    /// The newest message from someone else that shows as a message, as shown, with its
    /// sender.
    fn newest_received(&self, chat: &ChatState) -> Option<(UserId, String)> {
        let (me, pending) = (self.my_id(), self.pending_actions(chat.info.id));
        chat.timeline
            .messages()
            .rev()
            .filter(|message| message.sender != me && self.counts_as_unread(chat, message))
            .find_map(|message| self.confirmed_item(chat, &pending, message))
            .map(|item| (item.sender, item.text))
    }

    /// How many messages wait in the outbox.
    pub fn pending_count(&self) -> usize {
        self.outbox
            .iter()
            .filter(|entry| entry.record.failure.is_none())
            .count()
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

    /// The other person of a 1:1 chat.
    pub(super) fn direct_partner(&self, chat_id: ChatId) -> Option<UserId> {
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

    /// Someone, named if this device knows their username.
    pub(super) fn person(&self, id: UserId) -> Person {
        Person {
            id,
            username: self.names.get(&id).cloned(),
        }
    }

    /// A message's edits, deletion and reactions as they stand, the outbox's included.
    pub(super) fn fold(&self, chat_id: ChatId, target: ClientMsgId, sender: UserId) -> Folded {
        let Some(chat) = self.chats.get(&chat_id) else {
            return Folded::default();
        };
        let pending = self.pending_actions(chat_id);
        chat.annotations.fold(
            target,
            Some(sender),
            self.my_id(),
            pending.get(&target).into_iter().flatten(),
        )
    }

    /// The actions on other messages waiting in the chat's outbox, by target, in the order
    /// written (refused ones are gone already).
    fn pending_actions(&self, chat_id: ChatId) -> HashMap<ClientMsgId, Vec<Action>> {
        let mut pending: HashMap<ClientMsgId, Vec<Action>> = HashMap::new();
        for entry in self
            .outbox
            .iter()
            .filter(|entry| entry.record.chat_id == chat_id && entry.record.failure.is_none())
        {
            if let Some((target, action)) = MessageContent::from_body(&entry.record.body)
                .as_ref()
                .and_then(Action::of)
            {
                pending.entry(target).or_default().push(action);
            }
        }
        pending
    }

    /// Whether a confirmed message from someone else counts as unread: it shows as a message
    /// (not an action on another, not a system line, not deleted, not hidden).
    pub(super) fn counts_as_unread(&self, chat: &ChatState, message: &MessageRecord) -> bool {
        if self.hidden.contains(&(chat.info.id, message.client_msg_id)) {
            return false;
        }
        match body_of(self.opened_of(message)) {
            Some(Body::Text(_) | Body::Locked(..)) => {
                !chat.annotations.touches(message.client_msg_id)
                    || !chat
                        .annotations
                        .fold(
                            message.client_msg_id,
                            Some(message.sender),
                            self.my_id(),
                            [],
                        )
                        .deleted
            }
            Some(Body::System(_) | Body::Deleted) | None => false,
        }
    }

    /// A confirmed message as an item; `None` if it does not show (it acts on another, or was
    /// deleted for this account).
    fn confirmed_item(
        &self,
        chat: &ChatState,
        pending: &HashMap<ClientMsgId, Vec<Action>>,
        message: &MessageRecord,
    ) -> Option<TimelineItem> {
        if self.hidden.contains(&(chat.info.id, message.client_msg_id)) {
            return None;
        }
        let body = body_of(self.opened_of(message))?;
        let status = if message.sender == self.my_id() && !matches!(body, Body::System(_)) {
            self.confirmed_status(chat, message.seq)
        } else {
            MessageStatus::Sent
        };
        let head = Head {
            id: message.client_msg_id,
            seq: Some(message.seq),
            sender: message.sender,
            status,
            sent_at_ms: message.sent_at_ms,
            failure: None,
        };
        Some(self.item(chat, pending, head, body))
    }

    /// An outbox entry as an item; `None` for an action on another message.
    fn pending_item(
        &self,
        chat: &ChatState,
        pending: &HashMap<ClientMsgId, Vec<Action>>,
        entry: &OutboxEntry,
    ) -> Option<TimelineItem> {
        let content = MessageContent::from_body(&entry.record.body);
        let body = match &content {
            Some(content) if content.target().is_some() => return None,
            Some(content) => Body::Text(content),
            None => Body::Locked(MessageLock::Refused, Text::MessageUnreadable),
        };
        let head = Head {
            id: entry.record.client_msg_id,
            seq: None,
            sender: self.my_id(),
            status: if entry.record.failure.is_some() {
                MessageStatus::Failed
            } else {
                MessageStatus::Pending
            },
            sent_at_ms: entry.record.created_ms,
            failure: entry.record.failure,
        };
        Some(self.item(chat, pending, head, body))
    }

    /// One item, its body and the actions on it folded together.
    fn item(
        &self,
        chat: &ChatState,
        pending: &HashMap<ClientMsgId, Vec<Action>>,
        head: Head,
        body: Body<'_>,
    ) -> TimelineItem {
        let me = self.my_id();
        let author = (!matches!(body, Body::System(_))).then_some(head.sender);
        let folded = chat.annotations.fold(
            head.id,
            author,
            me,
            pending.get(&head.id).into_iter().flatten(),
        );
        let mut item = TimelineItem {
            client_msg_id: head.id,
            seq: head.seq,
            sender: head.sender,
            own: head.sender == me,
            status: head.status,
            sent_at_ms: head.sent_at_ms,
            lock: MessageLock::Open,
            text: String::new(),
            quote: None,
            forwarded: false,
            edited: false,
            deleted: false,
            reactions: Vec::new(),
            system: None,
            failure: head.failure,
            attachment: None,
        };
        match body {
            Body::Text(content) => {
                item.edited = folded.edit.is_some();
                item.text = folded
                    .edit
                    .clone()
                    .or_else(|| content.text().map(str::to_owned))
                    .unwrap_or_default();
                match content {
                    MessageContent::Reply { quote, .. } => {
                        item.quote = Some(self.quote_now(chat, quote));
                    }
                    MessageContent::Forwarded { .. } => item.forwarded = true,
                    _ => {}
                }
                if let Some((cipher, attachment)) = content.attachment() {
                    if !item.edited {
                        item.text = match attachment.preview {
                            Some(_) => t(Text::Photo),
                            None => attachment.name.clone(),
                        };
                    }
                    item.attachment = Some((cipher, attachment.clone()));
                }
            }
            Body::System(event) => {
                item.own = false;
                item.text = system_text(event);
                item.system = Some(event.clone());
            }
            Body::Deleted => {
                item.deleted = true;
                item.text = t(Text::MessageDeleted);
            }
            Body::Locked(lock, text) => {
                item.lock = lock;
                item.text = t(text);
            }
        }
        if folded.deleted {
            item.deleted = true;
            item.edited = false;
            item.quote = None;
            item.lock = MessageLock::Open;
            item.text = t(Text::MessageDeleted);
        }
        item.reactions = self.reaction_summaries(&folded.reactions);
        item
    }

    /// Reactions grouped by emoji, most chosen first.
    fn reaction_summaries(&self, reactions: &BTreeMap<UserId, String>) -> Vec<ReactionSummary> {
        let me = self.my_id();
        let mut by_emoji: BTreeMap<&str, ReactionSummary> = BTreeMap::new();
        for (user, emoji) in reactions {
            let summary = by_emoji
                .entry(emoji.as_str())
                .or_insert_with(|| ReactionSummary {
                    emoji: emoji.clone(),
                    count: 0,
                    people: Vec::new(),
                    mine: false,
                });
            summary.count += 1;
            summary.mine |= *user == me;
            summary.people.push(self.person(*user));
        }
        let mut summaries: Vec<ReactionSummary> = by_emoji.into_values().collect();
        crate::sorting::sort_by(&mut summaries, |a, b| {
            b.count.cmp(&a.count).then_with(|| a.emoji.cmp(&b.emoji))
        });
        summaries
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
