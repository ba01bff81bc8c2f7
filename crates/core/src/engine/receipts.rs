//! Delivery and read positions: what this device reports, what it learns of the others, and
//! what a message's status and details show.
//!
//! - **Delivered**: after a step that made new messages durable, one `MarkDelivered` per chat
//!   whose gap-free position moved (sent with that step's frames, so only after its writes).
//! - **Read**: the shell says which chat is on screen in a visible tab
//!   ([`Engine::set_chat_on_screen`]); it is marked read at once, and again as messages
//!   arrive in it, in the same step. What was unread when it came on screen is remembered
//!   first ([`UnreadDivider`]): marking it read must not lose where the reader left off.
//! - **The others'**: `ChatInfo.receipts` and `Receipt` frames merge into the chat's
//!   [`crate::receipts::ChatReceipts`] (persisted with the chat), and the views hear of every
//!   change at once (`Step::views_changed`).

use merpati_protocol::{ChatId, ClientFrame, ClientMsgId, Receipt, Seq};

use super::{ChatState, Engine};
use crate::store::{MessageRecord, StoreWrite};
use crate::timeline::{MessageStatus, Person};

/// One other member's receipt for a message, as its details show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberReceipt {
    /// Who.
    pub person: Person,
    /// A device of theirs holds it.
    pub delivered: bool,
    /// They saw it on screen (as far as they share it).
    pub read: bool,
    /// When they read it, if this device observed it (milliseconds since the Unix epoch).
    pub read_at_ms: Option<u64>,
}

/// Where a chat's unread messages began when it came on screen: the list draws "3 unread
/// messages" above the first of them while the chat stays open, though they are now read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnreadDivider {
    /// The chat.
    pub chat_id: ChatId,
    /// The first message that was unread.
    pub first: Seq,
    /// That message's id: a chat opened with unread messages opens there.
    pub first_id: ClientMsgId,
    /// How many were unread, from it on.
    pub count: usize,
}

impl Engine {
    /// Which chat is on screen in a visible tab (`None`: no chat, or the tab is hidden). It is
    /// marked read now, and whenever messages arrive in it while it stays on screen.
    pub fn set_chat_on_screen(&mut self, chat_id: Option<ChatId>) {
        if let Some(chat_id) = chat_id
            && self.on_screen != Some(chat_id)
        {
            self.place_unread_divider(chat_id);
        }
        self.on_screen = chat_id;
        if let Some(chat_id) = chat_id {
            self.mark_read(chat_id);
        }
    }

    /// The person opened a chat, or closed the one open (`None`): the divider of a chat they
    /// left goes, so that coming back to it later does not return to where they had been. A
    /// tab only hidden and shown again keeps it ([`Engine::set_chat_on_screen`]).
    pub fn chat_opened(&mut self, chat_id: Option<ChatId>) {
        if self
            .unread_divider
            .is_some_and(|divider| Some(divider.chat_id) != chat_id)
        {
            self.unread_divider = None;
        }
    }

    /// The unread divider of this chat, if it came on screen with unread messages and no other
    /// chat has been opened since (nor this one closed).
    pub fn unread_divider(&self, chat_id: ChatId) -> Option<UnreadDivider> {
        self.unread_divider
            .filter(|divider| divider.chat_id == chat_id)
    }

    /// Notes where the chat's unread messages begin, as it comes on screen (opened, or its tab
    /// shown again). With none unread, a divider placed before in the same chat stays (the
    /// tab was only hidden for a while) and one in another chat goes.
    fn place_unread_divider(&mut self, chat_id: ChatId) {
        let me = self.my_id();
        let unread = self.chats.get(&chat_id).and_then(|chat| {
            let counts = |message: &MessageRecord| {
                message.sender != me && self.counts_as_unread(chat, message)
            };
            let first = chat.timeline.first_after(chat.info.read, counts)?;
            Some(UnreadDivider {
                chat_id,
                first: first.seq,
                first_id: first.client_msg_id,
                count: chat.timeline.unread_after(chat.info.read, counts),
            })
        });
        match unread {
            Some(divider) => self.unread_divider = Some(divider),
            None if self.unread_divider(chat_id).is_none() => self.unread_divider = None,
            None => {}
        }
    }

