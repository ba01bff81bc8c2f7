//! Chats and their members in PostgreSQL: snapshots, 1:1 chats and membership checks, as
//! `storage::sql::chats` does them for SQLite (see there for the rules).

use std::collections::HashMap;

use merpati_protocol::{
    ChatId, ChatKind, ErrorCode, MAX_CHATS_PER_ACCOUNT, Member, Receipt, Seq, UserId,
};
use tokio_postgres::Row;

use super::{Tx, username};
use crate::Error;
use crate::storage::sql::blocks::blocked_by;
use crate::storage::sql::chats::{SNAPSHOT_COLUMNS, direct_key};
use crate::storage::sql::{int, uint};
use crate::storage::{ChatJoined, ChatSnapshot, Joined, MemberState, MembersAt};

/// Groups (chat, member) rows into snapshots; the rows must be ordered by chat.
fn snapshots(rows: &[Row]) -> Result<Vec<ChatSnapshot>, Error> {
    let mut chats: Vec<ChatSnapshot> = Vec::new();
    for row in rows {
        let id = ChatId(uint(row.try_get(0)?));
        let user = UserId(uint(row.try_get(5)?));
        let member = MemberState {
            member: Member {
                id: user,
                username: username(row.try_get(6)?)?,
            },
            admin: row.try_get(7)?,
            joined_ms: uint(row.try_get(8)?),
            receipt: Receipt {
                user,
                delivered: Seq(uint(row.try_get(9)?)),
                read: Seq(uint(row.try_get(10)?)),
                read_at_ms: uint(row.try_get(11)?),
            },
            shares_read_receipts: row.try_get(12)?,
            joined_seq: Seq(uint(row.try_get(13)?)),
        };
        match chats.last_mut() {
            Some(chat) if chat.id == id => chat.members.push(member),
            _ => chats.push(snapshot_head(row, id, member)?),
        }
    }
    Ok(chats)
}

fn snapshot_head(row: &Row, id: ChatId, member: MemberState) -> Result<ChatSnapshot, Error> {
    let kind: String = row.try_get(1)?;
    Ok(ChatSnapshot {
        id,
        kind: if kind == "group" {
            ChatKind::Group
        } else {
            ChatKind::Direct
        },
        title: row.try_get(2)?,
        created_ms: uint(row.try_get(3)?),
        head: Seq(uint(row.try_get(4)?)),
        members: vec![member],
        blocks: Vec::new(),
    })
}

/// A chat with its members, whoever asks.
pub(crate) async fn chat(tx: &Tx<'_>, chat: ChatId) -> Result<Option<ChatSnapshot>, Error> {
    let statement = tx
        .prepare_cached(&format!(
            "SELECT {SNAPSHOT_COLUMNS} FROM chats c
             JOIN members m ON m.chat_id = c.id JOIN accounts a ON a.id = m.account_id
             WHERE c.id = $1 ORDER BY a.id"
        ))
        .await?;
    let rows = tx.query(&statement, &[&int(chat.0)]).await?;
    let Some(mut snapshot) = snapshots(&rows)?.pop() else {
        return Ok(None);
    };
    let statement = tx
        .prepare_cached(
            "SELECT b.blocker, b.blocked FROM members m
             JOIN blocks b ON b.blocker = m.account_id
             JOIN members o ON o.chat_id = m.chat_id AND o.account_id = b.blocked
             WHERE m.chat_id = $1",
        )
        .await?;
    snapshot.blocks = tx
        .query(&statement, &[&int(chat.0)])
        .await?
        .iter()
        .map(|row| Ok((UserId(uint(row.try_get(0)?)), UserId(uint(row.try_get(1)?)))))
        .collect::<Result<_, Error>>()?;
    Ok(Some(snapshot))
}

