//! The SQL behind each storage operation, as plain functions over a connection.
//!
//! The write functions run inside the writer's batch transaction (each under its own
//! savepoint, so a refused request leaves no trace); the read functions run on a read-only
//! connection. Ids and sequence numbers are `u64` on the wire and `INTEGER` (i64) in SQLite:
//! values from the network that do not fit saturate to `i64::MAX`, which names nothing.

use std::collections::HashMap;

use merpati_protocol::keys::{
    BackupEntry, ClaimedKey, DeviceKey, DeviceKeys, DeviceRef, OneTimeKey, ToDeviceMessage,
    UserKeys,
};
use merpati_protocol::{
    ChatId, ChatKind, ClientMsgId, ErrorCode, MAX_BACKUP_ENTRIES, MAX_DEVICES, MAX_FRAME_BYTES,
    MAX_GROUP_MEMBERS, MAX_ONE_TIME_KEYS, MAX_PENDING_TO_DEVICE, Member, MessageFrame, Seq, UserId,
    Username,
};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{Account, Appended, BackupPage, ChatSnapshot, Page, Published, QueuedToDevice};
use crate::Error;

/// The most bytes one message adds to an encoded `Page` besides its body (ids, seq, times).
const MESSAGE_OVERHEAD: usize = 64;
/// The bytes a `Page` frame needs besides its messages.
const PAGE_OVERHEAD: usize = 32;

/// A wire number as an SQLite integer.
pub(crate) fn int(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// An SQLite integer as a wire number (stored numbers are never negative).
fn uint(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

fn username(raw: String) -> rusqlite::Result<Username> {
    Username::parse(&raw).map_err(|error| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(error))
    })
}

/// A stored 32-byte key (the schema only ever stores 32-byte keys there).
fn key32(raw: Vec<u8>) -> rusqlite::Result<[u8; 32]> {
    raw.try_into().map_err(|raw: Vec<u8>| {
        rusqlite::Error::FromSqlConversionFailure(
            raw.len(),
            rusqlite::types::Type::Blob,
            "a stored key is not 32 bytes".into(),
        )
    })
}

fn client_msg_id(raw: Vec<u8>) -> rusqlite::Result<ClientMsgId> {
    let bytes: [u8; 16] = raw.try_into().map_err(|raw: Vec<u8>| {
        rusqlite::Error::FromSqlConversionFailure(
            raw.len(),
            rusqlite::types::Type::Blob,
            "client_msg_id is not 16 bytes".into(),
        )
    })?;
    Ok(ClientMsgId(bytes))
}

fn no_such_chat(chat: ChatId) -> Error {
    Error::refused(
        ErrorCode::NoSuchChat,
        format!("chat {} does not exist or you are not a member", chat.0),
    )
}

// ---- accounts and sessions ----

/// Creates an account and its first session.
pub(crate) fn register(
    conn: &Connection,
    name: &Username,
    public_key: &[u8; 32],
    token_hash: &[u8; 32],
    now_ms: i64,
) -> Result<Member, Error> {
    let inserted = conn
        .prepare_cached(
            "INSERT INTO accounts (username, public_key, created_ms) VALUES (?1, ?2, ?3)
             ON CONFLICT (username) DO NOTHING",
        )?
        .execute(params![name.as_str(), &public_key[..], now_ms])?;
    if inserted == 0 {
        return Err(Error::refused(
            ErrorCode::UsernameTaken,
            format!("the username {name} is taken"),
        ));
    }
    let id = conn.last_insert_rowid();
    create_session(conn, id, token_hash, now_ms)?;
    Ok(Member {
        id: UserId(uint(id)),
        username: name.clone(),
    })
}

