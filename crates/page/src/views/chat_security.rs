//! What a chat shows about its end-to-end encryption: the safety number of a 1:1 chat, and
//! the banner that says someone's security key changed.

use leptos::prelude::*;
use merpati_words::{Text, t, tf};

/// The safety number of a 1:1 chat (60 digits in 12 groups), to compare with the other
/// person in person or over a call: the same number on both sides proves no one sits between
/// the two accounts.
#[component]
pub fn SafetyNumber(
    /// The number, once the other person's keys are known.
    #[prop(into)]
    number: Signal<Option<String>>,
    /// The other person's name.
    #[prop(into)]
    partner: Signal<String>,
) -> impl IntoView {
    view! {
        <div class="safety-number">
            <p class="hint">
                {move || partner.with(|name| tf(Text::CompareSafetyNumber, &[("name", name)]))}
            </p>
            <p
                data-testid="safety-number"
                class="digits"
                class:unknown=move || number.with(Option::is_none)
            >
                {move || number.get().unwrap_or_else(|| t(Text::SafetyNumberUnknown))}
            </p>
        </div>
    }
}

/// A member's security key changed: says so (the words come from the caller, e.g. "bob's
/// security key changed on 27 Nov 2026. Compare the safety number again; nothing you write
/// here is sent until you confirm.") until the person
/// confirms with "OK". Renders nothing while `notice` is `None`.
#[component]
pub fn KeyChangeBanner(
    /// The words, while there is a change to announce.
    #[prop(into)]
    notice: Signal<Option<String>>,
    /// The person has read it (and compared the number).
    on_ok: Callback<()>,
) -> impl IntoView {
    view! {
        <Show when=move || notice.with(Option::is_some)>
            <div data-testid="key-changed" class="key-changed" role="alert">
                <p>{move || notice.get().unwrap_or_default()}</p>
                <button data-testid="key-changed-ok" type="button" on:click=move |_| on_ok.run(())>
                    {t(Text::Ok)}
                </button>
            </div>
        </Show>
    }
}
