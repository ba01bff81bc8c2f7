//! How messages and chats show what their rows say: a quote (and clicking it), the edited and
//! forwarded marks, a deletion, reactions, and a chat's draft.

use leptos::mount::mount_to;
use leptos::prelude::*;
use merpati_bridge::{MessageRow, QuoteRow, ReactionRow};
use merpati_page::views::chat_list::ChatList;
use merpati_page::views::chat_view::MessageAction;
use merpati_page::views::message_list::MessageList;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::wasm_bindgen_test;
use web_sys::HtmlElement;

use crate::fixture::{OTHER_ID, OWN_ID, chat_row, mounted_chat, recorded, row};
use crate::page::{container, find, find_all, find_in, message, mouse, text, until};
use crate::support::list_box;

#[wasm_bindgen_test]
async fn quotes_marks_deletions_and_reactions_show_as_the_rows_say() {
    let chat = mounted_chat(Ok(()));
    leptos::task::tick().await;
    let mut reply = row("0000000000000000000000000000cc03", false, "besok");
    reply.quote = Some(QuoteRow {
        target: OWN_ID.to_owned(),
        sender: "hana".to_owned(),
        text: "sampai jumpa".to_owned(),
    });
    reply.edited = true;
    reply.reactions = vec![
        ReactionRow {
            emoji: "👍".to_owned(),
            count: 2,
            people: vec!["hana".to_owned(), "budi".to_owned()],
            mine: true,
        },
        ReactionRow {
            emoji: "😂".to_owned(),
            count: 1,
            people: vec!["budi".to_owned()],
            mine: false,
        },
    ];
    let mut forwarded = row("0000000000000000000000000000dd04", true, "kabar baik");
    forwarded.forwarded = true;
    chat.rows.update(|rows| {
        rows[0].deleted = true;
        rows[0].text = "This message was deleted".to_owned();
        rows.push(reply.clone());
        rows.push(forwarded);
    });
    leptos::task::tick().await;

    let deleted = message(&chat.root, OWN_ID);
    assert_eq!(
        deleted.get_attribute("data-deleted").as_deref(),
        Some("true")
    );
    assert_eq!(
        text(&find(&deleted, "message-text")),
        "This message was deleted"
    );
    let other = message(&chat.root, OTHER_ID);
    assert_eq!(
        other.get_attribute("data-deleted").as_deref(),
        Some("false")
    );
    assert!(find_in(&other, "message-edited").is_none());
    assert!(find_in(&other, "message-forwarded").is_none());
    assert!(find_in(&other, "message-quote").is_none());
    assert!(find_in(&other, "reaction").is_none());

    let answer = message(&chat.root, &reply.id);
    let quote = find(&answer, "message-quote");
    assert_eq!(
        quote.get_attribute("data-target-id").as_deref(),
        Some(OWN_ID)
    );
    assert!(text(&quote).contains("hana"));
    assert!(text(&quote).contains("sampai jumpa"));
    assert_eq!(text(&find(&answer, "message-edited")), "edited");
    let reactions = find_all(&answer, "reaction");
    assert_eq!(reactions.len(), 2);
    assert_eq!(
        reactions[0].get_attribute("data-emoji").as_deref(),
        Some("👍")
    );
    assert!(text(&reactions[0]).contains('2'));
    assert_eq!(reactions[0].title(), "hana, budi");
    assert_eq!(
        reactions[0].get_attribute("aria-pressed").as_deref(),
        Some("true")
    );
    assert_eq!(
        reactions[1].get_attribute("aria-pressed").as_deref(),
        Some("false")
    );

    let forwarded = message(&chat.root, "0000000000000000000000000000dd04");
    assert_eq!(text(&find(&forwarded, "message-forwarded")), "Forwarded");

    // Choosing an emoji under the message is the same as choosing it in the menu.
    reactions[0].click();
    leptos::task::tick().await;
    assert_eq!(
        recorded(&chat.actions),
        [MessageAction::React {
            target: reply.id.clone(),
            emoji: "👍".to_owned()
        }]
    );

    // A deleted message offers only deleting it on this device.
    mouse(&deleted, "contextmenu");
    leptos::task::tick().await;
    let menu = find(&deleted, "message-actions");
    assert_eq!(find_all(&menu, "message-delete-mine").len(), 1);
    for gone in [
        "message-reply",
        "message-edit",
        "message-copy",
        "message-delete",
        "message-react",
    ] {
        assert!(
            find_in(&menu, gone).is_none(),
            "{gone} on a deleted message"
        );
    }
}

#[wasm_bindgen_test]
async fn clicking_a_quote_brings_the_quoted_message_into_view_and_highlights_it() {
    let mut messages: Vec<MessageRow> = (0..400)
        .map(|index| {
            row(
                &format!("{index:032x}"),
                index % 2 == 0,
                &format!("pesan {index}"),
            )
        })
        .collect();
    let target = format!("{:032x}", 3);
    messages[399].quote = Some(QuoteRow {
        target: target.clone(),
        sender: "budi".to_owned(),
        text: "pesan 3".to_owned(),
    });
    let rows = RwSignal::new(messages);
    let root = list_box(480, 600);
    let _handle = mount_to(root.clone(), move || {
        view! {
            <MessageList
                rows
                on_reach_top=Callback::new(|()| {})
                on_choice=Some(Callback::new(|_| {}))
            />
        }
    });
    let scroller: HtmlElement = root
        .query_selector(".message-list")
        .expect("a valid selector")
        .expect("the list")
        .unchecked_into();
    until("the newest message", 5_000.0, || {
        root.query_selector("[data-testid=message-quote]")
            .ok()
            .flatten()
            .is_some()
    })
    .await;
    assert!(
        root.query_selector(&format!("[data-msg-id=\"{target}\"]"))
            .ok()
            .flatten()
            .is_none(),
        "the quoted message starts far outside the window"
    );
    find(&root, "message-quote").click();
    let in_view = || {
        let Some(element) = root
            .query_selector(&format!("[data-msg-id=\"{target}\"]"))
            .ok()
            .flatten()
        else {
            return false;
        };
        let view = scroller.get_bounding_client_rect();
        let rect = element.get_bounding_client_rect();
        element.class_list().contains("highlighted")
            && rect.top() >= view.top() - 1.0
            && rect.bottom() <= view.bottom() + 1.0
    };
    until("the quoted message, highlighted, in view", 5_000.0, in_view).await;
}

#[wasm_bindgen_test]
async fn a_chat_with_a_draft_shows_it_instead_of_the_last_message() {
    let mut with_draft = chat_row(7, "budi");
    with_draft.last_text = Some("kapan datang?".to_owned());
    with_draft.draft = Some("besok pagi".to_owned());
    let mut without = chat_row(8, "Keluarga");
    without.last_text = Some("sampai".to_owned());
    let chats = RwSignal::new(vec![with_draft, without]);
    let root = container();
    let _handle = mount_to(root.clone(), move || {
        view! { <ChatList chats selected=Signal::stored(None) on_select=Callback::new(|_| {})/> }
    });
    leptos::task::tick().await;
    let items = find_all(&root, "chat-list-item");
    assert_eq!(text(&find(&items[0], "chat-draft")), "Draft: besok pagi");
    assert!(!text(&items[0]).contains("kapan datang?"));
    assert!(find_in(&items[1], "chat-draft").is_none());
    assert!(text(&items[1]).contains("sampai"));
    chats.update(|chats| chats[0].draft = None);
    leptos::task::tick().await;
    assert!(find_in(&items[0], "chat-draft").is_none());
    assert!(text(&items[0]).contains("kapan datang?"));
}
