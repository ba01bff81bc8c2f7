//! The settings' notifications section: whether to be notified of new messages, and whether
//! a notification shows the message's text; and the offer to turn them on, above the chats.

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
                    show_choice_in_force(&ev, prefs.get_untracked().enabled);
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
                    show_choice_in_force(&ev, !prefs.get_untracked().hide_text);
                    on_change.run(next);
                }
            />
            " "
            {t(Text::NotificationText)}
        </label>
        {move || note.get().map(|note| view! { <p class="hint" role="status">{note}</p> }.into_any())}
    }
}

/// Puts a clicked checkbox back as the choice in force: it shows the new one once that is
/// kept (the prefs change, and with them `checked`), and a refused one never.
fn show_choice_in_force(ev: &leptos::ev::Event, in_force: bool) {
    event_target::<web_sys::HtmlInputElement>(ev).set_checked(in_force);
}

/// The offer above the chat list to turn notifications on: the browser's own prompt comes
/// only once the person says yes here.
#[component]
pub fn NotificationOffer(
    /// "Turn on".
    on_accept: Callback<()>,
    /// "Not now".
    on_dismiss: Callback<()>,
) -> impl IntoView {
    view! {
        <div
            data-testid="notifications-offer"
            class="notifications-offer"
            role="region"
            aria-label=t(Text::Notifications)
        >
            <p>{t(Text::NotificationsOffer)}</p>
            <div class="offer-actions">
                <button
                    data-testid="notifications-offer-accept"
                    type="button"
                    class="primary"
                    on:click=move |_| on_accept.run(())
                >
                    {t(Text::TurnOn)}
                </button>
                <button
                    data-testid="notifications-offer-dismiss"
                    type="button"
                    on:click=move |_| on_dismiss.run(())
                >
                    {t(Text::NotNow)}
                </button>
            </div>
        </div>
    }
}