/// Stores a session token's hash for an account.
pub(crate) fn create_session(
    conn: &Connection,
    account: i64,
    token_hash: &[u8; 32],
    now_ms: i64,
) -> Result<(), Error> {
    conn.prepare_cached(
        "INSERT INTO sessions (token_hash, account_id, created_ms) VALUES (?1, ?2, ?3)",
    )?
    .execute(params![&token_hash[..], account, now_ms])?;
    Ok(())
}

/// Forgets a session token.
pub(crate) fn delete_session(conn: &Connection, token_hash: &[u8; 32]) -> Result<(), Error> {
    conn.prepare_cached("DELETE FROM sessions WHERE token_hash = ?1")?
        .execute([&token_hash[..]])?;
    Ok(())
}

/// The account with this username.
pub(crate) fn account_by_name(
    conn: &Connection,
    name: &Username,
) -> Result<Option<Account>, Error> {
    let account = conn
        .prepare_cached("SELECT id, public_key FROM accounts WHERE username = ?1")?
        .query_row([name.as_str()], |row| {
            let id: i64 = row.get(0)?;
            let key: Vec<u8> = row.get(1)?;
            Ok((id, key))
        })
        .optional()?;
    let Some((id, key)) = account else {
        return Ok(None);
    };
    let public_key: [u8; 32] = key
        .try_into()
        .map_err(|_| Error::Io(std::io::Error::other("stored public key is not 32 bytes")))?;
    Ok(Some(Account {
        member: Member {
            id: UserId(uint(id)),
            username: name.clone(),
        },
        public_key,
    }))
}

/// The account a session token's hash belongs to.
pub(crate) fn session(conn: &Connection, token_hash: &[u8; 32]) -> Result<Option<Member>, Error> {
    let member = conn
        .prepare_cached(
            "SELECT a.id, a.username FROM sessions s JOIN accounts a ON a.id = s.account_id
             WHERE s.token_hash = ?1",
        )?
        .query_row([&token_hash[..]], |row| {
            Ok(Member {
                id: UserId(uint(row.get(0)?)),
                username: username(row.get(1)?)?,
            })
        })
        .optional()?;
    Ok(member)
}

// ---- chats and members ----

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

// ---- messages ----

/// Appends a message, or finds it if this `client_msg_id` was stored before.
// Runs without a savepoint (`Work::checked_first`): it must refuse only before its first
// write, as it does: membership and the id clash are checked first.
pub(crate) fn append(
    conn: &Connection,
    chat: ChatId,
    client_msg_id: ClientMsgId,
    sender: UserId,
    body: &[u8],
    now_ms: i64,
) -> Result<Appended, Error> {
    if !is_member(conn, chat, sender)? {
        return Err(no_such_chat(chat));
    }
    let earlier = conn
        .prepare_cached(
            "SELECT seq, sent_at_ms, sender FROM messages WHERE chat_id = ?1 AND client_msg_id = ?2",
        )?
        .query_row(params![int(chat.0), &client_msg_id.0[..]], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, i64>(1)?,
                row.get::<_, i64>(2)?,
            ))
        })
        .optional()?;
    if let Some((seq, sent_at_ms, earlier_sender)) = earlier {
        if earlier_sender != int(sender.0) {
            // Ids are 128 random bits: a clash with someone else's message is an attack or a
            // broken client, and must not reveal or alias that message.
            return Err(Error::refused(
                ErrorCode::Malformed,
                "client_msg_id already used by another sender",
            ));
        }
        return Ok(Appended {
            seq: Seq(uint(seq)),
            sent_at_ms: uint(sent_at_ms),
            newly_stored: false,
        });
    }
    let seq: i64 = conn
        .prepare_cached(
            "UPDATE chats SET head_seq = head_seq + 1 WHERE id = ?1 RETURNING head_seq",
        )?
        .query_row([int(chat.0)], |row| row.get(0))?;
    conn.prepare_cached(
        "INSERT INTO messages (chat_id, seq, client_msg_id, sender, sent_at_ms, body)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        int(chat.0),
        seq,
        &client_msg_id.0[..],
        int(sender.0),
        now_ms,
        body
    ])?;
    Ok(Appended {
        seq: Seq(uint(seq)),
        sent_at_ms: uint(now_ms),
        newly_stored: true,
    })
}

