//! Chats and their members: 1:1 chats, groups and changes to them, and who shares a chat
//! with whom, on either backend.

use merpati_protocol::{ChatId, Member, Seq, UserId};

use super::{ChatJoined, ChatSnapshot, ChatUpdate, MembersAt, Storage, on_backend};
use crate::Error;

impl Storage {
    /// The 1:1 chat of two accounts, created if needed; `true` if created now.
    pub(crate) fn create_direct(
        &self,
        me: UserId,
        other: UserId,
    ) -> impl Future<Output = Result<(ChatSnapshot, bool), Error>> {
        on_backend!(self, write | now | chats::create_direct(me, other, now))
    }

    /// A new group of `creator` (its admin) and `members`, with its first line.
    pub(crate) fn create_group(
        &self,
        creator: Member,
        title: String,
        members: Vec<UserId>,
    ) -> impl Future<Output = Result<ChatUpdate, Error>> {
        on_backend!(
            self,
            write | now | groups::create_group(&creator, &title, &members, now)
        )
    }

    /// Adds `account` to a group that `by` administers.
    pub(crate) fn add_member(
        &self,
        chat: ChatId,
        by: UserId,
        account: Member,
    ) -> impl Future<Output = Result<ChatUpdate, Error>> {
        on_backend!(
            self,
            write | now | groups::add_member(chat, by, &account, now)
        )
    }

    /// Takes `user` out of a group `by` belongs to; the group afterwards and who left.
    pub(crate) fn remove_member(
        &self,
        chat: ChatId,
        by: UserId,
        user: UserId,
    ) -> impl Future<Output = Result<(ChatUpdate, Member), Error>> {
        on_backend!(
            self,
            write | now | groups::remove_member(chat, by, user, now)
        )
    }

    /// Renames a group that `by` administers.
    pub(crate) fn rename_group(
        &self,
        chat: ChatId,
        by: UserId,
        title: String,
    ) -> impl Future<Output = Result<ChatUpdate, Error>> {
        on_backend!(
            self,
            write | now | groups::rename_group(chat, by, &title, now)
        )
    }

    /// Makes `user` an admin of a group that `by` administers, or takes it back.
    pub(crate) fn set_admin(
        &self,
        chat: ChatId,
        by: UserId,
        user: UserId,
        admin: bool,
    ) -> impl Future<Output = Result<ChatUpdate, Error>> {
        on_backend!(
            self,
            write | now | groups::set_admin(chat, by, user, admin, now)
        )
    }

    /// Every account sharing a chat with `account`, and `account` itself.
    pub(crate) fn chat_partners(
        &self,
        account: UserId,
    ) -> impl Future<Output = Result<Vec<UserId>, Error>> {
        on_backend!(self, read chats::chat_partners(account))
    }

    /// Those of `users` who share a chat with `account`, and `account` itself if named, in the
    /// order named: what `QueryKeys` answers for.
    pub(crate) fn partners_among(
        &self,
        account: UserId,
        users: Vec<UserId>,
    ) -> impl Future<Output = Result<Vec<UserId>, Error>> {
        on_backend!(self, read chats::partners_among(account, &users))
    }

    /// Whether two accounts share a 1:1 chat.
    pub(crate) fn share_direct_chat(
        &self,
        a: UserId,
        b: UserId,
    ) -> impl Future<Output = Result<bool, Error>> {
        on_backend!(self, read chats::share_direct_chat(a, b))
    }

    /// A chat with its members, if it exists.
    pub(crate) fn chat(
        &self,
        chat: ChatId,
    ) -> impl Future<Output = Result<Option<ChatSnapshot>, Error>> {
        on_backend!(self, read chats::chat(chat))
    }

    /// Every chat of an account, by id, with its head and where the account joined it: a
    /// few bytes a chat, without their members.
    pub(crate) fn chats_joined(
        &self,
        account: UserId,
    ) -> impl Future<Output = Result<Vec<ChatJoined>, Error>> {
        on_backend!(self, read chats::chats_joined(account))
    }

    /// The first `limit` chats of an account after the chat `after` (by id; `ChatId(0)` for
    /// the first page), each with its members: the chats a page at a time, as a sync writes
    /// them, so that a large account's members are never all read at once.
    pub(crate) fn chats_of(
        &self,
        account: UserId,
        after: ChatId,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<ChatSnapshot>, Error>> {
        on_backend!(self, read chats::chats_of(account, after, limit))
    }

    /// The chats each of `accounts` joined from `since_ms` on and before `until_ms`, each
    /// with its head when joined: what a cluster's head check looks for in case the push of a
    /// chat was lost.
    pub(crate) fn joined_between(
        &self,
        accounts: Vec<UserId>,
        since_ms: u64,
        until_ms: u64,
    ) -> impl Future<Output = Result<Vec<super::Joined>, Error>> {
        on_backend!(self, read chats::joined_between(&accounts, since_ms, until_ms))
    }

    /// Each of `chats`' newest sequence number (one that does not exist is left out).
    pub(crate) fn heads(
        &self,
        chats: Vec<ChatId>,
    ) -> impl Future<Output = Result<Vec<(ChatId, Seq)>, Error>> {
        on_backend!(self, read chats::heads(&chats))
    }

    /// A chat's members, each with the chat's head when they joined, and the head they are
    /// the members at (none and 0 for a chat that does not exist).
    pub(crate) fn members_joined(
        &self,
        chat: ChatId,
    ) -> impl Future<Output = Result<MembersAt, Error>> {
        on_backend!(self, read chats::members_joined(chat))
    }
}
