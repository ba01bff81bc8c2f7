//! The emoji picker beside the composer: the emoji chosen lately, the emoji of one group at a
//! time, or those a search finds by name, each a button that puts it into the message being
//! written. People and hands show in the skin tone chosen beside the search field (one choice,
//! kept for the browser); the default is Unicode's yellow.
//!
//! The emoji are not part of the page's download: the app fetches them the first time a
//! picker opens ([`EmojiSource`], `crate::emoji`), and the picker shows that they are loading,
//! or that they could not be loaded with a way to try again.
//!
//! Accessibility: a `dialog` named "Emoji"; the search field takes the focus when it opens;
//! the group buttons and the tones say which one is chosen (`aria-pressed`), the tone button
//! whether the tones are out (`aria-expanded`); every emoji is a button named by
//! its name in the language spoken. The emoji are one stop for Tab (hundreds of stops would
//! make the picker a trap): the arrow keys move between them, row by row as they are drawn,
//! Home and End to the first and the last, and ArrowDown from the search field into them.
//! Escape puts the tones away if they are out (their button takes the focus back), else closes
//! the picker (what opened it then takes the focus back), and so does a press outside what
//! holds it (the composer, for the composer's picker).

use std::sync::Arc;

use leptos::html::{Div, Input};
use leptos::prelude::*;
use merpati_words::{EmojiGroup, EmojiSet, SkinTone, Text, t};
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
/// picker): what has been loaded, a call that starts loading them if they are not here or
/// failed before, and the ones this browser chose lately.
#[derive(Debug, Clone, Copy)]
pub struct EmojiSource {
    /// Where the emoji are.
    pub emoji: Signal<EmojiLoad>,
    /// Fetch them if they are not here or not on their way.
    pub load: Callback<()>,
    /// The emoji chosen lately, most recent first (kept sealed by the engine).
    pub recent: Signal<Vec<String>>,
    /// An emoji was chosen: it goes first among the recent ones.
    pub used: Callback<String>,
    /// The skin tone people and hands show in (kept sealed by the engine).
    pub tone: Signal<SkinTone>,
    /// A skin tone was chosen.
    pub set_tone: Callback<SkinTone>,
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

/// The picker. It opens on the emoji chosen lately, if there are any; `on_pick` gets the
/// emoji chosen, and the picker stays open for more.
#[component]
pub fn EmojiPicker(
    /// The emoji, and those chosen lately.
    source: EmojiSource,
    /// An emoji was chosen.
    on_pick: Callback<String>,
    /// Close the picker.
    on_close: Callback<()>,
) -> impl IntoView {
    let EmojiSource {
        emoji,
        load: on_retry,
        recent,
        used,
        tone,
        set_tone,
    } = source;
    let query = RwSignal::new(String::new());
    // The group shown; `None` for the emoji chosen lately.
    let group = RwSignal::new(if recent.with_untracked(Vec::is_empty) {
        Some(EmojiGroup::Smileys)
    } else {
        None
    });
    let searching = move || query.with(|query| !query.trim().is_empty());
    let search = NodeRef::<Input>::new();
    let grid = NodeRef::<Div>::new();
    let picker = NodeRef::<Div>::new();
    // A press outside what holds the picker closes it; inside (the composer's text, say) not.
    let outside = window_event_listener(leptos::ev::pointerdown, move |ev| {
        let holder = picker
            .get_untracked()
            .and_then(|picker| picker.parent_element());
        let inside = holder.is_some_and(|holder| {
            ev.target()
                .and_then(|target| target.dyn_into::<web_sys::Node>().ok())
                .is_some_and(|node| holder.contains(Some(&node)))
        });
        if !inside {
            on_close.run(());
        }
    });
    on_cleanup(move || outside.remove());
    Effect::new(move || {
        if let Some(input) = search.get() {
            let _ = input.focus();
        }
    });
    // What the grid shows: (emoji, name).
    let shown = Memo::new(move |_| -> Vec<(String, String)> {
        emoji.with(|load| {
            let EmojiLoad::Ready(set) = load else {
                return Vec::new();
            };
            let tone = tone.get();
            let pair = |emoji: &merpati_words::Emoji| {
                (emoji.in_tone(tone).into_owned(), emoji.name.clone())
            };
            query.with(|query| {
                if !query.trim().is_empty() {
                    set.search(query, MOST_FOUND)
                        .into_iter()
                        .map(pair)
                        .collect()
                } else if let Some(group) = group.get() {
                    set.in_group(group).map(pair).collect()
                } else {
                    // As they were chosen, in the tone they had, named as the file names them
                    // (every language's file has the same emoji).
                    recent.with(|recent| {
                        recent
                            .iter()
                            .map(|glyph| {
                                let name = set.find(glyph).map(|emoji| emoji.name.clone());
                                (glyph.clone(), name.unwrap_or_else(|| glyph.clone()))
                            })
                            .collect()
                    })
                }
            })
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
    // A group's button; `None` is the emoji chosen lately.
    let group_button = move |each: Option<EmojiGroup>| {
        let (code, label, icon) = match each {
            Some(each) => (each.code(), t(each.label()), group_icon(each)),
            None => ("recent", t(Text::EmojiRecent), "🕘"),
        };
        view! {
            <button
                type="button"
                data-testid="emoji-picker-group"
                data-group=code
                aria-label=label.clone()
                title=label
                aria-pressed=move || (!searching() && group.get() == each).to_string()
                on:click=move |_| {
                    query.set(String::new());
                    group.set(each);
                }
            >
                {icon}
            </button>
        }
    };
    // The emoji chosen lately have a button once there are any.
    let recent_group = move || {
        recent
            .with(|recent| !recent.is_empty())
            .then(|| group_button(None))
    };
    let groups = EmojiGroup::ALL
        .into_iter()
        .map(|each| group_button(Some(each)))
        .collect_view();
    // The tones, shown once the tone button is pressed; choosing one puts them away.
    let tones_out = RwSignal::new(false);
    let tone_button = NodeRef::<leptos::html::Button>::new();
    let put_tones_away = move || {
        tones_out.set(false);
        if let Some(button) = tone_button.get_untracked() {
            let _ = button.focus();
        }
    };
    let tones = move || {
        tones_out.get().then(|| {
            let each = SkinTone::ALL.map(|each| {
                let label = t(each.label());
                view! {
                    <button
                        type="button"
                        data-testid="emoji-picker-tone-option"
                        data-tone=each.code()
                        aria-label=label.clone()
                        title=label
                        aria-pressed=move || (tone.get() == each).to_string()
                        on:click=move |_| {
                            set_tone.run(each);
                            put_tones_away();
                        }
                    >
                        {each.sample()}
                    </button>
                }
            });
            view! {
                <div class="emoji-tones" role="group" aria-label=t(Text::SkinTone)>
                    {each.into_iter().collect_view()}
                </div>
            }
        })
    };
    view! {
        <div
            class="emoji-picker"
            data-testid="emoji-picker"
            node_ref=picker
            role="dialog"
            aria-label=t(Text::EmojiPicker)
            on:keydown=move |ev| {
                if ev.key() == "Escape" {
                    ev.prevent_default();
                    ev.stop_propagation();
                    // The innermost first: the tones, if they are out, then the picker.
                    if tones_out.get_untracked() {
                        put_tones_away();
                    } else {
                        on_close.run(());
                    }
                }
            }
        >
            <div class="emoji-search">
                <input
                    type="search"
                    data-testid="emoji-picker-search"
                    node_ref=search
                    aria-label=t(Text::SearchEmoji)
                    placeholder=t(Text::SearchEmoji)
                    prop:value=move || query.get()
                    on:input=move |ev| query.set(event_target_value(&ev))
                    on:keydown=move |ev| {
                        if ev.key() == "ArrowDown"
                            && let Some(grid) = grid.get_untracked()
                        {
                            ev.prevent_default();
                            move_focus(&grid, |_, _| Some(0));
                        }
                    }
                />
                <button
                    type="button"
                    class="emoji-tone"
                    data-testid="emoji-picker-tone"
                    node_ref=tone_button
                    aria-label=t(Text::SkinTone)
                    title=t(Text::SkinTone)
                    aria-expanded=move || tones_out.get().to_string()
                    on:click=move |_| tones_out.update(|out| *out = !*out)
                >
                    {move || tone.get().sample()}
                </button>
            </div>
            {tones}
            <div class="emoji-groups">{recent_group} {groups}</div>
            {status}
            // One listener for every emoji (they are hundreds): the button clicked says which.
            <div
                class="emoji-grid"
                role="group"
                aria-label=move || {
                    match (searching(), group.get()) {
                        (true, _) => t(Text::SearchEmoji),
                        (false, Some(group)) => t(group.label()),
                        (false, None) => t(Text::EmojiRecent),
                    }
                }
                node_ref=grid
                on:keydown=move |ev| {
                    let Some(grid) = grid.get_untracked() else {
                        return;
                    };
                    let step: fn(usize, usize, usize) -> Option<usize> = match ev.key().as_str() {
                        "ArrowRight" => |at, _, count| (at + 1 < count).then_some(at + 1),
                        "ArrowLeft" => |at, _, _| at.checked_sub(1),
                        "ArrowDown" => |at, columns, count| (at + columns < count).then_some(at + columns),
                        "ArrowUp" => |at, columns, _| at.checked_sub(columns),
                        "Home" => |_, _, _| Some(0),
                        "End" => |_, _, count| count.checked_sub(1),
                        _ => return,
                    };
                    ev.prevent_default();
                    move_focus(&grid, |at, count| step(at, columns(&grid), count));
                }
                on:click=move |ev| {
                    let chosen = ev
                        .target()
                        .and_then(|target| target.dyn_into::<web_sys::Element>().ok())
                        .and_then(|target| target.closest("[data-emoji]").ok().flatten())
                        .and_then(|button| button.get_attribute("data-emoji"));
                    if let Some(chosen) = chosen {
                        used.run(chosen.clone());
                        on_pick.run(chosen);
                    }
                }
            >
                {move || {
                    shown
                        .get()
                        .into_iter()
                        .enumerate()
                        .map(|(at, (glyph, name))| {
                            let shown = glyph.clone();
                            view! {
                                <button
                                    type="button"
                                    data-testid="emoji-picker-option"
                                    tabindex=if at == 0 { "0" } else { "-1" }
                                    data-emoji=glyph
                                    aria-label=name.clone()
                                    title=name
                                >
                                    {shown}
                                </button>
                            }
                            .into_any()
                        })
                        .collect_view()
                }}
            </div>
        </div>
    }
}

/// The emoji buttons in `grid`, in order.
fn options(grid: &web_sys::HtmlElement) -> Vec<web_sys::HtmlElement> {
    let Ok(list) = grid.query_selector_all("button") else {
        return Vec::new();
    };
    (0..list.length())
        .filter_map(|index| list.item(index)?.dyn_into::<web_sys::HtmlElement>().ok())
        .collect()
}

/// How many emoji a row of `grid` holds as drawn: those level with the first.
fn columns(grid: &web_sys::HtmlElement) -> usize {
    let options = options(grid);
    let top = options.first().map(|first| first.offset_top());
    options
        .iter()
        .take_while(|option| Some(option.offset_top()) == top)
        .count()
        .max(1)
}

/// Moves the focus among `grid`'s emoji to where `to(focused, count)` says (`focused` is 0 when
/// none has it), and makes that one the grid's stop for Tab.
fn move_focus(grid: &web_sys::HtmlElement, to: impl Fn(usize, usize) -> Option<usize>) {
    let options = options(grid);
    let active = web_sys::window()
        .and_then(|window| window.document())
        .and_then(|document| document.active_element());
    let at = options
        .iter()
        .position(|option| Some(option.unchecked_ref::<web_sys::Element>()) == active.as_ref())
        .unwrap_or(0);
    let Some(next) = to(at, options.len()).and_then(|next| options.get(next)) else {
        return;
    };
    for option in &options {
        // Setting an attribute on a button cannot fail.
        let _ = option.set_attribute("tabindex", "-1");
    }
    let _ = next.set_attribute("tabindex", "0");
    // Focusing a button cannot fail in a way the person could act on.
    let _ = next.focus();
}
