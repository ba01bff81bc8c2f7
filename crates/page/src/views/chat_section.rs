//! What the chat's section hears, on one listener: files pasted or dropped onto it (sent, and
//! the chat marked while they are dragged over), and its details folded or unfolded
//! (remembered in this browser for the next chat opened: once folded, they stay folded).

use leptos::html::Section;
use leptos::prelude::*;
use wasm_bindgen::JsCast;

use super::attachment::{FileActions, files_of};

/// Where `localStorage` says the chat's details were folded (set) or not (absent).
const DETAILS_FOLDED: &str = "merpati.details-folded";

/// Whether the chat's details start open: as last chosen, in this tab or another.
pub(super) fn details_open() -> bool {
    crate::local_storage()
        .and_then(|storage| storage.get_item(DETAILS_FOLDED).ok().flatten())
        .is_none()
}

/// Keeps whether the chat's details are `open`, for the next chat's to start so.
fn remember_details(open: bool) {
    if let Some(storage) = crate::local_storage() {
        let _ = if open {
            storage.remove_item(DETAILS_FOLDED)
        } else {
            storage.set_item(DETAILS_FOLDED, "1")
        };
    }
}

/// What pasting or dropping files onto the chat does: sends them (where the page can), and
/// marks the chat while files are dragged over it. And what folding the chat's details does:
/// remembers it, for the next chat opened.
pub(super) fn section_listener(
    section: NodeRef<Section>,
    actions: Option<FileActions>,
) -> wasm_bindgen::closure::Closure<dyn FnMut(web_sys::Event)> {
    wasm_bindgen::closure::Closure::new(move |event: web_sys::Event| {
        let kind = event.type_();
        if kind == "toggle" {
            // Only an element toggles, and only the chat's details count here (a popover inside the
            // chat would toggle too).
            if let Some(details) = event.target() {
                let details = details.unchecked_ref::<web_sys::Element>();
                if details.class_name() == "chat-info" {
                    remember_details(details.has_attribute("open"));
                }
            }
            return;
        }
        let files = if let Some(paste) = event.dyn_ref::<web_sys::ClipboardEvent>() {
            files_of(paste.clipboard_data().and_then(|data| data.files()))
        } else if let Some(drag) = event.dyn_ref::<web_sys::DragEvent>() {
            let dragging = kind == "dragover";
            if let Some(section) = section.get_untracked() {
                let _ = section.class_list().toggle_with_force("dragging", dragging);
            }
            if dragging {
                // Taking the drag over is what lets the drop land here.
                event.prevent_default();
            }
            if kind == "drop" {
                files_of(drag.data_transfer().and_then(|data| data.files()))
            } else {
                Vec::new()
            }
        } else {
            Vec::new()
        };
        if let Some(actions) = actions.as_ref().filter(|_| !files.is_empty()) {
            event.prevent_default();
            actions.send.run(files);
        }
    })
}