    /// Marks the chat read (it is on screen) as far as the device holds every message: not
    /// past a gap, whose messages were never on screen — read there, they would count as
    /// read for good, on the server and for their senders. Persisted, and told to the server
    /// when connected; the rest once the gap is filled.
    pub fn mark_read(&mut self, chat_id: ChatId) {
        let authenticated = self.is_authenticated();
        let Some(chat) = self.chats.get_mut(&chat_id) else {
            return;
        };
        let newest = chat.timeline.synced();
        if newest <= chat.info.read {
            return;
        }
        chat.info.read = newest;
        self.writes.push(StoreWrite::PutChat(chat.record()));
        self.views_changed = true;
        if authenticated {
            self.frames.push(ClientFrame::MarkRead {
                chat_id,
                seq: newest,
            });
        }
    }

    /// A member's positions moved: this account's own (read on another device) moves the
    /// unread count; another member's moves the status of this account's messages.
    pub(super) fn on_receipt(&mut self, chat_id: ChatId, receipt: Receipt) {
        let me = self.my_id();
        let Some(chat) = self.chats.get_mut(&chat_id) else {
            return;
        };
        let moved = if receipt.user == me {
            let moved = receipt.read > chat.info.read;
            chat.info.read = chat.info.read.max(receipt.read);
            moved
        } else {
            chat.receipts.merge(receipt)
        };
        if moved {
            self.writes.push(StoreWrite::PutChat(chat.record()));
            self.views_changed = true;
        }
    }

    /// Adds one `MarkDelivered` per chat whose delivery position moved, while connected (the
    /// rest wait for the next connection's sync).
    pub(super) fn report_delivery(&mut self) {
        if !self.is_authenticated() {
            return;
        }
        for chat_id in std::mem::take(&mut self.delivery_moved) {
            if self.push_delivered(chat_id) {
                self.delivery_reported.insert(chat_id);
            }
        }
    }

    /// After a sync: makes again the reports that may have been lost with the last connection,
    /// once (not counted as reported on this one, or every chat would be reported after every
    /// reconnect from then on).
    pub(super) fn report_delivery_again(&mut self) {
        for chat_id in std::mem::take(&mut self.delivery_unsure) {
            // One whose position moved since is reported with this step anyway.
            if !self.delivery_moved.contains(&chat_id) {
                self.push_delivered(chat_id);
            }
        }
    }

    /// Adds a `MarkDelivered` of the chat's delivery position, if it holds any; whether it did.
    fn push_delivered(&mut self, chat_id: ChatId) -> bool {
        let Some(seq) = self
            .chats
            .get(&chat_id)
            .map(|chat| chat.delivered)
            .filter(|seq| *seq > Seq(0))
        else {
            return false;
        };
        self.frames
            .push(ClientFrame::MarkDelivered { chat_id, seq });
        true
    }

    /// Each other member's receipt for a message (a group's message details): delivered, read
    /// and when — read only while this account shares its own reads (as the status); not those
    /// added after it. Empty for a message not confirmed yet.
    pub fn message_receipts(&self, chat_id: ChatId, id: ClientMsgId) -> Vec<MemberReceipt> {
        let Some(chat) = self.chats.get(&chat_id) else {
            return Vec::new();
        };
        let Some(message) = chat
            .timeline
            .messages()
            .find(|message| message.client_msg_id == id)
        else {
            return Vec::new();
        };
        let me = self.my_id();
        let shown = self.settings.privacy.share_read_receipts;
        let added_after = chat.timeline.added_after(message.seq);
        chat.info
            .members
            .iter()
            .filter(|member| {
                member.id != me && member.id != message.sender && !added_after.contains(&member.id)
            })
            .map(|member| {
                let receipt = chat.receipts.of(member.id, message.seq);
                MemberReceipt {
                    person: Person {
                        id: member.id,
                        username: Some(member.username.clone()),
                    },
                    delivered: receipt.delivered,
                    read: receipt.read && shown,
                    read_at_ms: receipt.read_at_ms.filter(|_| shown),
                }
            })
            .collect()
    }

    /// The status of this account's confirmed message at `seq`: sent, delivered to every
    /// other member, or read by every other member — never read while this account does not
    /// share its own reads: the server stops passing on the others' then, and reads learnt
    /// before the change must not keep showing beside messages that can no longer get one.
    pub(super) fn confirmed_status(&self, chat: &ChatState, seq: Seq) -> MessageStatus {
        let shown = self.settings.privacy.share_read_receipts;
        match chat
            .receipts
            .reached(&chat.others_at(self.my_id(), seq), seq)
        {
            (_, true) if shown => MessageStatus::Read,
            // Reading implies holding.
            (_, true) | (true, false) => MessageStatus::Delivered,
            (false, false) => MessageStatus::Sent,
        }
    }
}