/// Every chat an account belongs to, by id, with its head and where the account joined it.
pub(crate) async fn chats_joined(tx: &Tx<'_>, account: UserId) -> Result<Vec<ChatJoined>, Error> {
    let statement = tx
        .prepare_cached(
            "SELECT c.id, c.head_seq, mine.joined_seq FROM members mine
             JOIN chats c ON c.id = mine.chat_id
             WHERE mine.account_id = $1 ORDER BY c.id",
        )
        .await?;
    tx.query(&statement, &[&int(account.0)])
        .await?
        .iter()
        .map(|row| {
            Ok(ChatJoined {
                chat: ChatId(uint(row.try_get(0)?)),
                head: Seq(uint(row.try_get(1)?)),
                joined_seq: Seq(uint(row.try_get(2)?)),
            })
        })
        .collect()
}

/// The first `limit` chats an account belongs to after the chat `after` (by id), with all
/// their members, in two queries.
pub(crate) async fn chats_of(
    tx: &Tx<'_>,
    account: UserId,
    after: ChatId,
    limit: u32,
) -> Result<Vec<ChatSnapshot>, Error> {
    let statement = tx
        .prepare_cached(&format!(
            "SELECT {SNAPSHOT_COLUMNS} FROM (
                 SELECT chat_id FROM members WHERE account_id = $1 AND chat_id > $2
                 ORDER BY chat_id LIMIT $3
             ) mine
             JOIN chats c ON c.id = mine.chat_id
             JOIN members m ON m.chat_id = c.id JOIN accounts a ON a.id = m.account_id
             ORDER BY c.id, a.id"
        ))
        .await?;
    let rows = tx
        .query(
            &statement,
            &[&int(account.0), &int(after.0), &i64::from(limit)],
        )
        .await?;
    let mut chats = snapshots(&rows)?;
    let Some(last) = chats.last().map(|chat| chat.id) else {
        return Ok(chats);
    };
    // Only the blocks that involve the account change what it is told; usually there are none.
    let statement = tx
        .prepare_cached(
            "SELECT m.chat_id, b.blocker, b.blocked FROM blocks b
             JOIN members m ON m.account_id = b.blocked
             JOIN members mine ON mine.chat_id = m.chat_id AND mine.account_id = $1
             WHERE b.blocker = $1 AND m.chat_id > $2 AND m.chat_id <= $3
             UNION ALL
             SELECT m.chat_id, b.blocker, b.blocked FROM blocks b
             JOIN members m ON m.account_id = b.blocker
             JOIN members mine ON mine.chat_id = m.chat_id AND mine.account_id = $1
             WHERE b.blocked = $1 AND m.chat_id > $2 AND m.chat_id <= $3",
        )
        .await?;
    let mut blocks: HashMap<ChatId, Vec<(UserId, UserId)>> = HashMap::new();
    let range = [int(account.0), int(after.0), int(last.0)];
    for row in tx
        .query(&statement, &[&range[0], &range[1], &range[2]])
        .await?
    {
        let chat = ChatId(uint(row.try_get(0)?));
        let blocker = UserId(uint(row.try_get(1)?));
        let blocked = UserId(uint(row.try_get(2)?));
        blocks.entry(chat).or_default().push((blocker, blocked));
    }
    for chat in &mut chats {
        chat.blocks = blocks.remove(&chat.id).unwrap_or_default();
    }
    Ok(chats)
}

/// A chat's members, each with the chat's head when they joined, and the chat's head they
/// are the members at (read in one statement, so the two agree).
pub(crate) async fn members_joined(tx: &Tx<'_>, chat: ChatId) -> Result<MembersAt, Error> {
    let statement = tx
        .prepare_cached(
            "SELECT c.head_seq, m.account_id, m.joined_seq FROM chats c \
             LEFT JOIN members m ON m.chat_id = c.id WHERE c.id = $1",
        )
        .await?;
    let mut at = MembersAt::default();
    for row in tx.query(&statement, &[&int(chat.0)]).await? {
        at.head = Seq(uint(row.try_get(0)?));
        let member: Option<i64> = row.try_get(1)?;
        if let Some(member) = member {
            at.members
                .push((UserId(uint(member)), Seq(uint(row.try_get(2)?))));
        }
    }
    Ok(at)
}

