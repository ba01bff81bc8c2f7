//! What the person asks of the server, and the changes they make to their own state: new
//! chats, older history, and acknowledging a changed safety number; and the one way a request
//! is made ([`Engine::request`], used by `groups` and `privacy` too).
//!
//! Requests need a signed-in connection ([`RequestError::NotConnected`] otherwise); each gets
//! a [`RequestId`] whose answer comes back as an [`Event`](super::Event), and fails when the
//! connection drops first.

use merpati_protocol::{
    ChatId, ClientFrame, Epoch, MAX_BLOCKED, MAX_TITLE_CHARS, RequestId, Seq, Username,
    frames::NewChat,
};
use merpati_words::{Text, refusals, t, tf};

use super::Engine;
use crate::store::{MessageRecord, StoreWrite};

/// How many messages a history request asks for.
pub const HISTORY_PAGE: u32 = 50;

/// Older messages of a chat the engine wants from the local store ([`Engine::older_wanted`]):
/// those below `before`. The page read goes back with it to [`Engine::insert_stored_older`],
/// which takes it only for the timeline it was read for: one emptied while the store was read
/// (the server's storage epoch changed, renumbering every message) is not given the old
/// epoch's messages under the new epoch's positions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OlderWanted {
    /// The position below which to read.
    pub before: Seq,
    /// The storage epoch of the timeline the read is for.
    epoch: Option<Epoch>,
}

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
    /// The title is over [`MAX_TITLE_CHARS`] characters.
    #[error("A group's name is at most {MAX_TITLE_CHARS} characters")]
    TitleTooLong,
    /// The chat is not known on this device.
    #[error("That chat does not exist")]
    NoSuchChat,
    /// This account is no longer in the chat.
    #[error("You are no longer a member of this group")]
    NotAMember,
    /// Only groups have members to add, remove or promote, and a name to change.
    #[error("Only a group can do that — this is a one-to-one chat")]
    NotAGroup,
    /// Only a group's admins add, remove, rename and promote.
    #[error("Only the group's admins can do that")]
    NotAdmin,
    /// The person to add is in the group already.
    #[error("They are in the group already")]
    AlreadyMember,
    /// The person named is not in the group.
    #[error("They are not in this group")]
    NotInGroup,
    /// Blocking more than [`MAX_BLOCKED`] accounts.
    #[error("You can block at most {MAX_BLOCKED} people")]
    TooManyBlocked,
}

/// A group title as the server takes it: trimmed, 1 to [`MAX_TITLE_CHARS`] characters.
impl RequestError {
    /// Why, in the words of the language in use (`Display` stays English, for logs).
    pub fn words(&self) -> String {
        match self {
            RequestError::NotConnected => t(Text::NotConnected),
            RequestError::InvalidUsername(error) => refusals::username(error),
            RequestError::EmptyTitle => t(Text::GroupNeedsName),
            RequestError::TitleTooLong => tf(
                Text::GroupNameTooLong,
                &[("max", &MAX_TITLE_CHARS.to_string())],
            ),
            RequestError::NoSuchChat => t(Text::NoSuchChat),
            RequestError::NotAMember => t(Text::NoLongerMember),
            RequestError::NotAGroup => t(Text::OnlyGroups),
            RequestError::NotAdmin => t(Text::NotAdmin),
            RequestError::AlreadyMember => t(Text::InGroupAlready),
            RequestError::NotInGroup => t(Text::NotInGroup),
            RequestError::TooManyBlocked => {
                tf(Text::TooManyBlocked, &[("max", &MAX_BLOCKED.to_string())])
            }
        }
    }
}

pub(super) fn group_title(title: &str) -> Result<String, RequestError> {
    let title = title.trim();
    if title.is_empty() {
        return Err(RequestError::EmptyTitle);
    }
    if title.chars().count() > MAX_TITLE_CHARS {
        return Err(RequestError::TitleTooLong);
    }
    Ok(title.to_owned())
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
        let title = group_title(title)?;
        let members = members
            .split(',')
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .map(Username::parse)
            .collect::<Result<Vec<_>, _>>()?;
        self.request(|request| ClientFrame::CreateChat {
            request,
            chat: NewChat::Group { title, members },
        })
    }

    /// The older messages of a chat to ask the local store for: those below the oldest message
    /// loaded in memory. `None` when nothing older exists anywhere.
    pub fn older_wanted(&self, chat_id: ChatId) -> Option<OlderWanted> {
        let chat = self.chats.get(&chat_id)?;
        let oldest = chat.timeline.oldest_loaded()?;
        (oldest > Seq(1)).then_some(OlderWanted {
            before: oldest,
            epoch: self.epoch,
        })
    }

    /// Adds older messages read from the local store (the shell read them as
    /// [`Engine::older_wanted`] said, `wanted`). When the store had none, asks the server for
    /// history instead. A page read for a timeline that has since been emptied under another
    /// storage epoch is dropped.
    pub fn insert_stored_older(
        &mut self,
        chat_id: ChatId,
        wanted: OlderWanted,
        page: Vec<MessageRecord>,
    ) {
        if self.older_wanted(chat_id).map(|now| now.epoch) != Some(wanted.epoch) {
            return;
        }
        let authenticated = self.is_authenticated();
        let Some(chat) = self.chats.get_mut(&chat_id) else {
            return;
        };
        if !page.is_empty() {
            let floor = chat.timeline.floor();
            chat.timeline.restore(page.clone());
            if chat.timeline.floor() < floor {
                // The store held more next to the floor than its record said.
                self.writes.push(StoreWrite::PutChat(chat.record()));
            }
            self.views_changed = true;
            let ids = page.iter().map(|message| message.client_msg_id).collect();
            self.open_messages(&page);
            self.erase_deleted(chat_id, ids);
            return;
        }
        // Nothing older in the store: whatever the chat's record said it held below the oldest
        // message loaded is not there (lost under another tab's epoch change, say).
        if chat.timeline.floor_at_oldest_loaded() {
            self.writes.push(StoreWrite::PutChat(chat.record()));
        }
        let floor = chat.timeline.floor();
        if floor > Seq(1) && authenticated && chat.history == super::HistoryAsked::Not {
            chat.history = super::HistoryAsked::Below(floor);
            self.frames.push(ClientFrame::History {
                chat_id,
                before: floor,
                limit: HISTORY_PAGE,
            });
        }
    }

    /// The person compared the safety numbers of this chat again and confirmed: what waited
    /// for it goes out.
    pub fn acknowledge_key_change(&mut self, chat_id: ChatId) {
        let Some(members) = self.members(chat_id) else {
            return;
        };
        if let Some(crypto) = self.crypto.as_mut() {
            for user in members {
                crypto.acknowledge_key_change(user);
            }
        }
        self.views_changed = true;
        self.send_outbox();
    }

    /// A new request id (the key flow's requests take theirs here too).
    pub(super) fn next_request_id(&mut self) -> RequestId {
        let request = RequestId(self.next_request);
        self.next_request = self.next_request.wrapping_add(1);
        request
    }

    /// Sends a request of the person's, whose answer (or failure) becomes an event.
    pub(super) fn request(
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
