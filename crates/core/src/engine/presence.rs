//! Who is typing and who is online: the signals of a live conversation, never stored.
//!
//! Typing goes out at most once per [`TYPING_INTERVAL_MS`] per chat while the person types,
//! and an incoming signal shows for [`TYPING_SHOWN_MS`] after it arrived, or until a message
//! from that person arrives. Arrival is timed by the shell's clock
//! ([`Engine::advance_clock`]), not the server's, so that clock skew never stretches it; the
//! shell re-reads the views at [`Engine::next_clock_change_ms`].
//!
//! Presence follows one person at a time: the other person of the 1:1 chat on screen
//! ([`Engine::watch_presence`]), asked again after every reconnect.

use merpati_protocol::{
    ChatId, ClientFrame, Presence, TYPING_INTERVAL_MS, TYPING_SHOWN_MS, UserId, Username,
};

use super::Engine;

impl Engine {
    /// The shell's clock, in milliseconds since the Unix epoch. Call it before pushing each
    /// input (frames included) and when [`Engine::next_clock_change_ms`] passes: typing
    /// signals are timed by it, and expire by it, a refused publish, key share, sync or page
    /// is tried again by it, and the to-device messages processed are acknowledged by it.
    pub fn advance_clock(&mut self, now_ms: u64) {
        self.now_ms = self.now_ms.max(now_ms);
        self.clock_ms = self.clock_ms.max(now_ms);
        let now = self.now_ms;
        for chat in self.chats.values_mut() {
            let before = chat.typing.len();
            chat.typing
                .retain(|_, at| now < at.saturating_add(TYPING_SHOWN_MS));
            self.views_changed |= chat.typing.len() != before;
        }
        self.retry_publish_if_due();
        self.retry_key_share_if_due();
        self.retry_sync_if_due();
        self.retry_pages_if_due();
        self.retry_privacy_if_due();
        self.send_to_device_done_if_due();
    }

    /// The person is typing in the chat: tells the others, at most once per
    /// [`TYPING_INTERVAL_MS`]. Nothing while offline, nor where this account cannot write.
    pub fn typing(&mut self, chat_id: ChatId, now_ms: u64) {
        self.advance_clock(now_ms);
        if !self.is_authenticated() || self.check_can_send(chat_id).is_err() {
            return;
        }
        let last = self.typing_sent.get(&chat_id).copied();
        if last.is_some_and(|last| now_ms < last.saturating_add(TYPING_INTERVAL_MS)) {
            return;
        }
        self.typing_sent.insert(chat_id, now_ms);
        self.frames.push(ClientFrame::Typing { chat_id });
    }

    /// Who is typing in the chat at `now_ms`, blocked people left out.
    pub fn typing_in(&self, chat_id: ChatId, now_ms: u64) -> Vec<Username> {
        let Some(chat) = self.chats.get(&chat_id) else {
            return Vec::new();
        };
        chat.typing
            .iter()
            .filter(|(user, at)| {
                now_ms < at.saturating_add(TYPING_SHOWN_MS) && !self.settings.blocked.contains(user)
            })
            .filter_map(|(user, _)| self.names.get(user).cloned())
            .collect()
    }

    /// When the engine next needs the clock (milliseconds since the Unix epoch): the next "typing…"
    /// goes away, a refused publish, key request, sync or page is to be tried again, or the
    /// to-device messages processed are to be acknowledged. The shell calls
    /// [`Engine::advance_clock`] then, and reads the views again. `None`: nothing is timed.
    /// (Whether the connection is still there is timed apart: [`Engine::liveness_due_ms`].)
    pub fn next_clock_change_ms(&self) -> Option<u64> {
        self.chats
            .values()
            .flat_map(|chat| chat.typing.values())
            .map(|at| at.saturating_add(TYPING_SHOWN_MS))
            .chain(self.keys.publish_retry.at_ms())
            .chain(self.keys.share_retry.at_ms())
            .chain(self.keys.query_retry.at_ms())
            .chain(self.keys.claim_retry.at_ms())
            .chain(self.keys.backup_read_retry.at_ms())
            .chain(self.keys.backup_write_retry.at_ms())
            .chain(self.sync_retry.at_ms())
            .chain(self.page_retry.at_ms())
            .chain(self.privacy_retry.at_ms())
            .chain(self.keys.done.due_ms())
            .min()
    }

    /// Follows the presence of the other person of a 1:1 chat (the one on screen); `None`, or
    /// a group, stops. Asked again after every reconnect.
    pub fn watch_presence(&mut self, chat_id: Option<ChatId>) {
        let user = chat_id.and_then(|chat_id| self.direct_partner(chat_id));
        if user == self.watched {
            return;
        }
        self.watched = user;
        if self.is_authenticated() {
            self.frames.push(ClientFrame::WatchPresence { user });
        }
        self.views_changed = true;
    }

    /// The presence of a 1:1 chat's other person, as last told on this connection: `None`
    /// until the server says (or for a group). `Hidden` when either hides it or one blocked
    /// the other.
    pub fn presence(&self, chat_id: ChatId) -> Option<Presence> {
        let other = self.direct_partner(chat_id)?;
        if self.settings.blocked.contains(&other) || !self.settings.privacy.share_presence {
            return Some(Presence::Hidden);
        }
        self.presence.get(&other).copied()
    }

    pub(super) fn on_typing(&mut self, chat_id: ChatId, user: UserId) {
        if user == self.my_id() {
            return;
        }
        let now = self.now_ms;
        if let Some(chat) = self.chats.get_mut(&chat_id) {
            chat.typing.insert(user, now);
            self.views_changed = true;
        }
    }

    pub(super) fn on_presence(&mut self, user: UserId, presence: Presence) {
        self.presence.insert(user, presence);
        self.views_changed = true;
    }

    /// The connection is gone: nobody's signals can be trusted to stop any more.
    pub(super) fn forget_signals(&mut self) {
        self.presence.clear();
        self.typing_sent.clear();
        for chat in self.chats.values_mut() {
            self.views_changed |= !chat.typing.is_empty();
            chat.typing.clear();
        }
    }
}
