//! What the screens show of a live conversation beyond its messages: who has a message
//! (a group's receipt details), and the account's privacy settings.
//!
//! Typing and presence travel as plain fields of the rows ([`crate::view::OpenChat::typing`],
//! [`crate::view::OpenChat::presence`], the wire's own `Presence`); this module holds the
//! types that have no wire counterpart.

use serde::{Deserialize, Serialize};

/// The details of one of this account's messages in a group: each other member's receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageReceipts {
    /// The message (`data-msg-id` of its row).
    pub id: String,
    /// Each other member, in the server's order.
    pub members: Vec<ReceiptRow>,
}

/// One member's receipt for a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptRow {
    /// Their username (`data-username`).
    pub username: String,
    /// How far the message has come for them (`data-state`).
    pub state: ReceiptState,
    /// When they read it, in the person's clock's words, if this device learned it.
    pub read_at: Option<String>,
}

/// How far a message has come for one member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReceiptState {
    /// Sent, not yet on any of their devices.
    Sent,
    /// A device of theirs holds it.
    Delivered,
    /// They saw it on screen.
    Read,
}

impl ReceiptState {
    /// The value of `data-state` on a `message-receipt`.
    pub fn as_str(self) -> &'static str {
        match self {
            ReceiptState::Sent => "sent",
            ReceiptState::Delivered => "delivered",
            ReceiptState::Read => "read",
        }
    }
}

/// This browser's notification settings, kept sealed in its store like the rest.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notifications {
    /// Notify of new messages in chats not on screen.
    pub enabled: bool,
    /// Leave the message's text out.
    pub hide_text: bool,
    /// "Not now" was said to the offer to turn them on.
    pub offer_declined: bool,
}

/// The account's privacy settings, as the settings panel shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Privacy {
    /// The others learn how far this account has read.
    pub share_read_receipts: bool,
    /// The others see whether this account is online.
    pub share_presence: bool,
}

impl Default for Privacy {
    /// Both shared, as a new account starts.
    fn default() -> Privacy {
        Privacy {
            share_read_receipts: true,
            share_presence: true,
        }
    }
}
