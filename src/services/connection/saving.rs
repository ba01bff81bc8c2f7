//! Storing a step's writes until the store takes them.
//!
//! When IndexedDB refuses a batch — the browser's storage is full (`QuotaExceededError`), a
//! transaction aborted — the same batch is applied again after a growing wait (the engine
//! crate's [`StoreRetry`]), for as long as it takes: the engine in memory is already past it,
//! so going on without it would lose messages for good at the next reload. Meanwhile the
//! flush holds the lock, so nothing of a later step is stored or sent first, and the page says
//! this device cannot save ([`Client::saving_stalled`](super::Client::saving_stalled)). The
//! wait ends early when [`wake_retry`] is called: the tab is shown, the network is back, or
//! the session ended — a batch whose store was closed or replaced (signed out, here or in
//! another tab) is abandoned with it, so that signing out never waits on a full disk.

use std::rc::Rc;

use futures::channel::mpsc;
use futures::{FutureExt, StreamExt};
use merpati_core::store_retry::StoreRetry;
use merpati_core::{Store, StoreWrite};

use super::super::idb_store::IdbStore;
use super::{Inner, Notice};

/// Applies `writes` to `store`, again after each refusal, until they are stored (`true`) or
/// the store is no longer the session's (`false`: abandoned). `notices` — what the step's
/// events tell the app — are told when the first try fails, so that a stalled step does not
/// keep them from the person.
pub(super) async fn store_until_saved(
    inner: &Rc<Inner>,
    store: &Rc<IdbStore>,
    writes: Vec<StoreWrite>,
    notices: &mut Vec<Notice>,
) -> bool {
    let mut retry = StoreRetry::default();
    let stored = loop {
        // A clone per try: `apply` consumes its batch, and a refused one is needed again.
        let error = match store.apply(writes.clone()).await {
            Ok(()) => break true,
            Err(error) => error,
        };
        if !is_current(inner, store) {
            break false;
        }
        let wait_ms = retry.refused();
        leptos::logging::warn!(
            "saving to the local store failed ({} in a row); trying the same writes again in \
             {wait_ms} ms: {error}",
            retry.refusals()
        );
        if !inner.saving_stalled.replace(true) {
            (inner.notify)(Notice::Changed);
            for notice in notices.drain(..) {
                (inner.notify)(notice);
            }
        }
        let (wake, mut woken) = mpsc::unbounded();
        *inner.store_wake.borrow_mut() = Some(wake);
        let mut timer =
            gloo_timers::future::TimeoutFuture::new(u32::try_from(wait_ms).unwrap_or(u32::MAX))
                .fuse();
        futures::select! {
            _ = timer => {}
            _ = woken.next() => {}
        }
        inner.store_wake.borrow_mut().take();
        if !is_current(inner, store) {
            break false;
        }
    };
    if inner.saving_stalled.replace(false) {
        (inner.notify)(Notice::Changed);
    }
    stored
}

/// Whether `store` is still the session's open store.
fn is_current(inner: &Inner, store: &Rc<IdbStore>) -> bool {
    inner
        .store
        .borrow()
        .as_ref()
        .is_some_and(|current| Rc::ptr_eq(current, store))
}

/// Ends the wait before a refused batch is tried again, if one is waiting.
pub(super) fn wake_retry(inner: &Inner) {
    if let Some(wake) = inner.store_wake.borrow_mut().take() {
        let _ = wake.unbounded_send(());
    }
}
