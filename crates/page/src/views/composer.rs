//! The message box, and what it is writing: a new message, a reply (the answered message
//! quoted above the box), or an edit of an own message; with the emoji picker and the file
//! button where the app offers them.

use leptos::html::{Button, Textarea};
use leptos::prelude::*;
use merpati_words::{Text, t};

use super::attachment::{FileActions, files_of};
use super::emoji_picker::{EmojiPicker, EmojiSource};

/// What the composer writes besides a plain new message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Composing {
    /// An answer to a message.
    Reply {
        /// The answered message's id (hex).
        target: String,
        /// Who wrote it.
        sender: String,
        /// Its text.
        text: String,
    },
    /// A new text for an own message.
    Edit {
        /// The edited message's id (hex).
        target: String,
        /// What was typed before the edit took the composer: it comes back after.
        draft: String,
    },
}

/// Where a person writes. Enter sends, Shift+Enter starts a new line; an empty message is not
/// sent. `on_send` answers `Err(words)` when the message cannot be sent (e.g. too long): the
/// text stays and the words show.
#[component]
pub fn Composer(
    /// Send a message; `Err` carries words to show.
    on_send: Callback<String, Result<(), String>>,
    /// The text in the box, when the caller keeps it (to start from a draft, or put an edited
    /// message's text in).
    #[prop(optional)]
    text: Option<RwSignal<String>>,
    /// The person changed the text (each keystroke).
    #[prop(optional)]
    on_input: Option<Callback<String>>,
    /// A reply or an edit in progress, shown above the box with a cancel button.
    #[prop(into, optional)]
    composing: MaybeProp<Composing>,
    /// The person cancelled the reply or edit.
    #[prop(optional)]
    on_cancel: Option<Callback<()>>,
    /// Words from elsewhere about why an action was refused (the engine's), shown like the
    /// composer's own.
    #[prop(into, optional)]
    remote_error: MaybeProp<String>,
) -> impl IntoView {
    let text = text.unwrap_or_else(|| RwSignal::new(String::new()));
    let error = RwSignal::new(None::<String>);
    let shown_error = move || error.get().or_else(|| remote_error.get());
    let cancel = move || {
        if let Some(on_cancel) = on_cancel {
            on_cancel.run(());
        }
    };
    let banner = move || {
        match composing.get() {
        Some(Composing::Reply { sender, text, .. }) => view! {
            <div class="composer-context" data-testid="composer-reply">
                <span class="context-label">{t(Text::ReplyingTo)} " " <strong>{sender}</strong></span>
                <span class="context-text">{text}</span>
                <button
                    type="button"
                    data-testid="composer-reply-cancel"
                    aria-label=t(Text::CancelReply)
                    on:click=move |_| cancel()
                >
                    "×"
                </button>
            </div>
        }
        .into_any(),
        Some(Composing::Edit { .. }) => view! {
            <div class="composer-context" data-testid="composer-editing">
                <span class="context-label">{t(Text::EditingYourMessage)}</span>
                <button
                    type="button"
                    data-testid="composer-editing-cancel"
                    aria-label=t(Text::CancelEdit)
                    on:click=move |_| cancel()
                >
                    "×"
                </button>
            </div>
        }
        .into_any(),
        None => ().into_any(),
    }
    };
    let picker_open = RwSignal::new(false);
    let textarea = NodeRef::<Textarea>::new();
    let send = move || {
        let message = text.get_untracked();
        if message.trim().is_empty() {
            return;
        }
        match on_send.run(message.clone()) {
            Ok(()) => {
                // Unless sending put something else there (the draft an edit had set aside).
                if text.with_untracked(|now| *now == message) {
                    text.set(String::new());
                }
                error.set(None);
                picker_open.set(false);
                // After the send button, the focus goes back to the text: a phone keeps its
                // keyboard open for the next message, a keyboard user types on.
                if let Some(element) = textarea.get_untracked() {
                    let _ = element.focus();
                }
            }
            Err(words) => error.set(Some(words)),
        }
    };
    // Photos and files, where the app offers them: a button that opens the browser's file
    // picker (the input itself is hidden but stays in the page, as pickers need).
    let attach = use_context::<FileActions>().map(|actions| {
        let input = NodeRef::<leptos::html::Input>::new();
        view! {
            <input
                type="file"
                multiple
                class="visually-hidden"
                tabindex="-1"
                data-testid="attach-input"
                aria-label=t(Text::AttachFile)
                node_ref=input
                on:change=move |ev| {
                    let target = event_target::<web_sys::HtmlInputElement>(&ev);
                    actions.send.run(files_of(target.files()));
                    target.set_value("");
                }
            />
            <button
                type="button"
                class="attach"
                data-testid="attach-button"
                aria-label=t(Text::AttachFile)
                title=t(Text::AttachFile)
                on:click=move |_| {
                    if let Some(input) = input.get_untracked() {
                        input.click();
                    }
                }
            >
                "📎"
            </button>
        }
    });
    // Emoji, where the app offers them: a button that opens the picker, which puts each emoji
    // chosen where the caret is (in place of a selection) and leaves the caret after it.
    let emoji_button = NodeRef::<Button>::new();
    let (picker, emoji_toggle) = use_context::<EmojiSource>()
        .map(|source| {
            let insert = move |glyph: String| {
                let element = textarea.get_untracked();
                let selection = element.as_ref().map(|element| {
                    (
                        element.selection_start().ok().flatten(),
                        element.selection_end().ok().flatten(),
                    )
                });
                let (start, end) = selection.unwrap_or((None, None));
                let (next, caret) = splice_utf16(&text.get_untracked(), start, end, &glyph);
                if let Some(element) = element {
                    element.set_value(&next);
                    let _ = element.set_selection_range(caret, caret);
                }
                text.set(next.clone());
                if let Some(on_input) = on_input {
                    on_input.run(next);
                }
            };
            let close = move || {
                picker_open.set(false);
                if let Some(button) = emoji_button.get_untracked() {
                    let _ = button.focus();
                }
            };
            let picker = view! {
                <Show when=move || picker_open.get()>
                    <EmojiPicker
                        source
                        on_pick=Callback::new(insert)
                        on_close=Callback::new(move |()| close())
                    />
                </Show>
            };
            let toggle = view! {
                <button
                    type="button"
                    class="emoji-button"
                    data-testid="emoji-picker-button"
                    node_ref=emoji_button
                    aria-label=t(Text::EmojiPicker)
                    title=t(Text::EmojiPicker)
                    aria-haspopup="dialog"
                    aria-expanded=move || picker_open.get().to_string()
                    on:click=move |_| {
                        let opening = !picker_open.get_untracked();
                        if opening {
                            source.load.run(());
                        }
                        picker_open.set(opening);
                    }
                >
                    "😊"
                </button>
            };
            (Some(picker), Some(toggle))
        })
        .unwrap_or((None, None));
    view! {
        <form
            class="composer"
            on:submit=move |ev| {
                ev.prevent_default();
                send();
            }
        >
            {banner}
            {picker}
            {emoji_toggle}
            // The box grows with its text in every browser (CSS `field-sizing` is not in all
            // of them): the wrapper's hidden copy of the text sizes the grid cell both share.
            <div class="grow" data-text=move || text.get()>
            <textarea
                data-testid="composer-input"
                node_ref=textarea
                dir="auto"
                rows="1"
                placeholder=t(Text::WriteAMessage)
                aria-label=t(Text::Message)
                prop:value=move || text.get()
                on:input=move |ev| {
                    let value = event_target_value(&ev);
                    text.set(value.clone());
                    // Why the last text was refused is not said of another.
                    error.set(None);
                    if let Some(on_input) = on_input {
                        on_input.run(value);
                    }
                }
                on:keydown=move |ev| {
                    if ev.key() == "Escape" && composing.with(Option::is_some) {
                        ev.prevent_default();
                        cancel();
                    } else if ev.key() == "Enter" && !ev.shift_key() && !ev.is_composing() {
                        ev.prevent_default();
                        send();
                    }
                }
            ></textarea>
            </div>
            {attach}
            <button data-testid="composer-send" type="submit" class="primary" aria-label=t(Text::Send)>
                {t(Text::Send)}
            </button>
            {move || {
                shown_error()
                    .map(|error| {
                        view! {
                            <p data-testid="composer-error" class="error" role="alert">
                                {error}
                            </p>
                        }
                    })
            }}
        </form>
    }
}

/// `text` with `insert` in place of the characters from `start` to `end` (a text field's
/// selection, counted in UTF-16 units as browsers count them), and where the caret goes after
/// it, in the same units. A missing or out-of-range end is the text's end.
pub fn splice_utf16(
    text: &str,
    start: Option<u32>,
    end: Option<u32>,
    insert: &str,
) -> (String, u32) {
    // The byte index of the first character at or after `units` UTF-16 units in.
    let byte_at = |units: Option<u32>| -> usize {
        let Some(units) = units else {
            return text.len();
        };
        let mut counted = 0u32;
        for (index, character) in text.char_indices() {
            if counted >= units {
                return index;
            }
            counted += character.len_utf16() as u32;
        }
        text.len()
    };
    let from = byte_at(start);
    let to = byte_at(end).max(from);
    let mut next = String::with_capacity(text.len() + insert.len());
    next.push_str(&text[..from]);
    next.push_str(insert);
    let caret = next.encode_utf16().count() as u32;
    next.push_str(&text[to..]);
    (next, caret)
}
