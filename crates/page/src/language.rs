//! The language the app speaks: the browser's (the first of `navigator.languages` the app
//! knows) unless this browser chose one in the settings.
//!
//! English is in the code; another language's catalogue (`/locales/<code>.txt`) is fetched
//! before the app is drawn, so no screen shows English first, and only when that language
//! is spoken, so nobody downloads the words of a language they do not use. The service
//! worker keeps the catalogues for offline starts (`public/sw.js`). The choice lives in
//! `localStorage` like the theme's, for the same reason: it must be known before anything
//! is drawn (docs/security.md lists it among what is kept unsealed).

use std::cell::RefCell;

use merpati_words::{Catalogue, Language};
use wasm_bindgen::JsValue;

use crate::own_files;

/// Where the choice is kept.
pub const STORAGE_KEY: &str = "merpati.language";

thread_local! {
    /// The language spoken and its catalogue file, for the engine worker.
    static SPOKEN: RefCell<(Language, String)> = const { RefCell::new((Language::English, String::new())) };
}

/// The language this browser chose in the settings, if it did.
pub fn chosen() -> Option<Language> {
    crate::local_storage()?
        .get_item(STORAGE_KEY)
        .ok()
        .flatten()
        .and_then(|code| Language::from_code(&code))
}

/// The language to speak: the one chosen, else the browser's.
pub fn wanted() -> Language {
    chosen().unwrap_or_else(|| {
        let languages: Vec<String> = web_sys::window()
            .map(|window| window.navigator().languages().to_vec())
            .unwrap_or_default()
            .into_iter()
            .filter_map(|tag| tag.as_string())
            .collect();
        Language::preferred(languages.iter().map(String::as_str))
    })
}

/// Loads and speaks [`wanted`]'s words, and marks `<html lang>`. A catalogue that cannot be
/// fetched (offline before the service worker kept it) or read leaves English.
pub async fn speak() {
    let language = wanted();
    let source = match language {
        Language::English => Ok(String::new()),
        other => own_files::fetch_text(&format!("/locales/{}.txt", other.code())).await,
    };
    let spoken = source.and_then(|source| {
        let catalogue = Catalogue::parse(language, &source)
            .map_err(|error| JsValue::from_str(&error.to_string()))?;
        Ok((catalogue, source))
    });
    let (catalogue, source) = match spoken {
        Ok(spoken) => spoken,
        Err(error) => {
            leptos::logging::warn!("speaking {} failed: {error:?}", language.code());
            (Catalogue::english(), String::new())
        }
    };
    let language = catalogue.language();
    merpati_words::install(catalogue);
    SPOKEN.with(|spoken| *spoken.borrow_mut() = (language, source));
    if let Some(root) = web_sys::window()
        .and_then(|window| window.document())
        .and_then(|document| document.document_element())
    {
        let _ = root.set_attribute("lang", language.code());
    }
}

/// The language spoken and its catalogue file (empty for English), for the engine worker.
pub fn spoken() -> (Language, String) {
    SPOKEN.with(|spoken| spoken.borrow().clone())
}

/// Remembers `language` in this browser and starts the app again in it: every word on
/// screen, the worker's too, changes at once, and nothing is lost (the outbox and the
/// drafts are stored).
pub fn choose(language: Language) -> Result<(), JsValue> {
    let window = web_sys::window().ok_or_else(|| JsValue::from_str("no window"))?;
    if let Some(storage) = crate::local_storage() {
        storage.set_item(STORAGE_KEY, language.code())?;
    }
    window.location().reload()
}
