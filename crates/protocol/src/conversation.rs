//! What the server knows about a conversation besides its messages: how far each member has
//! received and read, and whether a person is online.
//!
//! These are routing metadata, visible to the server (`docs/security.md` says what it learns
//! from them). Everything a person writes — texts, replies, edits, deletions, reactions —
//! travels end-to-end encrypted as [`crate::content::MessageContent`] instead.

use serde::{Deserialize, Serialize};

use crate::{Seq, UserId};

/// One member's positions in a chat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// The member.
    pub user: UserId,
    /// The newest message one of the member's devices holds without a gap before it.
    pub delivered: Seq,
    /// The newest message the member has seen on screen (`Seq(0)` when not shared).
    pub read: Seq,
    /// When `read` last moved, in milliseconds since the Unix epoch (`0`: never, or not
    /// shared).
    pub read_at_ms: u64,
}

/// Whether a person is online, as another person may see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Presence {
    /// At least one session of the account is connected.
    Online,
    /// No session is connected; the last one closed at this time (milliseconds since the
    /// Unix epoch).
    LastSeen {
        /// When.
        at_ms: u64,
    },
    /// Not shared: the person hides it, the watcher hides their own, or one blocked the
    /// other.
    Hidden,
}

impl Receipt {
    /// A member with no positions yet.
    pub fn none(user: UserId) -> Receipt {
        Receipt {
            user,
            delivered: Seq(0),
            read: Seq(0),
            read_at_ms: 0,
        }
    }
}
