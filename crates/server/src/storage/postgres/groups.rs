//! Changes to groups in PostgreSQL, each with the line it writes into the group's history, as
//! `storage::sql::groups` makes them for SQLite (see there for who may do what).

use merpati_protocol::content::SystemEvent;
use merpati_protocol::{
    ChatId, ChatKind, ErrorCode, MAX_GROUP_MEMBERS, Member, MessageFrame, UserId,
};

use super::Tx;
use super::chats::{add_members, chat, stored_chat};
use super::messages::append_system;
use crate::Error;
use crate::storage::sql::blocks::blocked_by;
use crate::storage::sql::groups::{member_of, not_admin};
use crate::storage::sql::{int, uint};
use crate::storage::{ChatSnapshot, ChatUpdate, no_such_chat};

/// The group `chat_id` as `by`, a member of it, may change it; refusals as `docs/protocol.md`
/// orders them: not a member, not a group, and (with `admin_only`) not an admin.
async fn group_of_member(
    tx: &Tx<'_>,
    chat_id: ChatId,
    by: UserId,
    admin_only: bool,
) -> Result<ChatSnapshot, Error> {
    let chat = chat(tx, chat_id)
        .await?
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

async fn set_admin_flag(tx: &Tx<'_>, chat: ChatId, user: UserId, admin: bool) -> Result<(), Error> {
    let statement = tx
        .prepare_cached("UPDATE members SET admin = $3 WHERE chat_id = $1 AND account_id = $2")
        .await?;
    tx.execute(&statement, &[&int(chat.0), &int(user.0), &admin])
        .await?;
    Ok(())
}

/// A new group of `creator` (its admin) and `members` (already checked to exist, without
/// duplicates); `Blocked` if one of them blocks the creator.
pub(crate) async fn create_group(
    tx: &Tx<'_>,
    creator: &Member,
    title: &str,
    members: &[UserId],
    now_ms: i64,
) -> Result<ChatUpdate, Error> {
    if let Some(blocker) = super::blocks::blocker_among(tx, creator.id, members).await? {
        return Err(blocked_by(blocker));
    }
    let statement = tx
        .prepare_cached(
            "INSERT INTO chats (kind, title, created_ms) VALUES ('group', $1, $2) RETURNING id",
        )
        .await?;
    let id: i64 = tx
        .query_one(&statement, &[&title, &now_ms])
        .await?
        .try_get(0)?;
    let id = ChatId(uint(id));
    add_members(tx, int(id.0), &[creator.id], now_ms).await?;
    set_admin_flag(tx, id, creator.id, true).await?;
    add_members(tx, int(id.0), members, now_ms).await?;
    let created = SystemEvent::Created {
        by: creator.clone(),
        title: title.to_owned(),
    };
    let line = append_system(tx, id, creator.id, &created, now_ms).await?;
    Ok(ChatUpdate {
        chat: stored_chat(tx, id).await?,
        changed: true,
        lines: vec![line],
    })
}

/// Adds `account` to a group that `by` administers.
pub(crate) async fn add_member(
    tx: &Tx<'_>,
    chat_id: ChatId,
    by: UserId,
    account: &Member,
    now_ms: i64,
) -> Result<ChatUpdate, Error> {
    let chat = group_of_member(tx, chat_id, by, true).await?;
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
    if super::blocks::blocker_among(tx, by, &[account.id])
        .await?
        .is_some()
    {
        return Err(blocked_by(account.id));
    }
    let adder = member_of(&chat, by)?.member.clone();
    add_members(tx, int(chat_id.0), &[account.id], now_ms).await?;
    let added = SystemEvent::Added {
        by: adder,
        user: account.clone(),
    };
    let line = append_system(tx, chat_id, by, &added, now_ms).await?;
    Ok(ChatUpdate {
        chat: stored_chat(tx, chat_id).await?,
        changed: true,
        lines: vec![line],
    })
}

/// Takes `user` out of a group that `by` belongs to (`by == user`: leaving, which anyone
/// may; removing someone else takes an admin); the group as it is afterwards and who left.
pub(crate) async fn remove_member(
    tx: &Tx<'_>,
    chat_id: ChatId,
    by: UserId,
    user: UserId,
    now_ms: i64,
) -> Result<(ChatUpdate, Member), Error> {
    let leaving = by == user;
    let mut chat = group_of_member(tx, chat_id, by, !leaving).await?;
    let remover = member_of(&chat, by)?.member.clone();
    let removed = member_of(&chat, user)?.member.clone();
    let statement = tx
        .prepare_cached("DELETE FROM members WHERE chat_id = $1 AND account_id = $2")
        .await?;
    tx.execute(&statement, &[&int(chat_id.0), &int(user.0)])
        .await?;
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
    let mut lines = vec![append_system(tx, chat_id, by, &event, now_ms).await?];
    chat.members.retain(|state| state.member.id != user);
    lines.extend(keep_an_admin(tx, &mut chat, None, now_ms).await?);
    // Read back unless the last member left: an empty group has no member rows to read.
    let chat = if chat.members.is_empty() {
        ChatSnapshot {
            head: lines.last().map_or(chat.head, |line| line.seq),
            ..chat
        }
    } else {
        stored_chat(tx, chat_id).await?
    };
    let update = ChatUpdate {
        chat,
        changed: true,
        lines,
    };
    Ok((update, removed))
}

/// Renames a group that `by` administers; `title` is already trimmed and checked.
pub(crate) async fn rename_group(
    tx: &Tx<'_>,
    chat_id: ChatId,
    by: UserId,
    title: &str,
    now_ms: i64,
) -> Result<ChatUpdate, Error> {
    let chat = group_of_member(tx, chat_id, by, true).await?;
    if chat.title == title {
        return Ok(ChatUpdate::unchanged(chat));
    }
    let renamer = member_of(&chat, by)?.member.clone();
    let statement = tx
        .prepare_cached("UPDATE chats SET title = $2 WHERE id = $1")
        .await?;
    tx.execute(&statement, &[&int(chat_id.0), &title]).await?;
    let renamed = SystemEvent::Renamed {
        by: renamer,
        title: title.to_owned(),
    };
    let line = append_system(tx, chat_id, by, &renamed, now_ms).await?;
    Ok(ChatUpdate {
        chat: stored_chat(tx, chat_id).await?,
        changed: true,
        lines: vec![line],
    })
}

/// Makes `user` an admin of a group that `by` administers, or takes it back; the last admin
/// stepping down hands the role on, and a group's only member stays its admin.
pub(crate) async fn set_admin(
    tx: &Tx<'_>,
    chat_id: ChatId,
    by: UserId,
    user: UserId,
    admin: bool,
    now_ms: i64,
) -> Result<ChatUpdate, Error> {
    let mut chat = group_of_member(tx, chat_id, by, true).await?;
    let target = member_of(&chat, user)?;
    if target.admin == admin || (!admin && chat.members.len() == 1) {
        return Ok(ChatUpdate::unchanged(chat));
    }
    let changed = SystemEvent::AdminChanged {
        by: member_of(&chat, by)?.member.clone(),
        user: target.member.clone(),
        admin,
    };
    set_admin_flag(tx, chat_id, user, admin).await?;
    let mut lines = vec![append_system(tx, chat_id, by, &changed, now_ms).await?];
    for state in chat
        .members
        .iter_mut()
        .filter(|state| state.member.id == user)
    {
        state.admin = admin;
    }
    lines.extend(keep_an_admin(tx, &mut chat, Some(user), now_ms).await?);
    Ok(ChatUpdate {
        chat: stored_chat(tx, chat_id).await?,
        changed: true,
        lines,
    })
}

/// If the group has members but no admin, makes the longest-standing member (but `except`,
/// who just stepped down) one; the line saying so, with that member as its author.
async fn keep_an_admin(
    tx: &Tx<'_>,
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
    set_admin_flag(tx, chat.id, promoted.id, true).await?;
    let event = SystemEvent::AdminChanged {
        by: promoted.clone(),
        user: promoted.clone(),
        admin: true,
    };
    Ok(Some(
        append_system(tx, chat.id, promoted.id, &event, now_ms).await?,
    ))
}
