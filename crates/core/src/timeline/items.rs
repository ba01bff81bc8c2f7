//! What the views show of each message: [`TimelineItem`] with its status, lock, text, quote,
//! reactions and marks, and the placeholder words for what cannot be shown.
//!
//! System lines (`SystemEvent`) carry their structure (who did what to whom); [`system_text`]
//! words them, like the placeholders, in the language installed in `merpati_words`.

use merpati_protocol::{
    ClientMsgId, ErrorCode, Member, Seq, UserId, Username,
    content::{Attachment, FileCipher, Quote, SystemEvent},
};
use merpati_words::{Text, tf};

/// How far a message has come.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum MessageStatus {
    /// Written here, not yet acknowledged by the server.
    Pending,
    /// Durable on the server.
    Sent,
    /// Every other member holds it on at least one device.
    Delivered,
    /// Every other member has seen it on screen (as far as they share it).
    Read,
    /// The server refused it; it will not be sent again unless the person retries.
    Failed,
}

/// Whether a message's content could be opened on this device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum MessageLock {
    /// Decrypted and verified (or written here, or a line the server wrote).
    Open,
    /// Encrypted with a key this device does not have yet; it opens when the key arrives.
    Waiting,
    /// It failed verification (altered, or not from who the server says) and is not shown.
    Refused,
}

/// Someone as the views name them: the username, when this device knows it (a member who
/// left may be known only by id).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Person {
    /// Their id.
    pub id: UserId,
    /// Their username, if known.
    pub username: Option<Username>,
}

/// One emoji under a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReactionSummary {
    /// The emoji.
    pub emoji: String,
    /// How many people chose it.
    pub count: usize,
    /// Who.
    pub people: Vec<Person>,
    /// Whether this account is among them (choosing it again takes it back).
    pub mine: bool,
}

/// A message as the views show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineItem {
    /// The message's id, stable from pending to sent.
    pub client_msg_id: ClientMsgId,
    /// Its position, once the server gave it one.
    pub seq: Option<Seq>,
    /// Who wrote it (for a system line: who acted).
    pub sender: UserId,
    /// Whether this account wrote it.
    pub own: bool,
    /// How far it has come (own messages; others' are `Sent`).
    pub status: MessageStatus,
    /// When it was sent (or written, while pending), in milliseconds since the Unix epoch.
    pub sent_at_ms: u64,
    /// Whether the content could be opened.
    pub lock: MessageLock,
    /// What to show, in the language in use: the text (as last edited), the words for a
    /// deleted message, a system line's words, or words saying why it cannot be shown.
    pub text: String,
    /// The message it answers, quoted (`target` is the message to scroll to).
    pub quote: Option<Quote>,
    /// Forwarded from another chat.
    pub forwarded: bool,
    /// Its sender edited it.
    pub edited: bool,
    /// Its sender deleted it for everyone.
    pub deleted: bool,
    /// The reactions under it, most chosen first.
    pub reactions: Vec<ReactionSummary>,
    /// A line the server wrote about the group (structured, for the app's own wording).
    pub system: Option<SystemEvent>,
    /// Why the server refused it, when `status` is `Failed`.
    pub failure: Option<ErrorCode>,
    /// The photo or file it carries (`text` then names it: "Photo", or the file's name), and
    /// the cipher that sealed it.
    pub attachment: Option<(FileCipher, Attachment)>,
}

/// A system line's words ("sari added tomo"), in the language in use.
pub fn system_text(event: &SystemEvent) -> String {
    let (text, by, other, title) = match event {
        SystemEvent::Created { by, title } => (Text::GroupCreated, by, None, Some(title)),
        SystemEvent::Added { by, user } => (Text::MemberAdded, by, Some(user), None),
        SystemEvent::Removed { by, user } => (Text::MemberRemoved, by, Some(user), None),
        SystemEvent::Left { user } => (Text::MemberLeft, user, None, None),
        SystemEvent::Renamed { by, title } => (Text::GroupRenamed, by, None, Some(title)),
        SystemEvent::AdminChanged { by, user, admin } if by.id == user.id && *admin => {
            (Text::NowAdmin, user, None, None)
        }
        SystemEvent::AdminChanged {
            by,
            user,
            admin: true,
        } => (Text::MadeAdmin, by, Some(user), None),
        SystemEvent::AdminChanged {
            by,
            user,
            admin: false,
        } => (Text::NoLongerAdmin, by, Some(user), None),
    };
    let name = by.username.to_string();
    let other = other
        .map(|user| user.username.to_string())
        .unwrap_or_default();
    let title = title.map(String::as_str).unwrap_or_default();
    tf(
        text,
        &[("name", &name), ("other", &other), ("title", title)],
    )
}

/// Everyone a system line names.
pub(crate) fn system_members(event: &SystemEvent) -> Vec<&Member> {
    match event {
        SystemEvent::Created { by, .. } | SystemEvent::Renamed { by, .. } => vec![by],
        SystemEvent::Added { by, user }
        | SystemEvent::Removed { by, user }
        | SystemEvent::AdminChanged { by, user, .. } => vec![by, user],
        SystemEvent::Left { user } => vec![user],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: u64, name: &str) -> Member {
        Member {
            id: UserId(id),
            username: Username::parse(name).unwrap_or_else(|error| panic!("{error}")),
        }
    }

    #[test]
    fn system_lines_read_as_sentences() {
        let (sari, tomo) = (member(1, "sari"), member(2, "tomo"));
        let added = SystemEvent::Added {
            by: sari.clone(),
            user: tomo.clone(),
        };
        assert_eq!(system_text(&added), "sari added tomo");
        assert_eq!(system_members(&added), vec![&sari, &tomo]);
        let left = SystemEvent::Left { user: tomo };
        assert_eq!(system_text(&left), "tomo left");
    }

    #[test]
    fn system_lines_follow_the_language_in_use() {
        let (sari, tomo) = (member(1, "sari"), member(2, "tomo"));
        let indonesian = merpati_words::Catalogue::parse(
            merpati_words::Language::Indonesian,
            include_str!("../../../../public/locales/id.txt"),
        )
        .unwrap_or_else(|error| panic!("{error}"));
        merpati_words::install(indonesian);
        let demoted = SystemEvent::AdminChanged {
            by: sari,
            user: tomo,
            admin: false,
        };
        let words = system_text(&demoted);
        merpati_words::install(merpati_words::Catalogue::english());
        assert_eq!(words, "tomo bukan admin lagi (oleh sari)");
    }
}
