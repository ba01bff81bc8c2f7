//! A small model of the server's contract (`docs/protocol.md`): it deduplicates on
//! `client_msg_id`, numbers messages per chat without gaps, drops a deleted message's body,
//! keeps each member's delivery and read positions, and answers pages of the log.

use std::collections::{BTreeMap, HashMap};

use merpati_protocol::{
    ChatInfo, ChatKind, ClientMsgId, Member, MessageFrame, Receipt, Seq, ServerFrame, UserId,
};

use crate::CHAT;

pub(crate) struct ModelServer {
    pub(crate) log: Vec<MessageFrame>,
    pub(crate) by_client_id: HashMap<ClientMsgId, Seq>,
    pub(crate) members: Vec<Member>,
    /// Each member's delivery and read positions.
    pub(crate) receipts: BTreeMap<UserId, Receipt>,
    /// Dates read positions: a counter, so that `read_at_ms` moves forward.
    pub(crate) clock: u64,
}

impl ModelServer {
    /// The chat as `viewer` is told it: its own read position, the others' receipts.
    pub(crate) fn info_for(&self, viewer: UserId) -> ChatInfo {
        ChatInfo {
            id: CHAT,
            kind: ChatKind::Group,
            title: "Keluarga".into(),
            members: self.members.clone(),
            head: Seq(self.log.len() as u64),
            read: self
                .receipts
                .get(&viewer)
                .map(|receipt| receipt.read)
                .unwrap_or_default(),
            created_ms: 0,
            admins: vec![UserId(1)],
            receipts: self
                .receipts
                .values()
                .filter(|receipt| receipt.user != viewer)
                .copied()
                .collect(),
        }
    }

    /// Moves a member's positions forward (never past the head; reading implies holding);
    /// returns the receipt to push if they moved.
    pub(crate) fn mark(&mut self, user: UserId, delivered: Seq, read: Seq) -> Option<Receipt> {
        let head = Seq(self.log.len() as u64);
        self.clock += 1;
        let clock = self.clock;
        let receipt = self
            .receipts
            .entry(user)
            .or_insert_with(|| Receipt::none(user));
        let before = *receipt;
        let read = read.min(head);
        if read > receipt.read {
            receipt.read = read;
            receipt.read_at_ms = clock;
        }
        receipt.delivered = receipt.delivered.max(delivered.min(head)).max(receipt.read);
        (*receipt != before).then_some(*receipt)
    }

    /// Stores a message once (a resend gets the first copy's sequence); returns its sequence
    /// and whether it is new.
    pub(crate) fn append(
        &mut self,
        sender: UserId,
        client_msg_id: ClientMsgId,
        body: Vec<u8>,
    ) -> (Seq, bool) {
        if let Some(seq) = self.by_client_id.get(&client_msg_id) {
            return (*seq, false);
        }
        let seq = Seq(self.log.len() as u64 + 1);
        self.by_client_id.insert(client_msg_id, seq);
        self.log.push(MessageFrame {
            chat_id: CHAT,
            seq,
            client_msg_id,
            sender,
            sent_at_ms: seq.0,
            body,
        });
        (seq, true)
    }

    pub(crate) fn page_after(&self, after: Seq, limit: usize) -> ServerFrame {
        let start = after.0 as usize;
        let end = (start + limit).min(self.log.len());
        ServerFrame::Page {
            chat_id: CHAT,
            messages: self
                .log
                .get(start..end)
                .map(<[_]>::to_vec)
                .unwrap_or_default(),
            more: end < self.log.len(),
        }
    }
}
