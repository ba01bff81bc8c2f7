//! Local search: every message this device opens is indexed with its text as it shows (edits
//! applied; deleted ones, for everyone or for this account, found no more), each step's new
//! entries are persisted as one segment, and the person's queries are answered here.

use std::collections::BTreeMap;

use merpati_protocol::content::MessageContent;
use merpati_protocol::{ChatId, ClientMsgId, Seq, UserId};

use super::Engine;
use crate::e2e::Opened;
use crate::search::{SearchDoc, SearchHit, SearchIndex, SearchSegment};
use crate::store::{MessageRecord, StoreWrite};

/// How many segments may hold recent entries before they are merged into one.
const RECENT_SEGMENTS: usize = 16;

/// What the engine keeps of the index beyond the index itself: what to persist next, and the
/// segments stored.
///
/// The stored segments are one base (the index as last rewritten whole) and a few recent
/// ones. Each step adds one recent segment; past [`RECENT_SEGMENTS`] of them they are merged
/// into one; once the recent entries outnumber a quarter of the index, everything is
/// rewritten as a new base. A device thus reads back a bounded number of records, and each
/// entry is rewritten a bounded number of times on average.
#[derive(Debug, Default)]
pub(super) struct SearchState {
    pub(super) index: SearchIndex,
    /// Entries changed in this step, persisted as one segment by [`Engine::take_step`].
    unsaved: Vec<SearchDoc>,
    /// The base segment's id.
    base: Option<u64>,
    /// The recent segments' ids, ascending.
    recent_ids: Vec<u64>,
    /// The entries the recent segments hold, the newest of each message.
    recent: BTreeMap<ClientMsgId, SearchDoc>,
    /// Counts the steps that changed what is indexed ([`Engine::search_generation`]).
    generation: u64,
}

impl SearchState {
    /// The index as the store's segments hold it. The base is the first: a new base takes
    /// the place of every segment before it, and later ones are numbered after it. (Not the
    /// largest: one step can index more than the base holds, and a segment taken for the
    /// base is never merged again, so merging the ones around it would write the older
    /// entries above it — a deletion in it would lose to the text it deleted.)
    pub(super) fn restore(mut segments: Vec<SearchSegment>) -> SearchState {
        crate::sorting::sort_by_key(&mut segments, |segment| segment.id);
        let base = segments.first().map(|segment| segment.id);
        let mut recent_ids = Vec::new();
        let mut recent = BTreeMap::new();
        for segment in segments.iter().filter(|segment| Some(segment.id) != base) {
            recent_ids.push(segment.id);
            for doc in &segment.docs {
                recent.insert(doc.id, doc.clone());
            }
        }
        SearchState {
            index: SearchIndex::restore(segments),
            unsaved: Vec::new(),
            base,
            recent_ids,
            recent,
            generation: 0,
        }
    }

    /// Forgets the whole index (its messages are gone from the device: a new storage epoch);
    /// the store's removal of its segments.
    pub(super) fn clear(&mut self) -> StoreWrite {
        let mut stored = std::mem::take(&mut self.recent_ids);
        stored.extend(self.base);
        // Segments are numbered from 1 again: the removal goes first in this step's writes,
        // before any segment the step writes anew.
        *self = SearchState {
            generation: self.generation + 1,
            ..SearchState::default()
        };
        StoreWrite::RemoveSearchSegments(stored)
    }

    fn next_id(&self) -> u64 {
        self.recent_ids
            .last()
            .copied()
            .max(self.base)
            .map_or(1, |last| last + 1)
    }
}

impl Engine {
    /// The messages of every chat whose words begin with each word of `query` (case and
    /// accents aside), newest first, at most `limit`.
    pub fn search(&mut self, query: &str, limit: usize) -> Vec<SearchHit> {
        self.search.index.search(query, limit)
    }

    /// Changes whenever a step changes what is indexed (a message opened, edited, deleted,
    /// hidden; the index cleared): results shown for a query are stale once it has.
    pub fn search_generation(&self) -> u64 {
        self.search.generation
    }

    /// Indexes up to `max` of the entries the store gave back at restore (see
    /// [`crate::search`]); returns whether any are left. The shell calls it between other work
    /// after opening, so that the first search finds the index built.
    pub fn index_stored(&mut self, max: usize) -> bool {
        self.search.index.index_pending(max)
    }

    /// Where a message of a chat is: in memory, or as the search index remembers it (a quote's
    /// target scrolled out of what is loaded).
    pub fn position_of(&self, chat_id: ChatId, id: ClientMsgId) -> Option<Seq> {
        let chat = self.chats.get(&chat_id)?;
        chat.timeline
            .messages()
            .rev()
            .find(|message| message.client_msg_id == id)
            .map(|message| message.seq)
            .or_else(|| {
                self.search
                    .index
                    .get(id)
                    .filter(|doc| doc.chat_id == chat_id)
                    .map(|doc| doc.seq)
            })
    }

    /// Whether a message is in memory, opened: what the index holds of it is up to date. One
    /// that is not was indexed when it was, perhaps by this device in an earlier tab, and
    /// what became of it since in another tab (deleted, hidden) is only in the store.
    pub fn is_opened(&self, id: ClientMsgId) -> bool {
        self.opened.contains_key(&id)
    }

