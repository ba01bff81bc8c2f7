//! Which end-to-end device this tab is: a *slot* no other open tab of this browser holds.
//!
//! Every open tab is its own end-to-end device (two tabs sharing one Olm account would fork
//! its ratchets and reuse Megolm indexes), but the tabs share one IndexedDB database. So each
//! tab claims the lowest-numbered free slot with the Web Locks API and keeps the lock until
//! the tab goes away; its key state is stored under that slot
//! ([`crate::services::idb_store::IdbStore::with_device_slot`]). A reload gives the lock back
//! and takes it again, so it stays the same device; a second tab gets the next slot and
//! becomes a second device; a tab opened after others closed reuses a free slot's device
//! instead of registering yet another. Without Web Locks every tab takes slot 0.

use futures::channel::oneshot;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};

/// More tabs than this share the last slot's device.
const MAX_SLOTS: u32 = 16;

/// Claims this tab's slot among the tabs using the database `db_name`, and holds it until the
/// tab closes or reloads.
pub async fn claim(db_name: &str) -> u32 {
    // The navigator of the window or of the engine worker: a worker's locks are released when
    // its page goes.
    let Some(locks) = js_sys::Reflect::get(&js_sys::global(), &"navigator".into())
        .ok()
        .and_then(|navigator| js_sys::Reflect::get(&navigator, &"locks".into()).ok())
        .filter(|locks| locks.is_object())
    else {
        return 0;
    };
    for slot in 0..MAX_SLOTS {
        match try_hold(&locks, &format!("merpati-device/{db_name}/{slot}")).await {
            Some(true) => return slot,
            Some(false) => continue,
            None => return 0,
        }
    }
    MAX_SLOTS - 1
}

/// Takes the lock `name` if it is free, keeping it for the life of the page. `None` when the
/// browser refuses the request altogether.
async fn try_hold(locks: &JsValue, name: &str) -> Option<bool> {
    let request = js_sys::Reflect::get(locks, &"request".into())
        .ok()?
        .dyn_into::<js_sys::Function>()
        .ok()?;
    let options = js_sys::Object::new();
    js_sys::Reflect::set(&options, &"ifAvailable".into(), &JsValue::TRUE).ok()?;
    let (granted, answer) = oneshot::channel();
    let callback = Closure::once_into_js(move |lock: JsValue| -> JsValue {
        let held = !lock.is_null() && !lock.is_undefined();
        let _ = granted.send(held);
        if held {
            // A promise that never settles: the lock stays with this page until it goes.
            js_sys::Promise::new(&mut |_, _| {}).into()
        } else {
            JsValue::UNDEFINED
        }
    });
    request
        .call3(locks, &name.into(), &options, &callback)
        .ok()?;
    answer.await.ok()
}
