//! Delivering each chat followed here in order, once: a message offered (committed here, or
//! another process's wake-up) goes if it is the next of its chat, after the gap before it is
//! read; and the head checks, which read what lost wake-ups did not bring and repair what
//! lost pushes left undone (`lost_pushes`).

use bytes::Bytes;
use merpati_protocol::{ChatId, MessageFrame, Seq};

use super::{Offered, State};
use crate::metrics::Counters;
use crate::storage::Reader;

/// How many messages a gap is read in at a time.
const GAP_PAGE: u32 = 500;

impl State {
    /// Delivers `message` here if it is the next of its chat; reads and delivers a gap
    /// before it first.
    pub(super) async fn offer(&mut self, message: MessageFrame, frame: Bytes) {
        let chat = message.chat_id;
        let Some(followed) = self.chats.get(&chat) else {
            // No session here follows the chat (yet): those online get it as one process did.
            let _ = self.gateway.deliver_stored(&message, frame).await;
            return;
        };
        match followed.cursor.offer(message.seq) {
            Offered::Stale => {}
            Offered::Next => {
                let _ = self.deliver(message, frame).await;
            }
            Offered::After(delivered) => {
                self.catch_up(chat, delivered, message.seq).await;
                // Read with the gap if it was committed by then; else delivered now.
                if self.chats.get(&chat).map(|f| f.cursor.offer(message.seq)) == Some(Offered::Next)
                {
                    let _ = self.deliver(message, frame).await;
                }
            }
        }
    }

    /// Delivers the next message of a chat followed here; `false` if it reached no one (its
    /// members could not be read), when the cursor stays before it: the next wake-up of the
    /// chat, or the next head check, reads it again.
    pub(super) async fn deliver(&mut self, message: MessageFrame, frame: Bytes) -> bool {
        self.learn_members_from(&message);
        let (chat, seq) = (message.chat_id, message.seq);
        if !self.gateway.deliver_stored(&message, frame).await {
            Counters::bump(&self.gateway.counters().deliveries_deferred);
            return false;
        }
        if let Some(followed) = self.chats.get_mut(&chat) {
            followed.cursor.delivered(seq);
        }
        true
    }

    /// Reads `chat` from storage after `delivered` up to `until` (or as far as it goes) and
    /// delivers it.
    pub(super) async fn catch_up(&mut self, chat: ChatId, mut delivered: Seq, until: Seq) {
        while delivered < until {
            let page = match self
                .gateway
                .storage()
                .read_after(chat, Reader::Checked { floor: Seq(0) }, delivered, GAP_PAGE)
                .await
            {
                Ok(page) => page,
                Err(error) => {
                    tracing::warn!(%error, chat = chat.0, "cannot read a gap; the next check will");
                    return;
                }
            };
            let Some(last) = page.messages.last().map(|message| message.seq) else {
                return;
            };
            for message in page.messages {
                let (message, frame) = crate::gateway::encode_message(message);
                if !self.deliver(message, frame).await {
                    // Whatever follows waits with it, in order.
                    return;
                }
                Counters::bump(&self.gateway.counters().messages_caught_up);
            }
            delivered = last;
            if !page.more {
                return;
            }
        }
    }

    pub(super) async fn check_heads(&mut self) {
        self.check_epoch().await;
        let chats: Vec<ChatId> = self.chats.keys().copied().collect();
        self.check_heads_of(chats).await;
        self.hand_waiting_to_device().await;
        self.close_sessions_gone().await;
        self.push_chats_joined_meanwhile().await;
        self.tell_departures_owed().await;
        self.apply_privacy_changed_meanwhile().await;
        self.tell_devices_changed_meanwhile().await;
        self.renew_presence().await;
    }

    /// Reads the storage epoch again: if the database was restored or failed over while this
    /// process ran, what it delivered and what its clients hold may be ahead of it, so every
    /// session here is closed, to come back and sync afresh under the new epoch.
    async fn check_epoch(&mut self) {
        match self.gateway.storage().recheck_epoch().await {
            Ok(epoch) if epoch != self.epoch => {
                tracing::warn!(
                    before = self.epoch.0,
                    now = epoch.0,
                    "the storage epoch moved on: every session here syncs afresh"
                );
                self.epoch = epoch;
                self.gateway.fanout().evict_all();
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "cannot read the storage epoch"),
        }
    }

    /// Reads `chats`' heads, and delivers whatever lies past their cursors.
    pub(super) async fn check_heads_of(&mut self, chats: Vec<ChatId>) {
        if chats.is_empty() {
            return;
        }
        let heads = match self.gateway.storage().heads(chats).await {
            Ok(heads) => heads,
            Err(error) => {
                tracing::warn!(%error, "cannot read the chats' heads");
                return;
            }
        };
        for (chat, head) in heads {
            let Some(behind) = self.chats.get(&chat).and_then(|f| f.cursor.behind(head)) else {
                continue;
            };
            tracing::debug!(
                chat = chat.0,
                behind = behind.0,
                head = head.0,
                "catching up"
            );
            self.catch_up(chat, behind, head).await;
        }
    }
}
