//! Chats and their members: reading chats back as [`ChatSnapshot`]s (each member with their
//! role and positions, and who among them blocks whom), finding or creating 1:1 chats, and
//! the membership checks other requests need. Changes to groups are in `groups`.

use std::collections::HashMap;

use merpati_protocol::{
    ChatId, ChatKind, ErrorCode, MAX_CHATS_PER_ACCOUNT, Member, Receipt, Seq, UserId,
};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{blocks, int, uint, username};
use crate::Error;
use crate::storage::{ChatJoined, ChatSnapshot, MemberState, MembersAt};

/// The columns `snapshots` expects, one row per (chat, member).
pub(crate) const SNAPSHOT_COLUMNS: &str = "c.id, c.kind, c.title, c.created_ms, c.head_seq,
     m.account_id, a.username, m.admin, m.joined_ms, m.delivered_seq, m.read_seq,
     m.read_at_ms, a.share_read_receipts, m.joined_seq";

/// Groups (chat, member) rows into snapshots; the rows must be ordered by chat.
fn snapshots(rows: &mut rusqlite::Rows<'_>) -> Result<Vec<ChatSnapshot>, Error> {
    let mut chats: Vec<ChatSnapshot> = Vec::new();
    while let Some(row) = rows.next()? {
        let id = ChatId(uint(row.get(0)?));
        let user = UserId(uint(row.get(5)?));
        let member = MemberState {
            member: Member {
                id: user,
                username: username(row.get(6)?)?,
            },
            admin: row.get(7)?,
            joined_ms: uint(row.get(8)?),
            receipt: Receipt {
                user,
                delivered: Seq(uint(row.get(9)?)),
                read: Seq(uint(row.get(10)?)),
                read_at_ms: uint(row.get(11)?),
            },
            shares_read_receipts: row.get(12)?,
            joined_seq: Seq(uint(row.get(13)?)),
        };
        match chats.last_mut() {
            Some(chat) if chat.id == id => chat.members.push(member),
            _ => chats.push(snapshot_head(row, id, member)?),
        }
    }
    Ok(chats)
}

fn snapshot_head(row: &Row<'_>, id: ChatId, member: MemberState) -> Result<ChatSnapshot, Error> {
    let kind: String = row.get(1)?;
    Ok(ChatSnapshot {
        id,
        kind: if kind == "group" {
            ChatKind::Group
        } else {
            ChatKind::Direct
        },
        title: row.get(2)?,
        created_ms: uint(row.get(3)?),
        head: Seq(uint(row.get(4)?)),
        members: vec![member],
        blocks: Vec::new(),
    })
}

