//! The settings panel: the theme, and the privacy settings — whether the others learn how
//! far this account has read, and whether they see it online.

use leptos::prelude::*;
use merpati_bridge::Privacy;

use crate::theme::Theme;

/// The settings panel: the theme's choice and one checkbox per privacy setting; each change
/// is applied at once.
#[component]
pub fn SettingsPanel(
    /// The theme shown.
    #[prop(into)]
    theme: Signal<Theme>,
    /// Show another theme.
    on_theme: Callback<Theme>,
    /// The settings as the engine has them.
    #[prop(into)]
    privacy: Signal<Privacy>,
    /// Apply new settings.
    on_change: Callback<Privacy>,
    /// Close the panel.
    on_close: Callback<()>,
    /// More sections (the devices).
    #[prop(optional)]
    children: Option<Children>,
) -> impl IntoView {
    view! {
        <section data-testid="settings-panel" class="settings-panel" aria-label="Settings">
            <header>
                <h2>"Settings"</h2>
                <button type="button" class="link" aria-label="Close settings" on:click=move |_| on_close.run(())>
                    "Close"
                </button>
            </header>
            <h3>"Appearance"</h3>
            <label>
                "Theme "
                <select
                    data-testid="theme-select"
                    prop:value=move || theme.get().as_str()
                    on:change=move |ev| {
                        if let Some(chosen) = Theme::from_name(&event_target_value(&ev)) {
                            on_theme.run(chosen);
                        }
                    }
                >
                    {Theme::ALL
                        .into_iter()
                        .map(|option| {
                            view! { <option value=option.as_str()>{theme_words(option)}</option> }
                        })
                        .collect_view()}
                </select>
            </label>
            <h3>"Privacy"</h3>
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
            {children.map(|children| children())}
        </section>
    }
}

/// A theme as the settings name it.
fn theme_words(theme: Theme) -> &'static str {
    match theme {
        Theme::System => "As the device is set",
        Theme::Light => "Light",
        Theme::Dark => "Dark",
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
