//! What more than one browser test needs: a box laid out as the app lays out the open chat,
//! under the app's own stylesheet (`style/main.css`, the file trunk ships), so that the tests
//! measure the layout production has — its padding, gaps and bubble widths included.

use wasm_bindgen::JsCast;
use web_sys::HtmlElement;

/// The app's stylesheet, as shipped.
const APP_STYLESHEET: &str = include_str!("../../style/main.css");

/// A fresh box of `width_px` × `height_px` in the page, laid out as the open chat
/// (`.chat-view`), to mount a message list into. The first call adds the app's stylesheet.
pub(crate) fn list_box(width_px: u32, height_px: u32) -> HtmlElement {
    let document = web_sys::window()
        .and_then(|window| window.document())
        .expect("a document");
    if document.get_element_by_id("app-stylesheet").is_none() {
        let style = document.create_element("style").expect("a style");
        style.set_id("app-stylesheet");
        style.set_text_content(Some(APP_STYLESHEET));
        document
            .head()
            .expect("a head")
            .append_child(&style)
            .expect("appended");
    }
    let element = document.create_element("div").expect("a div");
    element.set_class_name("chat-view");
    // The one thing the app's grid decides that a test must say itself: the box's size.
    element
        .set_attribute(
            "style",
            &format!("width: {width_px}px; height: {height_px}px; flex: none"),
        )
        .expect("a style attribute");
    document
        .body()
        .expect("a body")
        .append_child(&element)
        .expect("appended");
    element.unchecked_into()
}
