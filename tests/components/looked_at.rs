//! Whether the person is looking at the page: a chat open in a window left visible behind
//! another app is not being read (its messages stay unread, and are notified).

use merpati_page::engine_link::page_looked_at;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::wasm_bindgen_test;

use crate::dom::document;

/// Makes the document say its window has the focus or not, as the browser would when the
/// person goes to another app and back; `None` puts the browser's own answer back.
fn window_focused(focused: Option<bool>) {
    let document = JsValue::from(document());
    let key = JsValue::from_str("hasFocus");
    match focused {
        Some(focused) => {
            let answer = js_sys::Function::new_no_args(&format!("return {focused};"));
            js_sys::Reflect::set(&document, &key, &answer).expect("settable");
        }
        None => {
            js_sys::Reflect::delete_property(document.unchecked_ref::<js_sys::Object>(), &key)
                .expect("deletable");
        }
    }
}

#[wasm_bindgen_test]
fn a_visible_page_is_looked_at_only_while_its_window_has_the_focus() {
    window_focused(Some(true));
    assert!(page_looked_at());
    window_focused(Some(false));
    assert!(
        !page_looked_at(),
        "visible, but another window has the focus"
    );
    window_focused(None);
}
