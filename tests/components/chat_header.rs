//! The chat's header on a phone: however long the chat's title, it keeps to one line within
//! the screen (cut short with an ellipsis), so that the back button and the bell stay in
//! reach; and it reads in the direction of its own script.

use leptos::mount::mount_to;
use leptos::prelude::*;
use merpati_page::views::chat_view::ChatView;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::wasm_bindgen_test;
use web_sys::HtmlElement;

use crate::dom::find;
use crate::support::list_box;

/// The header of a chat called `title`, laid out 390 px wide under the app's stylesheet.
async fn header_of(title: &str) -> (HtmlElement, HtmlElement) {
    let root = list_box(390, 600);
    let title = title.to_owned();
    let handle = mount_to(root.clone(), move || {
        view! {
            <ChatView
                key=Signal::stored(7)
                title=Signal::stored(title.clone())
                rows=Signal::stored(Vec::new())
                on_send=Callback::new(|_| Ok(()))
                on_reach_top=Callback::new(|()| {})
                on_retry=Callback::new(|_| {})
                on_back=Callback::new(|()| {})
                muted=Signal::stored(false)
                on_mute=Callback::new(|_| {})
            />
        }
    });
    handle.forget();
    leptos::task::tick().await;
    let heading: HtmlElement = find(&root, "chat-title").dyn_into().expect("an element");
    (root, heading)
}

#[wasm_bindgen_test]
async fn a_long_title_keeps_to_one_line_and_the_bell_stays_on_screen() {
    // The longest a group's title may be, in one word and in many.
    for title in ["x".repeat(100), "kumpulan teman ".repeat(6) + "lama"] {
        let (root, heading) = header_of(&title).await;
        let bell: HtmlElement = find(&root, "chat-mute").dyn_into().expect("an element");
        let right = |element: &HtmlElement| element.get_bounding_client_rect().right();
        assert!(
            right(&bell) <= right(&root) + 0.5,
            "the bell at {} px, the screen ends at {} px",
            right(&bell),
            right(&root)
        );
        assert!(
            heading.scroll_width() > heading.client_width(),
            "the title is cut short"
        );
        let line = heading.get_bounding_client_rect().height();
        assert!(line < 40.0, "one line, not {line} px");
        root.remove();
    }
}

#[wasm_bindgen_test]
async fn a_title_reads_in_the_direction_of_its_script() {
    let (root, heading) = header_of("عائلة").await;
    assert!(heading.matches(":dir(rtl)").expect("a valid selector"));
    root.remove();
}
