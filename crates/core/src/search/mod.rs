//! Local search over the messages this device has opened: an inverted index from folded
//! words to messages, answered in the engine worker so that no query ever leaves the
//! device.
//!
//! A query's words each match the beginning of a message's word ("test" finds "testing"),
//! whatever the case and accents ([`words`]); a message matches when every word of the query
//! does. Results come newest first.
//!
//! The index is kept in memory and persisted as [`SearchSegment`]s: each step's newly
//! indexed messages are one segment (a record the store seals like every other), and a
//! device that opens reads them back ([`SearchIndex::restore`]). Reading back only sorts the
//! entries out (the newest of each message); splitting their texts into words costs about
//! a second per 100,000 messages in the browser, so it is done a batch at a time
//! ([`SearchIndex::index_pending`], which the app runs between other work after opening), and
//! whatever is left before the first search. A message's newer state
//! (edited, deleted) is a newer entry in a later segment; the engine rewrites everything as
//! one segment once the small ones outgrow a share of the whole, so that rereading stays
//! proportional to what the index holds.

pub mod words;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::ops::Range;

use merpati_protocol::{ChatId, ClientMsgId, Seq, UserId};
use serde::{Deserialize, Serialize};

/// One message as the index holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchDoc {
    /// The message.
    pub id: ClientMsgId,
    /// Its chat.
    pub chat_id: ChatId,
    /// Its position in the chat.
    pub seq: Seq,
    /// Who wrote it.
    pub sender: UserId,
    /// When it was sent, in milliseconds since the Unix epoch.
    pub sent_at_ms: u64,
    /// Its text as it shows now (edits applied); `None` once it is deleted, for everyone or
    /// for this account: it is found no more.
    pub text: Option<String>,
}

/// A batch of index entries, stored as one sealed record; later segments win.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchSegment {
    /// Its number: segments apply in ascending order.
    pub id: u64,
    /// The entries.
    pub docs: Vec<SearchDoc>,
}

/// One message a query found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchHit {
    /// The message.
    pub id: ClientMsgId,
    /// Its chat.
    pub chat_id: ChatId,
    /// Its position in the chat.
    pub seq: Seq,
    /// Who wrote it.
    pub sender: UserId,
    /// When it was sent, in milliseconds since the Unix epoch.
    pub sent_at_ms: u64,
    /// Its text.
    pub text: String,
    /// The byte ranges of `text` that matched, to highlight.
    pub matched: Vec<Range<usize>>,
}

/// The in-memory index: documents by slot, and for each folded word the ascending slots of
/// the documents holding it.
#[derive(Debug, Clone, Default)]
pub struct SearchIndex {
    slots: HashMap<ClientMsgId, u32>,
    docs: Vec<SearchDoc>,
    postings: BTreeMap<String, Vec<u32>>,
    /// Documents with text.
    live: usize,
    /// Entries read back from the store and not yet split into words, by message; `order`
    /// says in which order they were stored (an id no longer in `pending` was replaced).
    pending: HashMap<ClientMsgId, SearchDoc>,
    order: VecDeque<ClientMsgId>,
    /// Pending entries with text.
    pending_live: usize,
}

impl SearchIndex {
    /// An index holding what these segments say, applied in ascending order; their entries
    /// wait to be split into words ([`SearchIndex::index_pending`]).
    pub fn restore(mut segments: Vec<SearchSegment>) -> SearchIndex {
        crate::sorting::sort_by_key(&mut segments, |segment| segment.id);
        let mut index = SearchIndex::default();
        for doc in segments.into_iter().flat_map(|segment| segment.docs) {
            index.order.push_back(doc.id);
            index.pending_live += usize::from(doc.text.is_some());
            if let Some(older) = index.pending.insert(doc.id, doc) {
                index.pending_live -= usize::from(older.text.is_some());
            }
        }
        index
    }

    /// Splits up to `max` of the entries read back into words; returns whether any are left.
    pub fn index_pending(&mut self, max: usize) -> bool {
        let mut done = 0;
        while done < max {
            let Some(id) = self.order.pop_front() else {
                break;
            };
            if let Some(doc) = self.pending.remove(&id) {
                self.pending_live -= usize::from(doc.text.is_some());
                self.put(doc);
                done += 1;
            }
        }
        !self.pending.is_empty()
    }

    /// How many messages can be found.
    pub fn len(&self) -> usize {
        self.live + self.pending_live
    }

    /// Whether no message can be found.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The entry of a message, if indexed (its text `None` once deleted).
    pub fn get(&self, id: ClientMsgId) -> Option<&SearchDoc> {
        if let Some(doc) = self.pending.get(&id) {
            return Some(doc);
        }
        let slot = *self.slots.get(&id)?;
        self.docs.get(slot as usize)
    }

