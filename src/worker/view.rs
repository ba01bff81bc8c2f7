//! The view the page shows: read from the engine once a burst of changes is over, and sent
//! only if it changed — the open chat's rows as what changed since the rows the page holds.

use merpati_bridge::{self as bridge, RowsChange, Update};

use super::EngineWorker;
use crate::engine_view::view_of;
use crate::services::clock;

impl EngineWorker {
    /// Sends the page a new view once the current burst of changes is over.
    pub(super) fn queue_view(&self) {
        if self.inner.view_queued.replace(true) {
            return;
        }
        let worker = self.clone();
        wasm_bindgen_futures::spawn_local(async move {
            worker.inner.view_queued.set(false);
            let Some(client) = worker.client() else {
                return;
            };
            let open_chat = client.open_chat();
            let next_attempt_at_ms = client.next_attempt_at_ms();
            // A message's details belong to the chat they were opened in: once another is on
            // screen they are closed, not shown again, unasked, on coming back.
            let receipts_for = match worker.inner.receipts_for.get() {
                Some((chat, id)) if Some(chat) == open_chat => Some(id),
                _ => {
                    worker.inner.receipts_for.set(None);
                    None
                }
            };
            let reveal = worker
                .inner
                .reveal
                .take()
                .filter(|(chat, _)| Some(*chat) == open_chat)
                .map(|(_, id)| id);
            let now_ms = clock::now_ms();
            let files = worker.files();
            if let Some(files) = &files {
                files.keep_running(&client);
            }
            worker.refresh_search(&client);
            let saving_stalled = client.saving_stalled();
            let view = client.read(|engine| {
                let mut view = view_of(engine, open_chat, receipts_for, next_attempt_at_ms, now_ms);
                // What the person must act on first: whatever the connection does meanwhile
                // waits for storage.
                if saving_stalled {
                    view.phase = bridge::ConnectionPhase::Unsaved;
                }
                if let Some(chat) = view.open_chat.as_mut() {
                    chat.reveal = reveal.map(|id| id.to_hex());
                    if let Some(files) = &files {
                        files.show_progress(&mut chat.rows);
                    }
                }
                view
            });
            worker.schedule_clock_change(&client);
            let mut last = worker.inner.last_view.borrow_mut();
            if last.as_ref() == Some(&view) {
                return;
            }
            // The open chat's rows go as what changed since the rows the page holds.
            let mut view = view;
            let chat_now = view.open_chat.as_ref().map(|chat| chat.id);
            let rows_now = view
                .open_chat
                .as_mut()
                .map(|chat| std::mem::take(&mut chat.rows));
            let held = last
                .as_ref()
                .and_then(|last| last.open_chat.as_ref())
                .filter(|chat| Some(chat.id) == chat_now)
                .map(|chat| chat.rows.as_slice());
            let rows = match (&rows_now, held) {
                (None, _) => RowsChange::Same,
                (Some(now), Some(held)) => RowsChange::between(held, now),
                (Some(now), None) => RowsChange::All(now.clone()),
            };
            let wire = view.clone();
            if let (Some(chat), Some(rows_now)) = (view.open_chat.as_mut(), rows_now) {
                chat.rows = rows_now;
            }
            *last = Some(view);
            drop(last);
            worker.post(Update::View {
                view: Box::new(wire),
                rows,
            });
        });
    }
}
