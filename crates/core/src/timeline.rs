//! One chat's messages as a device holds them, and how each is shown.
//!
//! A [`Timeline`] keeps confirmed messages by sequence (so a message delivered twice — live
//! and again in a catch-up page — is shown once, in sequence order) and tracks the
//! positions that say what the device holds without gaps: `floor..=synced`. Messages that
//! arrive beyond a gap wait in `ahead` until the gap is filled. A message already held is
//! skipped as a duplicate, so every operation, restoring from the store included, keeps the
//! positions right about what is loaded: each loaded message beyond `synced` is in `ahead`
//! (or `synced` would never pass it), and none is loaded just below `floor` (or the history
//! asked for below `floor` would be what is held already, again and again). A range the
//! server does not let this account read (while it was out of a group) counts as held. What the views
//! show of each message is in `items` ([`TimelineItem`]).

mod items;

use std::collections::{BTreeMap, BTreeSet};

use merpati_protocol::content::{EncryptedBody, SystemEvent, is_system_body};
use merpati_protocol::{Seq, UserId};

use crate::store::MessageRecord;

pub(crate) use items::system_members;
pub use items::{MessageLock, MessageStatus, Person, ReactionSummary, TimelineItem, system_text};

/// What inserting a message changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    /// Already held: nothing changed.
    Duplicate,
    /// New, and the positions moved or stayed consistent.
    New,
    /// New, but it lies beyond a gap: messages after `synced` are missing.
    NewBeyondGap,
    /// Within the range held, below the messages loaded in memory (an old message of this
    /// device's sent again and acknowledged at its first position): it belongs with the
    /// stored ones it sits among, and is loaded with them, not on its own above a stretch
    /// that is not loaded.
    BelowLoaded,
}

/// Whom a line the server wrote adds to the group (`true`) or takes out of it, if it is one.
fn membership_line(message: &MessageRecord) -> Option<(UserId, bool)> {
    if !is_system_body(&message.body) {
        return None;
    }
    match EncryptedBody::from_body(&message.body)? {
        EncryptedBody::System(SystemEvent::Added { user, .. }) => Some((user.id, true)),
        EncryptedBody::System(SystemEvent::Removed { user, .. } | SystemEvent::Left { user }) => {
            Some((user.id, false))
        }
        _ => None,
    }
}

/// One chat's confirmed messages held in memory, with its gap-free range.
#[derive(Debug, Clone, Default)]
pub struct Timeline {
    messages: BTreeMap<Seq, MessageRecord>,
    /// The lines held that add someone to the group (`true`) or take someone out (`false`),
    /// for [`Timeline::added_after`]: a few among many messages, found once as they come.
    membership_lines: BTreeMap<Seq, (UserId, bool)>,
    floor: Seq,
    synced: Seq,
    ahead: BTreeSet<Seq>,
}

impl Timeline {
    /// A timeline that knows the device holds `floor..=synced` (perhaps not all in memory).
    pub fn with_positions(floor: Seq, synced: Seq) -> Timeline {
        Timeline {
            floor,
            synced,
            ..Timeline::default()
        }
    }

    /// The oldest sequence held without a gap up to [`Timeline::synced`] (`Seq(0)`: none).
    pub fn floor(&self) -> Seq {
        self.floor
    }

    /// The newest sequence held without a gap after [`Timeline::floor`].
    pub fn synced(&self) -> Seq {
        self.synced
    }

    /// The message at a position, if loaded.
    pub fn get(&self, seq: Seq) -> Option<&MessageRecord> {
        self.messages.get(&seq)
    }

    /// Replaces the body of a loaded message (emptied when it is deleted); returns the
    /// message as it now is.
    pub fn replace_body(&mut self, seq: Seq, body: Vec<u8>) -> Option<&MessageRecord> {
        let message = self.messages.get_mut(&seq)?;
        message.body = body;
        match membership_line(message) {
            Some(line) => self.membership_lines.insert(seq, line),
            None => self.membership_lines.remove(&seq),
        };
        self.messages.get(&seq)
    }

