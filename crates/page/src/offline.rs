//! Offline start: registers the service worker (`public/sw.js`) that keeps the app's own files
//! on the device, so the app opens — with its history from IndexedDB and its outbox — even
//! when the server cannot be reached.

use wasm_bindgen_futures::JsFuture;

/// Registers `/sw.js`. Browsers without service workers (or outside a secure context) simply
/// keep needing the server to load the page.
pub fn register_service_worker() {
    let Some(window) = web_sys::window() else {
        return;
    };
    let container = window.navigator().service_worker();
    let registration = container.register("/sw.js");
    wasm_bindgen_futures::spawn_local(async move {
        if let Err(error) = JsFuture::from(registration).await {
            leptos::logging::warn!("offline start is unavailable: {error:?}");
        }
    });
}
