//! The merge rules for messages that act on an earlier message: edits, deletions for everyone
//! and reactions.
//!
//! Such a message names its target by `client_msg_id` inside its encrypted content
//! (`MessageContent::{Edit, Delete, Reaction}`). A device may receive them in any order — an
//! edit before the message it edits (which may only arrive later from the server, or from the
//! local store while scrolling back), a deletion racing a reaction, two edits swapped — so
//! [`Annotations`] keeps every event it has seen, per target, keyed by the event's own
//! sequence number, and [`Annotations::fold`] folds them in sequence order each time the
//! target is shown. The result is a function of the *set* of events, never of their arrival
//! order, so every device converges.
//!
//! The rules, for a target sent by `S`:
//! - **Edits** count only when sent by `S`; the newest by sequence wins.
//! - **Deletion** counts only when sent by `S`, and is terminal: the text, every edit and
//!   every reaction are gone, and nothing later changes it.
//! - **Reactions**: one per person; the newest by sequence wins; `None` takes it back. A
//!   reaction stays when its author is later removed from the chat: the server accepted it
//!   while they were a member.
//!
//! The person's own actions still in the outbox have no sequence yet: they are folded after
//! every confirmed event, in the order they were written, so they show at once
//! (optimistically) and are confirmed — or dropped, if refused — later.

use std::collections::{BTreeMap, HashMap};

use merpati_protocol::{
    ClientMsgId, Seq, UserId,
    content::{MAX_REACTION_BYTES, MessageContent},
};

/// What an annotating message does to its target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Replaces the target's text.
    Edit(String),
    /// Deletes the target for everyone.
    Delete,
    /// Sets the sender's reaction (`Some(emoji)`) or takes it back (`None`).
    React(Option<String>),
}

impl Action {
    /// The target and action of a message's content, if it acts on another message. A
    /// reaction that is empty or over [`MAX_REACTION_BYTES`] is not one: such content is
    /// ignored rather than shown.
    pub fn of(content: &MessageContent) -> Option<(ClientMsgId, Action)> {
        match content {
            MessageContent::Edit { target, text } => Some((*target, Action::Edit(text.clone()))),
            MessageContent::Delete { target } => Some((*target, Action::Delete)),
            MessageContent::Reaction { target, emoji } => match emoji {
                Some(emoji) if emoji.is_empty() || emoji.len() > MAX_REACTION_BYTES => None,
                emoji => Some((*target, Action::React(emoji.clone()))),
            },
            MessageContent::Text { .. }
            | MessageContent::Reply { .. }
            | MessageContent::Forwarded { .. }
            | MessageContent::Attachment(_)
            | MessageContent::AesGcmAttachment(_) => None,
        }
    }
}

/// A target as its events leave it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Folded {
    /// The text of the newest valid edit, if any.
    pub edit: Option<String>,
    /// Deleted for everyone by its sender.
    pub deleted: bool,
    /// Each person's reaction.
    pub reactions: BTreeMap<UserId, String>,
}

/// Every annotating event a chat's device has seen, by target. See the module documentation.
#[derive(Debug, Clone, Default)]
pub struct Annotations {
    by_target: HashMap<ClientMsgId, BTreeMap<Seq, (UserId, Action)>>,
}

impl Annotations {
    /// Records an event: the message at `seq`, sent by `sender`, does `action` to `target`.
    /// The same event recorded twice counts once.
    pub fn add(&mut self, target: ClientMsgId, seq: Seq, sender: UserId, action: Action) {
        self.by_target
            .entry(target)
            .or_default()
            .insert(seq, (sender, action));
    }

    /// Whether any event names `target`.
    pub fn touches(&self, target: ClientMsgId) -> bool {
        self.by_target.contains_key(&target)
    }

