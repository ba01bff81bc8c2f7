//! Who blocks whom: blocking and unblocking (at most `MAX_BLOCKED` per account), an
//! account's block list, and the checks that refuse a blocked account's requests.

use merpati_protocol::{ErrorCode, MAX_BLOCKED, UserId};
use rusqlite::{Connection, OptionalExtension};

use super::{int, uint};
use crate::Error;

/// The refusal for a request naming someone who blocks the requester.
pub(crate) fn blocked_by(blocker: UserId) -> Error {
    Error::refused(
        ErrorCode::Blocked,
        format!("user {} does not accept this from you", blocker.0),
    )
}

/// Blocks (`on`) or unblocks `blocked` for `blocker`, noting that `blocker`'s privacy
/// changed at `now_ms` if the list did; the block list afterwards.
pub(crate) fn set_blocked(
    conn: &Connection,
    blocker: UserId,
    blocked: UserId,
    on: bool,
    now_ms: i64,
) -> Result<Vec<UserId>, Error> {
    let exists = conn
        .prepare_cached("SELECT 1 FROM accounts WHERE id = ?1")?
        .query_row([int(blocked.0)], |_| Ok(()))
        .optional()?
        .is_some();
    if !exists {
        return Err(Error::refused(
            ErrorCode::NoSuchUser,
            format!("there is no user {}", blocked.0),
        ));
    }
    let changed = if on {
        let list = block_list(conn, blocker)?;
        if list.len() >= MAX_BLOCKED && !list.contains(&blocked) {
            return Err(Error::refused(
                ErrorCode::LimitReached,
                format!("an account blocks at most {MAX_BLOCKED} others"),
            ));
        }
        conn.prepare_cached(
            "INSERT INTO blocks (blocker, blocked) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
        )?
        .execute([int(blocker.0), int(blocked.0)])?
    } else {
        conn.prepare_cached("DELETE FROM blocks WHERE blocker = ?1 AND blocked = ?2")?
            .execute([int(blocker.0), int(blocked.0)])?
    };
    // Only a list that changed: the other processes' head checks read again what did.
    if changed > 0 {
        conn.prepare_cached("UPDATE accounts SET privacy_changed_ms = ?2 WHERE id = ?1")?
            .execute([int(blocker.0), now_ms])?;
    }
    block_list(conn, blocker)
}

/// The accounts `blocker` blocks, ascending.
pub(crate) fn block_list(conn: &Connection, blocker: UserId) -> Result<Vec<UserId>, Error> {
    let list = conn
        .prepare_cached("SELECT blocked FROM blocks WHERE blocker = ?1 ORDER BY blocked")?
        .query_map([int(blocker.0)], |row| Ok(UserId(uint(row.get(0)?))))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(list)
}

/// The first of `candidates` who blocks `account`, if any.
pub(crate) fn blocker_among(
    conn: &Connection,
    account: UserId,
    candidates: &[UserId],
) -> Result<Option<UserId>, Error> {
    // Most accounts are blocked by no one: one probe of the index answers that.
    let blockers = conn
        .prepare_cached("SELECT blocker FROM blocks WHERE blocked = ?1")?
        .query_map([int(account.0)], |row| Ok(UserId(uint(row.get(0)?))))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(candidates
        .iter()
        .copied()
        .find(|candidate| blockers.contains(candidate)))
}

/// Whether another member of `chat` blocks `sender` (asked of 1:1 chats, where it refuses
/// the message).
pub(crate) fn blocked_in_chat(conn: &Connection, chat: i64, sender: UserId) -> Result<bool, Error> {
    let found = conn
        .prepare_cached(
            "SELECT 1 FROM blocks b JOIN members m ON m.chat_id = ?1 AND m.account_id = b.blocker
             WHERE b.blocked = ?2 LIMIT 1",
        )?
        .query_row([chat, int(sender.0)], |_| Ok(()))
        .optional()?;
    Ok(found.is_some())
}