/// Each of `chats`' newest sequence number (a chat that does not exist is left out).
pub(crate) async fn heads(tx: &Tx<'_>, chats: &[ChatId]) -> Result<Vec<(ChatId, Seq)>, Error> {
    let ids: Vec<i64> = chats.iter().map(|chat| int(chat.0)).collect();
    let statement = tx
        .prepare_cached("SELECT id, head_seq FROM chats WHERE id = ANY($1)")
        .await?;
    tx.query(&statement, &[&ids])
        .await?
        .iter()
        .map(|row| Ok((ChatId(uint(row.try_get(0)?)), Seq(uint(row.try_get(1)?)))))
        .collect()
}

/// The chats each of `accounts` joined from `since_ms` on and before `until_ms`, each with
/// the chat's head when it joined.
pub(crate) async fn joined_between(
    tx: &Tx<'_>,
    accounts: &[UserId],
    since_ms: u64,
    until_ms: u64,
) -> Result<Vec<Joined>, Error> {
    let ids: Vec<i64> = accounts.iter().map(|account| int(account.0)).collect();
    let statement = tx
        .prepare_cached(
            "SELECT account_id, chat_id, joined_seq FROM members
             WHERE account_id = ANY($1) AND joined_ms >= $2 AND joined_ms < $3",
        )
        .await?;
    tx.query(&statement, &[&ids, &int(since_ms), &int(until_ms)])
        .await?
        .iter()
        .map(|row| {
            Ok(Joined {
                account: UserId(uint(row.try_get(0)?)),
                chat: ChatId(uint(row.try_get(1)?)),
                head: Seq(uint(row.try_get(2)?)),
            })
        })
        .collect()
}

/// Whether an account is a member of a chat.
/// The chat's head when an account joined it, if it is a member.
pub(crate) async fn joined_at(
    tx: &Tx<'_>,
    chat: ChatId,
    account: UserId,
) -> Result<Option<Seq>, Error> {
    let statement = tx
        .prepare_cached("SELECT joined_seq FROM members WHERE chat_id = $1 AND account_id = $2")
        .await?;
    let found = tx
        .query_opt(&statement, &[&int(chat.0), &int(account.0)])
        .await?;
    found.map(|row| Ok(Seq(uint(row.try_get(0)?)))).transpose()
}

/// The kind of a chat `account` is a member of; `None` if it is not one.
pub(crate) async fn kind_for_member(
    tx: &Tx<'_>,
    chat: ChatId,
    account: UserId,
) -> Result<Option<ChatKind>, Error> {
    let statement = tx
        .prepare_cached(
            "SELECT c.kind = 'direct' FROM members m JOIN chats c ON c.id = m.chat_id
             WHERE m.chat_id = $1 AND m.account_id = $2",
        )
        .await?;
    let direct: Option<bool> = tx
        .query_opt(&statement, &[&int(chat.0), &int(account.0)])
        .await?
        .map(|row| row.try_get(0))
        .transpose()?;
    Ok(direct.map(|direct| {
        if direct {
            ChatKind::Direct
        } else {
            ChatKind::Group
        }
    }))
}

/// Adds accounts to a chat, joining now; refused (the transaction rolls back) if one of them
/// would be in more than [`MAX_CHATS_PER_ACCOUNT`] chats.
pub(super) async fn add_members(
    tx: &Tx<'_>,
    chat: i64,
    accounts: &[UserId],
    now_ms: i64,
) -> Result<(), Error> {
    let insert = tx
        .prepare_cached(
            "INSERT INTO members (chat_id, account_id, joined_ms, joined_seq)
             SELECT $1, $2, $3, head_seq FROM chats WHERE id = $1
             ON CONFLICT DO NOTHING",
        )
        .await?;
    let chats_of = tx
        .prepare_cached("SELECT count(*) FROM members WHERE account_id = $1")
        .await?;
    for account in accounts {
        if tx
            .execute(&insert, &[&chat, &int(account.0), &now_ms])
            .await?
            == 0
        {
            continue;
        }
        let chats: i64 = tx
            .query_one(&chats_of, &[&int(account.0)])
            .await?
            .try_get(0)?;
        if uint(chats) > MAX_CHATS_PER_ACCOUNT as u64 {
            return Err(Error::refused(
                ErrorCode::QuotaExceeded,
                format!(
                    "account {} is in {MAX_CHATS_PER_ACCOUNT} chats already, the most one may be in",
                    account.0
                ),
            ));
        }
    }
    Ok(())
}

