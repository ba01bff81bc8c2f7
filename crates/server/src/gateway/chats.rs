//! Chats and their members: `CreateChat`, `AddMember`, `RemoveMember`, `RenameGroup` and
//! `SetAdmin`, and pushing changed chats.
//!
//! A 1:1 chat is found rather than doubled; a group's title and size are checked here, and
//! membership and the admin role again inside the writer's transaction, so a stranger learns
//! only `NoSuchChat`. A created or changed chat is pushed to every session of its members,
//! each with their own read position and the receipts they may see, followed by the lines
//! the change wrote into the group's history; the fan-out's member list is updated at once,
//! so that no message stored afterwards reaches someone who left.

use std::collections::HashSet;

use merpati_protocol::{
    ChatId, ChatKind, ErrorCode, MAX_GROUP_MEMBERS, MAX_TITLE_CHARS, Member, NewChat, RequestId,
    Seq, ServerFrame, UserId, Username,
};

use super::session::{Flow, Gone, Session};
use super::socket::FrameSocket;
use super::{Gateway, encode};
use crate::Error;
use crate::fanout::{ChatMembers, SessionId};
use crate::storage::{ChatUpdate, no_such_chat};

/// A group title trimmed, or the refusal of one empty or too long.
fn checked_title(title: &str) -> Result<&str, Error> {
    let title = title.trim();
    let chars = title.chars().count();
    if chars == 0 || chars > MAX_TITLE_CHARS {
        return Err(Error::refused(
            ErrorCode::InvalidTitle,
            format!("a group title has 1 to {MAX_TITLE_CHARS} characters"),
        ));
    }
    Ok(title)
}

impl Gateway {
    /// Creates the chat (an existing 1:1 chat is returned as is, unchanged).
    pub(super) async fn create_chat(
        &self,
        me: &Member,
        chat: NewChat,
    ) -> Result<ChatUpdate, Error> {
        let storage = &self.storage;
        match chat {
            NewChat::Direct { with } => {
                if with == me.username {
                    return Err(Error::refused(
                        ErrorCode::CannotChatWithSelf,
                        "a 1:1 chat needs another person",
                    ));
                }
                let other = self.existing_account(&with).await?;
                let (chat, created) = storage.create_direct(me.id, other.member.id).await?;
                if !created {
                    return Ok(ChatUpdate::unchanged(chat));
                }
                tracing::info!(
                    chat = chat.id.0,
                    with = other.member.id.0,
                    "1:1 chat created"
                );
                Ok(ChatUpdate {
                    chat,
                    changed: true,
                    lines: Vec::new(),
                })
            }
            NewChat::Group { title, members } => {
                let title = checked_title(&title)?;
                let mut seen = HashSet::new();
                let names: Vec<Username> = members
                    .into_iter()
                    .filter(|name| *name != me.username && seen.insert(name.clone()))
                    .collect();
                if names.len() + 1 > MAX_GROUP_MEMBERS {
                    return Err(Error::refused(
                        ErrorCode::TooManyMembers,
                        format!("a group has at most {MAX_GROUP_MEMBERS} members"),
                    ));
                }
                let members = storage.accounts_by_names(names).await?;
                let ids = members.iter().map(|member| member.id).collect();
                let created = storage
                    .create_group(me.clone(), title.to_owned(), ids)
                    .await?;
                tracing::info!(
                    chat = created.chat.id.0,
                    members = created.chat.members.len(),
                    "group created"
                );
                Ok(created)
            }
        }
    }

    /// Adds `username` to a group `me` administers.
    pub(super) async fn add_member(
        &self,
        me: &Member,
        chat_id: ChatId,
        username: Username,
    ) -> Result<ChatUpdate, Error> {
        let storage = &self.storage;
        // Checked here first so that a stranger (or a member who may not add) learns
        // nothing, not even whether the user exists; the writer checks again inside its
        // transaction.
        let chat = storage
            .chat(chat_id)
            .await?
            .filter(|chat| chat.has_member(me.id))
            .ok_or_else(|| no_such_chat(chat_id))?;
        if chat.kind != ChatKind::Group {
            return Err(Error::refused(
                ErrorCode::NotAGroup,
                "only groups take new members",
            ));
        }
        if !chat.is_admin(me.id) {
            return Err(Error::refused(
                ErrorCode::NotAdmin,
                "only the group's admins may add members",
            ));
        }
        let account = self.existing_account(&username).await?;
        let changed = storage.add_member(chat_id, me.id, account.member).await?;
        tracing::info!(chat = chat_id.0, added = %username, "member added");
        Ok(changed)
    }