    /// Every entry (those not yet split into words too), for rewriting the index as one
    /// segment.
    pub fn docs(&self) -> impl Iterator<Item = &SearchDoc> {
        self.docs.iter().chain(self.pending.values())
    }

    /// Adds or replaces a message's entry; returns whether anything changed.
    pub fn put(&mut self, doc: SearchDoc) -> bool {
        if let Some(older) = self.pending.remove(&doc.id) {
            // A newer state of an entry read back: it replaces it before it is ever indexed.
            self.pending_live -= usize::from(older.text.is_some());
            if older == doc {
                self.pending_live += usize::from(doc.text.is_some());
                self.pending.insert(doc.id, doc);
                return false;
            }
        }
        let slot = match self.slots.get(&doc.id) {
            Some(slot) => *slot,
            None => {
                let Ok(slot) = u32::try_from(self.docs.len()) else {
                    // Four billion messages on one device: stop indexing rather than wrap.
                    return false;
                };
                self.slots.insert(doc.id, slot);
                let text = doc.text.clone();
                self.docs.push(SearchDoc { text: None, ..doc });
                self.set_text(slot, text);
                return true;
            }
        };
        let Some(old) = self.docs.get(slot as usize) else {
            return false;
        };
        if *old == doc {
            return false;
        }
        let text = doc.text.clone();
        self.set_text(slot, None);
        if let Some(entry) = self.docs.get_mut(slot as usize) {
            *entry = SearchDoc { text: None, ..doc };
        }
        self.set_text(slot, text);
        true
    }

    /// Replaces a slot's text, moving its postings.
    fn set_text(&mut self, slot: u32, text: Option<String>) {
        let Some(doc) = self.docs.get_mut(slot as usize) else {
            return;
        };
        if let Some(old) = doc.text.take() {
            self.live -= 1;
            for word in crate::sorting::set_from(words::words(&old)) {
                if let Some(slots) = self.postings.get_mut(&word) {
                    if let Ok(at) = slots.binary_search(&slot) {
                        slots.remove(at);
                    }
                    if slots.is_empty() {
                        self.postings.remove(&word);
                    }
                }
            }
        }
        if let Some(new) = text {
            self.live += 1;
            for word in crate::sorting::set_from(words::words(&new)) {
                let slots = self.postings.entry(word).or_default();
                if let Err(at) = slots.binary_search(&slot) {
                    slots.insert(at, slot);
                }
            }
            doc.text = Some(new);
        }
    }

    /// The messages holding a word beginning with each word of `query`, newest first, at
    /// most `limit` of them. Entries read back and not yet indexed are indexed first.
    pub fn search(&mut self, query: &str, limit: usize) -> Vec<SearchHit> {
        self.index_pending(usize::MAX);
        let wanted: Vec<String> = crate::sorting::set_from(words::words(query))
            .into_iter()
            .collect();
        if wanted.is_empty() || limit == 0 {
            return Vec::new();
        }
        // The rarest word first: the intersection never grows.
        let mut candidates: Vec<Vec<u32>> = wanted
            .iter()
            .map(|word| self.slots_beginning(word))
            .collect();
        crate::sorting::sort_by_key(&mut candidates, Vec::len);
        let mut found = candidates.remove(0);
        for other in &candidates {
            found.retain(|slot| other.binary_search(slot).is_ok());
        }
        let mut hits: Vec<&SearchDoc> = found
            .into_iter()
            .filter_map(|slot| self.docs.get(slot as usize))
            .collect();
        crate::sorting::sort_by_key(&mut hits, |doc| {
            std::cmp::Reverse((doc.sent_at_ms, doc.seq))
        });
        hits.truncate(limit);
        hits.into_iter()
            .filter_map(|doc| {
                let text = doc.text.clone()?;
                Some(SearchHit {
                    id: doc.id,
                    chat_id: doc.chat_id,
                    seq: doc.seq,
                    sender: doc.sender,
                    sent_at_ms: doc.sent_at_ms,
                    matched: words::matches(&text, &wanted),
                    text,
                })
            })
            .collect()
    }

    /// The ascending, distinct slots of the documents with a word beginning with `prefix`.
    fn slots_beginning(&self, prefix: &str) -> Vec<u32> {
        let mut slots: Vec<u32> = self
            .postings
            .range::<str, _>((
                std::ops::Bound::Included(prefix),
                std::ops::Bound::Unbounded,
            ))
            .take_while(|(word, _)| word.starts_with(prefix))
            .flat_map(|(_, slots)| slots.iter().copied())
            .collect();
        slots.sort_unstable();
        slots.dedup();
        slots
    }
}

#[cfg(test)]
mod tests;
