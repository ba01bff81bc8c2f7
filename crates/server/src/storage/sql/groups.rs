//! Changes to groups, each with the line it writes into the group's history: creating one,
//! adding and removing members (leaving included), renaming, and making admins.
//!
//! Admins (the creator first) add, remove others, rename and make admins; anyone may leave.
//! A group with members always has an admin: when the last one leaves or steps down, the
//! longest-standing remaining member becomes one. Each change appends an
//! `EncryptedBody::System` line, with the member who acted as its sender, in the same
//! transaction as the change.

use merpati_protocol::content::SystemEvent;
use merpati_protocol::{
    ChatId, ChatKind, ErrorCode, MAX_GROUP_MEMBERS, Member, MessageFrame, UserId,
};
use rusqlite::{Connection, params};

use super::chats::{add_members, chat, stored_chat};
use super::messages::append_system;
use super::{blocks, int, uint};
use crate::Error;
use crate::storage::{ChatSnapshot, ChatUpdate, MemberState, no_such_chat};

/// The refusal for a member who is not an admin.
pub(crate) fn not_admin() -> Error {
    Error::refused(ErrorCode::NotAdmin, "only the group's admins may do this")
}

/// The group `chat_id` as `by`, a member of it, may change it; refusals as `docs/protocol.md`
/// orders them: not a member, not a group, and (with `admin_only`) not an admin.
fn group_of_member(
    conn: &Connection,
    chat_id: ChatId,
    by: UserId,
    admin_only: bool,
) -> Result<ChatSnapshot, Error> {
    let chat = chat(conn, chat_id)?
        .filter(|chat| chat.has_member(by))
        .ok_or_else(|| no_such_chat(chat_id))?;
    if chat.kind != ChatKind::Group {
        return Err(Error::refused(
            ErrorCode::NotAGroup,
            "only groups have members to add or remove, titles and admins",
        ));
    }
    if admin_only && !chat.is_admin(by) {
        return Err(not_admin());
    }
    Ok(chat)
}

pub(crate) fn member_of(chat: &ChatSnapshot, user: UserId) -> Result<&MemberState, Error> {
    chat.member(user).ok_or_else(|| {
        Error::refused(
            ErrorCode::NotAMember,
            format!("user {} is not a member of this group", user.0),
        )
    })
}

fn set_admin_flag(conn: &Connection, chat: ChatId, user: UserId, admin: bool) -> Result<(), Error> {
    conn.prepare_cached("UPDATE members SET admin = ?3 WHERE chat_id = ?1 AND account_id = ?2")?
        .execute(params![int(chat.0), int(user.0), admin])?;
    Ok(())
}

/// A new group of `creator` (its admin) and `members` (already checked to exist, without
/// duplicates); `Blocked` if one of them blocks the creator.
pub(crate) fn create_group(
    conn: &Connection,
    creator: &Member,
    title: &str,
    members: &[UserId],
    now_ms: i64,
) -> Result<ChatUpdate, Error> {
    if let Some(blocker) = blocks::blocker_among(conn, creator.id, members)? {
        return Err(blocks::blocked_by(blocker));
    }
    conn.prepare_cached("INSERT INTO chats (kind, title, created_ms) VALUES ('group', ?1, ?2)")?
        .execute(params![title, now_ms])?;
    let id = ChatId(uint(conn.last_insert_rowid()));
    add_members(conn, int(id.0), &[creator.id], now_ms)?;
    set_admin_flag(conn, id, creator.id, true)?;
    add_members(conn, int(id.0), members, now_ms)?;
    let created = SystemEvent::Created {
        by: creator.clone(),
        title: title.to_owned(),
    };
    let line = append_system(conn, id, creator.id, &created, now_ms)?;
    Ok(ChatUpdate {
        chat: stored_chat(conn, id)?,
        changed: true,
        lines: vec![line],
    })
}

/// Adds `account` to a group that `by` administers.
pub(crate) fn add_member(
    conn: &Connection,
    chat_id: ChatId,
    by: UserId,
    account: &Member,
    now_ms: i64,
) -> Result<ChatUpdate, Error> {
    let chat = group_of_member(conn, chat_id, by, true)?;
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
    if blocks::blocker_among(conn, by, &[account.id])?.is_some() {
        return Err(blocks::blocked_by(account.id));
    }
    let adder = member_of(&chat, by)?.member.clone();
    add_members(conn, int(chat_id.0), &[account.id], now_ms)?;
    let added = SystemEvent::Added {
        by: adder,
        user: account.clone(),
    };
    let line = append_system(conn, chat_id, by, &added, now_ms)?;
    Ok(ChatUpdate {
        chat: stored_chat(conn, chat_id)?,
        changed: true,
        lines: vec![line],
    })
}