    /// Takes `user` out of a group; the group afterwards and who left.
    async fn remove_member(
        &self,
        me: &Member,
        chat_id: ChatId,
        user: UserId,
    ) -> Result<(ChatUpdate, Member), Error> {
        // The writer checks membership, kind and role inside its transaction: a stranger
        // learns only NoSuchChat, whatever `user` names.
        let (changed, removed) = self.storage.remove_member(chat_id, me.id, user).await?;
        // At once, so that no message stored from now on is fanned out to the one removed.
        self.fanout.members().set(
            changed.chat.id,
            ChatMembers::new(changed.chat.members_joined(), changed.chat.head),
        );
        tracing::info!(chat = chat_id.0, removed = removed.id.0, "member removed");
        Ok((changed, removed))
    }

    /// Renames a group `me` administers.
    async fn rename_group(
        &self,
        me: &Member,
        chat_id: ChatId,
        title: String,
    ) -> Result<ChatUpdate, Error> {
        let title = checked_title(&title)?.to_owned();
        self.storage.rename_group(chat_id, me.id, title).await
    }

    /// Pushes a created or changed chat to every session of its members but `skip` (each
    /// member gets their own view of it), then the lines the change wrote.
    fn push_chat(&self, update: ChatUpdate, skip: SessionId) {
        let ChatUpdate { chat, lines, .. } = update;
        let members = ChatMembers::new(chat.members_joined(), chat.head);
        self.fanout.members().set(chat.id, members.clone());
        let before_lines = lines.first().map_or(chat.head, |line| Seq(line.seq.0 - 1));
        for state in &chat.members {
            let frame = ServerFrame::Chat {
                request: None,
                chat: chat.info_for(state.member.id),
            };
            self.push_to_account(state.member.id, encode(&frame), Some(skip), before_lines);
        }
        self.fan_out_lines(&members, lines);
    }
}

impl<S: FrameSocket> Session<S> {
    /// Answers a request that creates or changes a chat, and pushes a changed chat (and the
    /// lines the change wrote) to its members.
    pub(super) async fn answer_chat(
        &mut self,
        me: &Member,
        request: RequestId,
        outcome: Result<ChatUpdate, Error>,
    ) -> Result<Flow, Gone> {
        match outcome {
            Ok(update) => {
                let answer = ServerFrame::Chat {
                    request: Some(request),
                    chat: update.chat.info_for(me.id),
                };
                if update.changed {
                    self.gateway.push_chat(update, self.id);
                }
                self.write_frame(&answer).await?;
            }
            Err(error) => self.write_error(Some(request), &error).await?,
        }
        Ok(Flow::Continue)
    }

    /// Answers `RemoveMember`: the group goes to the one who asked, to the remaining members
    /// and to the one removed, whose `ChatInfo` no longer lists them.
    pub(super) async fn remove_member(
        &mut self,
        me: &Member,
        request: RequestId,
        chat_id: ChatId,
        user: UserId,
    ) -> Result<Flow, Gone> {
        let removed = self.gateway.remove_member(me, chat_id, user).await;
        if let Ok((changed, removed)) = &removed {
            let frame = encode(&ServerFrame::Chat {
                request: None,
                chat: changed.chat.info_for(removed.id),
            });
            // Not a member: it follows nothing from this.
            let head = changed.chat.head;
            self.gateway
                .push_to_account(removed.id, frame, Some(self.id), head);
        }
        let changed = removed.map(|(changed, _)| changed);
        self.answer_chat(me, request, changed).await
    }

    /// Answers `RenameGroup`.
    pub(super) async fn rename_group(
        &mut self,
        me: &Member,
        request: RequestId,
        chat_id: ChatId,
        title: String,
    ) -> Result<Flow, Gone> {
        let renamed = self.gateway.rename_group(me, chat_id, title).await;
        self.answer_chat(me, request, renamed).await
    }

    /// Answers `SetAdmin`.
    pub(super) async fn set_admin(
        &mut self,
        me: &Member,
        request: RequestId,
        chat_id: ChatId,
        user: UserId,
        admin: bool,
    ) -> Result<Flow, Gone> {
        let changed = self
            .gateway
            .storage
            .set_admin(chat_id, me.id, user, admin)
            .await;
        self.answer_chat(me, request, changed).await
    }
}
