//! What one account lets another see of it: read positions, presence and typing, under each
//! one's privacy settings and blocks.
//!
//! The rules are written here once (`docs/protocol.md`, sections 6, 6a and 6c). The gateway
//! applies them to what it pushes live, with the [`Privacy`] of online accounts the fan-out
//! keeps; storage applies them to the chats it reads, with the settings stored beside them.

use merpati_protocol::{Presence, Receipt, Seq, UserId};

/// An account's privacy: what it shares with others, and whom it blocks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Privacy {
    /// Whether others learn how far this account has read (and it learns theirs).
    pub(crate) share_read_receipts: bool,
    /// Whether others see it online or when it was last seen (and it sees theirs).
    pub(crate) share_presence: bool,
    /// The accounts it blocks, ascending.
    pub(crate) blocked: Box<[UserId]>,
}

impl Default for Privacy {
    /// Until an account says otherwise, it shares both and blocks no one.
    fn default() -> Privacy {
        Privacy {
            share_read_receipts: true,
            share_presence: true,
            blocked: Box::default(),
        }
    }
}

impl Privacy {
    /// Whether this account blocks `user`.
    pub(crate) fn blocks(&self, user: UserId) -> bool {
        self.blocked.binary_search(&user).is_ok()
    }
}

/// Whether either of two accounts blocks the other: then neither sees the other's receipts
/// or presence.
pub(crate) fn estranged(a: UserId, a_privacy: &Privacy, b: UserId, b_privacy: &Privacy) -> bool {
    a_privacy.blocks(b) || b_privacy.blocks(a)
}

/// A member's receipt as another member (not estranged from them) sees it: without the read
/// position unless both share read receipts.
pub(crate) fn receipt_as_seen(
    receipt: Receipt,
    owner_shares_read: bool,
    viewer_shares_read: bool,
) -> Receipt {
    if owner_shares_read && viewer_shares_read {
        receipt
    } else {
        Receipt {
            read: Seq(0),
            read_at_ms: 0,
            ..receipt
        }
    }
}

/// An account's presence as a watcher sees it: `Hidden` unless both share presence and
/// neither blocks the other.
pub(crate) fn presence_as_seen(
    actual: Presence,
    watched_shares: bool,
    watcher_shares: bool,
    estranged: bool,
) -> Presence {
    if watched_shares && watcher_shares && !estranged {
        actual
    } else {
        Presence::Hidden
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receipt() -> Receipt {
        Receipt {
            user: UserId(2),
            delivered: Seq(9),
            read: Seq(7),
            read_at_ms: 1_000,
        }
    }

    #[test]
    fn read_positions_are_seen_only_when_both_share_them() {
        assert_eq!(receipt_as_seen(receipt(), true, true), receipt());
        for (owner, viewer) in [(false, true), (true, false), (false, false)] {
            let seen = receipt_as_seen(receipt(), owner, viewer);
            assert_eq!(
                (seen.delivered, seen.read, seen.read_at_ms),
                (Seq(9), Seq(0), 0)
            );
        }
    }

    #[test]
    fn presence_is_hidden_if_either_hides_it_or_one_blocks_the_other() {
        let online = Presence::Online;
        assert_eq!(presence_as_seen(online, true, true, false), online);
        for (watched, watcher, estranged) in [
            (false, true, false),
            (true, false, false),
            (true, true, true),
        ] {
            assert_eq!(
                presence_as_seen(online, watched, watcher, estranged),
                Presence::Hidden
            );
        }
    }

    #[test]
    fn a_block_estranges_both_ways() {
        let blocker = Privacy {
            blocked: vec![UserId(2), UserId(5)].into_boxed_slice(),
            ..Privacy::default()
        };
        let other = Privacy::default();
        assert!(estranged(UserId(1), &blocker, UserId(5), &other));
        assert!(estranged(UserId(5), &other, UserId(1), &blocker));
        assert!(!estranged(UserId(1), &blocker, UserId(3), &other));
    }
}
