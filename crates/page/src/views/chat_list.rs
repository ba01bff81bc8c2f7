//! The chat list.

use leptos::prelude::*;
use merpati_bridge::ChatRow;
use merpati_protocol::ChatId;
use merpati_words::{Count, Text, t, tn};

use super::signals::typing_words;

/// The chats, in the order given (latest activity first). Each row shows the title, the last
/// message (or who is typing there, or "Draft: …" while the person has unsent text there)
/// and, when there is any, the unread count.
#[component]
pub fn ChatList(
    /// The chats to show.
    #[prop(into)]
    chats: Signal<Vec<ChatRow>>,
    /// The chat on screen, highlighted.
    #[prop(into)]
    selected: Signal<Option<ChatId>>,
    /// Open a chat.
    on_select: Callback<ChatId>,
) -> impl IntoView {
    // Rows stay the same DOM elements while their chat exists; what changes (title, last
    // message, unread count) updates in place, and new activity only moves the row.
    view! {
        <ul class="chat-list" aria-label=t(Text::Chats)>
            <For
                each=move || chats.get()
                key=|chat| chat.id
                children=move |chat| {
                    let id = chat.id;
                    let summary = Memo::new(move |_| {
                        chats
                            .with(|chats| chats.iter().find(|row| row.id == id).cloned())
                            .unwrap_or_else(|| chat.clone())
                    });
                    let title = move || summary.with(|chat| chat.title.clone());
                    let unread = move || summary.with(|chat| chat.unread);
                    view! {
                        <li>
                            <button
                                type="button"
                                class="chat-list-item"
                                class:selected=move || selected.get() == Some(id)
                                data-testid="chat-list-item"
                                data-chat-id=id.0.to_string()
                                data-title=title
                                on:click=move |_| on_select.run(id)
                            >
                                <span class="avatar" aria-hidden="true">
                                    {move || initial(&title())}
                                </span>
                                <span class="chat-text">
                                    <span class="chat-title" dir="auto">{title}</span>
                                    {move || {
                                        if let Some(words) = summary.with(|chat| typing_words(&chat.typing)) {
                                            return view! {
                                                <span data-testid="typing-indicator" class="last-text typing">
                                                    {words}
                                                </span>
                                            }
                                            .into_any();
                                        }
                                        match summary.with(|chat| chat.draft.clone()) {
                                            Some(draft) => view! {
                                                <span class="last-text draft" data-testid="chat-draft">
                                                    <em>{t(Text::Draft)}</em>
                                                    " "
                                                    {draft}
                                                </span>
                                            }
                                            .into_any(),
                                            None => view! {
                                                <span class="last-text" dir="auto">
                                                    {summary.with(|chat| chat.last_text.clone()).unwrap_or_default()}
                                                </span>
                                            }
                                            .into_any(),
                                        }
                                    }}
                                </span>
                                <span class="chat-time" data-testid="chat-time">
                                    {move || summary.with(|chat| chat.last_time.clone())}
                                </span>
                                {move || {
                                    summary
                                        .with(|chat| chat.muted)
                                        .then(|| {
                                            view! {
                                                <span
                                                    data-testid="chat-muted"
                                                    class="chat-muted"
                                                    role="img"
                                                    aria-label=t(Text::Muted)
                                                    title=t(Text::Muted)
                                                >
                                                    "🔕"
                                                </span>
                                            }
                                            .into_any()
                                        })
                                }}
                                {move || {
                                    (unread() > 0)
                                        .then(|| {
                                            view! {
                                                <span
                                                    data-testid="unread-badge"
                                                    class="unread-badge"
                                                    aria-label=move || {
                                                        tn(Count::Unread, unread() as u64, &[])
                                                    }
                                                >
                                                    {unread}
                                                </span>
                                            }
                                        })
                                }}
                            </button>
                        </li>
                    }
                }
            />
        </ul>
        {move || {
            chats
                .with(Vec::is_empty)
                .then(|| view! { <p class="empty-hint">{t(Text::NoChatsYet)}</p> })
        }}
    }
}

/// The chat's first letter; `.avatar` shows it in capitals (`text-transform`), so the
/// browser's Unicode case mapping does it and the page carries no case tables of its own.
fn initial(title: &str) -> String {
    title
        .chars()
        .next()
        .map(String::from)
        .unwrap_or_else(|| "?".into())
}
