//! Local search: the box above the chat list, and the messages it found in place of the
//! list while there is a query.

use leptos::prelude::*;
use merpati_bridge::SearchRow;
use merpati_words::{Text, t};

/// The search box (`search-input`). Escape empties it.
#[component]
pub fn SearchBox(
    /// The query.
    #[prop(into)]
    query: Signal<String>,
    /// The person typed: the new query.
    on_input: Callback<String>,
) -> impl IntoView {
    view! {
        <div class="search-box" role="search">
            <input
                data-testid="search-input"
                type="search"
                placeholder=t(Text::SearchMessages)
                aria-label=t(Text::SearchMessages)
                autocomplete="off"
                spellcheck="false"
                prop:value=move || query.get()
                on:input=move |ev| on_input.run(event_target_value(&ev))
                on:keydown=move |ev: web_sys::KeyboardEvent| {
                    if ev.key() == "Escape" {
                        on_input.run(String::new());
                    }
                }
            />
        </div>
    }
}

/// The messages found (`search-result` each): chat, sender, time and the text with the
/// matching words marked. Choosing one opens its chat at it.
#[component]
pub fn SearchResults(
    /// The results, newest first.
    #[prop(into)]
    results: Signal<Vec<SearchRow>>,
    /// A result was chosen.
    on_open: Callback<SearchRow>,
) -> impl IntoView {
    view! {
        <ul class="search-results" aria-label=t(Text::MessagesFound)>
            // Redrawn whole with each search: a result found again by a longer query marks
            // other words (a keyed list would keep its old marks), and there are few.
            {move || {
                results
                    .get()
                    .into_iter()
                    .map(|row| {
                        let chosen = row.clone();
                        view! {
                            <li>
                                <button
                                    type="button"
                                    class="search-result"
                                    data-testid="search-result"
                                    data-chat-id=row.chat.0.to_string()
                                    data-msg-id=row.id.to_hex()
                                    on:click=move |_| on_open.run(chosen.clone())
                                >
                                    <span class="search-result-head">
                                        <span class="chat-title">{row.chat_title}</span>
                                        <time>{row.time}</time>
                                    </span>
                                    <span class="search-result-text">
                                        <span class="sender">{row.sender} ": "</span>
                                        {row
                                            .pieces
                                            .into_iter()
                                            .map(|(piece, matched)| {
                                                if matched {
                                                    view! { <mark>{piece}</mark> }.into_any()
                                                } else {
                                                    piece.into_any()
                                                }
                                            })
                                            .collect_view()}
                                    </span>
                                </button>
                            </li>
                        }
                    })
                    .collect_view()
            }}
        </ul>
        {move || {
            results
                .with(Vec::is_empty)
                .then(|| view! { <p class="empty-hint">{t(Text::NoMessagesFound)}</p> })
        }}
    }
}
