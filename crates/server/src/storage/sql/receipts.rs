//! Delivery and read positions: one member's receipt in one chat, moved forward.
//!
//! Every member sends one of these per message received, so a receipt is two statements on
//! one row — read it, and write it only if it moved — and runs without a savepoint.

use merpati_protocol::{ChatId, Receipt, Seq, UserId};
use rusqlite::{Connection, OptionalExtension};

use super::{int, uint};
use crate::Error;
use crate::storage::{Moved, Position, no_such_chat};

/// Moves a member's delivery or read position forward (never back, never past the head;
/// reading raises delivery too); what it was and is, if it moved.
// Runs without a savepoint (`Work::checked_first`): it refuses only before it writes.
pub(crate) fn mark(
    conn: &Connection,
    chat: ChatId,
    account: UserId,
    seq: Seq,
    position: Position,
    now_ms: i64,
) -> Result<Option<Moved>, Error> {
    let row: Option<(i64, i64, i64, i64)> = conn
        .prepare_cached(
            "SELECT m.delivered_seq, m.read_seq, m.read_at_ms, c.head_seq
             FROM members m JOIN chats c ON c.id = m.chat_id
             WHERE m.chat_id = ?1 AND m.account_id = ?2",
        )?
        .query_row([int(chat.0), int(account.0)], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
        })
        .optional()?;
    let Some((delivered, read, read_at_ms, head)) = row else {
        return Err(no_such_chat(chat));
    };
    let before = Receipt {
        user: account,
        delivered: Seq(uint(delivered)),
        read: Seq(uint(read)),
        read_at_ms: uint(read_at_ms),
    };
    let now = moved_to(before, seq, head, position, now_ms);
    if now == before {
        return Ok(None);
    }
    conn.prepare_cached(
        "UPDATE members SET delivered_seq = ?3, read_seq = ?4, read_at_ms = ?5
         WHERE chat_id = ?1 AND account_id = ?2",
    )?
    .execute([
        int(chat.0),
        int(account.0),
        int(now.delivered.0),
        int(now.read.0),
        int(now.read_at_ms),
    ])?;
    Ok(Some(Moved { before, now }))
}

/// Where a receipt moves to: `position` raised to `seq` (never back, never past `head`), and
/// delivery at least as far as reading.
pub(crate) fn moved_to(
    before: Receipt,
    seq: Seq,
    head: i64,
    position: Position,
    now_ms: i64,
) -> Receipt {
    let wanted = Seq(uint(int(seq.0).min(head)));
    let mut now = before;
    if position == Position::Read && wanted > now.read {
        now.read = wanted;
        now.read_at_ms = uint(now_ms);
    }
    now.delivered = now.delivered.max(wanted).max(now.read);
    now
}
