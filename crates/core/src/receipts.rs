//! How far the other members of a chat have received and read it, as this device learnt it:
//! [`ChatReceipts`] merges every [`Receipt`] it is shown (from `ChatInfo.receipts` and from
//! `Receipt` frames), in any order, into the highest positions per member, and keeps a small
//! log of the read advances it observed, so a group's message can say who read it *when*.
//!
//! Positions only move forward (the server's rule too), so merging is taking the maximum and
//! the result does not depend on the order receipts arrive in. The log is a set of
//! `(member, read, when)` advances, bounded to the newest [`READ_LOG_LEN`] by position: also
//! independent of arrival order.

use std::collections::{BTreeMap, BTreeSet};

use merpati_protocol::{Receipt, Seq, UserId};
use serde::{Deserialize, Serialize};

/// The most read advances a chat keeps (per chat, all members together). Older ones fall
/// away: their messages still show as read, without the time.
pub const READ_LOG_LEN: usize = 128;

/// A member's read position moved to `read` at `at_ms`, as a `Receipt` said.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ReadAdvance {
    /// How far they had read (first, so the log orders by position).
    pub read: Seq,
    /// Who.
    pub user: UserId,
    /// When, in milliseconds since the Unix epoch.
    pub at_ms: u64,
}

/// One member's receipt for one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageReceipt {
    /// A device of theirs holds the message.
    pub delivered: bool,
    /// They saw it on screen (as far as they share it).
    pub read: bool,
    /// When they read it, if a logged advance says so.
    pub read_at_ms: Option<u64>,
}

/// The other members' positions in one chat and the read advances observed. See the module
/// documentation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChatReceipts {
    positions: BTreeMap<UserId, Receipt>,
    log: BTreeSet<ReadAdvance>,
}

impl ChatReceipts {
    /// Receipts as a chat record stored them.
    pub fn restore(receipts: &[Receipt], log: &[ReadAdvance]) -> ChatReceipts {
        let mut restored = ChatReceipts {
            log: crate::sorting::set_from(log.iter().copied()),
            ..ChatReceipts::default()
        };
        for receipt in receipts {
            restored.merge(*receipt);
        }
        restored.trim();
        restored
    }

    /// Takes in a member's receipt; returns whether anything this device knew moved.
    pub fn merge(&mut self, receipt: Receipt) -> bool {
        let known = self
            .positions
            .entry(receipt.user)
            .or_insert_with(|| Receipt::none(receipt.user));
        let before = *known;
        known.delivered = known.delivered.max(receipt.delivered).max(receipt.read);
        if (receipt.read, receipt.read_at_ms) > (known.read, known.read_at_ms) {
            known.read = receipt.read;
            known.read_at_ms = receipt.read_at_ms;
        }
        let mut moved = *known != before;
        if receipt.read > Seq(0) && receipt.read_at_ms > 0 {
            moved |= self.log.insert(ReadAdvance {
                read: receipt.read,
                user: receipt.user,
                at_ms: receipt.read_at_ms,
            });
            self.trim();
        }
        moved
    }

    fn trim(&mut self) {
        while self.log.len() > READ_LOG_LEN {
            self.log.pop_first();
        }
    }

    /// Every member's positions, for the chat record.
    pub fn positions(&self) -> Vec<Receipt> {
        self.positions.values().copied().collect()
    }

    /// The read log, for the chat record.
    pub fn log(&self) -> Vec<ReadAdvance> {
        self.log.iter().copied().collect()
    }

    /// One member's receipt for the message at `seq`.
    pub fn of(&self, user: UserId, seq: Seq) -> MessageReceipt {
        let position = self.positions.get(&user);
        let read = position.is_some_and(|position| position.read >= seq);
        MessageReceipt {
            delivered: read || position.is_some_and(|position| position.delivered >= seq),
            read,
            // The first advance of theirs that covered it.
            read_at_ms: self
                .log
                .iter()
                .filter(|advance| advance.user == user && advance.read >= seq)
                .map(|advance| advance.at_ms)
                .min(),
        }
    }

    /// Whether every one of `others` (at least one) holds, and has read, the message at `seq`.
    pub fn reached(&self, others: &[UserId], seq: Seq) -> (bool, bool) {
        if others.is_empty() {
            return (false, false);
        }
        let receipts: Vec<MessageReceipt> = others.iter().map(|user| self.of(*user, seq)).collect();
        (
            receipts.iter().all(|receipt| receipt.delivered),
            receipts.iter().all(|receipt| receipt.read),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOMO: UserId = UserId(2);
    const JOKO: UserId = UserId(3);

    fn receipt(user: UserId, delivered: u64, read: u64, at: u64) -> Receipt {
        Receipt {
            user,
            delivered: Seq(delivered),
            read: Seq(read),
            read_at_ms: at,
        }
    }

    #[test]
    fn receipts_out_of_order_keep_the_highest_positions() {
        let receipts = [
            receipt(TOMO, 5, 3, 300),
            receipt(TOMO, 2, 1, 100),
            receipt(TOMO, 9, 7, 700),
            receipt(JOKO, 4, 0, 0),
        ];
        let mut forwards = ChatReceipts::default();
        let mut backwards = ChatReceipts::default();
        for receipt in receipts {
            forwards.merge(receipt);
        }
        for receipt in receipts.iter().rev() {
            backwards.merge(*receipt);
        }
        assert_eq!(forwards, backwards);
        assert_eq!(forwards.positions()[0], receipt(TOMO, 9, 7, 700));
    }

    #[test]
    fn reading_implies_holding() {
        let mut receipts = ChatReceipts::default();
        receipts.merge(receipt(TOMO, 0, 4, 40));
        assert!(receipts.of(TOMO, Seq(4)).delivered);
    }

    #[test]
    fn a_message_is_read_at_the_first_advance_that_covered_it() {
        let mut receipts = ChatReceipts::default();
        receipts.merge(receipt(TOMO, 3, 3, 300));
        receipts.merge(receipt(TOMO, 8, 8, 800));
        assert_eq!(receipts.of(TOMO, Seq(2)).read_at_ms, Some(300));
        assert_eq!(receipts.of(TOMO, Seq(5)).read_at_ms, Some(800));
        let unread = receipts.of(TOMO, Seq(9));
        assert_eq!((unread.delivered, unread.read), (false, false));
    }

    #[test]
    fn everyone_must_reach_a_message_and_nobody_is_not_everyone() {
        let mut receipts = ChatReceipts::default();
        receipts.merge(receipt(TOMO, 5, 5, 50));
        receipts.merge(receipt(JOKO, 5, 2, 20));
        assert_eq!(receipts.reached(&[TOMO, JOKO], Seq(4)), (true, false));
        assert_eq!(receipts.reached(&[TOMO], Seq(4)), (true, true));
        assert_eq!(receipts.reached(&[], Seq(1)), (false, false));
    }

    #[test]
    fn the_log_is_bounded_to_the_newest_advances_and_survives_a_restore() {
        let mut receipts = ChatReceipts::default();
        for read in 1..=(READ_LOG_LEN as u64 + 10) {
            receipts.merge(receipt(TOMO, read, read, read * 10));
        }
        assert_eq!(receipts.log().len(), READ_LOG_LEN);
        assert_eq!(
            receipts.of(TOMO, Seq(1)).read_at_ms,
            Some(110),
            "older ones fell away"
        );
        let restored = ChatReceipts::restore(&receipts.positions(), &receipts.log());
        assert_eq!(restored, receipts);
    }
}
