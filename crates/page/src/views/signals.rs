//! The live signals of a conversation, in words: who is typing, whether the other person is
//! online, and the unread total in the tab's title.

use leptos::prelude::*;
use merpati_bridge::ChatRow;
use merpati_protocol::Presence;
use merpati_words::{Text, dates, t, tf};

/// The app's name: the tab's title when nothing is unread.
pub const APP_TITLE: &str = "Merpati";

/// "bob is typing…", "bob and carol are typing…", "bob, carol and dina are typing…";
/// `None` while nobody types.
pub fn typing_words(names: &[String]) -> Option<String> {
    let (last, rest) = names.split_last()?;
    Some(if rest.is_empty() {
        tf(Text::TypingOne, &[("name", last)])
    } else {
        tf(
            Text::TypingMany,
            &[("names", &rest.join(", ")), ("last", last)],
        )
    })
}

/// "online", or "last seen …" relative to `now_ms`; `None` when it is not shared.
pub fn presence_words(presence: Presence, now_ms: f64) -> Option<String> {
    match presence {
        Presence::Online => Some(t(Text::PresenceOnline)),
        Presence::Hidden => None,
        Presence::LastSeen { at_ms } => {
            // A clock a little behind the server's must not say "-1 minute ago"; whole
            // milliseconds, as the page's module carries no float formatting.
            let elapsed_ms = (now_ms.max(0.0) as u64).saturating_sub(at_ms);
            Some(tf(Text::LastSeen, &[("when", &dates::ago(elapsed_ms))]))
        }
    }
}

/// The tab's title: "(3) Merpati" with three unread messages, "Merpati" with none.
pub fn title_with_unread(total: usize) -> String {
    if total == 0 {
        APP_TITLE.to_owned()
    } else {
        format!("({total}) {APP_TITLE}")
    }
}

/// "bob is typing…" in the open chat; nothing while nobody types.
#[component]
pub fn TypingIndicator(
    /// Who is typing.
    #[prop(into)]
    names: Signal<Vec<String>>,
) -> impl IntoView {
    let words = Memo::new(move |_| names.with(|names| typing_words(names)));
    move || {
        words.get().map(|words| {
            view! {
                <p data-testid="typing-indicator" class="typing-indicator" aria-live="polite">
                    {words}
                </p>
            }
            .into_any()
        })
    }
}

/// "online" or "last seen …" under a 1:1 chat's title; nothing until the server says, or
/// when it is not shared.
#[component]
pub fn PresenceLine(
    /// The other person's presence.
    #[prop(into)]
    presence: Signal<Option<Presence>>,
    /// The time now (ms since the Unix epoch), so "last seen" ages.
    #[prop(into)]
    now_ms: Signal<f64>,
) -> impl IntoView {
    let words = Memo::new(move |_| {
        presence
            .get()
            .and_then(|presence| presence_words(presence, now_ms.get()))
    });
    move || {
        words.get().map(|words| {
            let online = presence.get() == Some(Presence::Online);
            view! {
                <span data-testid="presence" class="presence" class:online=online>
                    {words}
                </span>
            }
            .into_any()
        })
    }
}

/// Keeps the tab's title at "(n) Merpati", n the unread messages across all chats but the muted; back to
/// "Merpati" when it goes away (signed out).
#[component]
pub fn UnreadTitle(
    /// The chats, with their unread counts.
    #[prop(into)]
    chats: Signal<Vec<ChatRow>>,
) -> impl IntoView {
    let total = Memo::new(move |_| {
        chats.with(|chats| {
            chats
                .iter()
                .filter(|chat| !chat.muted)
                .map(|chat| chat.unread)
                .sum()
        })
    });
    Effect::new(move |_| set_title(&title_with_unread(total.get())));
    on_cleanup(|| set_title(APP_TITLE));
}

fn set_title(title: &str) {
    if let Some(document) = web_sys::window().and_then(|window| window.document()) {
        document.set_title(title);
    }
}
