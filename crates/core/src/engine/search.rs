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

/// A recent segment is merged with the one written after it while it holds at most this many
/// times as many entries: the recent segments' sizes then grow about geometrically from the
/// newest to the oldest.
const MERGE_RATIO: usize = 2;

/// What the engine keeps of the index beyond the index itself: what to persist next, and the
/// segments stored.
///
/// The stored segments are one base (the index as last rewritten whole) and recent ones. Each
/// step adds one recent segment, merged at once with the newest before it while that one is
/// not more than [`MERGE_RATIO`] times its size (and so on down), so that there are about
/// log₂ of the recent entries of them and an entry is rewritten about as often; once the
/// recent entries outnumber a quarter of the index, everything is rewritten as a new base
/// (which drops the entries of deleted messages). A device thus reads back few records, and a
/// step writes, on average, a few times what it changed — however large the index.
#[derive(Debug, Default)]
pub(super) struct SearchState {
    pub(super) index: SearchIndex,
    /// Entries changed in this step, persisted as one segment by [`Engine::take_step`].
    unsaved: Vec<SearchDoc>,
    /// The base segment's id.
    base: Option<u64>,
    /// The recent segments, oldest first: each one's id and entries (by message, the newest
    /// of each).
    recent: Vec<(u64, BTreeMap<ClientMsgId, SearchDoc>)>,
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
        let recent = segments
            .iter()
            .skip(1)
            .map(|segment| (segment.id, by_message(segment.docs.iter().cloned())))
            .collect();
        SearchState {
            index: SearchIndex::restore(segments),
            unsaved: Vec::new(),
            base,
            recent,
            generation: 0,
        }
    }

    /// Forgets the whole index (its messages are gone from the device: a new storage epoch);
    /// the store's removal of its segments.
    pub(super) fn clear(&mut self) -> StoreWrite {
        let stored = self.stored_ids();
        // Segments are numbered from 1 again: the removal goes first in this step's writes,
        // before any segment the step writes anew.
        *self = SearchState {
            generation: self.generation + 1,
            ..SearchState::default()
        };
        StoreWrite::RemoveSearchSegments(stored)
    }

    fn next_id(&self) -> u64 {
        self.recent
            .last()
            .map(|(id, _)| *id)
            .max(self.base)
            .map_or(1, |last| last + 1)
    }

    /// The ids of every segment stored: the recent ones and the base.
    fn stored_ids(&self) -> Vec<u64> {
        self.recent
            .iter()
            .map(|(id, _)| *id)
            .chain(self.base)
            .collect()
    }

    /// How many entries the recent segments hold, together.
    fn recent_entries(&self) -> usize {
        self.recent.iter().map(|(_, docs)| docs.len()).sum()
    }
}

/// Entries by message: of several of one message, the last.
fn by_message(docs: impl Iterator<Item = SearchDoc>) -> BTreeMap<ClientMsgId, SearchDoc> {
    crate::sorting::map_from(docs.map(|doc| (doc.id, doc)))
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
        let changed = by_message(std::mem::take(&mut state.unsaved).into_iter());
        if (state.recent_entries() + changed.len()) * 4 > state.index.len() {
            // A new base: every entry that can be found.
            let docs: Vec<SearchDoc> = state
                .index
                .docs()
                .filter(|doc| doc.text.is_some())
                .cloned()
                .collect();
            let old = state.stored_ids();
            state.recent.clear();
            state.base = Some(id);
            return segment_replacing(old, SearchSegment { id, docs });
        }
        // The step's segment, merged with the newest ones not much larger: they are the
        // newest entries, so the merged segment keeps their place above every older one.
        let mut merged = changed;
        let mut replaced = Vec::new();
        while let Some((older_id, older)) = state
            .recent
            .pop_if(|(_, older)| older.len() <= MERGE_RATIO * merged.len())
        {
            replaced.push(older_id);
            let newer = std::mem::replace(&mut merged, older);
            merged.extend(newer);
        }
        let docs = merged.values().cloned().collect();
        state.recent.push((id, merged));
        segment_replacing(replaced, SearchSegment { id, docs })
    }
}

/// The writes that store `segment` in the place of the segments `replaced`.
fn segment_replacing(replaced: Vec<u64>, segment: SearchSegment) -> Vec<StoreWrite> {
    let mut writes = Vec::new();
    if !replaced.is_empty() {
        writes.push(StoreWrite::RemoveSearchSegments(replaced));
    }
    writes.push(StoreWrite::PutSearchSegment(segment));
    writes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(n: u64) -> SearchDoc {
        let mut id = [0; 16];
        id[..8].copy_from_slice(&n.to_be_bytes());
        SearchDoc {
            id: ClientMsgId(id),
            chat_id: ChatId(1),
            seq: Seq(n),
            sender: UserId(2),
            sent_at_ms: n,
            text: Some(format!("pesan nomor {n}")),
        }
    }

    /// Indexing one message a step up to 20,000: the entries the last 2,000 steps wrote (on
    /// average, per step), and the most segments stored at once.
    #[test]
    fn a_step_writes_a_few_times_what_it_changed_however_large_the_index() {
        const STEPS: u64 = 20_000;
        const MEASURED: u64 = 2_000;
        let mut engine = Engine::new();
        let mut stored = BTreeMap::new();
        let (mut written, mut most_segments) = (0, 0);
        for n in 1..=STEPS {
            engine.put_search(doc(n));
            for write in engine.search_writes() {
                match write {
                    StoreWrite::PutSearchSegment(segment) => {
                        if n > STEPS - MEASURED {
                            written += segment.docs.len();
                        }
                        stored.insert(segment.id, segment);
                    }
                    StoreWrite::RemoveSearchSegments(ids) => {
                        for id in ids {
                            stored.remove(&id);
                        }
                    }
                    other => panic!("not the index's: {other:?}"),
                }
            }
            most_segments = most_segments.max(stored.len());
        }
        let per_step = written as f64 / MEASURED as f64;
        assert!(
            per_step < 40.0,
            "{per_step} entries written per one-entry step"
        );
        assert!(most_segments <= 32, "{most_segments} segments");

        // What was written reads back as the index, every message found.
        let mut restored = SearchState::restore(stored.into_values().collect());
        while restored.index.index_pending(10_000) {}
        assert_eq!(restored.index.len(), STEPS as usize);
        assert_eq!(restored.index.search("nomor 12345", 5).len(), 1);
    }
}
