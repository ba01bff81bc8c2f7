//! Group administration: adding and removing members, renaming, making admins, leaving, and
//! who is an admin.
//!
//! The server decides (the creator is the first admin; admins add, remove, rename and
//! promote; anyone may leave) and writes each change into the group's history as a system
//! line. The engine checks the same rules first, so that the person gets words at once
//! instead of a refusal later; each request is answered by the changed chat
//! ([`Event::ChatReady`](super::Event::ChatReady)).

use merpati_protocol::{ChatId, ChatKind, ClientFrame, RequestId, UserId, Username};

use super::requests::group_title;
use super::{Engine, RequestError};

impl Engine {
    /// Adds a person to a group (admins only).
    pub fn add_member(
        &mut self,
        chat_id: ChatId,
        username: &str,
    ) -> Result<RequestId, RequestError> {
        let username = Username::parse(username)?;
        self.check_admin(chat_id)?;
        if self.chats.get(&chat_id).is_some_and(|chat| {
            chat.info
                .members
                .iter()
                .any(|member| member.username == username)
        }) {
            return Err(RequestError::AlreadyMember);
        }
        self.request(|request| ClientFrame::AddMember {
            request,
            chat_id,
            username,
        })
    }

    /// Takes a person out of a group (admins only), or — with this account's own id —
    /// leaves it (anyone).
    pub fn remove_member(
        &mut self,
        chat_id: ChatId,
        user: UserId,
    ) -> Result<RequestId, RequestError> {
        if user == self.my_id() {
            self.check_group_member(chat_id)?;
        } else {
            self.check_admin(chat_id)?;
            self.check_in_group(chat_id, user)?;
        }
        self.request(|request| ClientFrame::RemoveMember {
            request,
            chat_id,
            user,
        })
    }

    /// Leaves a group.
    pub fn leave(&mut self, chat_id: ChatId) -> Result<RequestId, RequestError> {
        self.remove_member(chat_id, self.my_id())
    }

    /// Renames a group (admins only): 1 to `MAX_TITLE_CHARS` characters after trimming.
    pub fn rename_group(
        &mut self,
        chat_id: ChatId,
        title: &str,
    ) -> Result<RequestId, RequestError> {
        let title = group_title(title)?;
        self.check_admin(chat_id)?;
        self.request(|request| ClientFrame::RenameGroup {
            request,
            chat_id,
            title,
        })
    }

    /// Makes a member an admin of a group, or takes it back (admins only).
    pub fn set_admin(
        &mut self,
        chat_id: ChatId,
        user: UserId,
        admin: bool,
    ) -> Result<RequestId, RequestError> {
        self.check_admin(chat_id)?;
        self.check_in_group(chat_id, user)?;
        self.request(|request| ClientFrame::SetAdmin {
            request,
            chat_id,
            user,
            admin,
        })
    }

    /// Whether `user` is an admin of the group (never, in a 1:1 chat).
    pub fn is_admin(&self, chat_id: ChatId, user: UserId) -> bool {
        self.chats
            .get(&chat_id)
            .is_some_and(|chat| chat.info.admins.contains(&user))
    }

    /// Whether this account is an admin of the group: the views offer adding, removing,
    /// renaming and promoting only then.
    pub fn am_admin(&self, chat_id: ChatId) -> bool {
        self.is_admin(chat_id, self.my_id())
    }

    fn check_group_member(&self, chat_id: ChatId) -> Result<(), RequestError> {
        let chat = self.chats.get(&chat_id).ok_or(RequestError::NoSuchChat)?;
        if chat.info.kind != ChatKind::Group {
            return Err(RequestError::NotAGroup);
        }
        if !self.is_member(chat_id) {
            return Err(RequestError::NotAMember);
        }
        Ok(())
    }

    fn check_admin(&self, chat_id: ChatId) -> Result<(), RequestError> {
        self.check_group_member(chat_id)?;
        if !self.am_admin(chat_id) {
            return Err(RequestError::NotAdmin);
        }
        Ok(())
    }

    fn check_in_group(&self, chat_id: ChatId, user: UserId) -> Result<(), RequestError> {
        if self.member_name(chat_id, user).is_none() {
            return Err(RequestError::NotInGroup);
        }
        Ok(())
    }
}
