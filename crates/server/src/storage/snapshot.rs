//! A chat as storage reads it — every member with their role and positions, and who among
//! them blocks whom — and the [`ChatInfo`] each member is told, cut from it under the privacy
//! rules (`crate::privacy`).

use merpati_protocol::{ChatId, ChatInfo, ChatKind, Member, MessageFrame, Receipt, Seq, UserId};

use crate::privacy::receipt_as_seen;

/// A chat with everything any member's [`ChatInfo`] is cut from.
#[derive(Debug, Clone)]
pub(crate) struct ChatSnapshot {
    pub(crate) id: ChatId,
    pub(crate) kind: ChatKind,
    pub(crate) title: String,
    pub(crate) created_ms: u64,
    pub(crate) head: Seq,
    /// The members, ordered by id.
    pub(crate) members: Vec<MemberState>,
    /// Who among the members blocks whom, as `(blocker, blocked)`.
    pub(crate) blocks: Vec<(UserId, UserId)>,
}

/// A chat of an account as a sync first reads it: without its members, so that every chat of
/// the largest account fits in a few bytes each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ChatJoined {
    pub(crate) chat: ChatId,
    /// The chat's newest sequence number.
    pub(crate) head: Seq,
    /// The chat's head when the account joined: what came before is not its to read.
    pub(crate) joined_seq: Seq,
}

/// A chat's members as the fan-out needs them, read on their own.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct MembersAt {
    /// Each member with the chat's head when they joined.
    pub(crate) members: Vec<(UserId, Seq)>,
    /// The chat's head when they were the members.
    pub(crate) head: Seq,
}

/// One member of a chat.
#[derive(Debug, Clone)]
pub(crate) struct MemberState {
    pub(crate) member: Member,
    /// Whether they are an admin of the group (never, in a 1:1 chat).
    pub(crate) admin: bool,
    /// When they joined (`0`: before the server kept it); ties go to the lower id.
    pub(crate) joined_ms: u64,
    /// The chat's head when they joined: what came before is not theirs to read.
    pub(crate) joined_seq: Seq,
    /// How far they have received and read.
    pub(crate) receipt: Receipt,
    /// Whether they share their read position (and see others').
    pub(crate) shares_read_receipts: bool,
}

/// A chat after a change, with the lines the change wrote into its history.
#[derive(Debug, Clone)]
pub(crate) struct ChatUpdate {
    pub(crate) chat: ChatSnapshot,
    /// Whether anything changed (an existing 1:1 chat, or a rename to the same title, did
    /// not): only then is the chat pushed to its members.
    pub(crate) changed: bool,
    /// The lines written into a group's history (`EncryptedBody::System`), oldest first.
    pub(crate) lines: Vec<MessageFrame>,
}

impl ChatUpdate {
    /// A chat as it was: nothing to push.
    pub(crate) fn unchanged(chat: ChatSnapshot) -> ChatUpdate {
        ChatUpdate {
            chat,
            changed: false,
            lines: Vec::new(),
        }
    }
}

impl ChatSnapshot {
    /// The member `user`, if they are one.
    pub(crate) fn member(&self, user: UserId) -> Option<&MemberState> {
        self.members.iter().find(|state| state.member.id == user)
    }

    pub(crate) fn has_member(&self, user: UserId) -> bool {
        self.member(user).is_some()
    }

    /// Whether `user` is an admin of this group.
    pub(crate) fn is_admin(&self, user: UserId) -> bool {
        self.member(user).is_some_and(|state| state.admin)
    }

    /// The members, each with the chat's head when they joined.
    pub(crate) fn members_joined(&self) -> Vec<(UserId, Seq)> {
        let members = self.members.iter();
        members
            .map(|state| (state.member.id, state.joined_seq))
            .collect()
    }

    /// Whether either of two members blocks the other.
    fn estranged(&self, a: UserId, b: UserId) -> bool {
        self.blocks
            .iter()
            .any(|&pair| pair == (a, b) || pair == (b, a))
    }

    /// The chat as `viewer` is told about it: their own read position, and the others'
    /// receipts as far as each shares them with the viewer (members with no position yet,
    /// and members either of them blocks, are left out).
    pub(crate) fn info_for(&self, viewer: UserId) -> ChatInfo {
        let me = self.member(viewer);
        let receipts = match me {
            Some(me) => self
                .members
                .iter()
                .filter(|other| {
                    other.member.id != viewer
                        && other.receipt.delivered > Seq(0)
                        && !self.estranged(viewer, other.member.id)
                })
                .map(|other| {
                    receipt_as_seen(
                        other.receipt,
                        other.shares_read_receipts,
                        me.shares_read_receipts,
                    )
                })
                .collect(),
            // Someone just removed is told the group without them, and nothing of others.
            None => Vec::new(),
        };
        ChatInfo {
            id: self.id,
            kind: self.kind,
            title: self.title.clone(),
            members: self
                .members
                .iter()
                .map(|state| state.member.clone())
                .collect(),
            head: self.head,
            read: me.map_or(Seq(0), |me| me.receipt.read),
            created_ms: self.created_ms,
            admins: self
                .members
                .iter()
                .filter(|state| state.admin)
                .map(|state| state.member.id)
                .collect(),
            receipts,
        }
    }
}
