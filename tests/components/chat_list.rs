//! The chat list: titles, last messages and when they came, unread badges, opening a chat,
//! and rows moving.

use std::sync::{Arc, Mutex, PoisonError};

use leptos::mount::mount_to;
use leptos::prelude::*;
use merpati_page::views::chat_list::ChatList;
use merpati_protocol::ChatId;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::wasm_bindgen_test;
use web_sys::HtmlElement;

use crate::dom::{attr, container, find, find_all, text};
use crate::rows::chat_row;

#[wasm_bindgen_test]
async fn the_chat_list_shows_titles_last_messages_and_unread_badges() {
    let chats = RwSignal::new(vec![
        chat_row(7, "sari", "Sampai besok", 3),
        chat_row(4, "budi", "Oke", 0),
    ]);
    let opened = Arc::new(Mutex::new(Vec::new()));
    let record = opened.clone();
    let root = container();
    let _handle = mount_to(root.clone(), move || {
        let on_select = Callback::new(move |chat: ChatId| {
            record
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(chat);
        });
        view! { <ChatList chats selected=Signal::derive(|| None) on_select/> }
    });
    leptos::task::tick().await;

    let items = find_all(&root, "chat-list-item");
    assert_eq!(items.len(), 2);
    assert_eq!(
        (
            attr(&items[0], "data-chat-id"),
            attr(&items[0], "data-title")
        ),
        ("7".into(), "sari".into())
    );
    assert!(text(&items[0]).contains("Sampai besok"));
    assert_eq!(text(&find(&items[0], "chat-time")), "09:41");
    assert_eq!(text(&find(&items[0], "unread-badge")), "3");
    assert!(
        find_all(&items[1], "unread-badge").is_empty(),
        "no badge without unread messages"
    );

    items[1].unchecked_ref::<HtmlElement>().click();
    assert_eq!(
        *opened.lock().unwrap_or_else(PoisonError::into_inner),
        vec![ChatId(4)]
    );

    // A new message in "budi" moves its row to the top, the same element, now with a badge.
    let budi = items[1].clone();
    chats.set(vec![
        chat_row(4, "budi", "Sudah sampai", 1),
        chat_row(7, "sari", "Sampai besok", 3),
    ]);
    leptos::task::tick().await;
    let items = find_all(&root, "chat-list-item");
    assert!(
        budi.is_same_node(Some(&items[0])),
        "the row moved instead of being replaced"
    );
    assert!(text(&budi).contains("Sudah sampai"));
    assert_eq!(text(&find(&budi, "unread-badge")), "1");
}

#[wasm_bindgen_test]
fn a_chats_time_is_the_clock_today_then_yesterday_then_a_date() {
    // The test browser's locale, which counts hours to 12: the clock says so.
    let language = js_sys::Reflect::get(&js_sys::global(), &"navigator".into())
        .and_then(|navigator| js_sys::Reflect::get(&navigator, &"language".into()))
        .ok()
        .and_then(|language| language.as_string());
    assert_eq!(
        language.as_deref(),
        Some("en-US"),
        "the tests' browser speaks American English"
    );
    let days = merpati_app::services::clock::ListDays::now();
    let list_time = |ms| days.time_of(ms);
    // Noon of the day `days_back` days before today, by the calendar.
    let noon = |days_back: u32| {
        let day = js_sys::Date::new_0();
        day.set_hours(12);
        day.set_minutes(0);
        day.set_date(day.get_date() - days_back);
        day.get_time() as u64
    };
    assert_eq!(list_time(noon(0)), "12:00 PM");
    assert_eq!(list_time(noon(1)), "Yesterday");
    let long_ago = js_sys::Date::new_with_year_month_day_hr_min(2020, 2, 5, 12, 0);
    assert_eq!(list_time(long_ago.get_time() as u64), "5 Mar 2020");
}
