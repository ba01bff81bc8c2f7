//! Chats and their members: creating 1:1 chats and groups, adding and removing members, and
//! reading chats back as [`ChatSnapshot`]s (each member with their read position).

use merpati_protocol::{ChatId, ChatKind, ErrorCode, MAX_GROUP_MEMBERS, Member, Seq, UserId};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{int, uint, username};
use crate::Error;
use crate::storage::ChatSnapshot;
use crate::storage::no_such_chat;

/// The columns `snapshots` expects, one row per (chat, member).
const SNAPSHOT_COLUMNS: &str = "c.id, c.kind, c.title, c.created_ms, c.head_seq,
     m.account_id, a.username, m.read_seq";

/// Groups (chat, member) rows into snapshots; the rows must be ordered by chat.
fn snapshots(rows: &mut rusqlite::Rows<'_>) -> Result<Vec<ChatSnapshot>, Error> {
    let mut chats: Vec<ChatSnapshot> = Vec::new();
    while let Some(row) = rows.next()? {
        let id = ChatId(uint(row.get(0)?));
        let member = (
            Member {
                id: UserId(uint(row.get(5)?)),
                username: username(row.get(6)?)?,
            },
            Seq(uint(row.get(7)?)),
        );
        match chats.last_mut() {
            Some(chat) if chat.id == id => chat.members.push(member),
            _ => chats.push(snapshot_head(row, id, member)?),
        }
    }
    Ok(chats)
}

fn snapshot_head(row: &Row<'_>, id: ChatId, member: (Member, Seq)) -> Result<ChatSnapshot, Error> {
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
    Ok(snapshots(&mut rows)?.pop())
}

/// Every chat an account belongs to, with all their members, in one query.
pub(crate) fn chats_of(conn: &Connection, account: UserId) -> Result<Vec<ChatSnapshot>, Error> {
    let mut statement = conn.prepare_cached(&format!(
        "SELECT {SNAPSHOT_COLUMNS} FROM members mine
         JOIN chats c ON c.id = mine.chat_id
         JOIN members m ON m.chat_id = c.id JOIN accounts a ON a.id = m.account_id
         WHERE mine.account_id = ?1 ORDER BY c.id, a.id"
    ))?;
    let mut rows = statement.query([int(account.0)])?;
    snapshots(&mut rows)
}

/// The ids of a chat's members.
pub(crate) fn member_ids(conn: &Connection, chat: ChatId) -> Result<Vec<UserId>, Error> {
    let mut statement = conn.prepare_cached("SELECT account_id FROM members WHERE chat_id = ?1")?;
    let ids = statement
        .query_map([int(chat.0)], |row| Ok(UserId(uint(row.get(0)?))))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(ids)
}

/// Whether an account is a member of a chat.
pub(crate) fn is_member(conn: &Connection, chat: ChatId, account: UserId) -> Result<bool, Error> {
    let found = conn
        .prepare_cached("SELECT 1 FROM members WHERE chat_id = ?1 AND account_id = ?2")?
        .query_row([int(chat.0), int(account.0)], |_| Ok(()))
        .optional()?;
    Ok(found.is_some())
}

fn add_members(conn: &Connection, chat: i64, accounts: &[UserId]) -> Result<(), Error> {
    let mut statement = conn.prepare_cached(
        "INSERT INTO members (chat_id, account_id) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
    )?;
    for account in accounts {
        statement.execute([chat, int(account.0)])?;
    }
    Ok(())
}

fn stored_chat(conn: &Connection, id: i64) -> Result<ChatSnapshot, Error> {
    chat(conn, ChatId(uint(id)))?.ok_or_else(|| {
        Error::Io(std::io::Error::other(
            "a chat vanished inside its transaction",
        ))
    })
}

