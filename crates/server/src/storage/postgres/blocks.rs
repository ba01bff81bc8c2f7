//! Who blocks whom, in PostgreSQL: the counterpart of `storage::sql::blocks`, whose rules
//! (at most `MAX_BLOCKED` per account, the refusals) it keeps. The refusal itself,
//! `blocked_by`, touches no database: callers take it from `storage::sql::blocks`.

use merpati_protocol::{ErrorCode, MAX_BLOCKED, UserId};

use super::Tx;
use crate::Error;
use crate::storage::sql::{int, uint};

/// Blocks (`on`) or unblocks `blocked` for `blocker`, noting that `blocker`'s privacy
/// changed at `now_ms` if the list did; the block list afterwards.
pub(crate) async fn set_blocked(
    tx: &Tx<'_>,
    blocker: UserId,
    blocked: UserId,
    on: bool,
    now_ms: i64,
) -> Result<Vec<UserId>, Error> {
    let statement = tx
        .prepare_cached("SELECT 1 FROM accounts WHERE id = $1")
        .await?;
    let exists = tx
        .query_opt(&statement, &[&int(blocked.0)])
        .await?
        .is_some();
    if !exists {
        return Err(Error::refused(
            ErrorCode::NoSuchUser,
            format!("there is no user {}", blocked.0),
        ));
    }
    let changed = if on {
        let list = block_list(tx, blocker).await?;
        if list.len() >= MAX_BLOCKED && !list.contains(&blocked) {
            return Err(Error::refused(
                ErrorCode::LimitReached,
                format!("an account blocks at most {MAX_BLOCKED} others"),
            ));
        }
        let statement = tx
            .prepare_cached(
                "INSERT INTO blocks (blocker, blocked) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            )
            .await?;
        tx.execute(&statement, &[&int(blocker.0), &int(blocked.0)])
            .await?
    } else {
        let statement = tx
            .prepare_cached("DELETE FROM blocks WHERE blocker = $1 AND blocked = $2")
            .await?;
        tx.execute(&statement, &[&int(blocker.0), &int(blocked.0)])
            .await?
    };
    // Only a list that changed: the other processes' head checks read again what did.
    if changed > 0 {
        let statement = tx
            .prepare_cached("UPDATE accounts SET privacy_changed_ms = $2 WHERE id = $1")
            .await?;
        tx.execute(&statement, &[&int(blocker.0), &now_ms]).await?;
    }
    block_list(tx, blocker).await
}

/// The accounts `blocker` blocks, ascending.
pub(crate) async fn block_list(tx: &Tx<'_>, blocker: UserId) -> Result<Vec<UserId>, Error> {
    let statement = tx
        .prepare_cached("SELECT blocked FROM blocks WHERE blocker = $1 ORDER BY blocked")
        .await?;
    tx.query(&statement, &[&int(blocker.0)])
        .await?
        .iter()
        .map(|row| Ok(UserId(uint(row.try_get(0)?))))
        .collect()
}

/// The first of `candidates` who blocks `account`, if any.
pub(crate) async fn blocker_among(
    tx: &Tx<'_>,
    account: UserId,
    candidates: &[UserId],
) -> Result<Option<UserId>, Error> {
    let statement = tx
        .prepare_cached("SELECT blocker FROM blocks WHERE blocked = $1")
        .await?;
    let blockers = tx
        .query(&statement, &[&int(account.0)])
        .await?
        .iter()
        .map(|row| Ok(UserId(uint(row.try_get(0)?))))
        .collect::<Result<Vec<_>, Error>>()?;
    Ok(candidates
        .iter()
        .copied()
        .find(|candidate| blockers.contains(candidate)))
}

/// Whether another member of `chat` blocks `sender` (asked of 1:1 chats, where it refuses
/// the message).
pub(crate) async fn blocked_in_chat(tx: &Tx<'_>, chat: i64, sender: UserId) -> Result<bool, Error> {
    let statement = tx
        .prepare_cached(
            "SELECT 1 FROM blocks b JOIN members m ON m.chat_id = $1 AND m.account_id = b.blocker
             WHERE b.blocked = $2 LIMIT 1",
        )
        .await?;
    let found = tx.query_opt(&statement, &[&chat, &int(sender.0)]).await?;
    Ok(found.is_some())
}
