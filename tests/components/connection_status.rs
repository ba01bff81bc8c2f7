//! The connection status: its state, the messages waiting, the next try and retrying now.

use std::sync::{Arc, Mutex, PoisonError};

use leptos::mount::mount_to;
use leptos::prelude::*;
use merpati_bridge::ConnectionPhase;
use merpati_page::views::connection_status::ConnectionStatus;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::wasm_bindgen_test;
use web_sys::HtmlElement;

use crate::dom::{attr, container, find, text};

#[wasm_bindgen_test]
async fn the_connection_status_names_its_state() {
    let phase = RwSignal::new(ConnectionPhase::Offline);
    let root = container();
    let _handle = mount_to(root.clone(), move || {
        view! { <ConnectionStatus phase pending=Signal::derive(|| 2)/> }
    });
    leptos::task::tick().await;
    let status = find(&root, "connection-status");
    assert_eq!(attr(&status, "data-state"), "offline");
    assert!(text(&status).contains("2 messages will be sent"));
    phase.set(ConnectionPhase::Online);
    leptos::task::tick().await;
    assert_eq!(attr(&status, "data-state"), "online");
}

#[wasm_bindgen_test]
async fn offline_shows_when_the_next_try_is_and_offers_to_retry_now() {
    let phase = RwSignal::new(ConnectionPhase::Offline);
    let retry_in_s = RwSignal::new(Some(7u32));
    let retried = Arc::new(Mutex::new(0));
    let counter = retried.clone();
    let root = container();
    let _handle = mount_to(root.clone(), move || {
        let counter = counter.clone();
        let on_retry = Callback::new(move |()| {
            *counter.lock().unwrap_or_else(PoisonError::into_inner) += 1;
        });
        view! { <ConnectionStatus phase pending=Signal::derive(|| 0) retry_in_s on_retry/> }
    });
    leptos::task::tick().await;
    let status = find(&root, "connection-status");
    assert!(
        text(&status).contains("retrying in 7 s"),
        "{}",
        text(&status)
    );
    let button: HtmlElement = find(&root, "connection-retry").unchecked_into();
    assert!(!button.hidden());
    button.click();
    leptos::task::tick().await;
    assert_eq!(*retried.lock().unwrap_or_else(PoisonError::into_inner), 1);

    phase.set(ConnectionPhase::Online);
    retry_in_s.set(None);
    leptos::task::tick().await;
    assert!(button.hidden(), "nothing to retry while online");
}
