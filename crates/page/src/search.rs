//! The app context's part for local search: the query in the box, the results the worker
//! found for it, and opening a result's chat at its message.
//!
//! The worker answers each query with the query it answered, so a late answer to an older
//! query (typing goes faster than answers) is dropped rather than shown under a newer one.

use leptos::prelude::*;
use merpati_bridge::{Command, SearchRow};

use crate::state::AppContext;

/// The query and its results.
#[derive(Debug, Clone, Copy)]
pub struct SearchState {
    query: RwSignal<String>,
    results: RwSignal<Vec<SearchRow>>,
}

impl Default for SearchState {
    fn default() -> Self {
        SearchState {
            query: RwSignal::new(String::new()),
            results: RwSignal::new(Vec::new()),
        }
    }
}

impl SearchState {
    /// Signed out: the box and its results go with the account (they show its messages'
    /// text), before anyone else signs in in this tab.
    pub fn forget(self) {
        self.query.set(String::new());
        self.results.set(Vec::new());
    }

    /// The worker's answer to `query`: shown if it is still the query in the box.
    pub fn answered(self, query: String, rows: Vec<SearchRow>) {
        if self.query.with_untracked(|current| *current == query) {
            self.results.set(rows);
        }
    }
}

impl AppContext {
    /// The query in the search box.
    pub fn search_query(self) -> Signal<String> {
        self.search.query.into()
    }

    /// What the search found for it, newest first.
    pub fn search_results(self) -> Signal<Vec<SearchRow>> {
        self.search.results.into()
    }

    /// The person typed in the search box: searched at once (the worker answers in
    /// milliseconds), or cleared — the worker told too, or it would go on answering the last
    /// query whenever the index changed.
    pub fn search_for(self, query: String) {
        self.search.query.set(query.clone());
        if query.trim().is_empty() {
            self.search.results.set(Vec::new());
        }
        self.send(Command::Search(query));
    }

    /// The message the chat on screen should bring into sight (a result chosen), once.
    pub fn reveal(self) -> Signal<Option<String>> {
        self.project_open_chat(|chat| chat.reveal.clone())
    }

    /// Brings a message of the chat on screen into sight though it is not loaded (a quote's
    /// target further back): the worker loads older pages until it is there.
    pub fn show_message(self, id: String) {
        let (Some(chat), Some(id)) = (
            self.open_chat_id_untracked(),
            merpati_protocol::ClientMsgId::from_hex(&id),
        ) else {
            return;
        };
        self.send(Command::ShowMessage {
            chat,
            seq: None,
            id,
        });
    }

    /// Opens a result's chat at its message; the search stays as it was for the next look.
    pub fn open_result(self, row: &SearchRow) {
        self.action_error.set(None);
        self.send(Command::ShowMessage {
            chat: row.chat,
            seq: Some(row.seq),
            id: row.id,
        });
    }
}
