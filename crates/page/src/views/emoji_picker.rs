//! The emoji picker beside the composer: the emoji of one group at a time, or those a search
//! finds by name, each a button that puts it into the message being written.
//!
//! The emoji are not part of the page's download: the app fetches them the first time a
//! picker opens ([`EmojiSource`], `crate::emoji`), and the picker shows that they are loading,
//! or that they could not be loaded with a way to try again.
//!
//! Accessibility: a `dialog` named "Emoji"; the search field takes the focus when it opens;
//! the group buttons say which one is shown (`aria-pressed`); every emoji is a button named by
//! its name in the language spoken; Escape closes it (the composer's emoji button then takes
//! the focus back).

use std::sync::Arc;

use leptos::html::Input;
use leptos::prelude::*;
use merpati_words::{EmojiGroup, EmojiSet, Text, t};
use wasm_bindgen::JsCast;

/// The most emoji a search shows.
const MOST_FOUND: usize = 120;

/// Where the emoji are.
#[derive(Debug, Clone, Default)]
pub enum EmojiLoad {
    /// Nobody opened a picker yet.
    #[default]
    NotAsked,
    /// Being fetched.
    Loading,
    /// Here.
    Ready(Arc<EmojiSet>),
    /// The fetch failed (offline before the service worker kept them, say).
    Failed,
}

/// The emoji the picker offers, provided by the app (without it the composer offers no
/// picker): what has been loaded, and a call that starts loading them if they are not here
/// or failed before.
#[derive(Debug, Clone, Copy)]
pub struct EmojiSource {
    /// Where the emoji are.
    pub emoji: Signal<EmojiLoad>,
    /// Fetch them if they are not here or not on their way.
    pub load: Callback<()>,
}

/// The emoji on a group's button.
fn group_icon(group: EmojiGroup) -> &'static str {
    match group {
        EmojiGroup::Smileys => "😀",
        EmojiGroup::People => "👋",
        EmojiGroup::Animals => "🐱",
        EmojiGroup::Food => "🍜",
        EmojiGroup::Travel => "🚲",
        EmojiGroup::Activities => "⚽",
        EmojiGroup::Objects => "💡",
        EmojiGroup::Symbols => "❤️",
        EmojiGroup::Flags => "🏳️",
    }
}

/// The picker. `on_pick` gets the emoji chosen; the picker stays open for more.
#[component]
pub fn EmojiPicker(
    /// Where the emoji are.
    #[prop(into)]
    emoji: Signal<EmojiLoad>,
    /// Try loading them again.
    on_retry: Callback<()>,
    /// An emoji was chosen.
    on_pick: Callback<String>,
    /// Close the picker.
    on_close: Callback<()>,
) -> impl IntoView {
    let query = RwSignal::new(String::new());
    let group = RwSignal::new(EmojiGroup::Smileys);
    let searching = move || query.with(|query| !query.trim().is_empty());
    let search = NodeRef::<Input>::new();
    Effect::new(move || {
        if let Some(input) = search.get() {
            let _ = input.focus();
        }
    });
    // What the grid shows: (emoji, name).
    let shown = Memo::new(move |_| -> Vec<(String, String)> {
        emoji.with(|load| match load {
            EmojiLoad::Ready(set) => query.with(|query| {
                let pair = |emoji: &merpati_words::Emoji| (emoji.emoji.clone(), emoji.name.clone());
                if query.trim().is_empty() {
                    set.in_group(group.get()).map(pair).collect()
                } else {
                    set.search(query, MOST_FOUND)
                        .into_iter()
                        .map(pair)
                        .collect()
                }
            }),
            _ => Vec::new(),
        })
    });
    let status = move || match emoji.get() {
        EmojiLoad::NotAsked | EmojiLoad::Loading => view! {
            <p class="emoji-status" data-testid="emoji-picker-status" role="status">
                {t(Text::EmojiLoading)}
            </p>
        }
        .into_any(),
        EmojiLoad::Failed => view! {
            <p class="emoji-status error" data-testid="emoji-picker-status" role="alert">
                {t(Text::EmojiFailed)} " "
                <button type="button" class="link" on:click=move |_| on_retry.run(())>
                    {t(Text::Retry)}
                </button>
            </p>
        }
        .into_any(),
        EmojiLoad::Ready(_) if searching() && shown.with(Vec::is_empty) => view! {
            <p class="emoji-status" data-testid="emoji-picker-status" role="status">
                {t(Text::NoEmojiFound)}
            </p>
        }
        .into_any(),
        EmojiLoad::Ready(_) => ().into_any(),
    };
    let groups = EmojiGroup::ALL
        .into_iter()
        .map(|each| {
            view! {
                <button
                    type="button"
                    data-testid="emoji-picker-group"
                    data-group=each.code()
                    aria-label=t(each.label())
                    title=t(each.label())
                    aria-pressed=move || (!searching() && group.get() == each).to_string()
                    on:click=move |_| {
                        query.set(String::new());
                        group.set(each);
                    }
                >
                    {group_icon(each)}
                </button>
            }
        })
        .collect_view();
    view! {
        <div
            class="emoji-picker"
            data-testid="emoji-picker"
            role="dialog"
            aria-label=t(Text::EmojiPicker)
            on:keydown=move |ev| {
                if ev.key() == "Escape" {
                    ev.prevent_default();
                    ev.stop_propagation();
                    on_close.run(());
                }
            }
        >
            <input
                type="search"
                data-testid="emoji-picker-search"
                node_ref=search
                aria-label=t(Text::SearchEmoji)
                placeholder=t(Text::SearchEmoji)
                prop:value=move || query.get()
                on:input=move |ev| query.set(event_target_value(&ev))
            />
            <div class="emoji-groups">{groups}</div>
            {status}
            // One listener for every emoji (they are hundreds): the button clicked says which.
            <div
                class="emoji-grid"
                role="group"
                aria-label=move || {
                    if searching() { t(Text::SearchEmoji) } else { t(group.get().label()) }
                }
                on:click=move |ev| {
                    let chosen = ev
                        .target()
                        .and_then(|target| target.dyn_into::<web_sys::Element>().ok())
                        .and_then(|target| target.closest("[data-emoji]").ok().flatten())
                        .and_then(|button| button.get_attribute("data-emoji"));
                    if let Some(chosen) = chosen {
                        on_pick.run(chosen);
                    }
                }
            >
                {move || {
                    shown
                        .get()
                        .into_iter()
                        .map(|(glyph, name)| {
                            let shown = glyph.clone();
                            view! {
                                <button
                                    type="button"
                                    data-testid="emoji-picker-option"
                                    data-emoji=glyph
                                    aria-label=name.clone()
                                    title=name
                                >
                                    {shown}
                                </button>
                            }
                        })
                        .collect_view()
                }}
            </div>
        </div>
    }
}
