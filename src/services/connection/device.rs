//! What the engine's events mean for this device: a sign-in gets its sealed store (joined, or
//! made anew and wrapped with the passphrase's key), a refused or expired session ends here
//! and deletes what was stored, and another tab's deleting the store closes this one's,
//! which says why as the deleting tab noted it (the person signed out, or the server ended
//! the session: `IdbStore::note_why_deleted`). Another
//! tab's newer app upgrading the database stops this one (`SignOutReason::UpdatedElsewhere`):
//! an app that went on without its store would send what it could not keep — messages lost
//! on a reload, end-to-end ratchets used twice.

use std::rc::Rc;

use merpati_bridge::SignOutReason;
use merpati_core::{Engine, Event};
use merpati_protocol::ErrorCode;
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;

use super::super::idb_store::{self, IdbStore, StoreError};
use super::super::{device_slot, sign_in_store};
use super::socket::end_connection_loop;
use super::{Inner, Notice};

pub(super) fn install_store(inner: &Rc<Inner>, store: IdbStore) {
    let weak = Rc::downgrade(inner);
    let on_version_change = Closure::<dyn FnMut(web_sys::IdbVersionChangeEvent)>::new(
        move |event: web_sys::IdbVersionChangeEvent| {
            let Some(inner) = weak.upgrade() else {
                return;
            };
            // Let the other tab go ahead: it is deleting (signing out) or upgrading. Either way
            // this engine stops here, with nothing more sent or stored.
            end_connection_loop(&inner);
            let store = inner.store.borrow_mut().take();
            let deleting = event.new_version().is_none();
            wasm_bindgen_futures::spawn_local(async move {
                let reason = match store.as_deref() {
                    // The deleting tab noted why first, and waits for this one to close.
                    Some(store) if deleting => match store.why_deleted().await {
                        Ok(Some(SignOutReason::Requested) | None) | Err(_) => {
                            SignOutReason::ElsewhereInBrowser
                        }
                        Ok(Some(reason)) => reason,
                    },
                    _ if deleting => SignOutReason::ElsewhereInBrowser,
                    _ => SignOutReason::UpdatedElsewhere,
                };
                if let Some(store) = store {
                    store.close();
                }
                end_session(&inner, reason, false).await;
            });
        },
    );
    store.on_version_change(Some(on_version_change.as_ref().unchecked_ref()));
    *inner.version_change.borrow_mut() = Some(on_version_change);
    *inner.store.borrow_mut() = Some(Rc::new(store));
}

/// The device's part of an event; returns what the app should hear of it.
pub(super) async fn handle_event(inner: &Rc<Inner>, event: Event) -> Option<Notice> {
    match &event {
        Event::SignedIn(me) => {
            let key = inner.pending_key.borrow_mut().take();
            if let Some(key) = key {
                let slot = claim_slot(inner).await;
                match sign_in_store::prepare(&inner.db_name, &key, me, slot).await {
                    Ok(store) => {
                        // The engine just became a new device: whatever an earlier device
                        // left in this tab's slot is not its.
                        if let Err(error) = store.clear_device_slot().await {
                            leptos::logging::warn!("clearing old device keys failed: {error}");
                        }
                        install_store(inner, store);
                    }
                    Err(StoreError::NewerApp) => {
                        end_session(inner, SignOutReason::UpdatedElsewhere, false).await;
                        return None;
                    }
                    Err(error) => leptos::logging::warn!(
                        "the local store is unavailable; nothing will be kept offline: {error}"
                    ),
                }
            }
        }
        Event::AuthFailed(code) => {
            if inner.pending_key.borrow_mut().take().is_some() {
                // A passphrase sign-in failed: stop here and let the person try again.
                end_connection_loop(inner);
            } else {
                // The stored session was refused for good.
                end_session(inner, SignOutReason::Rejected(*code), true).await;
                return None;
            }
        }
        Event::AuthDeferred(_) | Event::ConnectionLost => {
            // The engine kept its credentials (or the server went silent): end this socket, and
            // the connection loop signs in the same way again after backoff (the sign-in form
            // keeps waiting meanwhile).
            inner.outgoing.borrow_mut().take();
        }
        Event::SessionExpired => {
            end_session(inner, SignOutReason::SessionExpired, true).await;
            return None;
        }
        Event::OutOfDate => {
            // The app, not the session: the store stays, with what it has not sent, for the
            // app the server serves (a reload brings it, and it resumes this session).
            let reason = SignOutReason::Rejected(ErrorCode::UnsupportedVersion);
            end_session(inner, reason, false).await;
            return None;
        }
        Event::ServerGoingAway { retry_after_ms } => inner.retry_hint_ms.set(*retry_after_ms),
        // Nothing for the device to do: the view shows what changed, and the worker tells the
        // person what needs words.
        Event::ChatReady { .. }
        | Event::RequestFailed { .. }
        | Event::KeyChanged { .. }
        | Event::SendFailed { .. }
        | Event::RequestDone { .. } => {}
    }
    Some(Notice::Event(event))
}

/// This tab's device slot, claimed on first use and kept for the life of the page.
pub(super) async fn claim_slot(inner: &Inner) -> u32 {
    if let Some(slot) = inner.slot.get() {
        return slot;
    }
    let slot = device_slot::claim(&inner.db_name).await;
    inner.slot.set(Some(slot));
    slot
}

/// Ends this device's session locally: stops the socket, forgets the engine's state, and (when
/// `delete`) deletes the database. The app hears [`Notice::SignedOut`].
pub(super) async fn end_session(inner: &Rc<Inner>, reason: SignOutReason, delete: bool) {
    end_connection_loop(inner);
    *inner.engine.borrow_mut() = Engine::new();
    inner.pending_key.borrow_mut().take();
    inner.open_chat.set(None);
    let store = inner.store.borrow_mut().take();
    if let Some(store) = store {
        // This tab is ending already: another tab's deleting the store meanwhile (the server
        // ended the session of both) must not end it a second time, with other words.
        store.on_version_change(None);
        // The other tabs learn only that the store is deleted; they read why from it.
        if delete && let Err(error) = store.note_why_deleted(reason).await {
            leptos::logging::warn!("noting why the store is deleted failed: {error}");
        }
        store.close();
    }
    // A batch waiting to be stored again belongs to the session that just ended: it is
    // abandoned now, not after its wait, so that the next sign-in's flushes are not held.
    super::saving::wake_retry(inner);
    inner.version_change.borrow_mut().take();
    (inner.notify)(Notice::SignedOut(reason));
    (inner.notify)(Notice::Changed);
    if delete && let Err(error) = idb_store::delete_database(&inner.db_name).await {
        leptos::logging::warn!("deleting the local store failed: {error}");
    }
}
