//! Drafts: what the person typed in a chat's composer and has not sent, per chat, kept across
//! switching chats and reloads (stored, sealed, like everything else). Sending from the
//! composer (a text, a reply, an edit) clears the chat's draft; the chat list shows it
//! ([`ChatSummary::draft`](super::ChatSummary::draft)).

use std::collections::BTreeMap;

use merpati_protocol::ChatId;

use super::Engine;
use crate::store::{DraftRecord, StoreWrite};

impl Engine {
    /// Keeps what the composer of `chat_id` holds. Blank text removes the draft. Only a change
    /// is stored, so the shell may call it on every keystroke.
    pub fn set_draft(&mut self, chat_id: ChatId, text: &str) {
        if !self.chats.contains_key(&chat_id) {
            return;
        }
        if text.trim().is_empty() {
            self.clear_draft(chat_id);
            return;
        }
        if self.drafts.get(&chat_id).map(String::as_str) == Some(text) {
            return;
        }
        self.drafts.insert(chat_id, text.to_owned());
        self.writes.push(StoreWrite::PutDraft(DraftRecord {
            chat_id,
            text: text.to_owned(),
        }));
        self.views_changed = true;
    }

    /// The chat's draft, if any.
    pub fn draft(&self, chat_id: ChatId) -> Option<&str> {
        self.drafts.get(&chat_id).map(String::as_str)
    }

    /// How many times another tab changed the chat's draft (see `drafts_taken`).
    pub fn draft_taken(&self, chat_id: ChatId) -> u32 {
        self.drafts_taken.get(&chat_id).copied().unwrap_or_default()
    }

    /// Takes the drafts as another tab left them, counting each chat whose draft it changed.
    pub(super) fn take_drafts(&mut self, drafts: BTreeMap<ChatId, String>) {
        // A chat with a draft on both sides may be counted twice: only a move matters.
        for &chat_id in self.drafts.keys().chain(drafts.keys()) {
            if self.drafts.get(&chat_id) != drafts.get(&chat_id) {
                let taken = self.drafts_taken.entry(chat_id).or_default();
                *taken = taken.wrapping_add(1);
            }
        }
        self.drafts = drafts;
    }

    /// Forgets the chat's draft (it was sent, or emptied).
    pub(super) fn clear_draft(&mut self, chat_id: ChatId) {
        if self.drafts.remove(&chat_id).is_some() {
            self.writes.push(StoreWrite::RemoveDraft(chat_id));
            self.views_changed = true;
        }
    }
}
