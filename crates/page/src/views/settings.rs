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
    view! {
        <section data-testid="settings-panel" class="settings-panel" aria-label="Settings">
            <header>
                <h2>"Privacy"</h2>
                <button type="button" class="link" aria-label="Close settings" on:click=move |_| on_close.run(())>
                    "Close"
                </button>
            </header>
            <SettingRow
                testid="setting-read-receipts"
                words=" Send read receipts (off: nobody sees when you read, and you see nobody's)"
                privacy
                on_change
                get=|privacy| privacy.share_read_receipts
                set=|privacy, on| privacy.share_read_receipts = on
            />
            <SettingRow
                testid="setting-presence"
                words=" Show when you are online (off: you see nobody's either)"
                privacy
                on_change
                get=|privacy| privacy.share_presence
                set=|privacy, on| privacy.share_presence = on
            />
        </section>
    }
}

/// One privacy setting's checkbox: shows `get` of the settings, and on a change applies them
/// with `set` done.
#[component]
fn SettingRow(
    testid: &'static str,
    words: &'static str,
    privacy: Signal<Privacy>,
    on_change: Callback<Privacy>,
    get: fn(&Privacy) -> bool,
    set: fn(&mut Privacy, bool),
) -> impl IntoView {
    view! {
        <label>
            <input
                data-testid=testid
                type="checkbox"
                prop:checked=move || privacy.with(get)
                on:change=move |ev| {
                    let mut next = privacy.get_untracked();
                    set(&mut next, event_target_checked(&ev));
                    on_change.run(next);
                }
            />
            {words}
        </label>
    }
}
