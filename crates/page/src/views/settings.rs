//! The privacy settings: whether the others learn how far this account has read, and
//! whether they see it online.

use leptos::prelude::*;
use merpati_bridge::Privacy;

/// The settings panel: one checkbox per privacy setting; each change is applied at once.
#[component]
pub fn SettingsPanel(
    /// The settings as the engine has them.
    #[prop(into)]
    privacy: Signal<Privacy>,
    /// Apply new settings.
    on_change: Callback<Privacy>,
    /// Close the panel.
    on_close: Callback<()>,
) -> impl IntoView {
    let checked = move |ev: &leptos::ev::Event| event_target_checked(ev);
    view! {
        <section data-testid="settings-panel" class="settings-panel" aria-label="Settings">
            <header>
                <h2>"Privacy"</h2>
                <button type="button" class="link" aria-label="Close settings" on:click=move |_| on_close.run(())>
                    "Close"
                </button>
            </header>
            <label>
                <input
                    data-testid="setting-read-receipts"
                    type="checkbox"
                    prop:checked=move || privacy.get().share_read_receipts
                    on:change=move |ev| {
                        on_change.run(Privacy {
                            share_read_receipts: checked(&ev),
                            ..privacy.get_untracked()
                        })
                    }
                />
                " Send read receipts (off: nobody sees when you read, and you see nobody's)"
            </label>
            <label>
                <input
                    data-testid="setting-presence"
                    type="checkbox"
                    prop:checked=move || privacy.get().share_presence
                    on:change=move |ev| {
                        on_change.run(Privacy {
                            share_presence: checked(&ev),
                            ..privacy.get_untracked()
                        })
                    }
                />
                " Show when you are online (off: you see nobody's either)"
            </label>
        </section>
    }
}