    /// The oldest sequence loaded in memory.
    pub fn oldest_loaded(&self) -> Option<Seq> {
        self.messages.keys().next().copied()
    }

    /// Adds a message going forward (live, or a catch-up page).
    pub fn insert(&mut self, message: MessageRecord) -> Inserted {
        let seq = message.seq;
        if seq == Seq(0) || self.messages.contains_key(&seq) {
            return Inserted::Duplicate;
        }
        if self.floor > Seq(0)
            && (self.floor..=self.synced).contains(&seq)
            && self.oldest_loaded().is_some_and(|oldest| seq < oldest)
        {
            return Inserted::BelowLoaded;
        }
        self.hold(message);
        if self.floor == Seq(0) {
            // The first message this device sees of a chat whose beginning it does not know
            // (a newest page after sign-in on a new device): the range starts here.
            self.floor = seq;
            self.synced = seq;
        } else if seq == self.synced.next() {
            self.synced = seq;
        } else if seq > self.synced {
            self.ahead.insert(seq);
        }
        self.absorb_ahead();
        self.absorb_below();
        if self.ahead.is_empty() {
            Inserted::New
        } else {
            Inserted::NewBeyondGap
        }
    }

    /// Adds a page of older history (ascending, gap-free, ending just below the floor).
    pub fn insert_older(&mut self, page: Vec<MessageRecord>) -> usize {
        let mut added = 0;
        for message in page.into_iter().rev() {
            let seq = message.seq;
            if seq == Seq(0) || self.messages.contains_key(&seq) {
                continue;
            }
            if self.floor == Seq(0) {
                // Nothing of the chat held yet: the range starts at the page's newest.
                self.floor = seq;
                if self.synced == Seq(0) {
                    self.synced = seq;
                }
            }
            self.hold(message);
            added += 1;
        }
        self.absorb_below();
        added
    }

    /// A forward page (the answer to a catch-up from [`Timeline::synced`] or before it)
    /// begins at `first`: the server left out what lies between, which this account may not
    /// read (it was out of the group then, and was added again at `first`). The range counts
    /// as held, so that it is not asked for again and again.
    pub fn skip_unreadable_before(&mut self, first: Seq) {
        if self.floor > Seq(0) && first > self.synced.next() {
            self.synced = Seq(first.0 - 1);
            self.absorb_ahead();
        }
    }

    /// The store holds nothing below the oldest message loaded, though `floor` said it held
    /// from there: the range starts at that message, so that what is missing below it is asked
    /// of the server rather than taken as held. Answers whether the floor moved.
    pub fn floor_at_oldest_loaded(&mut self) -> bool {
        match self.oldest_loaded() {
            Some(oldest) if self.floor > Seq(0) && oldest > self.floor && oldest <= self.synced => {
                self.floor = oldest;
                true
            }
            _ => false,
        }
    }

    /// Restores messages read from the local store. Those beyond [`Timeline::synced`] arrived
    /// past a gap before the store was read: they wait in `ahead` again, so that the catch-up
    /// filling the gap carries `synced` over them instead of taking them for duplicates and
    /// stopping short of them.
    pub fn restore(&mut self, stored: Vec<MessageRecord>) {
        for message in stored {
            if self.floor > Seq(0) && message.seq > self.synced {
                self.ahead.insert(message.seq);
            }
            self.hold(message);
        }
        self.absorb_ahead();
        self.absorb_below();
    }

    /// Keeps `message`, noting it among the membership lines if it is one.
    fn hold(&mut self, message: MessageRecord) {
        if let Some(line) = membership_line(&message) {
            self.membership_lines.insert(message.seq, line);
        }
        self.messages.insert(message.seq, message);
    }

    fn absorb_ahead(&mut self) {
        while self.ahead.remove(&self.synced.next()) {
            self.synced = self.synced.next();
        }
        self.ahead.retain(|seq| *seq > self.synced);
    }

