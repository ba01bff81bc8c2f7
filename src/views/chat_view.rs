//! One chat on screen.

use leptos::prelude::*;

use super::composer::Composer;
use super::message_list::{MessageList, MessageRow};

/// A chat: its title, its messages and the composer.
#[component]
pub fn ChatView(
    /// Which chat: a new key gives a fresh message list and composer (no draft or scroll
    /// position carries over), while the header stays.
    #[prop(into)]
    key: Signal<u64>,
    /// The chat's title.
    #[prop(into)]
    title: Signal<String>,
    /// Its messages, oldest first.
    #[prop(into)]
    rows: Signal<Vec<MessageRow>>,
    /// Send a message; `Err` carries words to show.
    on_send: Callback<String, Result<(), String>>,
    /// The reader reached the top: load older messages.
    on_reach_top: Callback<()>,
    /// Send a refused message again (its id).
    on_retry: Callback<String>,
    /// Back to the chat list (narrow screens).
    on_back: Callback<()>,
) -> impl IntoView {
    view! {
        <section class="chat-view">
            <header class="chat-header">
                <button
                    type="button"
                    class="back"
                    aria-label="Back to chats"
                    on:click=move |_| on_back.run(())
                >
                    "←"
                </button>
                <h2 data-testid="chat-title">{title}</h2>
            </header>
            {move || {
                key.track();
                view! {
                    <MessageList rows on_reach_top on_retry/>
                    <Composer on_send/>
                }
            }}
        </section>
    }
}
