//! The Web Locks API (`navigator.locks`): a lock one tab of this browser holds, no other tab
//! holds at the same time, and a tab that goes away (closed, reloaded) lets go of its locks.
//! Without the API (a browser without it, or one that refuses) a request answers `None`, and
//! the caller goes on as the only tab.

use futures::channel::oneshot;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};

/// A lock held until this is dropped.
#[derive(Debug)]
pub struct Held {
    /// Dropped with the lock, which settles the promise the browser holds it for.
    _release: oneshot::Sender<()>,
}

/// Waits until the lock `name` is free, then holds it until the answer is dropped.
pub async fn hold(name: &str) -> Option<Held> {
    let (release, released) = oneshot::channel::<()>();
    let granted = request(name, false, move || {
        wasm_bindgen_futures::future_to_promise(async move {
            // Settles when `Held` is dropped (its sender goes, and this wakes with an error).
            let _ = released.await;
            Ok(JsValue::UNDEFINED)
        })
        .into()
    })
    .await?;
    granted.then_some(Held { _release: release })
}

/// Takes the lock `name` if it is free, and keeps it for the life of the page: `Some(false)`
/// if another tab holds it.
pub async fn hold_for_good_if_free(name: &str) -> Option<bool> {
    // A promise that never settles: the lock stays with this page until it goes.
    request(name, true, || js_sys::Promise::new(&mut |_, _| {}).into()).await
}

/// Asks for the lock `name` (only if free at once, with `if_available`); while granted, it is
/// held until the promise `holding` makes settles. Answers whether it was granted.
async fn request(
    name: &str,
    if_available: bool,
    holding: impl FnOnce() -> JsValue + 'static,
) -> Option<bool> {
    // The navigator of the window or of the engine worker: a worker's locks are released when
    // its page goes.
    let locks = js_sys::Reflect::get(&js_sys::global(), &"navigator".into())
        .ok()
        .and_then(|navigator| js_sys::Reflect::get(&navigator, &"locks".into()).ok())
        .filter(JsValue::is_object)?;
    let request = js_sys::Reflect::get(&locks, &"request".into())
        .ok()?
        .dyn_into::<js_sys::Function>()
        .ok()?;
    let options = js_sys::Object::new();
    js_sys::Reflect::set(&options, &"ifAvailable".into(), &if_available.into()).ok()?;
    let (granted, answer) = oneshot::channel();
    let callback = Closure::once_into_js(move |lock: JsValue| -> JsValue {
        let held = !lock.is_null() && !lock.is_undefined();
        let _ = granted.send(held);
        if held { holding() } else { JsValue::UNDEFINED }
    });
    request
        .call3(&locks, &name.into(), &options, &callback)
        .ok()?;
    answer.await.ok()
}