/// A chat read back inside the transaction that changed it.
pub(super) async fn stored_chat(tx: &Tx<'_>, id: ChatId) -> Result<ChatSnapshot, Error> {
    chat(tx, id).await?.ok_or_else(|| {
        Error::Io(std::io::Error::other(
            "a chat vanished inside its transaction",
        ))
    })
}

/// Whether two accounts share a 1:1 chat.
pub(crate) async fn share_direct_chat(tx: &Tx<'_>, a: UserId, b: UserId) -> Result<bool, Error> {
    let statement = tx
        .prepare_cached("SELECT 1 FROM chats WHERE direct_key = $1")
        .await?;
    let found = tx.query_opt(&statement, &[&direct_key(a, b)]).await?;
    Ok(found.is_some())
}

/// The 1:1 chat between two accounts, created if there is none; `true` if it was created.
/// Refused with `Blocked` if `other` blocks `me`.
pub(crate) async fn create_direct(
    tx: &Tx<'_>,
    me: UserId,
    other: UserId,
    now_ms: i64,
) -> Result<(ChatSnapshot, bool), Error> {
    if super::blocks::blocker_among(tx, me, &[other])
        .await?
        .is_some()
    {
        return Err(blocked_by(other));
    }
    // One key per unordered pair, so a second request (from either side) finds the first chat.
    // Two processes creating it at once: the loser's insert fails as a serialization failure
    // (it read the key's absence first), and its retry finds the winner's chat.
    let key = direct_key(me, other);
    let statement = tx
        .prepare_cached("SELECT id FROM chats WHERE direct_key = $1")
        .await?;
    let existing: Option<i64> = tx
        .query_opt(&statement, &[&key])
        .await?
        .map(|row| row.try_get(0))
        .transpose()?;
    if let Some(id) = existing {
        return Ok((stored_chat(tx, ChatId(uint(id))).await?, false));
    }
    let statement = tx
        .prepare_cached(
            "INSERT INTO chats (kind, title, created_ms, direct_key)
             VALUES ('direct', '', $1, $2) RETURNING id",
        )
        .await?;
    let id: i64 = tx
        .query_one(&statement, &[&now_ms, &key])
        .await?
        .try_get(0)?;
    add_members(tx, id, &[me, other], now_ms).await?;
    Ok((stored_chat(tx, ChatId(uint(id))).await?, true))
}

/// Every account that shares a chat with `account`, `account` included.
pub(crate) async fn chat_partners(tx: &Tx<'_>, account: UserId) -> Result<Vec<UserId>, Error> {
    let statement = tx
        .prepare_cached(
            "SELECT DISTINCT other.account_id FROM members mine
             JOIN members other ON other.chat_id = mine.chat_id
             WHERE mine.account_id = $1",
        )
        .await?;
    let mut partners = tx
        .query(&statement, &[&int(account.0)])
        .await?
        .iter()
        .map(|row| Ok(UserId(uint(row.try_get(0)?))))
        .collect::<Result<Vec<_>, Error>>()?;
    if !partners.contains(&account) {
        partners.push(account);
    }
    Ok(partners)
}

/// Those of `users` who share a chat with `account` (see `sql::chats`).
pub(crate) async fn partners_among(
    tx: &Tx<'_>,
    account: UserId,
    users: &[UserId],
) -> Result<Vec<UserId>, Error> {
    let statement = tx
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM members mine
                 JOIN members theirs ON theirs.chat_id = mine.chat_id AND theirs.account_id = $2
                 WHERE mine.account_id = $1)",
        )
        .await?;
    let mut partners = Vec::with_capacity(users.len());
    for &user in users {
        let shares: bool = user == account
            || tx
                .query_one(&statement, &[&int(account.0), &int(user.0)])
                .await?
                .try_get(0)?;
        if shares {
            partners.push(user);
        }
    }
    Ok(partners)
}