    /// Folds the events naming `target`, in sequence order, then the person's own `pending`
    /// actions (sent by `me`) in the order written. Only the target's `author` edits or deletes
    /// it: its sender, or nobody for a line the server wrote into a group (whose sender is the
    /// member whose change it tells, and who may not take it back).
    pub fn fold<'a>(
        &self,
        target: ClientMsgId,
        author: Option<UserId>,
        me: UserId,
        pending: impl IntoIterator<Item = &'a Action>,
    ) -> Folded {
        let confirmed = self
            .by_target
            .get(&target)
            .into_iter()
            .flat_map(|events| events.values())
            .map(|(sender, action)| (*sender, action));
        let pending = pending.into_iter().map(|action| (me, action));
        let mut folded = Folded::default();
        for (sender, action) in confirmed.chain(pending) {
            match action {
                Action::Delete if Some(sender) == author => {
                    // Terminal: nothing after a deletion changes the target.
                    return Folded {
                        deleted: true,
                        ..Folded::default()
                    };
                }
                Action::Edit(text) if Some(sender) == author => {
                    folded.edit = Some(text.clone());
                }
                Action::React(Some(emoji)) => {
                    folded.reactions.insert(sender, emoji.clone());
                }
                Action::React(None) => {
                    folded.reactions.remove(&sender);
                }
                // Someone else's edit or deletion: not theirs to make.
                Action::Delete | Action::Edit(_) => {}
            }
        }
        folded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SARI: UserId = UserId(1);
    const TOMO: UserId = UserId(2);
    const JOKO: UserId = UserId(3);
    const TARGET: ClientMsgId = ClientMsgId([9; 16]);

    fn fold(events: &[(u64, UserId, Action)]) -> Folded {
        let mut annotations = Annotations::default();
        for (seq, sender, action) in events {
            annotations.add(TARGET, Seq(*seq), *sender, action.clone());
        }
        annotations.fold(TARGET, Some(SARI), JOKO, [])
    }

    fn edit(text: &str) -> Action {
        Action::Edit(text.to_owned())
    }

    fn react(emoji: &str) -> Action {
        Action::React(Some(emoji.to_owned()))
    }

    /// Every ordering of `events`, by Heap's algorithm.
    fn permutations<T: Clone>(events: &[T]) -> Vec<Vec<T>> {
        fn heap<T: Clone>(k: usize, items: &mut Vec<T>, out: &mut Vec<Vec<T>>) {
            if k <= 1 {
                out.push(items.clone());
                return;
            }
            for i in 0..k {
                heap(k - 1, items, out);
                let swap = if k.is_multiple_of(2) { i } else { 0 };
                items.swap(swap, k - 1);
            }
        }
        let mut out = Vec::new();
        heap(events.len(), &mut events.to_vec(), &mut out);
        out
    }

    #[test]
    fn the_newest_edit_by_the_sender_wins() {
        let folded = fold(&[(5, SARI, edit("dua")), (3, SARI, edit("satu"))]);
        assert_eq!(folded.edit.as_deref(), Some("dua"));
        assert!(!folded.deleted);
    }

    #[test]
    fn an_edit_by_someone_else_is_ignored() {
        assert_eq!(fold(&[(3, TOMO, edit("bukan punyamu"))]).edit, None);
    }

    #[test]
    fn a_deletion_is_terminal_and_takes_edits_and_reactions_with_it() {
        let folded = fold(&[
            (3, SARI, edit("baru")),
            (4, TOMO, react("👍")),
            (5, SARI, Action::Delete),
            (6, SARI, edit("setelah dihapus")),
            (7, JOKO, react("❤")),
        ]);
        assert_eq!(
            folded,
            Folded {
                deleted: true,
                ..Folded::default()
            }
        );
    }

    #[test]
    fn a_deletion_by_someone_else_is_ignored() {
        let folded = fold(&[(3, TOMO, Action::Delete), (4, TOMO, react("👍"))]);
        assert!(!folded.deleted);
        assert_eq!(folded.reactions.get(&TOMO).map(String::as_str), Some("👍"));
    }

    #[test]
    fn one_reaction_per_person_the_newest_wins_and_none_takes_it_back() {
        let folded = fold(&[
            (3, TOMO, react("👍")),
            (4, TOMO, react("😂")),
            (5, JOKO, react("👍")),
            (6, JOKO, Action::React(None)),
        ]);
        assert_eq!(folded.reactions, BTreeMap::from([(TOMO, "😂".to_owned())]));
    }

    #[test]
    fn a_reaction_stays_whoever_sent_it_since_membership_is_the_servers_to_check() {
        // Joko reacted and was later removed: the server accepted the reaction while he was
        // a member, and the rules do not look at today's member list.
        assert_eq!(fold(&[(3, JOKO, react("🎉"))]).reactions.len(), 1);
    }

    #[test]
    fn the_same_event_recorded_twice_counts_once() {
        let folded = fold(&[(3, TOMO, react("👍")), (3, TOMO, react("👍"))]);
        assert_eq!(folded.reactions.len(), 1);
    }

    #[test]
    fn pending_own_actions_fold_after_the_confirmed_ones() {
        let mut annotations = Annotations::default();
        annotations.add(TARGET, Seq(3), SARI, edit("dikonfirmasi"));
        annotations.add(TARGET, Seq(4), SARI, react("👍"));
        let pending = [edit("belum terkirim"), Action::React(None)];
        let folded = annotations.fold(TARGET, Some(SARI), SARI, &pending);
        assert_eq!(folded.edit.as_deref(), Some("belum terkirim"));
        assert!(
            folded.reactions.is_empty(),
            "the pending toggle took it back"
        );
    }

    #[test]
    fn an_over_long_or_empty_reaction_is_not_an_action() {
        let reaction = |emoji: &str| MessageContent::Reaction {
            target: TARGET,
            emoji: Some(emoji.to_owned()),
        };
        assert_eq!(Action::of(&reaction("")), None);
        assert_eq!(Action::of(&reaction(&"👍".repeat(20))), None);
        assert_eq!(Action::of(&reaction("👍")), Some((TARGET, react("👍"))));
        assert_eq!(Action::of(&MessageContent::Text { text: "x".into() }), None);
    }

    #[test]
    fn every_arrival_order_of_the_same_events_folds_to_the_same_result() {
        let races = [
            // An edit after a delete, a delete racing a reaction, a stranger's edit.
            vec![
                (3, SARI, edit("satu")),
                (4, TOMO, react("👍")),
                (5, SARI, Action::Delete),
                (6, SARI, edit("dua")),
                (7, TOMO, edit("palsu")),
            ],
            // Reactions set, changed and taken back, and two edits.
            vec![
                (3, TOMO, react("👍")),
                (4, SARI, edit("satu")),
                (5, TOMO, Action::React(None)),
                (6, JOKO, react("❤")),
                (7, SARI, edit("dua")),
                (8, TOMO, react("😂")),
            ],
        ];
        for events in races {
            let expected = fold(&events);
            for order in permutations(&events) {
                assert_eq!(fold(&order), expected, "order {order:?}");
            }
        }
    }
}