/// A chat with its members, whoever asks.
pub(crate) fn chat(conn: &Connection, chat: ChatId) -> Result<Option<ChatSnapshot>, Error> {
    let mut statement = conn.prepare_cached(&format!(
        "SELECT {SNAPSHOT_COLUMNS} FROM chats c
         JOIN members m ON m.chat_id = c.id JOIN accounts a ON a.id = m.account_id
         WHERE c.id = ?1 ORDER BY a.id"
    ))?;
    let mut rows = statement.query([int(chat.0)])?;
    let Some(mut snapshot) = snapshots(&mut rows)?.pop() else {
        return Ok(None);
    };
    let mut statement = conn.prepare_cached(
        "SELECT b.blocker, b.blocked FROM members m
         JOIN blocks b ON b.blocker = m.account_id
         JOIN members o ON o.chat_id = m.chat_id AND o.account_id = b.blocked
         WHERE m.chat_id = ?1",
    )?;
    snapshot.blocks = statement
        .query_map([int(chat.0)], |row| {
            Ok((UserId(uint(row.get(0)?)), UserId(uint(row.get(1)?))))
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(Some(snapshot))
}

/// Every chat an account belongs to, by id, with its head and where the account joined it:
/// what a sync needs of every chat at once, without their members.
pub(crate) fn chats_joined(conn: &Connection, account: UserId) -> Result<Vec<ChatJoined>, Error> {
    let mut statement = conn.prepare_cached(
        "SELECT c.id, c.head_seq, mine.joined_seq FROM members mine
         JOIN chats c ON c.id = mine.chat_id
         WHERE mine.account_id = ?1 ORDER BY c.id",
    )?;
    let rows = statement.query_map([int(account.0)], |row| {
        Ok(ChatJoined {
            chat: ChatId(uint(row.get(0)?)),
            head: Seq(uint(row.get(1)?)),
            joined_seq: Seq(uint(row.get(2)?)),
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The first `limit` chats an account belongs to after the chat `after` (by id), with all
/// their members, in two queries: a sync reads the account's chats a page at a time.
pub(crate) fn chats_of(
    conn: &Connection,
    account: UserId,
    after: ChatId,
    limit: u32,
) -> Result<Vec<ChatSnapshot>, Error> {
    let mut statement = conn.prepare_cached(&format!(
        "SELECT {SNAPSHOT_COLUMNS} FROM (
             SELECT chat_id FROM members WHERE account_id = ?1 AND chat_id > ?2
             ORDER BY chat_id LIMIT ?3
         ) mine
         JOIN chats c ON c.id = mine.chat_id
         JOIN members m ON m.chat_id = c.id JOIN accounts a ON a.id = m.account_id
         ORDER BY c.id, a.id"
    ))?;
    let mut rows = statement.query(params![int(account.0), int(after.0), i64::from(limit)])?;
    let mut chats = snapshots(&mut rows)?;
    let Some(last) = chats.last().map(|chat| chat.id) else {
        return Ok(chats);
    };
    // Only the blocks that involve the account change what it is told; usually there are none.
    let mut statement = conn.prepare_cached(
        "SELECT m.chat_id, b.blocker, b.blocked FROM blocks b
         JOIN members m ON m.account_id = b.blocked
         JOIN members mine ON mine.chat_id = m.chat_id AND mine.account_id = ?1
         WHERE b.blocker = ?1 AND m.chat_id > ?2 AND m.chat_id <= ?3
         UNION ALL
         SELECT m.chat_id, b.blocker, b.blocked FROM blocks b
         JOIN members m ON m.account_id = b.blocker
         JOIN members mine ON mine.chat_id = m.chat_id AND mine.account_id = ?1
         WHERE b.blocked = ?1 AND m.chat_id > ?2 AND m.chat_id <= ?3",
    )?;
    let mut blocks: HashMap<ChatId, Vec<(UserId, UserId)>> = HashMap::new();
    let rows = statement.query_map(params![int(account.0), int(after.0), int(last.0)], |row| {
        Ok((
            ChatId(uint(row.get(0)?)),
            UserId(uint(row.get(1)?)),
            UserId(uint(row.get(2)?)),
        ))
    })?;
    for row in rows {
        let (chat, blocker, blocked) = row?;
        blocks.entry(chat).or_default().push((blocker, blocked));
    }
    for chat in &mut chats {
        chat.blocks = blocks.remove(&chat.id).unwrap_or_default();
    }
    Ok(chats)
}

/// A chat's members, each with the chat's head when they joined, and the chat's head they
/// are the members at (read in one statement, so the two agree).
pub(crate) fn members_joined(conn: &Connection, chat: ChatId) -> Result<MembersAt, Error> {
    let mut statement = conn.prepare_cached(
        "SELECT c.head_seq, m.account_id, m.joined_seq FROM chats c \
         LEFT JOIN members m ON m.chat_id = c.id WHERE c.id = ?1",
    )?;
    let mut rows = statement.query([int(chat.0)])?;
    let mut at = MembersAt::default();
    while let Some(row) = rows.next()? {
        at.head = Seq(uint(row.get(0)?));
        let member: Option<i64> = row.get(1)?;
        if let Some(member) = member {
            at.members
                .push((UserId(uint(member)), Seq(uint(row.get(2)?))));
        }
    }
    Ok(at)
}

/// Each of `chats`' newest sequence number (a chat that does not exist is left out).
pub(crate) fn heads(conn: &Connection, chats: &[ChatId]) -> Result<Vec<(ChatId, Seq)>, Error> {
    let mut statement = conn.prepare_cached("SELECT head_seq FROM chats WHERE id = ?1")?;
    let mut heads = Vec::with_capacity(chats.len());
    for &chat in chats {
        let head: Option<i64> = statement
            .query_row([int(chat.0)], |row| row.get(0))
            .optional()?;
        if let Some(head) = head {
            heads.push((chat, Seq(uint(head))));
        }
    }
    Ok(heads)
}

/// The chats each of `accounts` joined from `since_ms` on and before `until_ms`, each with
/// the chat's head when it joined.
pub(crate) fn joined_between(
    conn: &Connection,
    accounts: &[UserId],
    since_ms: u64,
    until_ms: u64,
) -> Result<Vec<Joined>, Error> {
    let mut statement = conn.prepare_cached(
        "SELECT chat_id, joined_seq FROM members
         WHERE account_id = ?1 AND joined_ms >= ?2 AND joined_ms < ?3",
    )?;
    let mut joined = Vec::new();
    for &account in accounts {
        let range = [int(account.0), int(since_ms), int(until_ms)];
        let chats = statement.query_map(range, |row| {
            Ok(Joined {
                account,
                chat: ChatId(uint(row.get(0)?)),
                head: Seq(uint(row.get(1)?)),
            })
        })?;
        for chat in chats {
            joined.push(chat?);
        }
    }
    Ok(joined)
}

/// A chat an account joined, with the chat's head when it joined (what came after, from the
/// lines the change wrote on, is the account's to receive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Joined {
    pub(crate) account: UserId,
    pub(crate) chat: ChatId,
    pub(crate) head: Seq,
}

/// The chat's head when an account joined it, if it is a member: it reads what came after.
pub(crate) fn joined_at(
    conn: &Connection,
    chat: ChatId,
    account: UserId,
) -> Result<Option<Seq>, Error> {
    let joined = conn
        .prepare_cached("SELECT joined_seq FROM members WHERE chat_id = ?1 AND account_id = ?2")?
        .query_row([int(chat.0), int(account.0)], |row| row.get::<_, i64>(0))
        .optional()?;
    Ok(joined.map(|seq| Seq(uint(seq))))
}

/// The kind of a chat `account` is a member of; `None` if it is not one.
pub(crate) fn kind_for_member(
    conn: &Connection,
    chat: ChatId,
    account: UserId,
) -> Result<Option<ChatKind>, Error> {
    let direct: Option<bool> = conn
        .prepare_cached(
            "SELECT c.kind = 'direct' FROM members m JOIN chats c ON c.id = m.chat_id
             WHERE m.chat_id = ?1 AND m.account_id = ?2",
        )?
        .query_row([int(chat.0), int(account.0)], |row| row.get(0))
        .optional()?;
    Ok(direct.map(|direct| {
        if direct {
            ChatKind::Direct
        } else {
            ChatKind::Group
        }
    }))
}

/// Adds accounts to a chat, joining now; refused (the caller's savepoint rolls back) if one
/// of them would be in more than [`MAX_CHATS_PER_ACCOUNT`] chats.
pub(super) fn add_members(
    conn: &Connection,
    chat: i64,
    accounts: &[UserId],
    now_ms: i64,
) -> Result<(), Error> {
    let mut insert = conn.prepare_cached(
        "INSERT INTO members (chat_id, account_id, joined_ms, joined_seq)
         SELECT ?1, ?2, ?3, head_seq FROM chats WHERE id = ?1
         ON CONFLICT DO NOTHING",
    )?;
    let mut chats_of = conn.prepare_cached("SELECT count(*) FROM members WHERE account_id = ?1")?;
    for account in accounts {
        if insert.execute([chat, int(account.0), now_ms])? == 0 {
            continue;
        }
        let chats: i64 = chats_of.query_row([int(account.0)], |row| row.get(0))?;
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
pub(super) fn stored_chat(conn: &Connection, id: ChatId) -> Result<ChatSnapshot, Error> {
    chat(conn, id)?.ok_or_else(|| {
        Error::Io(std::io::Error::other(
            "a chat vanished inside its transaction",
        ))
    })
}

/// The key naming the 1:1 chat of two accounts: one per unordered pair.
pub(crate) fn direct_key(a: UserId, b: UserId) -> String {
    format!("{}:{}", a.0.min(b.0), a.0.max(b.0))
}

/// Whether two accounts share a 1:1 chat.
pub(crate) fn share_direct_chat(conn: &Connection, a: UserId, b: UserId) -> Result<bool, Error> {
    let found = conn
        .prepare_cached("SELECT 1 FROM chats WHERE direct_key = ?1")?
        .query_row([direct_key(a, b)], |_| Ok(()))
        .optional()?;
    Ok(found.is_some())
}

/// The 1:1 chat between two accounts, created if there is none; `true` if it was created.
/// Refused with `Blocked` if `other` blocks `me`.
pub(crate) fn create_direct(
    conn: &Connection,
    me: UserId,
    other: UserId,
    now_ms: i64,
) -> Result<(ChatSnapshot, bool), Error> {
    if blocks::blocker_among(conn, me, &[other])?.is_some() {
        return Err(blocks::blocked_by(other));
    }
    // One key per unordered pair, so a second request (from either side) finds the first chat.
    let key = direct_key(me, other);
    let existing: Option<i64> = conn
        .prepare_cached("SELECT id FROM chats WHERE direct_key = ?1")?
        .query_row([&key], |row| row.get(0))
        .optional()?;
    if let Some(id) = existing {
        return Ok((stored_chat(conn, ChatId(uint(id)))?, false));
    }
    conn.prepare_cached(
        "INSERT INTO chats (kind, title, created_ms, direct_key) VALUES ('direct', '', ?1, ?2)",
    )?
    .execute(params![now_ms, key])?;
    let id = conn.last_insert_rowid();
    add_members(conn, id, &[me, other], now_ms)?;
    Ok((stored_chat(conn, ChatId(uint(id)))?, true))
}

/// Every account that shares a chat with `account`, `account` included.
pub(crate) fn chat_partners(conn: &Connection, account: UserId) -> Result<Vec<UserId>, Error> {
    let mut statement = conn.prepare_cached(
        "SELECT DISTINCT other.account_id FROM members mine
         JOIN members other ON other.chat_id = mine.chat_id
         WHERE mine.account_id = ?1",
    )?;
    let mut partners = statement
        .query_map([int(account.0)], |row| Ok(UserId(uint(row.get(0)?))))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    if !partners.contains(&account) {
        partners.push(account);
    }
    Ok(partners)
}

/// Those of `users` who share a chat with `account` (and `account` itself, if named): each
/// looked for on its own, stopping at the first chat the two share, rather than every
/// partner of `account` read to be compared.
pub(crate) fn partners_among(
    conn: &Connection,
    account: UserId,
    users: &[UserId],
) -> Result<Vec<UserId>, Error> {
    let mut shares = conn.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM members mine
             JOIN members theirs ON theirs.chat_id = mine.chat_id AND theirs.account_id = ?2
             WHERE mine.account_id = ?1)",
    )?;
    let mut partners = Vec::with_capacity(users.len());
    for &user in users {
        if user == account
            || shares.query_row(params![int(account.0), int(user.0)], |row| row.get(0))?
        {
            partners.push(user);
        }
    }
    Ok(partners)
}
