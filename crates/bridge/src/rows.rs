//! How the open chat's messages travel from the worker to the page: what changed since the
//! rows the page holds, not every row again.
//!
//! Receipts, reactions and edits arrive often, and a chat scrolled back holds thousands of
//! rows; re-sending them all with each change would cost the worker and the page an encoding
//! and a decoding of the whole list many times a second. The worker keeps the rows it last
//! sent, and [`RowsChange::between`] says how to turn them into the new ones: rows gone, rows
//! changed in place, rows added before (older pages) and after (new messages). A change that
//! cannot be said so (another chat opened, rows reordered) sends every row.

use serde::{Deserialize, Serialize};

use crate::view::MessageRow;

/// What turns the rows the page holds into the new ones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum RowsChange {
    /// The rows did not change.
    #[default]
    Same,
    /// Every row: the chat opened, or the change is not an edit of the rows held.
    All(Vec<MessageRow>),
    /// An edit of the rows held.
    Patch {
        /// Rows no longer shown, by id.
        removed: Vec<String>,
        /// Rows shown before whose content changed, replacing them in place (by id), in the
        /// order they are held.
        changed: Vec<MessageRow>,
        /// New rows before the first one held (an older page), in order.
        before: Vec<MessageRow>,
        /// New rows after the last one held, in order.
        after: Vec<MessageRow>,
    },
}

impl RowsChange {
    /// How to turn `old` into `new`.
    pub fn between(old: &[MessageRow], new: &[MessageRow]) -> RowsChange {
        if old == new {
            return RowsChange::Same;
        }
        let new_ids: std::collections::HashSet<&str> =
            new.iter().map(|row| row.id.as_str()).collect();
        let removed: Vec<String> = old
            .iter()
            .filter(|row| !new_ids.contains(row.id.as_str()))
            .map(|row| row.id.clone())
            .collect();
        let kept: Vec<&MessageRow> = old
            .iter()
            .filter(|row| new_ids.contains(row.id.as_str()))
            .collect();
        let Some(first) = kept.first() else {
            return RowsChange::All(new.to_vec());
        };
        let Some(start) = new.iter().position(|row| row.id == first.id) else {
            return RowsChange::All(new.to_vec());
        };
        let end = start + kept.len();
        let Some(middle) = new.get(start..end) else {
            return RowsChange::All(new.to_vec());
        };
        if middle.iter().zip(&kept).any(|(now, was)| now.id != was.id) {
            return RowsChange::All(new.to_vec());
        }
        let changed = middle
            .iter()
            .zip(&kept)
            .filter(|(now, was)| now != *was)
            .map(|(now, _)| now.clone())
            .collect();
        RowsChange::Patch {
            removed,
            changed,
            before: new[..start].to_vec(),
            after: new[end..].to_vec(),
        }
    }

    /// Applies the change to the rows held.
    pub fn apply(self, rows: &mut Vec<MessageRow>) {
        match self {
            RowsChange::Same => {}
            RowsChange::All(all) => *rows = all,
            RowsChange::Patch {
                removed,
                changed,
                before,
                after,
            } => {
                rows.retain(|row| !removed.contains(&row.id));
                // One walk: the changed rows come in the order the rows are held.
                let mut changed = changed.into_iter().peekable();
                for row in rows.iter_mut() {
                    if let Some(now) = changed.next_if(|now| now.id == row.id) {
                        *row = now;
                    }
                }
                rows.splice(0..0, before);
                rows.extend(after);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::view::MessageStatus;

    fn row(id: u32, text: &str) -> MessageRow {
        MessageRow {
            id: format!("{id:04x}"),
            status: MessageStatus::Sent,
            own: id.is_multiple_of(2),
            text: text.to_owned(),
            ..MessageRow::default()
        }
    }

    fn rows(ids: impl IntoIterator<Item = u32>) -> Vec<MessageRow> {
        ids.into_iter().map(|id| row(id, "m")).collect()
    }

    fn round_trip(old: &[MessageRow], new: &[MessageRow]) -> RowsChange {
        let change = RowsChange::between(old, new);
        let mut held = old.to_vec();
        change.clone().apply(&mut held);
        assert_eq!(held, new, "{change:?}");
        change
    }

    #[test]
    fn a_new_message_sends_only_itself() {
        let old = rows(1..=500);
        let new = rows(1..=501);
        let change = round_trip(&old, &new);
        assert_eq!(
            change,
            RowsChange::Patch {
                removed: Vec::new(),
                changed: Vec::new(),
                before: Vec::new(),
                after: rows([501]),
            }
        );
    }

    #[test]
    fn a_reaction_or_a_status_sends_only_that_row() {
        let old = rows(1..=500);
        let mut new = old.clone();
        new[10].reactions.push(crate::view::ReactionRow {
            emoji: "👍".to_owned(),
            count: 1,
            people: vec!["bob".to_owned()],
            mine: false,
        });
        new[499].status = MessageStatus::Read;
        match round_trip(&old, &new) {
            RowsChange::Patch {
                changed,
                before,
                after,
                removed,
            } => {
                assert_eq!(changed, vec![new[10].clone(), new[499].clone()]);
                assert!(before.is_empty() && after.is_empty() && removed.is_empty());
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_older_page_a_deletion_and_nothing_at_all() {
        let old = rows(51..=100);
        let new: Vec<MessageRow> = (1..=100)
            .filter(|id| *id != 70)
            .map(|id| row(id, "m"))
            .collect();
        match round_trip(&old, &new) {
            RowsChange::Patch {
                removed, before, ..
            } => {
                assert_eq!(removed, vec!["0046".to_owned()]);
                assert_eq!(before.len(), 50);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(round_trip(&new, &new), RowsChange::Same);
    }

    #[test]
    fn another_chat_or_a_new_order_sends_every_row() {
        assert!(matches!(
            round_trip(&rows(1..=3), &rows(7..=9)),
            RowsChange::All(_)
        ));
        assert!(matches!(
            round_trip(&rows(1..=3), &rows([2, 1, 3])),
            RowsChange::All(_)
        ));
        assert!(matches!(round_trip(&[], &rows(1..=3)), RowsChange::All(_)));
        assert_eq!(round_trip(&rows(1..=3), &[]), RowsChange::All(Vec::new()));
    }

    #[test]
    fn any_change_round_trips() {
        // A small deterministic shuffle of edits: drop, change, add before and after.
        let mut state = 12_345_u64;
        let mut next = |bound: u64| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            (state >> 33) % bound
        };
        for _ in 0..500 {
            let old: Vec<MessageRow> = (100..100 + next(20) as u32)
                .map(|id| row(id, "a"))
                .collect();
            let mut new = Vec::new();
            for was in &old {
                if next(5) == 0 {
                    continue;
                }
                let mut now = was.clone();
                if next(3) == 0 {
                    now.text = "changed".to_owned();
                }
                new.push(now);
            }
            let before: Vec<MessageRow> = (0..next(3) as u32).map(|id| row(id, "old")).collect();
            new.splice(0..0, before);
            new.extend((0..next(3) as u32).map(|id| row(1_000 + id, "new")));
            round_trip(&old, &new);
        }
    }
}