    /// The store holds no text of this message any more (deleted for everyone, or for this
    /// account, while this device's tab was closed): it is found no more, here and after a
    /// reload.
    pub fn forget_searched(&mut self, id: ClientMsgId) {
        self.unindex(id);
    }

    /// How many messages local search can find.
    pub fn searchable_messages(&self) -> usize {
        self.search.index.len()
    }

    /// Indexes a message just opened, and the message it edits or deletes.
    pub(super) fn index_opened(&mut self, message: &MessageRecord) {
        match self.opened.get(&message.client_msg_id) {
            Some(Opened::Content(MessageContent::Edit { target, .. }))
            | Some(Opened::Content(MessageContent::Delete { target })) => {
                let target = *target;
                self.reindex(message.chat_id, target);
            }
            Some(_) => self.index_message(message),
            None => {}
        }
    }

    /// Indexes a message as it shows now.
    pub(super) fn index_message(&mut self, message: &MessageRecord) {
        let text = self.searchable_text(message.chat_id, message.client_msg_id, message.sender);
        let known = self.search.index.get(message.client_msg_id).is_some();
        if text.is_none() && !known {
            // Nothing to find and nothing to forget.
            return;
        }
        self.put_search(SearchDoc {
            id: message.client_msg_id,
            chat_id: message.chat_id,
            seq: message.seq,
            sender: message.sender,
            sent_at_ms: message.sent_at_ms,
            text,
        });
    }

    /// Indexes again a message an edit or a deletion acts on, if it is indexed (one not yet
    /// here is indexed with its edits when it arrives).
    pub(super) fn reindex(&mut self, chat_id: ChatId, target: ClientMsgId) {
        let Some(doc) = self.search.index.get(target).cloned() else {
            return;
        };
        let loaded = self.opened.contains_key(&target);
        let text = if loaded {
            self.searchable_text(chat_id, target, doc.sender)
        } else {
            // Not in memory: what it showed, as edited or deleted now.
            self.annotated_text(chat_id, target, doc.sender, doc.text.clone())
        };
        self.put_search(SearchDoc { text, ..doc });
    }

    /// Forgets a message (deleted for everyone, or for this account).
    pub(super) fn unindex(&mut self, id: ClientMsgId) {
        if let Some(doc) = self.search.index.get(id).cloned() {
            self.put_search(SearchDoc { text: None, ..doc });
        }
    }

    /// The text a message shows now, if it is one with text that is neither deleted nor
    /// hidden.
    fn searchable_text(&self, chat_id: ChatId, id: ClientMsgId, sender: UserId) -> Option<String> {
        let text = match self.opened.get(&id)? {
            Opened::Content(
                MessageContent::Text { text }
                | MessageContent::Reply { text, .. }
                | MessageContent::Forwarded { text },
            ) => text.clone(),
            _ => return None,
        };
        self.annotated_text(chat_id, id, sender, Some(text))
    }

    /// `text` with the chat's edits and deletions of `id` applied, and `None` if hidden.
    fn annotated_text(
        &self,
        chat_id: ChatId,
        id: ClientMsgId,
        sender: UserId,
        text: Option<String>,
    ) -> Option<String> {
        if self.hidden.contains(&(chat_id, id)) {
            return None;
        }
        let chat = self.chats.get(&chat_id)?;
        let folded = chat.annotations.fold(id, Some(sender), self.my_id(), []);
        if folded.deleted {
            return None;
        }
        folded.edit.or(text)
    }

    fn put_search(&mut self, doc: SearchDoc) {
        if self.search.index.put(doc.clone()) {
            self.search.unsaved.push(doc);
        }
    }

    /// The store writes of this step's index changes (see [`SearchState`]).
    pub(super) fn search_writes(&mut self) -> Vec<StoreWrite> {
        let state = &mut self.search;
        if state.unsaved.is_empty() {
            return Vec::new();
        }
        state.generation += 1;
        let id = state.next_id();
        let unsaved = std::mem::take(&mut state.unsaved);
        for doc in &unsaved {
            state.recent.insert(doc.id, doc.clone());
        }
        if state.recent.len() * 4 > state.index.len() && state.recent_ids.len() >= RECENT_SEGMENTS {
            // A new base: every entry that can be found.
            let docs: Vec<SearchDoc> = state
                .index
                .docs()
                .filter(|doc| doc.text.is_some())
                .cloned()
                .collect();
            let mut old = std::mem::take(&mut state.recent_ids);
            old.extend(state.base.replace(id));
            state.recent.clear();
            return vec![
                StoreWrite::RemoveSearchSegments(old),
                StoreWrite::PutSearchSegment(SearchSegment { id, docs }),
            ];
        }
        if state.recent_ids.len() >= RECENT_SEGMENTS {
            let old = std::mem::replace(&mut state.recent_ids, vec![id]);
            let docs = state.recent.values().cloned().collect();
            return vec![
                StoreWrite::RemoveSearchSegments(old),
                StoreWrite::PutSearchSegment(SearchSegment { id, docs }),
            ];
        }
        state.recent_ids.push(id);
        vec![StoreWrite::PutSearchSegment(SearchSegment {
            id,
            docs: unsaved,
        })]
    }
}
