//! The settings' notifications section: whether to be notified of new messages, and whether
//! a notification shows the message's text.

use leptos::prelude::*;
use merpati_words::{Text, t};

use crate::notify::NotifyPrefs;

/// Two checkboxes, and what the browser said if it refused.
#[component]
pub fn NotificationSettings(
    /// The choice as it stands.
    #[prop(into)]
    prefs: Signal<NotifyPrefs>,
    /// Words from the browser's answer (blocked, unsupported), if any.
    #[prop(into)]
    note: Signal<Option<String>>,
    /// A new choice (turning them on asks the browser first).
    on_change: Callback<NotifyPrefs>,
) -> impl IntoView {
    view! {
        <h3>{t(Text::Notifications)}</h3>
        <label>
            <input
                data-testid="setting-notifications"
                type="checkbox"
                prop:checked=move || prefs.get().enabled
                on:change=move |ev| {
                    let mut next = prefs.get_untracked();
                    next.enabled = event_target_checked(&ev);
                    on_change.run(next);
                }
            />
            " "
            {t(Text::NotifyMe)}
        </label>
        <label>
            <input
                data-testid="setting-notifications-text"
                type="checkbox"
                prop:checked=move || !prefs.get().hide_text
                prop:disabled=move || !prefs.get().enabled
                on:change=move |ev| {
                    let mut next = prefs.get_untracked();
                    next.hide_text = !event_target_checked(&ev);
                    on_change.run(next);
                }
            />
            " "
            {t(Text::NotificationText)}
        </label>
        {move || note.get().map(|note| view! { <p class="hint" role="status">{note}</p> })}
    }
}
