//! Sign-outs the server has not heard yet.
//!
//! Signing out deletes the device's store at once, with the session token in it; if the
//! server never hears of it, the session lives on there (until it idles out) — signing out
//! while offline, or closing the tab first, used to leave it so. So the session's sign-out
//! proof ([`merpati_protocol::auth::sign_out_proof`]: it can end the session, never resume
//! it) is written first to a small database of its own, `<store name>-sign-outs`, which
//! outlives the store; then [`spawn_sender`] sends each proof on a connection of its own
//! (`Authenticate { SignOut }`) and deletes it once the server answered `SignedOut` — and the
//! database with the last one. It tries again after a growing pause while any remain, and on
//! every start of the worker, so the server hears it the next time this browser is online
//! with Merpati open.
//!
//! A proof the browser's storage refuses (the disk is full: [`remember_or_hold`]) is held in
//! the worker's memory instead and sent the same way, first: the server still hears it while
//! the page stays open, and the sign-out is not held up by the disk.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use indexed_db_futures::database::{Database, VersionChangeEvent};
use indexed_db_futures::prelude::*;
use indexed_db_futures::transaction::TransactionMode;
use merpati_core::reconnect::Backoff;
use merpati_protocol::frames::AuthMethod;
use merpati_protocol::{ClientFrame, PROTOCOL_VERSION, ServerFrame};
use wasm_bindgen::{JsCast, JsValue};

use super::exchange::exchange;
use super::idb_store::StoreError;

/// The object store of proofs waiting to be sent, keyed by the proof in hex.
const PENDING: &str = "pending";

fn database_name(store_name: &str) -> String {
    format!("{store_name}-sign-outs")
}

async fn open(store_name: &str) -> Result<Database, StoreError> {
    let db = Database::open(&database_name(store_name))
        .with_version(1u32)
        .with_on_upgrade_needed(|event: VersionChangeEvent, db: Database| {
            if event.old_version() < 1.0 {
                db.create_object_store(PENDING).build()?;
            }
            Ok(())
        })
        .await?;
    Ok(db)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Keeps `proof` until the server has heard it.
pub async fn remember(store_name: &str, proof: [u8; 32]) -> Result<(), StoreError> {
    let db = open(store_name).await?;
    let tx = db
        .transaction(PENDING)
        .with_mode(TransactionMode::Readwrite)
        .build()?;
    let _request = tx
        .object_store(PENDING)?
        .put(JsValue::from(js_sys::Uint8Array::from(&proof[..])))
        .with_key(hex(&proof))
        .without_key_type()
        .primitive()?;
    tx.commit().await?;
    db.close();
    Ok(())
}

thread_local! {
    /// Proofs the browser's storage would not keep, sent from memory: lost if the page closes
    /// before the server heard them.
    static HELD: RefCell<Vec<[u8; 32]>> = const { RefCell::new(Vec::new()) };
}

/// Keeps `proof` until the server has heard it — in memory, if the browser's storage refuses
/// it.
pub async fn remember_or_hold(store_name: &str, proof: [u8; 32]) {
    if let Err(error) = remember(store_name, proof).await {
        leptos::logging::warn!(
            "keeping the sign-out to send failed ({error}): it is sent from memory instead"
        );
        HELD.with_borrow_mut(|held| held.push(proof));
    }
}

/// Sends the proofs held in memory; those the server did not answer are held again.
async fn send_held(socket_url: &str) -> bool {
    let mut all_heard = true;
    for proof in HELD.take() {
        if !send(socket_url, proof).await {
            all_heard = false;
            HELD.with_borrow_mut(|held| held.push(proof));
        }
    }
    all_heard
}

/// The proofs waiting to be sent.
async fn pending(store_name: &str) -> Result<Vec<[u8; 32]>, StoreError> {
    let db = open(store_name).await?;
    let tx = db.transaction(PENDING).build()?;
    let values = tx
        .object_store(PENDING)?
        .get_all::<JsValue>()
        .primitive()?
        .await?;
    let mut proofs = Vec::new();
    for value in values {
        let bytes = value?
            .dyn_ref::<js_sys::Uint8Array>()
            .map(js_sys::Uint8Array::to_vec)
            .ok_or(StoreError::Corrupt(PENDING))?;
        proofs.push(<[u8; 32]>::try_from(bytes).map_err(|_| StoreError::Corrupt(PENDING))?);
    }
    drop(tx);
    db.close();
    Ok(proofs)
}

async fn forget(store_name: &str, proof: &[u8; 32]) -> Result<(), StoreError> {
    let db = open(store_name).await?;
    let tx = db
        .transaction(PENDING)
        .with_mode(TransactionMode::Readwrite)
        .build()?;
    tx.object_store(PENDING)?.delete(hex(proof)).primitive()?;
    tx.commit().await?;
    db.close();
    Ok(())
}

/// Tells the server one proof on a connection of its own; whether it answered `SignedOut`.
async fn send(socket_url: &str, proof: [u8; 32]) -> bool {
    let frame = ClientFrame::Authenticate {
        version: PROTOCOL_VERSION,
        method: AuthMethod::SignOut { proof },
    };
    matches!(
        exchange(socket_url, &frame).await,
        Some(ServerFrame::SignedOut)
    )
}

/// Sends every waiting proof, those held in memory first; whether none is left — then the
/// database goes too, so that a signed-out browser keeps nothing of Merpati's.
async fn send_all(store_name: &str, socket_url: &str) -> bool {
    if !send_held(socket_url).await {
        return false;
    }
    let proofs = match pending(store_name).await {
        Ok(proofs) => proofs,
        Err(error) => {
            leptos::logging::warn!("reading the sign-outs to send failed: {error}");
            return false;
        }
    };
    let mut all_heard = true;
    for proof in proofs {
        if !send(socket_url, proof).await {
            all_heard = false;
            continue;
        }
        if let Err(error) = forget(store_name, &proof).await {
            leptos::logging::warn!("forgetting a sign-out the server heard failed: {error}");
        }
    }
    if all_heard && let Err(error) = delete(store_name).await {
        leptos::logging::warn!("deleting the emptied sign-out queue failed: {error}");
    }
    all_heard
}

async fn delete(store_name: &str) -> Result<(), StoreError> {
    Database::delete_by_name(&database_name(store_name))?.await?;
    Ok(())
}

/// Sends the waiting proofs now and again after a growing pause until none is left; at most
/// one sender runs per worker (`running`).
pub fn spawn_sender(store_name: &str, socket_url: &str, running: Rc<Cell<bool>>) {
    if running.replace(true) {
        return;
    }
    let store_name = store_name.to_owned();
    let socket_url = socket_url.to_owned();
    wasm_bindgen_futures::spawn_local(async move {
        let mut backoff = Backoff::default();
        loop {
            if send_all(&store_name, &socket_url).await {
                break;
            }
            let random = (js_sys::Math::random() * f64::from(u32::MAX)) as u32;
            let delay = u32::try_from(backoff.next_delay_ms(random)).unwrap_or(u32::MAX);
            gloo_timers::future::TimeoutFuture::new(delay).await;
        }
        running.set(false);
    });
}