/// Moves a member's read position forward (never back, never past the head); the new
/// position if it moved.
pub(crate) fn mark_read(
    conn: &Connection,
    chat: ChatId,
    account: UserId,
    seq: Seq,
) -> Result<Option<Seq>, Error> {
    let row: Option<(i64, i64)> = conn
        .prepare_cached(
            "SELECT m.read_seq, c.head_seq FROM members m JOIN chats c ON c.id = m.chat_id
             WHERE m.chat_id = ?1 AND m.account_id = ?2",
        )?
        .query_row([int(chat.0), int(account.0)], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .optional()?;
    let Some((read, head)) = row else {
        return Err(no_such_chat(chat));
    };
    let wanted = int(seq.0).min(head);
    if wanted <= read {
        return Ok(None);
    }
    conn.prepare_cached("UPDATE members SET read_seq = ?3 WHERE chat_id = ?1 AND account_id = ?2")?
        .execute([int(chat.0), int(account.0), wanted])?;
    Ok(Some(Seq(uint(wanted))))
}

fn message(chat: ChatId, row: &Row<'_>) -> rusqlite::Result<MessageFrame> {
    Ok(MessageFrame {
        chat_id: chat,
        seq: Seq(uint(row.get(0)?)),
        client_msg_id: client_msg_id(row.get(1)?)?,
        sender: UserId(uint(row.get(2)?)),
        sent_at_ms: uint(row.get(3)?),
        body: row.get(4)?,
    })
}

/// Keeps the first messages of `messages` that fit one frame; `true` if some were dropped.
fn fit_in_frame(messages: &mut Vec<MessageFrame>) -> bool {
    let mut budget = MAX_FRAME_BYTES - PAGE_OVERHEAD;
    let fitting = messages
        .iter()
        .take_while(|message| {
            let cost = MESSAGE_OVERHEAD + message.body.len();
            let fits = cost <= budget;
            budget = budget.saturating_sub(cost);
            fits
        })
        .count();
    let dropped = fitting < messages.len();
    messages.truncate(fitting);
    dropped
}

/// Messages with a sequence above `after`, oldest first; `more` if newer ones remain.
pub(crate) fn read_after(
    conn: &Connection,
    chat: ChatId,
    after: Seq,
    limit: u32,
) -> Result<Page, Error> {
    let mut statement = conn.prepare_cached(
        "SELECT seq, client_msg_id, sender, sent_at_ms, body FROM messages
         WHERE chat_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
    )?;
    let mut messages = statement
        .query_map([int(chat.0), int(after.0), i64::from(limit) + 1], |row| {
            message(chat, row)
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut more = messages.len() > limit as usize;
    messages.truncate(limit as usize);
    more |= fit_in_frame(&mut messages);
    Ok(Page { messages, more })
}

/// The newest `limit` messages with a sequence below `before`, oldest first; `more` if older
/// ones remain.
pub(crate) fn read_before(
    conn: &Connection,
    chat: ChatId,
    before: Seq,
    limit: u32,
) -> Result<Page, Error> {
    let mut statement = conn.prepare_cached(
        "SELECT seq, client_msg_id, sender, sent_at_ms, body FROM messages
         WHERE chat_id = ?1 AND seq < ?2 ORDER BY seq DESC LIMIT ?3",
    )?;
    // Newest first, so that cutting to fit a frame keeps the messages nearest `before`.
    let mut messages = statement
        .query_map([int(chat.0), int(before.0), i64::from(limit) + 1], |row| {
            message(chat, row)
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut more = messages.len() > limit as usize;
    messages.truncate(limit as usize);
    more |= fit_in_frame(&mut messages);
    messages.reverse();
    Ok(Page { messages, more })
}

// ---- the key directory ----

/// An account's Ed25519 public key from registration.
pub(crate) fn account_key(conn: &Connection, account: UserId) -> Result<Option<[u8; 32]>, Error> {
    let key = conn
        .prepare_cached("SELECT public_key FROM accounts WHERE id = ?1")?
        .query_row([int(account.0)], |row| key32(row.get(0)?))
        .optional()?;
    Ok(key)
}

/// The account a device belongs to.
fn device_owner(conn: &Connection, device: &DeviceKey) -> Result<Option<UserId>, Error> {
    let owner = conn
        .prepare_cached("SELECT account_id FROM devices WHERE device_key = ?1")?
        .query_row([&device.0[..]], |row| Ok(UserId(uint(row.get(0)?))))
        .optional()?;
    Ok(owner)
}

/// Adds or updates a device (its signature already verified) with new one-time keys and
/// fallback key.
pub(crate) fn publish_keys(
    conn: &Connection,
    device: &DeviceKeys,
    one_time_keys: &[OneTimeKey],
    fallback_key: Option<&OneTimeKey>,
    now_ms: i64,
) -> Result<Published, Error> {
    let key = &device.device.0[..];
    let new_device = match device_owner(conn, &device.device)? {
        Some(owner) if owner != device.user => {
            return Err(Error::refused(
                ErrorCode::InvalidKey,
                "this device key belongs to another account",
            ));
        }
        Some(_) => {
            conn.prepare_cached(
                "UPDATE devices SET ed25519 = ?2, signature = ?3 WHERE device_key = ?1",
            )?
            .execute(params![key, &device.ed25519[..], &device.signature])?;
            false
        }
        None => {
            let devices: i64 = conn
                .prepare_cached("SELECT count(*) FROM devices WHERE account_id = ?1")?
                .query_row([int(device.user.0)], |row| row.get(0))?;
            if uint(devices) >= MAX_DEVICES as u64 {
                return Err(Error::refused(
                    ErrorCode::LimitReached,
                    format!(
                        "an account has at most {MAX_DEVICES} devices; sign out on one you no \
                         longer use"
                    ),
                ));
            }
            conn.prepare_cached(
                "INSERT INTO devices (device_key, account_id, ed25519, signature, created_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                key,
                int(device.user.0),
                &device.ed25519[..],
                &device.signature,
                now_ms
            ])?;
            true
        }
    };
    if let Some(fallback) = fallback_key {
        conn.prepare_cached(
            "UPDATE devices SET fallback_key = ?2, fallback_signature = ?3, fallback_flag = ?4
             WHERE device_key = ?1",
        )?
        .execute(params![
            key,
            &fallback.key[..],
            &fallback.signature,
            fallback.fallback
        ])?;
    }
    let count: i64 = conn
        .prepare_cached("SELECT count(*) FROM one_time_keys WHERE device_key = ?1")?
        .query_row([key], |row| row.get(0))?;
    let mut count = uint(count);
    let mut insert = conn.prepare_cached(
        "INSERT INTO one_time_keys (device_key, key, fallback, signature) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT DO NOTHING",
    )?;
    for one_time_key in one_time_keys {
        // Keys past the cap are dropped: the device learns the count from KeysPublished and
        // uploads more once some have been claimed.
        if count >= MAX_ONE_TIME_KEYS as u64 {
            break;
        }
        let inserted = insert.execute(params![
            key,
            &one_time_key.key[..],
            one_time_key.fallback,
            &one_time_key.signature
        ])?;
        count += inserted as u64;
    }
    Ok(Published {
        one_time_keys: u32::try_from(count).unwrap_or(u32::MAX),
        new_device,
    })
}

/// Everything the directory knows about an account, if it exists.
pub(crate) fn user_keys(conn: &Connection, user: UserId) -> Result<Option<UserKeys>, Error> {
    let Some(account_key) = account_key(conn, user)? else {
        return Ok(None);
    };
    let mut statement = conn.prepare_cached(
        "SELECT device_key, ed25519, signature FROM devices WHERE account_id = ?1
         ORDER BY device_key",
    )?;
    let devices = statement
        .query_map([int(user.0)], |row| {
            Ok(DeviceKeys {
                user,
                device: DeviceKey(key32(row.get(0)?)?),
                ed25519: key32(row.get(1)?)?,
                signature: row.get(2)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(Some(UserKeys {
        user,
        account_key,
        devices,
    }))
}

/// Takes the oldest one-time key of a device, or else reads its fallback key; `None` if the
/// device does not exist (or is not `device.user`'s).
pub(crate) fn claim_key(
    conn: &Connection,
    device: &DeviceRef,
) -> Result<Option<ClaimedKey>, Error> {
    if device_owner(conn, &device.device)? != Some(device.user) {
        return Ok(None);
    }
    let key = &device.device.0[..];
    let one_time = conn
        .prepare_cached(
            "DELETE FROM one_time_keys WHERE id =
                 (SELECT id FROM one_time_keys WHERE device_key = ?1 ORDER BY id LIMIT 1)
             RETURNING key, fallback, signature",
        )?
        .query_row([key], one_time_key)
        .optional()?;
    let key = match one_time {
        Some(one_time) => Some(one_time),
        None => conn
            .prepare_cached(
                "SELECT fallback_key, fallback_flag, fallback_signature FROM devices
                 WHERE device_key = ?1 AND fallback_key IS NOT NULL",
            )?
            .query_row([key], one_time_key)
            .optional()?,
    };
    Ok(Some(ClaimedKey {
        device: *device,
        key,
    }))
}

fn one_time_key(row: &Row<'_>) -> rusqlite::Result<OneTimeKey> {
    Ok(OneTimeKey {
        key: key32(row.get(0)?)?,
        fallback: row.get(1)?,
        signature: row.get(2)?,
    })
}

/// Queues to-device messages from `sender`: per message its id, or `None` where the
/// recipient device does not exist. Refuses all of them if a recipient's queue would pass
/// [`MAX_PENDING_TO_DEVICE`].
pub(crate) fn queue_to_device(
    conn: &Connection,
    sender: &DeviceRef,
    messages: &[ToDeviceMessage],
    now_ms: i64,
) -> Result<Vec<Option<u64>>, Error> {
    let mut owners: HashMap<DeviceKey, Option<UserId>> = HashMap::new();
    let mut adding: HashMap<DeviceKey, u64> = HashMap::new();
    let mut deliverable = Vec::with_capacity(messages.len());
    for message in messages {
        let recipient = message.recipient;
        let owner = match owners.get(&recipient.device) {
            Some(owner) => *owner,
            None => {
                let owner = device_owner(conn, &recipient.device)?;
                owners.insert(recipient.device, owner);
                owner
            }
        };
        let known = owner == Some(recipient.user);
        if known {
            *adding.entry(recipient.device).or_default() += 1;
        }
        deliverable.push(known);
    }
    for (device, count) in &adding {
        let pending: i64 = conn
            .prepare_cached("SELECT count(*) FROM to_device WHERE recipient_device = ?1")?
            .query_row([&device.0[..]], |row| row.get(0))?;
        if uint(pending) + count > MAX_PENDING_TO_DEVICE as u64 {
            return Err(Error::refused(
                ErrorCode::LimitReached,
                format!("a device has {MAX_PENDING_TO_DEVICE} messages waiting; none were queued"),
            ));
        }
    }
    let mut insert = conn.prepare_cached(
        "INSERT INTO to_device (recipient_account, recipient_device, sender_account,
             sender_device, body, created_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    let mut ids = Vec::with_capacity(messages.len());
    for (message, deliverable) in messages.iter().zip(deliverable) {
        if !deliverable {
            ids.push(None);
            continue;
        }
        insert.execute(params![
            int(message.recipient.user.0),
            &message.recipient.device.0[..],
            int(sender.user.0),
            &sender.device.0[..],
            &message.body,
            now_ms
        ])?;
        ids.push(Some(uint(conn.last_insert_rowid())));
    }
    Ok(ids)
}

/// Up to `limit` messages waiting for `device` with an id above `after`, by id.
pub(crate) fn to_device_after(
    conn: &Connection,
    device: &DeviceKey,
    after: u64,
    limit: u32,
) -> Result<Vec<QueuedToDevice>, Error> {
    let mut statement = conn.prepare_cached(
        "SELECT id, sender_account, sender_device, body FROM to_device
         WHERE recipient_device = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
    )?;
    let queued = statement
        .query_map(params![&device.0[..], int(after), limit], |row| {
            Ok(QueuedToDevice {
                id: uint(row.get(0)?),
                sender: DeviceRef {
                    user: UserId(uint(row.get(1)?)),
                    device: DeviceKey(key32(row.get(2)?)?),
                },
                body: row.get(3)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(queued)
}

/// Deletes the messages with these ids that wait for `device`; other ids are ignored.
pub(crate) fn to_device_done(
    conn: &Connection,
    device: &DeviceKey,
    ids: &[u64],
) -> Result<(), Error> {
    let mut delete =
        conn.prepare_cached("DELETE FROM to_device WHERE id = ?1 AND recipient_device = ?2")?;
    for id in ids {
        delete.execute(params![int(*id), &device.0[..]])?;
    }
    Ok(())
}

/// Deletes a device of `account` with its one-time keys and waiting messages; `true` if it
/// existed.
pub(crate) fn delete_device(
    conn: &Connection,
    account: UserId,
    device: &DeviceKey,
) -> Result<bool, Error> {
    if device_owner(conn, device)? != Some(account) {
        return Ok(false);
    }
    let key = &device.0[..];
    conn.prepare_cached("DELETE FROM one_time_keys WHERE device_key = ?1")?
        .execute([key])?;
    conn.prepare_cached("DELETE FROM to_device WHERE recipient_device = ?1")?
        .execute([key])?;
    conn.prepare_cached("DELETE FROM devices WHERE device_key = ?1")?
        .execute([key])?;
    Ok(true)
}

// ---- key backup ----

/// The most bytes one entry adds to an encoded `Backup` frame besides its sealed bytes.
const BACKUP_ENTRY_OVERHEAD: usize = 48;

/// Stores backup entries, each replacing any entry with its id and getting a position above
/// every position the account has used.
pub(crate) fn put_backup(
    conn: &Connection,
    account: UserId,
    entries: &[BackupEntry],
) -> Result<(), Error> {
    let last: i64 = conn
        .prepare_cached("SELECT coalesce(max(position), 0) FROM backup WHERE account_id = ?1")?
        .query_row([int(account.0)], |row| row.get(0))?;
    let mut exists =
        conn.prepare_cached("SELECT 1 FROM backup WHERE account_id = ?1 AND entry_id = ?2")?;
    let mut upsert = conn.prepare_cached(
        "INSERT INTO backup (account_id, entry_id, position, sealed) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (account_id, entry_id)
         DO UPDATE SET position = excluded.position, sealed = excluded.sealed",
    )?;
    let mut added: i64 = 0;
    for (entry, position) in entries.iter().zip(last + 1..) {
        let replaced = exists
            .query_row(params![int(account.0), &entry.id[..]], |_| Ok(()))
            .optional()?
            .is_some();
        if !replaced {
            added += 1;
        }
        upsert.execute(params![
            int(account.0),
            &entry.id[..],
            position,
            &entry.sealed
        ])?;
    }
    let total: i64 = conn
        .prepare_cached(
            "UPDATE accounts SET backup_entries = backup_entries + ?2 WHERE id = ?1
             RETURNING backup_entries",
        )?
        .query_row([int(account.0), added], |row| row.get(0))?;
    if uint(total) > MAX_BACKUP_ENTRIES as u64 {
        // The savepoint is rolled back: none of the entries is stored.
        return Err(Error::refused(
            ErrorCode::LimitReached,
            format!("a key backup holds at most {MAX_BACKUP_ENTRIES} entries"),
        ));
    }
    Ok(())
}

/// Up to `limit` backup entries of `account` after `after`, by position, cut to fit a frame.
pub(crate) fn backup_after(
    conn: &Connection,
    account: UserId,
    after: u64,
    limit: u32,
) -> Result<BackupPage, Error> {
    let mut statement = conn.prepare_cached(
        "SELECT position, entry_id, sealed FROM backup
         WHERE account_id = ?1 AND position > ?2 ORDER BY position LIMIT ?3",
    )?;
    let mut entries = statement
        .query_map([int(account.0), int(after), i64::from(limit) + 1], |row| {
            Ok((
                uint(row.get(0)?),
                BackupEntry {
                    id: key32(row.get(1)?)?,
                    sealed: row.get(2)?,
                },
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut more = entries.len() > limit as usize;
    entries.truncate(limit as usize);
    // A full batch of the largest entries is more than one frame holds.
    let mut budget = MAX_FRAME_BYTES - PAGE_OVERHEAD;
    let fitting = entries
        .iter()
        .take_while(|(_, entry)| {
            let cost = BACKUP_ENTRY_OVERHEAD + entry.sealed.len();
            let fits = cost <= budget;
            budget = budget.saturating_sub(cost);
            fits
        })
        .count();
    more |= fitting < entries.len();
    entries.truncate(fitting);
    Ok(BackupPage { entries, more })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(body_len: usize) -> MessageFrame {
        MessageFrame {
            chat_id: ChatId(u64::MAX),
            seq: Seq(u64::MAX),
            client_msg_id: ClientMsgId([0xff; 16]),
            sender: UserId(u64::MAX),
            sent_at_ms: u64::MAX,
            body: vec![0xff; body_len],
        }
    }

    #[test]
    fn a_page_cut_to_fit_encodes_within_the_frame_limit() {
        let mut messages: Vec<_> = (0..10).map(|_| frame(16 * 1024)).collect();
        assert!(fit_in_frame(&mut messages));
        let page = merpati_protocol::ServerFrame::Page {
            chat_id: ChatId(u64::MAX),
            messages,
            more: true,
        };
        assert!(merpati_protocol::encode(&page).len() <= MAX_FRAME_BYTES);
    }

    #[test]
    fn the_backup_overhead_estimates_cover_the_largest_entry_header() {
        let backup = |entries| merpati_protocol::ServerFrame::Backup {
            request: merpati_protocol::RequestId(u32::MAX),
            entries,
            more: true,
        };
        let empty = merpati_protocol::encode(&backup(Vec::new())).len();
        let sealed = merpati_protocol::MAX_BACKUP_ENTRY_BYTES;
        let one = merpati_protocol::encode(&backup(vec![(
            u64::MAX,
            BackupEntry {
                id: [0xff; 32],
                sealed: vec![0xff; sealed],
            },
        )]))
        .len();
        // Up to two more bytes for the entry count of a full page.
        assert!(empty + 2 <= PAGE_OVERHEAD, "{empty}");
        assert!(
            one - empty <= BACKUP_ENTRY_OVERHEAD + sealed,
            "{}",
            one - empty
        );
    }

    #[test]
    fn the_overhead_estimate_covers_the_largest_message_header() {
        let encoded = merpati_protocol::encode(&frame(0)).len();
        assert!(encoded + 3 <= MESSAGE_OVERHEAD, "{encoded}");
    }
}
