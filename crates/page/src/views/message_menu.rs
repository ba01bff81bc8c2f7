//! The message menu: what a person can do to one message (reply, edit, copy its text, delete
//! for everyone or only for themselves, react, forward), and the two small choices some items open (an
//! emoji, another chat). The quick reactions that are hands (👍, 🙏) come in the skin tone
//! chosen in the emoji picker.
//!
//! The menu only offers; it decides nothing about what is allowed beyond what the row says
//! (own or not, open text or not). The engine checks every action again and answers with
//! words when it refuses, which the composer shows.
//!
//! Accessibility: `role="menu"` with `role="menuitem"` buttons; focus moves to the first item
//! when the menu (or one of its choices) opens, the arrow keys move between items, and Escape
//! or a press outside closes it — the message that opened it then takes the focus back.

use leptos::html::Div;
use leptos::prelude::*;
use merpati_bridge::{ChatRow, MessageRow};
use merpati_protocol::ChatId;
use merpati_words::{SkinTone, Text, t, tf};
use wasm_bindgen::JsCast;
use web_sys::{Element, HtmlElement};

use super::emoji_picker::EmojiSource;

/// The emoji the reaction choice offers.
pub const REACTION_EMOJI: [&str; 6] = ["👍", "❤️", "😂", "😮", "😢", "🙏"];

/// The quick reactions that are hands, offered in the picker's skin tone: each takes it as a
/// modifier right after it.
const TONED_REACTIONS: [&str; 2] = ["👍", "🙏"];

/// `emoji` as the quick reactions offer it in `tone`.
fn quick_reaction(emoji: &str, tone: SkinTone) -> String {
    match tone.modifier() {
        Some(modifier) if TONED_REACTIONS.contains(&emoji) => format!("{emoji}{modifier}"),
        _ => emoji.to_owned(),
    }
}

/// What the person chose in a message's menu (message ids in hex, as `data-msg-id`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MenuChoice {
    /// Answer this message: the composer quotes it.
    Reply(MessageRow),
    /// Change this (own) message's text: it goes into the composer.
    Edit(MessageRow),
    /// Put this text on the clipboard.
    Copy(String),
    /// Delete this (own) message for everyone.
    DeleteForEveryone(String),
    /// Delete this message on this account's devices only.
    DeleteForMe(String),
    /// Choose a reaction to this message (id in hex) from all the emoji, in the picker.
    MoreReactions(String),
    /// React with an emoji (the one already chosen takes it back).
    React {
        /// The message.
        target: String,
        /// The emoji.
        emoji: String,
    },
    /// Send this message's text to another chat.
    Forward {
        /// The message.
        target: String,
        /// The chat it goes to.
        to: ChatId,
    },
}

/// How an item of the menu's first panel looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Look {
    Plain,
    /// It opens a choice of its own (an emoji, a chat).
    Opens,
    /// It deletes.
    Danger,
}

/// Which part of the menu shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Panel {
    Items,
    Emoji,
    Forward,
}