    /// Lowers `floor` over every loaded message that now touches it, however they came: a
    /// page below the floor comes oldest first (only its newest message is next to the floor
    /// as it goes in), and a message loaded already is skipped, never inserted again.
    fn absorb_below(&mut self) {
        while self.floor > Seq(1) && self.messages.contains_key(&Seq(self.floor.0 - 1)) {
            self.floor = Seq(self.floor.0 - 1);
        }
    }

    /// Whether messages beyond [`Timeline::synced`] are held while some before them are not.
    pub fn has_gap(&self) -> bool {
        !self.ahead.is_empty()
    }

    /// The confirmed messages, by ascending sequence.
    pub fn messages(&self) -> impl DoubleEndedIterator<Item = &MessageRecord> {
        self.messages.values()
    }

    /// The newest confirmed message.
    pub fn last(&self) -> Option<&MessageRecord> {
        self.messages.values().next_back()
    }

    /// The first message newer than `read` that passes `counts`: where unread messages begin.
    pub fn first_after(
        &self,
        read: Seq,
        counts: impl Fn(&MessageRecord) -> bool,
    ) -> Option<&MessageRecord> {
        self.messages
            .range(read.next()..)
            .map(|(_, message)| message)
            .find(|message| counts(message))
    }

    /// How many messages newer than `read` pass `counts` (the engine counts others'
    /// messages that show as rows).
    pub fn unread_after(&self, read: Seq, counts: impl Fn(&MessageRecord) -> bool) -> usize {
        self.messages
            .range(read.next()..)
            .filter(|(_, message)| counts(message))
            .count()
    }

