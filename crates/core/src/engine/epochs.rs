//! What a new storage epoch changes: the server's storage was restored from a copy, or
//! replaced (docs/protocol.md, "Epochs and sequence numbers"). Positions held under the old
//! epoch name other messages, or none; and a chat made after the copy is gone, its id free to
//! be given to another chat.

use merpati_protocol::{ChatId, ChatInfo, Seq};

use super::Engine;
use crate::annotations::Annotations;
use crate::receipts::ChatReceipts;
use crate::store::StoreWrite;
use crate::timeline::Timeline;

impl Engine {
    /// The server's storage was replaced (another epoch): a sequence number held under the
    /// old one names another message there, or none (docs/protocol.md, "Epochs and sequence
    /// numbers"). Everything held by position goes — the timelines and the messages stored
    /// under them, the delivered and read positions, the receipts, what was learnt opening
    /// messages — in memory as in the store: kept, an old message would be read back under a
    /// position the new epoch's message there then could not take, and an old read position
    /// would count new messages as read. The new epoch's server is the truth: what it still
    /// holds comes again (the newest page at the sync, older ones as the person scrolls).
    pub(super) fn forget_old_epoch(&mut self) {
        for chat in self.chats.values_mut() {
            chat.timeline = Timeline::default();
            chat.delivered = Seq(0);
            chat.info.head = Seq(0);
            chat.info.read = Seq(0);
            chat.receipts = ChatReceipts::default();
            chat.annotations = Annotations::default();
            self.writes.push(StoreWrite::PutChat(chat.record()));
        }
        self.writes.push(StoreWrite::RemoveAllMessages);
        // What the index holds is gone from the device with them, and its positions are the
        // old epoch's: a message that comes again is indexed again, at its new position.
        let unindexed = self.search.clear();
        self.writes.push(unindexed);
        // As after a reload: nothing in memory is opened any more, and the messages that come
        // again are opened (and wait for their keys) at their new positions. A message's
        // Megolm index still tells a replay; where it was first seen no longer does.
        self.opened.clear();
        self.opened_at.clear();
        self.replayed.clear();
        self.waiting.clear();
        // Until these writes are known durable, every connection drops it all again.
        self.old_epoch_in_store = true;
        self.views_changed = true;
    }

    /// Whether `info` describes another chat than the one known here under its id: one made
    /// at another time. Only a new epoch can do that — the chat known here was made after the
    /// copy the server was restored from, and its id given again.
    pub(super) fn is_replaced_by(&self, info: &ChatInfo) -> bool {
        self.chats
            .get(&info.id)
            .is_some_and(|known| known.info.created_ms != info.created_ms)
    }

    /// Forgets a chat whose id now names another chat ([`Engine::is_replaced_by`]). Nothing
    /// of it may reach the new chat's members, nor show in it: what waited to be sent there
    /// is taken out of the outbox (each said to have failed — it never can be delivered, the
    /// chat it was written in being gone), and its draft and mute go with it. (What was
    /// hidden there is named by message ids, which the new chat's messages do not share.)
    pub(super) fn forget_replaced_chat(&mut self, chat_id: ChatId) {
        self.chats.remove(&chat_id);
        while let Some(position) = self
            .outbox
            .iter()
            .position(|entry| entry.record.chat_id == chat_id)
        {
            let entry = self.take_from_outbox(position);
            self.events.push(super::Event::SendFailed {
                chat_id,
                client_msg_id: entry.record.client_msg_id,
                code: merpati_protocol::ErrorCode::NoSuchChat,
            });
        }
        self.clear_draft(chat_id);
        self.set_muted(chat_id, false);
        self.views_changed = true;
    }
}