/// The 1:1 chat between two accounts, created if there is none; `true` if it was created.
pub(crate) fn create_direct(
    conn: &Connection,
    me: UserId,
    other: UserId,
    now_ms: i64,
) -> Result<(ChatSnapshot, bool), Error> {
    // One key per unordered pair, so a second request (from either side) finds the first chat.
    let key = format!("{}:{}", me.0.min(other.0), me.0.max(other.0));
    let existing: Option<i64> = conn
        .prepare_cached("SELECT id FROM chats WHERE direct_key = ?1")?
        .query_row([&key], |row| row.get(0))
        .optional()?;
    if let Some(id) = existing {
        return Ok((stored_chat(conn, id)?, false));
    }
    conn.prepare_cached(
        "INSERT INTO chats (kind, title, created_ms, direct_key) VALUES ('direct', '', ?1, ?2)",
    )?
    .execute(params![now_ms, key])?;
    let id = conn.last_insert_rowid();
    add_members(conn, id, &[me, other])?;
    Ok((stored_chat(conn, id)?, true))
}

/// A new group of `creator` and `members` (already checked to exist, without duplicates).
pub(crate) fn create_group(
    conn: &Connection,
    creator: UserId,
    title: &str,
    members: &[UserId],
    now_ms: i64,
) -> Result<ChatSnapshot, Error> {
    conn.prepare_cached("INSERT INTO chats (kind, title, created_ms) VALUES ('group', ?1, ?2)")?
        .execute(params![title, now_ms])?;
    let id = conn.last_insert_rowid();
    add_members(conn, id, &[creator])?;
    add_members(conn, id, members)?;
    stored_chat(conn, id)
}

/// Adds `account` to a group that `by` belongs to.
pub(crate) fn add_member(
    conn: &Connection,
    chat_id: ChatId,
    by: UserId,
    account: &Member,
) -> Result<ChatSnapshot, Error> {
    let chat = chat(conn, chat_id)?
        .filter(|chat| chat.has_member(by))
        .ok_or_else(|| no_such_chat(chat_id))?;
    if chat.kind != ChatKind::Group {
        return Err(Error::refused(
            ErrorCode::NotAGroup,
            "only groups take new members",
        ));
    }
    if chat.has_member(account.id) {
        return Err(Error::refused(
            ErrorCode::AlreadyMember,
            format!("{} is already a member", account.username),
        ));
    }
    if chat.members.len() >= MAX_GROUP_MEMBERS {
        return Err(Error::refused(
            ErrorCode::TooManyMembers,
            format!("a group has at most {MAX_GROUP_MEMBERS} members"),
        ));
    }
    add_members(conn, int(chat_id.0), &[account.id])?;
    stored_chat(conn, int(chat_id.0))
}

/// Takes `user` out of a group that `by` belongs to (`by == user`: leaving); the group as it
/// is afterwards and who left.
pub(crate) fn remove_member(
    conn: &Connection,
    chat_id: ChatId,
    by: UserId,
    user: UserId,
) -> Result<(ChatSnapshot, Member), Error> {
    let mut chat = chat(conn, chat_id)?
        .filter(|chat| chat.has_member(by))
        .ok_or_else(|| no_such_chat(chat_id))?;
    if chat.kind != ChatKind::Group {
        return Err(Error::refused(
            ErrorCode::NotAGroup,
            "only groups lose members; a 1:1 chat stays as it is",
        ));
    }
    let Some(index) = chat
        .members
        .iter()
        .position(|(member, _)| member.id == user)
    else {
        return Err(Error::refused(
            ErrorCode::NotAMember,
            format!("user {} is not a member of this group", user.0),
        ));
    };
    conn.prepare_cached("DELETE FROM members WHERE chat_id = ?1 AND account_id = ?2")?
        .execute([int(chat_id.0), int(user.0)])?;
    // Cut from the snapshot read above rather than read again: a group whose last member
    // left has no member rows to read it back from.
    let (removed, _) = chat.members.remove(index);
    Ok((chat, removed))
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