/// Takes `user` out of a group that `by` belongs to (`by == user`: leaving, which anyone
/// may; removing someone else takes an admin); the group as it is afterwards and who left.
pub(crate) fn remove_member(
    conn: &Connection,
    chat_id: ChatId,
    by: UserId,
    user: UserId,
    now_ms: i64,
) -> Result<(ChatUpdate, Member), Error> {
    let leaving = by == user;
    let mut chat = group_of_member(conn, chat_id, by, !leaving)?;
    let remover = member_of(&chat, by)?.member.clone();
    let removed = member_of(&chat, user)?.member.clone();
    conn.prepare_cached("DELETE FROM members WHERE chat_id = ?1 AND account_id = ?2")?
        .execute([int(chat_id.0), int(user.0)])?;
    let event = if leaving {
        SystemEvent::Left {
            user: removed.clone(),
        }
    } else {
        SystemEvent::Removed {
            by: remover,
            user: removed.clone(),
        }
    };
    let mut lines = vec![append_system(conn, chat_id, by, &event, now_ms)?];
    chat.members.retain(|state| state.member.id != user);
    lines.extend(keep_an_admin(conn, &mut chat, None, now_ms)?);
    // Read back unless the last member left: an empty group has no member rows to read.
    let chat = if chat.members.is_empty() {
        ChatSnapshot {
            head: lines.last().map_or(chat.head, |line| line.seq),
            ..chat
        }
    } else {
        stored_chat(conn, chat_id)?
    };
    let update = ChatUpdate {
        chat,
        changed: true,
        lines,
    };
    Ok((update, removed))
}

/// Renames a group that `by` administers; `title` is already trimmed and checked.
pub(crate) fn rename_group(
    conn: &Connection,
    chat_id: ChatId,
    by: UserId,
    title: &str,
    now_ms: i64,
) -> Result<ChatUpdate, Error> {
    let chat = group_of_member(conn, chat_id, by, true)?;
    if chat.title == title {
        return Ok(ChatUpdate::unchanged(chat));
    }
    let renamer = member_of(&chat, by)?.member.clone();
    conn.prepare_cached("UPDATE chats SET title = ?2 WHERE id = ?1")?
        .execute(params![int(chat_id.0), title])?;
    let renamed = SystemEvent::Renamed {
        by: renamer,
        title: title.to_owned(),
    };
    let line = append_system(conn, chat_id, by, &renamed, now_ms)?;
    Ok(ChatUpdate {
        chat: stored_chat(conn, chat_id)?,
        changed: true,
        lines: vec![line],
    })
}

/// Makes `user` an admin of a group that `by` administers, or takes it back. Stepping down
/// as the last admin hands the role to the longest-standing other member, as leaving does;
/// the only member of a group stays its admin.
pub(crate) fn set_admin(
    conn: &Connection,
    chat_id: ChatId,
    by: UserId,
    user: UserId,
    admin: bool,
    now_ms: i64,
) -> Result<ChatUpdate, Error> {
    let mut chat = group_of_member(conn, chat_id, by, true)?;
    let target = member_of(&chat, user)?;
    if target.admin == admin || (!admin && chat.members.len() == 1) {
        return Ok(ChatUpdate::unchanged(chat));
    }
    let changed = SystemEvent::AdminChanged {
        by: member_of(&chat, by)?.member.clone(),
        user: target.member.clone(),
        admin,
    };
    set_admin_flag(conn, chat_id, user, admin)?;
    let mut lines = vec![append_system(conn, chat_id, by, &changed, now_ms)?];
    for state in chat
        .members
        .iter_mut()
        .filter(|state| state.member.id == user)
    {
        state.admin = admin;
    }
    lines.extend(keep_an_admin(conn, &mut chat, Some(user), now_ms)?);
    Ok(ChatUpdate {
        chat: stored_chat(conn, chat_id)?,
        changed: true,
        lines,
    })
}

/// If the group has members but no admin, makes the longest-standing member (but `except`,
/// who just stepped down) one; the line saying so (with that member as its author: the
/// server acted, and that is who it shows).
fn keep_an_admin(
    conn: &Connection,
    chat: &mut ChatSnapshot,
    except: Option<UserId>,
    now_ms: i64,
) -> Result<Option<MessageFrame>, Error> {
    if chat.members.iter().any(|state| state.admin) {
        return Ok(None);
    }
    let Some(eldest) = chat
        .members
        .iter_mut()
        .filter(|state| Some(state.member.id) != except)
        .min_by_key(|state| (state.joined_ms, state.member.id))
    else {
        return Ok(None);
    };
    eldest.admin = true;
    let promoted = eldest.member.clone();
    set_admin_flag(conn, chat.id, promoted.id, true)?;
    let event = SystemEvent::AdminChanged {
        by: promoted.clone(),
        user: promoted.clone(),
        admin: true,
    };
    Ok(Some(append_system(
        conn,
        chat.id,
        promoted.id,
        &event,
        now_ms,
    )?))
}
