//! Chats and their members: `CreateChat`, `AddMember` and `RemoveMember`.
//!
//! A 1:1 chat is found rather than doubled; a group's title and size are checked here, and
//! membership again inside the writer's transaction, so a stranger learns only `NoSuchChat`.
//! A created or changed chat is pushed to every session of its members, each with their own
//! read position, and the fan-out's member list is updated at once, so that no message
//! stored afterwards reaches someone who left.

use std::collections::HashSet;

use merpati_protocol::{
    ChatId, ChatKind, ErrorCode, MAX_GROUP_MEMBERS, MAX_TITLE_CHARS, Member, NewChat, RequestId,
    ServerFrame, UserId, Username,
};

use super::session::{Flow, Gone, Session};
use super::socket::FrameSocket;
use super::{Gateway, encode};
use crate::Error;
use crate::fanout::SessionId;
use crate::storage::{ChatSnapshot, no_such_chat};

impl Gateway {
    /// Creates the chat; `true` if it is new (an existing 1:1 chat is returned as is).
    pub(super) async fn create_chat(
        &self,
        me: &Member,
        chat: NewChat,
    ) -> Result<(ChatSnapshot, bool), Error> {
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
                if created {
                    tracing::info!(
                        chat = chat.id.0,
                        with = other.member.id.0,
                        "1:1 chat created"
                    );
                }
                Ok((chat, created))
            }
            NewChat::Group { title, members } => {
                let title = title.trim();
                let chars = title.chars().count();
                if chars == 0 || chars > MAX_TITLE_CHARS {
                    return Err(Error::refused(
                        ErrorCode::InvalidTitle,
                        format!("a group title has 1 to {MAX_TITLE_CHARS} characters"),
                    ));
                }
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
                let chat = storage.create_group(me.id, title.to_owned(), ids).await?;
                tracing::info!(
                    chat = chat.id.0,
                    members = chat.members.len(),
                    "group created"
                );
                Ok((chat, true))
            }
        }
    }

    /// Adds `username` to a group `me` belongs to.
    pub(super) async fn add_member(
        &self,
        me: &Member,
        chat_id: ChatId,
        username: Username,
    ) -> Result<ChatSnapshot, Error> {
        let storage = &self.storage;
        // Checked here first so that a stranger learns nothing, not even whether the user
        // exists; the writer checks again inside its transaction.
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
        let account = self.existing_account(&username).await?;
        let chat = storage.add_member(chat_id, me.id, account.member).await?;
        tracing::info!(chat = chat_id.0, added = %username, "member added");
        Ok(chat)
    }

    /// Takes `user` out of a group; the group afterwards and who left.
    async fn remove_member(
        &self,
        me: &Member,
        chat_id: ChatId,
        user: UserId,
    ) -> Result<(ChatSnapshot, Member), Error> {
        // The writer checks membership and kind inside its transaction: a stranger learns
        // only NoSuchChat, whatever `user` names.
        let (chat, removed) = self.storage.remove_member(chat_id, me.id, user).await?;
        // At once, so that no message stored from now on is fanned out to the one removed.
        self.fanout.set_members(chat.id, chat.member_ids());
        tracing::info!(chat = chat_id.0, removed = removed.id.0, "member removed");
        Ok((chat, removed))
    }

    /// Pushes a created or changed chat to every session of its members but `skip`; each
    /// member gets their own read position.
    fn push_chat(&self, chat: &ChatSnapshot, skip: SessionId) {
        self.fanout.set_members(chat.id, chat.member_ids());
        for (member, _) in &chat.members {
            let frame = ServerFrame::Chat {
                request: None,
                chat: chat.info_for(member.id),
            };
            self.fanout
                .deliver(&[member.id], &encode(&frame), Some(skip));
        }
    }
}

impl<S: FrameSocket> Session<S> {
    /// Answers `CreateChat` or `AddMember`, and pushes a new or changed chat to its members.
    pub(super) async fn answer_chat(
        &mut self,
        me: &Member,
        request: RequestId,
        outcome: Result<(ChatSnapshot, bool), Error>,
    ) -> Result<Flow, Gone> {
        match outcome {
            Ok((chat, changed)) => {
                if changed {
                    self.gateway.push_chat(&chat, self.id);
                }
                self.write_frame(&ServerFrame::Chat {
                    request: Some(request),
                    chat: chat.info_for(me.id),
                })
                .await?;
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
        if let Ok((chat, removed)) = &removed {
            let frame = encode(&ServerFrame::Chat {
                request: None,
                chat: chat.info_for(removed.id),
            });
            self.gateway
                .fanout
                .deliver(&[removed.id], &frame, Some(self.id));
        }
        let changed = removed.map(|(chat, _)| (chat, true));
        self.answer_chat(me, request, changed).await
    }
}
