//! Text files of the app's own that the page fetches from its origin only when they are
//! needed: a language's words (`/locales/`, [`crate::language`]) and the emoji picker's emoji
//! (`/emoji/`, [`crate::emoji`]). The service worker keeps each once fetched (`public/sw.js`).

use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

/// The text of the app's file at `path` (from the origin's root), or why not.
pub async fn fetch_text(path: &str) -> Result<String, JsValue> {
    let window = web_sys::window().ok_or_else(|| JsValue::from_str("no window"))?;
    let response: web_sys::Response = JsFuture::from(window.fetch_with_str(path))
        .await?
        .dyn_into()?;
    if !response.ok() {
        return Err(JsValue::from_str(&format!("{path}: {}", response.status())));
    }
    JsFuture::from(response.text()?)
        .await?
        .as_string()
        .ok_or_else(|| JsValue::from_str(&format!("{path} is not text")))
}