/// The menu of one message. It closes itself after a choice (`on_close`).
#[component]
pub fn MessageMenu(
    /// The message, as it shows now.
    row: MessageRow,
    /// The chats a message can be forwarded to (the one on screen left out).
    #[prop(into)]
    forward_targets: Signal<Vec<ChatRow>>,
    /// The person chose something.
    on_choose: Callback<MenuChoice>,
    /// Close the menu (after a choice, Escape, or a press outside).
    on_close: Callback<()>,
) -> impl IntoView {
    let menu = NodeRef::<Div>::new();
    let panel = RwSignal::new(Panel::Items);
    // Whenever a panel is on screen, its first item takes the focus.
    Effect::new(move |_| {
        panel.track();
        if let Some(menu) = menu.get() {
            focus_item(&menu, 0);
        }
    });
    // A press anywhere outside the menu closes it.
    let outside = window_event_listener(leptos::ev::pointerdown, move |ev| {
        let inside = menu.get_untracked().is_some_and(|menu| {
            ev.target()
                .and_then(|target| target.dyn_into::<web_sys::Node>().ok())
                .is_some_and(|node| menu.contains(Some(&node)))
        });
        if !inside {
            on_close.run(());
        }
    });
    on_cleanup(move || outside.remove());

    let choose = move |choice: MenuChoice| {
        on_choose.run(choice);
        on_close.run(());
    };
    let on_keydown = move |ev: web_sys::KeyboardEvent| {
        let Some(menu) = menu.get_untracked() else {
            return;
        };
        match ev.key().as_str() {
            "Escape" => {
                ev.prevent_default();
                ev.stop_propagation();
                on_close.run(());
            }
            "ArrowDown" | "ArrowUp" => {
                ev.prevent_default();
                let items = menu_items(&menu);
                let active = web_sys::window()
                    .and_then(|window| window.document())
                    .and_then(|document| document.active_element());
                let current = items
                    .iter()
                    .position(|item| Some(item.unchecked_ref::<Element>()) == active.as_ref());
                let count = items.len().max(1);
                let next = match (current, ev.key().as_str()) {
                    (Some(at), "ArrowDown") => (at + 1) % count,
                    (Some(at), _) => (at + count - 1) % count,
                    (None, _) => 0,
                };
                focus_item(&menu, next);
            }
            _ => {}
        }
    };

    let id = row.id.clone();
    let live = row.has_live_text();
    // A photo or file is answered and reacted to, not edited, copied or forwarded as text.
    let text_of_its_own = row.attachment.is_none();
    let own = row.own;
    let items = {
        let row = row.clone();
        move || {
            // What a row offers is fixed when its menu opens: plain options, no reactive
            // switches. One view for every item, the choice erased to a callback: each item
            // of its own would cost the page's module its own rendering code.
            let choice = |make: fn(&MessageRow) -> MenuChoice| {
                let row = row.clone();
                Callback::new(move |()| choose(make(&row)))
            };
            let opens = |next: Panel| Callback::new(move |()| panel.set(next));
            let text_shown = live && text_of_its_own;
            [
                (
                    live,
                    "message-reply",
                    Text::Reply,
                    Look::Plain,
                    choice(|row| MenuChoice::Reply(row.clone())),
                ),
                (
                    text_shown && own,
                    "message-edit",
                    Text::Edit,
                    Look::Plain,
                    choice(|row| MenuChoice::Edit(row.clone())),
                ),
                (
                    text_shown,
                    "message-copy",
                    Text::Copy,
                    Look::Plain,
                    choice(|row| MenuChoice::Copy(row.text.clone())),
                ),
                (
                    live,
                    "message-react",
                    Text::React,
                    Look::Opens,
                    opens(Panel::Emoji),
                ),
                (
                    text_shown,
                    "message-forward",
                    Text::Forward,
                    Look::Opens,
                    opens(Panel::Forward),
                ),
                (
                    own && !row.deleted,
                    "message-delete",
                    Text::DeleteForEveryone,
                    Look::Danger,
                    choice(|row| MenuChoice::DeleteForEveryone(row.id.clone())),
                ),
                (
                    true,
                    "message-delete-mine",
                    Text::DeleteForMe,
                    Look::Danger,
                    choice(|row| MenuChoice::DeleteForMe(row.id.clone())),
                ),
            ]
            .into_iter()
            .filter(|(offered, ..)| *offered)
            .map(|(_, testid, label, look, on_click)| {
                view! {
                    <button
                        type="button"
                        role="menuitem"
                        class:danger=look == Look::Danger
                        data-testid=testid
                        aria-haspopup=(look == Look::Opens).then_some("menu")
                        on:click=move |_| on_click.run(())
                    >
                        {t(label)}
                    </button>
                }
            })
            .collect_view()
        }
    };
    // Every emoji after the quick ones, where the app offers the picker: the menu closes and
    // the picker opens.
    let source = use_context::<EmojiSource>();
    let more_emoji = source.is_some();
    let tone = source.map_or_else(|| Signal::stored(SkinTone::Default), |source| source.tone);
    let emoji = {
        let id = id.clone();
        move || {
            let tone = tone.get();
            let quick = REACTION_EMOJI
                .iter()
                .map(|emoji| {
                    let id = id.clone();
                    let emoji = quick_reaction(emoji, tone);
                    let (chosen, shown) = (emoji.clone(), emoji.clone());
                    let label = tf(Text::ReactWith, &[("emoji", &emoji)]);
                    view! {
                        <button
                            type="button"
                            role="menuitem"
                            class="emoji-option"
                            data-testid="emoji-option"
                            data-emoji=emoji
                            aria-label=label
                            on:click=move |_| {
                                choose(MenuChoice::React {
                                    target: id.clone(),
                                    emoji: chosen.clone(),
                                })
                            }
                        >
                            {shown}
                        </button>
                    }
                    .into_any()
                })
                .collect_view();
            let id = id.clone();
            let more = more_emoji.then(|| {
                view! {
                    <button
                        type="button"
                        role="menuitem"
                        class="emoji-option"
                        data-testid="message-react-more"
                        aria-label=t(Text::MoreEmoji)
                        title=t(Text::MoreEmoji)
                        on:click=move |_| choose(MenuChoice::MoreReactions(id.clone()))
                    >
                        "+"
                    </button>
                }
            });
            view! { {quick} {more} }
        }
    };
    let targets = move || {
        let id = id.clone();
        let chats = forward_targets.get();
        if chats.is_empty() {
            return view! { <p class="menu-empty">{t(Text::NoChatsToForwardTo)}</p> }.into_any();
        }
        chats
            .into_iter()
            .map(|chat| {
                let id = id.clone();
                let to = chat.id;
                view! {
                    <button
                        type="button"
                        role="menuitem"
                        data-testid="forward-target"
                        data-chat-id=to.0.to_string()
                        on:click=move |_| choose(MenuChoice::Forward { target: id.clone(), to })
                    >
                        {chat.title}
                    </button>
                }
                .into_any()
            })
            .collect_view()
            .into_any()
    };
    view! {
        <div
            class="message-menu"
            data-testid="message-actions"
            role="menu"
            aria-label=t(Text::MessageActions)
            node_ref=menu
            on:keydown=on_keydown
            on:contextmenu=|ev| ev.prevent_default()
        >
            {move || match panel.get() {
                Panel::Items => items().into_any(),
                Panel::Emoji => emoji().into_any(),
                Panel::Forward => targets().into_any(),
            }}
        </div>
    }
}

/// The menu's items, in order.
fn menu_items(menu: &HtmlElement) -> Vec<HtmlElement> {
    let Ok(list) = menu.query_selector_all("[role=menuitem]") else {
        return Vec::new();
    };
    (0..list.length())
        .filter_map(|index| list.item(index)?.dyn_into::<HtmlElement>().ok())
        .collect()
}

/// Moves the focus to the item at `index`, if there is one.
fn focus_item(menu: &HtmlElement, index: usize) {
    if let Some(item) = menu_items(menu).get(index) {
        // Focusing a button cannot fail in a way the person could act on.
        let _ = item.focus();
    }
}
