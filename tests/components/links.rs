//! A message's web addresses: shown as links that open in a new tab without telling the site
//! where they came from, the text around them as it was written; never a link that is not
//! `http` or `https`, whatever the row says.

use leptos::mount::mount_to;
use leptos::prelude::*;
use merpati_bridge::{LinkSpan, MessageRow};
use merpati_page::views::message_list::MessageList;
use wasm_bindgen_test::wasm_bindgen_test;

use crate::dom::{attr, container, find, find_all, text};

fn span(text: &str, address: &str, href: &str) -> LinkSpan {
    let start = text.find(address).expect("the address is in the text");
    LinkSpan {
        start: start as u32,
        end: (start + address.len()) as u32,
        href: href.to_owned(),
    }
}

#[wasm_bindgen_test]
async fn a_messages_addresses_are_links_and_the_rest_is_its_text() {
    let said = "Menu: https://warung.example/menu?hari=senin, atau www.warung.example.";
    let row = MessageRow {
        id: "aa01".to_owned(),
        text: said.to_owned(),
        time: "09:41".to_owned(),
        day: None,
        unread_from_here: None,
        links: vec![
            span(
                said,
                "https://warung.example/menu?hari=senin",
                "https://warung.example/menu?hari=senin",
            ),
            span(said, "www.warung.example", "https://www.warung.example"),
        ],
        ..MessageRow::default()
    };
    let rows = RwSignal::new(vec![row]);
    let root = container();
    let _handle = mount_to(root.clone(), move || {
        view! { <MessageList rows on_reach_top=Callback::new(|()| {})/> }
    });
    leptos::task::tick().await;

    let message_text = find(&root, "message-text");
    assert_eq!(
        text(&message_text),
        said,
        "the text reads as it was written"
    );
    let links = find_all(&message_text, "message-link");
    let seen: Vec<(String, String)> = links
        .iter()
        .map(|link| (text(link), attr(link, "href")))
        .collect();
    assert_eq!(
        seen,
        [
            (
                "https://warung.example/menu?hari=senin".to_owned(),
                "https://warung.example/menu?hari=senin".to_owned()
            ),
            (
                "www.warung.example".to_owned(),
                "https://www.warung.example".to_owned()
            )
        ]
    );
    for link in &links {
        assert_eq!(attr(link, "target"), "_blank");
        assert_eq!(attr(link, "rel"), "noopener noreferrer");
    }

    // Edited: the links follow the text.
    rows.update(|rows| {
        rows[0].text = "no link now".to_owned();
        rows[0].links.clear();
    });
    leptos::task::tick().await;
    assert!(find_all(&root, "message-link").is_empty());
    assert_eq!(text(&find(&root, "message-text")), "no link now");

    // Whatever a row says, nothing but http and https is a link, and a span the text does not
    // hold is none.
    let said = "javascript:alert(1) and more";
    rows.update(|rows| {
        rows[0].text = said.to_owned();
        rows[0].links = vec![
            span(said, "javascript:alert(1)", "javascript:alert(1)"),
            LinkSpan {
                start: 20,
                end: 400,
                href: "https://example.com".to_owned(),
            },
        ];
    });
    leptos::task::tick().await;
    assert!(find_all(&root, "message-link").is_empty());
    assert_eq!(text(&find(&root, "message-text")), said);
}
