//! The search box's results: answered when the page asks, and answered again while its query
//! stands whenever a step changed what is indexed — a result must not go on showing a message
//! deleted for everyone, hidden or edited since, nor leave out one that came.
//!
//! Each tab's index is its device's own, and what became of a message while that device's
//! tab was closed (another tab saw it deleted or hidden) is only in the store the tabs share.
//! So a result for a message not in memory is checked against the store once per tab before
//! it is shown; one whose text the store no longer holds is forgotten by the index.

use std::collections::HashSet;

use merpati_bridge::Update;
use merpati_core::Store;
use merpati_core::search::SearchHit;
use merpati_protocol::{ClientMsgId, Seq};

use super::EngineWorker;
use crate::engine_view::search_rows;
use crate::services::connection::Client;

/// How many results a search shows.
const SEARCH_RESULTS: usize = 50;

/// Results checked against the store, kept for the life of the tab (what this tab sees happen
/// to them from now on, it indexes itself).
pub(super) type Checked = HashSet<ClientMsgId>;

impl EngineWorker {
    /// Searches for `query` and answers the page; the query stands until the next. A blank
    /// one is the box emptied: nothing stands, and nothing is searched again.
    pub(super) fn search(&self, client: &Client, query: String) {
        if query.trim().is_empty() {
            *self.inner.search.borrow_mut() = None;
            return;
        }
        // `act`: a search first indexes whatever the store gave back and is not yet.
        let hits = client.act(|engine| engine.search(&query, SEARCH_RESULTS));
        let generation = client.read(|engine| engine.search_generation());
        *self.inner.search.borrow_mut() = Some((query.clone(), generation));
        let unchecked: Vec<SearchHit> = {
            let checked = self.inner.search_checked.borrow();
            client.read(|engine| {
                hits.iter()
                    .filter(|hit| !engine.is_opened(hit.id) && !checked.contains(&hit.id))
                    .cloned()
                    .collect()
            })
        };
        if unchecked.is_empty() {
            let rows = client.read(|engine| search_rows(engine, hits));
            self.post(Update::SearchResults { query, rows });
            return;
        }
        let worker = self.clone();
        let client = client.clone();
        wasm_bindgen_futures::spawn_local(async move {
            let gone = worker.check_in_store(&client, unchecked).await;
            if !gone.is_empty() {
                client.act(|engine| {
                    for id in gone {
                        engine.forget_searched(id);
                    }
                });
            }
            // Searched again: the index changed, and this answers the query as it stands.
            let stands = worker
                .inner
                .search
                .borrow()
                .as_ref()
                .is_some_and(|(standing, _)| *standing == query);
            if stands {
                worker.search(&client, query);
            }
        });
    }

    /// Reads each result's message from the store: those whose text it no longer holds.
    /// Each is checked once, whatever came of it: a read that fails (or no store: signing
    /// out) leaves its result shown rather than be tried again and again.
    async fn check_in_store(&self, client: &Client, hits: Vec<SearchHit>) -> Vec<ClientMsgId> {
        self.inner
            .search_checked
            .borrow_mut()
            .extend(hits.iter().map(|hit| hit.id));
        let Some(store) = client.store() else {
            return Vec::new();
        };
        let mut gone = Vec::new();
        for hit in hits {
            let Ok(stored) = store
                .messages_before(hit.chat_id, Seq(hit.seq.0.saturating_add(1)), 1)
                .await
            else {
                continue;
            };
            let holds_text = stored.first().is_some_and(|message| {
                message.seq == hit.seq
                    && message.client_msg_id == hit.id
                    && !message.body.is_empty()
            });
            if !holds_text {
                gone.push(hit.id);
            }
        }
        gone
    }

    /// Answers the standing query again if what is indexed changed since it was answered.
    pub(super) fn refresh_search(&self, client: &Client) {
        let stale = self
            .inner
            .search
            .borrow()
            .as_ref()
            .filter(|(_, answered_at)| {
                client.read(|engine| engine.search_generation()) != *answered_at
            })
            .map(|(query, _)| query.clone());
        if let Some(query) = stale {
            self.search(client, query);
        }
    }
}
