//! What more than one browser test needs: a box laid out as the app's stylesheet lays out the
//! message pane (tests do not load the stylesheet).

use wasm_bindgen::JsCast;
use web_sys::HtmlElement;

/// A fresh box of `width_px` × `height_px` in the page, laid out like the message pane, to
/// mount a message list into. The first call adds the layout's stylesheet.
pub(crate) fn list_box(width_px: u32, height_px: u32) -> HtmlElement {
    let document = web_sys::window()
        .and_then(|window| window.document())
        .expect("a document");
    if document.get_element_by_id("list-layout").is_none() {
        let style = document.create_element("style").expect("a style");
        style.set_id("list-layout");
        style.set_text_content(Some(&format!(
            "
.list-box {{ height: {height_px}px; width: {width_px}px; display: flex; flex-direction: column; }}
.message-pane {{ flex: 1; min-height: 0; display: flex; flex-direction: column; }}
.message-list {{ flex: 1; min-height: 0; overflow-y: auto; display: flex; flex-direction: column; }}
.message-text {{ margin: 0; white-space: pre-wrap; overflow-wrap: anywhere; }}
"
        )));
        document
            .head()
            .expect("a head")
            .append_child(&style)
            .expect("appended");
    }
    let element = document.create_element("div").expect("a div");
    element.set_class_name("list-box");
    document
        .body()
        .expect("a body")
        .append_child(&element)
        .expect("appended");
    element.unchecked_into()
}
