//! The search box's results: answered when the page asks, and answered again while its query
//! stands whenever a step changed what is indexed — a result must not go on showing a message
//! deleted for everyone, hidden or edited since, nor leave out one that came.

use merpati_bridge::Update;

use super::EngineWorker;
use crate::engine_view::search_rows;
use crate::services::connection::Client;

/// How many results a search shows.
const SEARCH_RESULTS: usize = 50;

impl EngineWorker {
    /// Searches for `query` and answers the page; the query stands until the next.
    pub(super) fn search(&self, client: &Client, query: String) {
        // `act`: a search first indexes whatever the store gave back and is not yet.
        let hits = client.act(|engine| engine.search(&query, SEARCH_RESULTS));
        let (rows, generation) =
            client.read(|engine| (search_rows(engine, hits), engine.search_generation()));
        self.post(Update::SearchResults {
            query: query.clone(),
            rows,
        });
        // An emptied box is not sent: the page clears its results itself, and ignores answers
        // to any other query than the one in the box.
        *self.inner.search.borrow_mut() = Some((query, generation));
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
