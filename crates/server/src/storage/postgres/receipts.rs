//! Delivery and read positions in PostgreSQL: the counterpart of `storage::sql::receipts`,
//! one member's receipt in one chat moved forward, read and then written only if it moved.

use merpati_protocol::{ChatId, Receipt, Seq, UserId};

use super::Tx;
use crate::Error;
use crate::storage::sql::receipts::moved_to;
use crate::storage::sql::{int, uint};
use crate::storage::{Moved, Position, no_such_chat};

/// Moves a member's delivery or read position forward (never back, never past the head;
/// reading raises delivery too); what it was and is, if it moved.
pub(crate) async fn mark(
    tx: &Tx<'_>,
    chat: ChatId,
    account: UserId,
    seq: Seq,
    position: Position,
    now_ms: i64,
) -> Result<Option<Moved>, Error> {
    let statement = tx
        .prepare_cached(
            "SELECT m.delivered_seq, m.read_seq, m.read_at_ms, c.head_seq
             FROM members m JOIN chats c ON c.id = m.chat_id
             WHERE m.chat_id = $1 AND m.account_id = $2
             FOR UPDATE OF m",
        )
        .await?;
    let Some(row) = tx
        .query_opt(&statement, &[&int(chat.0), &int(account.0)])
        .await?
    else {
        return Err(no_such_chat(chat));
    };
    let delivered: i64 = row.try_get(0)?;
    let read: i64 = row.try_get(1)?;
    let read_at_ms: i64 = row.try_get(2)?;
    let head: i64 = row.try_get(3)?;
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
    let statement = tx
        .prepare_cached(
            "UPDATE members SET delivered_seq = $3, read_seq = $4, read_at_ms = $5
             WHERE chat_id = $1 AND account_id = $2",
        )
        .await?;
    tx.execute(
        &statement,
        &[
            &int(chat.0),
            &int(account.0),
            &int(now.delivered.0),
            &int(now.read.0),
            &int(now.read_at_ms),
        ],
    )
    .await?;
    Ok(Some(Moved { before, now }))
}
