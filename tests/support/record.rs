//! Clicking, and recording what the views' callbacks were given, for the component tests.

use std::sync::{Arc, Mutex, PoisonError};

use leptos::prelude::Callback;
use wasm_bindgen::JsCast;
use web_sys::{Element, HtmlElement};

/// Clicks an element as a person would.
pub(crate) fn click(element: &Element) {
    element.unchecked_ref::<HtmlElement>().click();
}

/// A callback that records every value it is given, and the record.
pub(crate) fn recorder<T: Clone + Send + Sync + 'static>() -> (Callback<T>, Arc<Mutex<Vec<T>>>) {
    let heard = Arc::new(Mutex::new(Vec::new()));
    let sink = heard.clone();
    let callback = Callback::new(move |value: T| {
        sink.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(value);
    });
    (callback, heard)
}

/// What a [`recorder`]'s callback was given so far.
pub(crate) fn recorded<T: Clone>(heard: &Arc<Mutex<Vec<T>>>) -> Vec<T> {
    heard.lock().unwrap_or_else(PoisonError::into_inner).clone()
}
