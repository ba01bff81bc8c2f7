//! Muting a chat: the bell in the chat's header says whether the chat is muted and asks for
//! the other, and the chat list marks a muted chat.

use leptos::mount::mount_to;
use leptos::prelude::*;
use merpati_page::views::chat_list::ChatList;
use merpati_page::views::chat_view::ChatView;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::wasm_bindgen_test;
use web_sys::HtmlElement;

use crate::dom::{attr, container, find, find_all, text};
use crate::rows::chat_row;

#[wasm_bindgen_test]
async fn the_bell_in_the_header_mutes_the_chat_and_says_so() {
    let muted = RwSignal::new(false);
    let asked = RwSignal::new(Vec::<bool>::new());
    let root = container();
    let _handle = mount_to(root.clone(), move || {
        view! {
            <ChatView
                key=Signal::stored(7)
                title=Signal::stored("Keluarga".to_owned())
                rows=Signal::stored(Vec::new())
                on_send=Callback::new(|_| Ok(()))
                on_reach_top=Callback::new(|()| {})
                on_retry=Callback::new(|_| {})
                on_back=Callback::new(|()| {})
                muted
                on_mute=Callback::new(move |wanted| asked.update(|asked| asked.push(wanted)))
            />
        }
    });
    leptos::task::tick().await;
    let bell: HtmlElement = find(&root, "chat-mute").dyn_into().expect("a button");
    assert_eq!(attr(&bell, "aria-label"), "Mute notifications of this chat");
    assert_eq!(attr(&bell, "aria-pressed"), "false");
    assert_eq!(text(&bell), "🔔");
    bell.click();
    leptos::task::tick().await;
    assert_eq!(asked.get_untracked(), [true]);

    // The engine's view says it is muted now: the bell says so, and asks for the other.
    muted.set(true);
    leptos::task::tick().await;
    assert_eq!(attr(&bell, "aria-pressed"), "true");
    assert_eq!(text(&bell), "🔕");
    bell.click();
    leptos::task::tick().await;
    assert_eq!(asked.get_untracked(), [true, false]);
}

#[wasm_bindgen_test]
async fn without_a_way_to_mute_the_header_has_no_bell() {
    let root = container();
    let _handle = mount_to(root.clone(), move || {
        view! {
            <ChatView
                key=Signal::stored(7)
                title=Signal::stored("budi".to_owned())
                rows=Signal::stored(Vec::new())
                on_send=Callback::new(|_| Ok(()))
                on_reach_top=Callback::new(|()| {})
                on_retry=Callback::new(|_| {})
                on_back=Callback::new(|()| {})
            />
        }
    });
    leptos::task::tick().await;
    assert!(find_all(&root, "chat-mute").is_empty());
}

#[wasm_bindgen_test]
async fn the_chat_list_marks_a_muted_chat() {
    let mut muted = chat_row(7, "Keluarga", "sudah", 4);
    muted.muted = true;
    let chats = RwSignal::new(vec![muted, chat_row(4, "budi", "Oke", 1)]);
    let root = container();
    let _handle = mount_to(root.clone(), move || {
        view! { <ChatList chats selected=Signal::derive(|| None) on_select=Callback::new(|_| {})/> }
    });
    leptos::task::tick().await;
    let items = find_all(&root, "chat-list-item");
    let marks: Vec<usize> = items
        .iter()
        .map(|item| find_all(item, "chat-muted").len())
        .collect();
    assert_eq!(marks, [1, 0]);
    assert_eq!(attr(&find(&items[0], "chat-muted"), "aria-label"), "Muted");
    // Its unread messages still show in the list.
    assert_eq!(text(&find(&items[0], "unread-badge")), "4");

    chats.update(|chats| chats[0].muted = false);
    leptos::task::tick().await;
    assert!(find_all(&root, "chat-muted").is_empty());
}
