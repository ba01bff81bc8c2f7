//! The browser's Back and the open chat's view: the view gives the tab's history an entry of
//! its own while it is on screen; Back popping it closes the chat; a view closed any other way
//! takes its entry off, and views opened and closed faster than the browser moves through the
//! history never pop more than their one entry (a second would leave the app). A photo open
//! over the chat has an entry above the chat's: Back closes the photo first.
//!
//! A test binary of its own: the other suites mount and drop chat views too, and a view
//! dropped just before this test starts leaves a `history.back()` on its way, which the
//! Back this test presses would then follow out of the test page.

use leptos::mount::mount_to;
use leptos::prelude::*;
use merpati_page::browser_back::{Layer, while_open};
use merpati_page::views::chat_view::ChatView;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

#[path = "support/dom.rs"]
#[allow(dead_code)]
mod dom;

use dom::container;

fn history() -> web_sys::History {
    web_sys::window()
        .and_then(|window| window.history().ok())
        .expect("a history")
}

fn state() -> JsValue {
    history().state().expect("a state")
}

/// Waits for the tab's next `popstate`: the sentinel that the browser moved through the
/// history.
async fn next_popstate() {
    let (sender, receiver) = futures::channel::oneshot::channel::<()>();
    let sender = std::cell::Cell::new(Some(sender));
    let listener = Closure::<dyn FnMut()>::new(move || {
        if let Some(sender) = sender.take() {
            let _ = sender.send(());
        }
    });
    let window = web_sys::window().expect("a window");
    window
        .add_event_listener_with_callback("popstate", listener.as_ref().unchecked_ref())
        .expect("listening");
    receiver.await.expect("a popstate");
    window
        .remove_event_listener_with_callback("popstate", listener.as_ref().unchecked_ref())
        .expect("listening no more");
}

/// Mounts a chat view whose back button and Back add to `backs`.
fn chat_view(backs: RwSignal<u32>) -> leptos::mount::UnmountHandle<impl Mountable> {
    mount_to(container(), move || {
        view! {
            <ChatView
                key=Signal::stored(7)
                title=Signal::stored("budi".to_owned())
                rows=Signal::stored(Vec::new())
                on_send=Callback::new(|_| Ok(()))
                on_reach_top=Callback::new(|()| {})
                on_retry=Callback::new(|_| {})
                on_back=Callback::new(move |()| backs.update(|backs| *backs += 1))
            />
        }
    })
}

#[wasm_bindgen_test]
async fn back_closes_the_open_chat_and_a_chat_closed_otherwise_takes_its_entry_off() {
    let backs = RwSignal::new(0);

    // Open: the entry on top is the chat's. Back pops it and asks the view to close.
    let view = chat_view(backs);
    leptos::task::tick().await;
    assert_eq!(state(), JsValue::from_str("chat"));
    history().back().expect("back");
    next_popstate().await;
    assert_eq!(backs.get_untracked(), 1);
    drop(view);
    leptos::task::tick().await;
    assert!(state().is_null(), "closing after Back pops nothing more");

    // Opened and closed twice before the browser has moved: one entry added, one popped.
    let first = chat_view(backs);
    leptos::task::tick().await;
    assert_eq!(state(), JsValue::from_str("chat"));
    drop(first);
    let second = chat_view(backs);
    drop(second);
    next_popstate().await;
    leptos::task::tick().await;
    assert!(state().is_null(), "the chat's entry is off again");
    assert_eq!(backs.get_untracked(), 1, "closing is not Back");

    // A view opened while its entry is still being taken off gets one once it is.
    let third = chat_view(backs);
    leptos::task::tick().await;
    drop(third);
    let fourth = chat_view(backs);
    next_popstate().await;
    leptos::task::tick().await;
    assert_eq!(
        state(),
        JsValue::from_str("chat"),
        "the open chat has its entry"
    );
    drop(fourth);
    next_popstate().await;
    assert!(state().is_null());
    assert_eq!(backs.get_untracked(), 1);
}

/// Mounts a layer as the photo viewer opens one over the chat: closing it adds to `closes`.
fn photo(closes: RwSignal<u32>) -> leptos::mount::UnmountHandle<impl Mountable> {
    mount_to(container(), move || {
        while_open(
            Layer::Photo,
            Callback::new(move |()| closes.update(|closes| *closes += 1)),
        );
    })
}

#[wasm_bindgen_test]
async fn back_closes_a_photo_open_over_the_chat_before_the_chat() {
    let backs = RwSignal::new(0);
    let closes = RwSignal::new(0);
    let chat = chat_view(backs);
    leptos::task::tick().await;
    let viewer = photo(closes);
    leptos::task::tick().await;
    assert_eq!(state(), JsValue::from_str("photo"));

    // Back closes the photo alone; the chat's entry is on top again.
    history().back().expect("back");
    next_popstate().await;
    assert_eq!((closes.get_untracked(), backs.get_untracked()), (1, 0));
    drop(viewer);
    leptos::task::tick().await;
    assert_eq!(
        state(),
        JsValue::from_str("chat"),
        "closing the photo after Back pops nothing more"
    );

    // A photo closed another way (its close button) takes its own entry off, not the chat's.
    let viewer = photo(closes);
    leptos::task::tick().await;
    assert_eq!(state(), JsValue::from_str("photo"));
    drop(viewer);
    next_popstate().await;
    leptos::task::tick().await;
    assert_eq!(state(), JsValue::from_str("chat"));
    assert_eq!(closes.get_untracked(), 1, "closing is not Back");

    // The next Back closes the chat.
    history().back().expect("back");
    next_popstate().await;
    assert_eq!((closes.get_untracked(), backs.get_untracked()), (1, 1));
    drop(chat);
    leptos::task::tick().await;
    assert!(state().is_null());
}
