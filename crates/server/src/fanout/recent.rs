//! Who sent the newest messages of each active group, so that a receipt reaches the senders
//! of the messages it covers rather than every member.
//!
//! A receipt usually covers the last message or few: per group the sender of each of the
//! newest [`KEPT_PER_CHAT`] messages is enough. When a receipt covers older messages (or the
//! server started since), the record cannot say, and the caller tells every member instead.
//! 1:1 chats need no record: the receipt goes to the other person.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use merpati_protocol::{ChatId, Seq, UserId};

/// How many of a group's newest messages are remembered.
pub(crate) const KEPT_PER_CHAT: usize = 16;

/// The most groups remembered; past it the record starts over (about 256 bytes each).
const KEPT_CHATS: usize = 20_000;

/// Per group, `(seq, sender)` of its newest messages, ascending.
#[derive(Debug, Default)]
pub(crate) struct RecentSenders {
    chats: Mutex<HashMap<ChatId, VecDeque<(Seq, UserId)>>>,
}

impl RecentSenders {
    /// Records that `sender` sent message `seq` of `chat`. Messages are committed in order
    /// but recorded by their sessions as each hears, so they may come slightly out of order.
    pub(crate) fn record(&self, chat: ChatId, seq: Seq, sender: UserId) {
        let mut chats = self.lock();
        if chats.len() >= KEPT_CHATS && !chats.contains_key(&chat) {
            chats.clear();
        }
        let recent = chats
            .entry(chat)
            .or_insert_with(|| VecDeque::with_capacity(KEPT_PER_CHAT));
        let at = recent.partition_point(|&(kept, _)| kept < seq);
        if recent.get(at).is_some_and(|&(kept, _)| kept == seq) {
            return;
        }
        if recent.len() == KEPT_PER_CHAT {
            if at == 0 {
                // Older than everything kept: not worth keeping.
                return;
            }
            recent.pop_front();
            recent.insert(at - 1, (seq, sender));
        } else {
            recent.insert(at, (seq, sender));
        }
    }

    /// The senders of `chat`'s messages `after + 1 ..= upto`, each once; `None` if the record
    /// does not hold every one of them.
    pub(crate) fn senders(&self, chat: ChatId, after: Seq, upto: Seq) -> Option<Vec<UserId>> {
        if upto <= after {
            return Some(Vec::new());
        }
        let chats = self.lock();
        let recent = chats.get(&chat)?;
        let mut senders = Vec::new();
        let mut covered = 0;
        for &(_, sender) in recent
            .iter()
            .filter(|&&(seq, _)| seq > after && seq <= upto)
        {
            covered += 1;
            if !senders.contains(&sender) {
                senders.push(sender);
            }
        }
        (covered == upto.0 - after.0).then_some(senders)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ChatId, VecDeque<(Seq, UserId)>>> {
        // Every update is one insert or clear: a panic cannot leave it half-made.
        self.chats
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_senders_of_a_recent_range_are_known_once_each() {
        let recent = RecentSenders::default();
        let chat = ChatId(1);
        for (seq, sender) in [(1, 7), (2, 8), (3, 7), (4, 9)] {
            recent.record(chat, Seq(seq), UserId(sender));
        }
        assert_eq!(
            recent.senders(chat, Seq(0), Seq(3)),
            Some(vec![UserId(7), UserId(8)])
        );
        assert_eq!(recent.senders(chat, Seq(3), Seq(4)), Some(vec![UserId(9)]));
        assert_eq!(recent.senders(chat, Seq(4), Seq(4)), Some(vec![]));
    }

    #[test]
    fn a_range_older_than_the_record_or_with_a_gap_is_unknown() {
        let recent = RecentSenders::default();
        let chat = ChatId(1);
        for seq in 1..=(KEPT_PER_CHAT as u64 + 4) {
            recent.record(chat, Seq(seq), UserId(seq));
        }
        assert_eq!(recent.senders(chat, Seq(0), Seq(5)), None);
        assert!(recent.senders(chat, Seq(10), Seq(20)).is_some());
        recent.record(ChatId(2), Seq(1), UserId(1));
        recent.record(ChatId(2), Seq(3), UserId(1));
        assert_eq!(recent.senders(ChatId(2), Seq(0), Seq(3)), None);
        assert_eq!(recent.senders(ChatId(3), Seq(0), Seq(1)), None);
    }

    #[test]
    fn messages_recorded_out_of_order_are_kept_in_order() {
        let recent = RecentSenders::default();
        let chat = ChatId(1);
        for seq in [2, 1, 4, 3] {
            recent.record(chat, Seq(seq), UserId(seq));
        }
        let kept: Vec<u64> = recent.lock()[&chat].iter().map(|(seq, _)| seq.0).collect();
        assert_eq!(kept, [1, 2, 3, 4]);
    }
}
