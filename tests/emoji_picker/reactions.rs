//! Reactions and the picker, in a chat: any emoji can be a reaction, chosen through the
//! message menu's "+"; and the quick reactions that are hands come in the skin tone chosen.

use std::sync::atomic::Ordering;

use leptos::mount::mount_to;
use leptos::prelude::*;
use merpati_bridge::{MessageRow, MessageStatus};
use merpati_page::views::chat_view::{ChatView, MessageAction};
use merpati_page::views::emoji_picker::EmojiLoad;
use merpati_words::SkinTone;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::wasm_bindgen_test;
use web_sys::{Element, HtmlElement};

use super::{
    Source, attr, button, container, counting_source, document, find, find_all, option,
    shipped_emoji, type_into,
};

const THEIRS: &str = "00000000000000000000000000000002";

/// A chat of one message of budi's, mounted under an emoji source, with the message's menu
/// open on its reactions.
struct Chat {
    root: HtmlElement,
    message: Element,
    /// What the chat reported.
    actions: RwSignal<Vec<MessageAction>>,
    _handle: Box<dyn std::any::Any>,
}

async fn chat_with_menu_open(source: Source) -> Chat {
    let rows = RwSignal::new(vec![MessageRow {
        id: THEIRS.to_owned(),
        status: MessageStatus::Sent,
        text: "lulus ujian!".to_owned(),
        sender: Some("budi".to_owned()),
        time: "09:41".to_owned(),
        ..MessageRow::default()
    }]);
    let actions = RwSignal::new(Vec::<MessageAction>::new());
    let root = container();
    let source = source.source;
    let handle = mount_to(root.clone(), move || {
        provide_context(source);
        view! {
            <ChatView
                key=Signal::stored(7)
                title=Signal::stored("budi".to_owned())
                rows
                on_send=Callback::new(|_| Ok(()))
                on_reach_top=Callback::new(|()| {})
                on_retry=Callback::new(|_| {})
                on_back=Callback::new(|()| {})
                on_action=Callback::new(move |action| {
                    actions.update(|actions| actions.push(action));
                    Ok(())
                })
            />
        }
    });
    leptos::task::tick().await;
    let message = root
        .query_selector(&format!("[data-msg-id=\"{THEIRS}\"]"))
        .expect("a selector")
        .expect("the message");
    let init = web_sys::MouseEventInit::new();
    init.set_bubbles(true);
    init.set_cancelable(true);
    let event = web_sys::MouseEvent::new_with_mouse_event_init_dict("contextmenu", &init)
        .expect("a mouse event");
    message.dispatch_event(&event).expect("dispatched");
    leptos::task::tick().await;
    button(&message, "message-react").click();
    leptos::task::tick().await;
    Chat {
        root,
        message,
        actions,
        _handle: Box::new(handle),
    }
}

#[wasm_bindgen_test]
async fn a_reaction_can_be_any_emoji_chosen_in_the_picker_from_the_message_menu() {
    let source = counting_source(EmojiLoad::NotAsked, &[]);
    let (emoji, asked, chosen) = (source.emoji, source.asked.clone(), source.chosen);
    let Chat {
        root,
        message,
        actions,
        _handle,
    } = chat_with_menu_open(source).await;
    let more = button(&message, "message-react-more");
    assert_eq!(attr(&more, "aria-label"), "More emoji");
    more.click();
    leptos::task::tick().await;
    assert!(
        find_all(&root, "message-actions").is_empty(),
        "the menu gives way to the picker"
    );
    assert_eq!(
        asked.load(Ordering::SeqCst),
        1,
        "the picker asks for the emoji"
    );
    emoji.set(EmojiLoad::Ready(shipped_emoji()));
    leptos::task::tick().await;

    type_into(
        &find(&root, "emoji-picker-search")
            .dyn_into()
            .expect("an input"),
        "party popper",
    );
    leptos::task::tick().await;
    option(&root, "🎉").click();
    leptos::task::tick().await;
    assert_eq!(
        actions.get_untracked(),
        [MessageAction::React {
            target: THEIRS.to_owned(),
            emoji: "🎉".to_owned()
        }]
    );
    assert!(
        find_all(&root, "emoji-picker").is_empty(),
        "one reaction, then it closes"
    );
    assert_eq!(chosen.get_untracked(), ["🎉"]);
    assert_eq!(
        document().active_element().as_ref(),
        Some(&message),
        "the message takes the focus back"
    );
}

#[wasm_bindgen_test]
async fn the_quick_reactions_that_are_hands_come_in_the_tone_chosen() {
    let source = counting_source(EmojiLoad::NotAsked, &[]);
    source.tone.set(SkinTone::MediumDark);
    let chat = chat_with_menu_open(source).await;
    let (message, actions) = (&chat.message, chat.actions);
    let quick: Vec<String> = find_all(message, "emoji-option")
        .iter()
        .map(|option| attr(option, "data-emoji"))
        .collect();
    assert_eq!(
        quick,
        ["👍\u{1F3FE}", "❤️", "😂", "😮", "😢", "🙏\u{1F3FE}"]
    );
    let thumbs: HtmlElement = find_all(message, "emoji-option")[0]
        .clone()
        .dyn_into()
        .expect("a button");
    thumbs.click();
    leptos::task::tick().await;
    assert_eq!(
        actions.get_untracked(),
        [MessageAction::React {
            target: THEIRS.to_owned(),
            emoji: "👍\u{1F3FE}".to_owned()
        }]
    );
}
