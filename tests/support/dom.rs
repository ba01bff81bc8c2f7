//! Finding and reading elements in the page, for the component tests: a fresh container to
//! mount into, elements by `data-testid`, their attributes and text.

use wasm_bindgen::JsCast;
use web_sys::{Element, HtmlElement};

pub(crate) fn document() -> web_sys::Document {
    web_sys::window()
        .and_then(|window| window.document())
        .expect("a document")
}

/// A fresh element in the page to mount one component into.
pub(crate) fn container() -> HtmlElement {
    let element = document().create_element("div").expect("a div");
    document()
        .body()
        .expect("a body")
        .append_child(&element)
        .expect("appended");
    element.unchecked_into()
}

pub(crate) fn find(root: &Element, testid: &str) -> Element {
    root.query_selector(&format!("[data-testid={testid}]"))
        .expect("a valid selector")
        .unwrap_or_else(|| panic!("no element with data-testid={testid}"))
}

pub(crate) fn find_all(root: &Element, testid: &str) -> Vec<Element> {
    let list = root
        .query_selector_all(&format!("[data-testid={testid}]"))
        .expect("a valid selector");
    (0..list.length())
        .filter_map(|i| list.item(i)?.dyn_into().ok())
        .collect()
}

pub(crate) fn attr(element: &Element, name: &str) -> String {
    element
        .get_attribute(name)
        .unwrap_or_else(|| panic!("no attribute {name}"))
}

pub(crate) fn text(element: &Element) -> String {
    element.text_content().unwrap_or_default()
}
