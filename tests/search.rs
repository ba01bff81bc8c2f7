//! The search box and its results in a real browser: typing searches, Escape clears, each
//! result shows chat, sender, time and the matched words marked, and choosing one opens it.

use std::sync::{Arc, Mutex, PoisonError};

use leptos::mount::mount_to;
use leptos::prelude::*;
use merpati_bridge::SearchRow;
use merpati_page::views::search::{SearchBox, SearchResults};
use merpati_protocol::{ChatId, ClientMsgId, Seq};
use wasm_bindgen::JsCast;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};
use web_sys::{HtmlElement, HtmlInputElement};

wasm_bindgen_test_configure!(run_in_browser);

fn container() -> HtmlElement {
    let document = web_sys::window()
        .and_then(|w| w.document())
        .expect("a document");
    let root: HtmlElement = document
        .create_element("div")
        .expect("a div")
        .dyn_into()
        .expect("an element");
    document
        .body()
        .expect("a body")
        .append_child(&root)
        .expect("added");
    root
}

fn all(root: &HtmlElement, css: &str) -> Vec<HtmlElement> {
    let found = root.query_selector_all(css).expect("a selector");
    (0..found.length())
        .filter_map(|at| found.item(at))
        .filter_map(|node| node.dyn_into().ok())
        .collect()
}

fn row(chat: u64, id: u8, pieces: &[(&str, bool)]) -> SearchRow {
    SearchRow {
        chat: ChatId(chat),
        chat_title: format!("chat {chat}"),
        seq: Seq(u64::from(id)),
        id: ClientMsgId([id; 16]),
        sender: "bob".to_owned(),
        time: "09:41".to_owned(),
        pieces: pieces
            .iter()
            .map(|(text, matched)| ((*text).to_owned(), *matched))
            .collect(),
    }
}

#[wasm_bindgen_test]
async fn typing_searches_and_escape_clears() {
    let typed = Arc::new(Mutex::new(Vec::<String>::new()));
    let heard = typed.clone();
    let query = RwSignal::new(String::new());
    let root = container();
    let _handle = mount_to(root.clone(), move || {
        let on_input = Callback::new(move |text: String| {
            heard
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(text.clone());
            query.set(text);
        });
        view! { <SearchBox query on_input/> }
    });
    leptos::task::tick().await;
    let input: HtmlInputElement = all(&root, "[data-testid=search-input]")
        .remove(0)
        .dyn_into()
        .expect("an input");
    assert_eq!(input.type_(), "search");
    input.set_value("kop");
    let event = web_sys::Event::new("input").expect("an event");
    input.dispatch_event(&event).expect("dispatched");
    leptos::task::tick().await;
    let init = web_sys::KeyboardEventInit::new();
    init.set_key("Escape");
    let escape =
        web_sys::KeyboardEvent::new_with_keyboard_event_init_dict("keydown", &init).expect("a key");
    input.dispatch_event(&escape).expect("dispatched");
    leptos::task::tick().await;
    assert_eq!(
        *typed.lock().unwrap_or_else(PoisonError::into_inner),
        vec!["kop".to_owned(), String::new()]
    );
    assert_eq!(input.value(), "", "the box follows the query");
}

#[wasm_bindgen_test]
async fn results_mark_what_matched_and_open_when_chosen() {
    let results = RwSignal::new(vec![
        row(
            2,
            9,
            &[("Ngopi di ", false), ("Kafé", true), (" Tugu?", false)],
        ),
        row(1, 4, &[("kafe", true)]),
    ]);
    let chosen = Arc::new(Mutex::new(Vec::<SearchRow>::new()));
    let heard = chosen.clone();
    let root = container();
    let _handle = mount_to(root.clone(), move || {
        let on_open = Callback::new(move |row: SearchRow| {
            heard
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(row);
        });
        view! { <SearchResults results on_open/> }
    });
    leptos::task::tick().await;
    let found = all(&root, "[data-testid=search-result]");
    assert_eq!(found.len(), 2);
    let first = &found[0];
    let text = first.text_content().unwrap_or_default();
    for part in ["chat 2", "09:41", "bob", "Ngopi di Kafé Tugu?"] {
        assert!(text.contains(part), "{part} in {text}");
    }
    let marked: Vec<String> = all(first, "mark")
        .iter()
        .map(|mark| mark.text_content().unwrap_or_default())
        .collect();
    assert_eq!(marked, ["Kafé"]);
    assert_eq!(first.get_attribute("data-chat-id").as_deref(), Some("2"));
    assert!(all(&root, ".empty-hint").is_empty());

    found[1].click();
    leptos::task::tick().await;
    let chosen = chosen
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    assert_eq!(chosen, vec![row(1, 4, &[("kafe", true)])]);

    // A longer query finds the same message again and marks more of it.
    results.set(vec![row(
        2,
        9,
        &[("Ngopi di ", false), ("Kafé Tu", true), ("gu?", false)],
    )]);
    leptos::task::tick().await;
    let found = all(&root, "[data-testid=search-result]");
    let marked: Vec<String> = all(&found[0], "mark")
        .iter()
        .map(|mark| mark.text_content().unwrap_or_default())
        .collect();
    assert_eq!(marked, ["Kafé Tu"], "the marks of the query now");

    results.set(Vec::new());
    leptos::task::tick().await;
    assert!(all(&root, "[data-testid=search-result]").is_empty());
    assert_eq!(all(&root, ".empty-hint").len(), 1, "says nothing was found");
}
