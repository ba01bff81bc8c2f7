//! The message menu: what a person can do to one message (reply, edit, delete for everyone or
//! only for themselves, react, forward), and the two small choices some items open (an
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
    // A photo or file is answered and reacted to, not edited or forwarded as text.
    let text_of_its_own = row.attachment.is_none();
    let own = row.own;
    let items = {
        let row = row.clone();
        let id = id.clone();
        move || {
            let (reply_row, edit_row) = (row.clone(), row.clone());
            let (delete_id, mine_id) = (id.clone(), id.clone());
            // What a row offers is fixed when its menu opens: plain options, no reactive
            // switches (each `Show` costs the page's module code of its own).
            let deleted = row.deleted;
            view! {
                {live.then(|| view! {
                    <button
                        type="button"
                        role="menuitem"
                        data-testid="message-reply"
                        on:click={
                            let row = reply_row.clone();
                            move |_| choose(MenuChoice::Reply(row.clone()))
                        }
                    >
                        {t(Text::Reply)}
                    </button>
                })}
                {(live && own && text_of_its_own).then(|| view! {
                    <button
                        type="button"
                        role="menuitem"
                        data-testid="message-edit"
                        on:click={
                            let row = edit_row.clone();
                            move |_| choose(MenuChoice::Edit(row.clone()))
                        }
                    >
                        {t(Text::Edit)}
                    </button>
                })}
                {live.then(|| view! {
                    <button
                        type="button"
                        role="menuitem"
                        data-testid="message-react"
                        aria-haspopup="menu"
                        on:click=move |_| panel.set(Panel::Emoji)
                    >
                        {t(Text::React)}
                    </button>
                })}
                {(live && text_of_its_own).then(|| view! {
                    <button
                        type="button"
                        role="menuitem"
                        data-testid="message-forward"
                        aria-haspopup="menu"
                        on:click=move |_| panel.set(Panel::Forward)
                    >
                        {t(Text::Forward)}
                    </button>
                })}
                {(own && !deleted).then(|| view! {
                    <button
                        type="button"
                        role="menuitem"
                        class="danger"
                        data-testid="message-delete"
                        on:click={
                            let id = delete_id.clone();
                            move |_| choose(MenuChoice::DeleteForEveryone(id.clone()))
                        }
                    >
                        {t(Text::DeleteForEveryone)}
                    </button>
                })}
                <button
                    type="button"
                    role="menuitem"
                    class="danger"
                    data-testid="message-delete-mine"
                    on:click=move |_| choose(MenuChoice::DeleteForMe(mine_id.clone()))
                >
                    {t(Text::DeleteForMe)}
                </button>
            }
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
