//! Messages of a chat this device does not know yet. The server fans a message out to the
//! members as of its commit, and pushes a changed chat's description from the session that
//! changed it: someone just added can get the first message after the addition before the
//! chat itself. Dropped, it would be missed — the description then names a head just before
//! it, so no gap shows — until another message came. So it is held, and taken in once the
//! description comes.

use std::collections::BTreeMap;

use merpati_protocol::ChatId;

use super::Engine;
use crate::store::MessageRecord;

/// The most messages held for chats not yet described, on one connection: a description
/// follows within moments, and past this the messages are asked for again as a gap.
const MAX_HELD: usize = 256;

/// Messages held until their chat is described, by chat.
pub(super) type Early = BTreeMap<ChatId, Vec<MessageRecord>>;

impl Engine {
    /// A message of a chat not known here: held for its description.
    pub(super) fn hold_early(&mut self, message: MessageRecord) {
        if self.early.values().map(Vec::len).sum::<usize>() < MAX_HELD {
            self.early.entry(message.chat_id).or_default().push(message);
        }
    }

    /// The chat is described now: the messages that came before it go in.
    pub(super) fn take_in_early(&mut self, chat_id: ChatId) {
        if let Some(messages) = self.early.remove(&chat_id) {
            self.insert_messages(chat_id, messages, false);
        }
    }
}
