//! Rows of the bridge's view as the component tests need them.

use merpati_bridge::ChatRow;
use merpati_protocol::ChatId;

/// A chat in the list: its id, title, last message and unread count.
pub(crate) fn chat_row(id: u64, title: &str, last: &str, unread: usize) -> ChatRow {
    ChatRow {
        id: ChatId(id),
        title: title.to_owned(),
        last_text: Some(last.to_owned()),
        last_time: "09:41".to_owned(),
        last_received: Some(last.to_owned()),
        last_received_from: None,
        unread,
        typing: Vec::new(),
        draft: None,
        muted: false,
    }
}