    /// Who was added to the group after the message at `seq`, not having been in it then,
    /// as the lines held after it say: a member whose first line after it adds them (one
    /// removed or gone first was in it). The message never reached them.
    pub fn added_after(&self, seq: Seq) -> BTreeSet<UserId> {
        let mut first_lines = BTreeMap::new();
        for &(user, added) in self
            .membership_lines
            .range(seq.next()..)
            .map(|(_, line)| line)
        {
            first_lines.entry(user).or_insert(added);
        }
        first_lines
            .into_iter()
            .filter_map(|(user, added)| added.then_some(user))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store_suite::sample_message;

    #[test]
    fn in_order_messages_advance_synced() {
        let mut timeline = Timeline::default();
        for seq in 1..=3 {
            assert_eq!(timeline.insert(sample_message(1, seq, "m")), Inserted::New);
        }
        assert_eq!((timeline.floor(), timeline.synced()), (Seq(1), Seq(3)));
    }

    #[test]
    fn a_duplicate_is_ignored() {
        let mut timeline = Timeline::default();
        timeline.insert(sample_message(1, 1, "m"));
        assert_eq!(
            timeline.insert(sample_message(1, 1, "m")),
            Inserted::Duplicate
        );
        assert_eq!(timeline.messages().count(), 1);
    }

    #[test]
    fn a_gap_is_reported_until_filled() {
        let mut timeline = Timeline::default();
        timeline.insert(sample_message(1, 1, "m"));
        assert_eq!(
            timeline.insert(sample_message(1, 4, "m")),
            Inserted::NewBeyondGap
        );
        assert_eq!(timeline.synced(), Seq(1));
        assert_eq!(
            timeline.insert(sample_message(1, 2, "m")),
            Inserted::NewBeyondGap
        );
        assert_eq!(timeline.insert(sample_message(1, 3, "m")), Inserted::New);
        assert_eq!(timeline.synced(), Seq(4));
        let order: Vec<u64> = timeline.messages().map(|message| message.seq.0).collect();
        assert_eq!(order, vec![1, 2, 3, 4]);
    }

    #[test]
    fn older_pages_lower_the_floor() {
        let mut timeline = Timeline::default();
        for seq in 11..=20 {
            timeline.insert(sample_message(1, seq, "m"));
        }
        let page = (1..=10).map(|seq| sample_message(1, seq, "m")).collect();
        assert_eq!(timeline.insert_older(page), 10);
        assert_eq!((timeline.floor(), timeline.synced()), (Seq(1), Seq(20)));
    }

    #[test]
    fn restored_messages_beyond_a_gap_wait_for_it_again() {
        let mut timeline = Timeline::with_positions(Seq(1), Seq(1));
        timeline.restore(vec![sample_message(1, 1, "m"), sample_message(1, 3, "m")]);
        assert!(timeline.has_gap());
        assert_eq!(timeline.insert(sample_message(1, 2, "m")), Inserted::New);
        assert_eq!(
            timeline.insert(sample_message(1, 3, "m")),
            Inserted::Duplicate
        );
        assert_eq!(timeline.insert(sample_message(1, 4, "m")), Inserted::New);
        assert_eq!((timeline.floor(), timeline.synced()), (Seq(1), Seq(4)));
    }

    #[test]
    fn messages_held_below_the_floor_lower_it_in_any_order() {
        // A live message first, then the newest page ending with it, oldest first.
        let mut timeline = Timeline::default();
        timeline.insert(sample_message(1, 201, "m"));
        for seq in 102..=201 {
            timeline.insert(sample_message(1, seq, "m"));
        }
        assert_eq!((timeline.floor(), timeline.synced()), (Seq(102), Seq(201)));
        // History that is partly held already still carries the floor down, through what
        // is held below it.
        let mut timeline = Timeline::with_positions(Seq(200), Seq(200));
        for seq in 120..=150 {
            timeline.insert(sample_message(1, seq, "m"));
        }
        assert_eq!(timeline.floor(), Seq(200));
        let page = (150..=199).map(|seq| sample_message(1, seq, "m")).collect();
        assert_eq!(timeline.insert_older(page), 49);
        assert_eq!(timeline.floor(), Seq(120));
        // So does restoring what the store holds below a floor stored too high.
        let mut timeline = Timeline::with_positions(Seq(200), Seq(201));
        timeline.restore((150..=201).map(|seq| sample_message(1, seq, "m")).collect());
        assert_eq!(timeline.floor(), Seq(150));
    }

    #[test]
    fn unread_counts_only_others_after_the_read_mark() {
        let mut timeline = Timeline::default();
        for seq in 1..=6 {
            timeline.insert(sample_message(1, seq, "m"));
        }
        // sample_message alternates senders 2, 1, 2, 1, ...
        let from_others = |message: &MessageRecord| message.sender != UserId(1);
        assert_eq!(timeline.unread_after(Seq(2), from_others), 2);
    }

    #[test]
    fn only_those_not_in_the_group_at_a_message_count_as_added_after_it() {
        let person = |id: u64| merpati_protocol::Member {
            id: UserId(id),
            username: merpati_protocol::Username::parse(&format!("user{id}")).expect("a name"),
        };
        let line = |seq: u64, event: SystemEvent| MessageRecord {
            body: event.to_body(),
            ..sample_message(1, seq, "")
        };
        let mut timeline = Timeline::default();
        timeline.insert(sample_message(1, 1, "m"));
        timeline.insert(line(
            2,
            SystemEvent::Added {
                by: person(1),
                user: person(3),
            },
        ));
        // 4 was in it at 1: removed, then added again.
        timeline.insert(line(
            3,
            SystemEvent::Removed {
                by: person(1),
                user: person(4),
            },
        ));
        timeline.insert(line(
            4,
            SystemEvent::Added {
                by: person(1),
                user: person(4),
            },
        ));
        timeline.insert(sample_message(1, 5, "m"));
        assert_eq!(timeline.added_after(Seq(1)), BTreeSet::from([UserId(3)]));
        assert_eq!(timeline.added_after(Seq(3)), BTreeSet::from([UserId(4)]));
        assert!(timeline.added_after(Seq(5)).is_empty());
    }
}
