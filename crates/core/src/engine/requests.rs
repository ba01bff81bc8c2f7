//! What the person asks of the server, and the changes they make to their own state: new
//! chats, taking someone out of a group, read positions, older history, and acknowledging a
//! changed safety number.
//!
//! Requests need a signed-in connection ([`RequestError::NotConnected`] otherwise); each gets
//! a [`RequestId`] whose answer comes back as an [`Event`](super::Event), and fails when the
//! connection drops first.

use merpati_protocol::{ChatId, ClientFrame, RequestId, Seq, UserId, Username, frames::NewChat};

use super::Engine;
use crate::store::{MessageRecord, StoreWrite};

/// How many messages a history request asks for.
pub const HISTORY_PAGE: u32 = 50;

/// Why a request could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// Requests need a live connection.
    #[error("Not connected — try again when the connection is back")]
    NotConnected,
    /// A username was not valid.
    #[error("{0}")]
    InvalidUsername(#[from] merpati_protocol::UsernameError),
    /// The group needs a title.
    #[error("A group needs a name")]
    EmptyTitle,
}

impl Engine {
    /// Starts (or finds) a 1:1 chat; [`Event::ChatReady`](super::Event::ChatReady) follows.
    pub fn create_direct(&mut self, username: &str) -> Result<RequestId, RequestError> {
        let with = Username::parse(username)?;
        self.request(|request| ClientFrame::CreateChat {
            request,
            chat: NewChat::Direct { with },
        })
    }

    /// Creates a group from a title and comma-separated usernames;
    /// [`Event::ChatReady`](super::Event::ChatReady) follows.
    pub fn create_group(&mut self, title: &str, members: &str) -> Result<RequestId, RequestError> {
        let title = title.trim();
        if title.is_empty() {
            return Err(RequestError::EmptyTitle);
        }
        let members = members
            .split(',')
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .map(Username::parse)
            .collect::<Result<Vec<_>, _>>()?;
        let title = title.to_owned();
        self.request(|request| ClientFrame::CreateChat {
            request,
            chat: NewChat::Group { title, members },
        })
    }

    /// Takes a person out of a group (or, with one's own id, leaves it);
    /// [`Event::ChatReady`](super::Event::ChatReady) with the changed chat follows.
    pub fn remove_member(
        &mut self,
        chat_id: ChatId,
        user: UserId,
    ) -> Result<RequestId, RequestError> {
        self.request(|request| ClientFrame::RemoveMember {
            request,
            chat_id,
            user,
        })
    }

    /// Marks everything held in the chat as read (the chat is on screen).
    pub fn mark_read(&mut self, chat_id: ChatId) {
        let authenticated = self.is_authenticated();
        let Some(chat) = self.chats.get_mut(&chat_id) else {
            return;
        };
        let newest = chat
            .timeline
            .last()
            .map(|message| message.seq)
            .unwrap_or_default();
        if newest <= chat.info.read {
            return;
        }
        chat.info.read = newest;
        self.writes.push(StoreWrite::PutChat(chat.record()));
        if authenticated {
            self.frames.push(ClientFrame::MarkRead {
                chat_id,
                seq: newest,
            });
        }
    }

    /// Adds older messages read from the local store (the shell read them below
    /// [`Engine::older_wanted_before`]). When the store had none, asks the server for history
    /// instead.
    pub fn insert_stored_older(&mut self, chat_id: ChatId, page: Vec<MessageRecord>) {
        let authenticated = self.is_authenticated();
        let Some(chat) = self.chats.get_mut(&chat_id) else {
            return;
        };
        if !page.is_empty() {
            chat.timeline.restore(page.clone());
            self.open_messages(&page);
            return;
        }
        let floor = chat.timeline.floor();
        if floor > Seq(1) && authenticated && !chat.history_requested {
            chat.history_requested = true;
            self.frames.push(ClientFrame::History {
                chat_id,
                before: floor,
                limit: HISTORY_PAGE,
            });
        }
    }

    /// The person compared the safety numbers of this chat again.
    pub fn acknowledge_key_change(&mut self, chat_id: ChatId) {
        let Some(members) = self.members(chat_id) else {
            return;
        };
        if let Some(crypto) = self.crypto.as_mut() {
            for user in members {
                crypto.acknowledge_key_change(user);
            }
        }
    }

    /// A new request id (the key flow's requests take theirs here too).
    pub(super) fn next_request_id(&mut self) -> RequestId {
        let request = RequestId(self.next_request);
        self.next_request = self.next_request.wrapping_add(1);
        request
    }

    /// Sends a request of the person's, whose answer (or failure) becomes an event.
    fn request(
        &mut self,
        frame: impl FnOnce(RequestId) -> ClientFrame,
    ) -> Result<RequestId, RequestError> {
        if !self.is_authenticated() {
            return Err(RequestError::NotConnected);
        }
        let request = self.next_request_id();
        self.pending_requests.push(request);
        self.frames.push(frame(request));
        Ok(request)
    }
}
