//! The settings panel: the theme and the language, and the privacy settings — whether the
//! others learn how far this account has read, and whether they see it online.

use super::close_on_escape;
use leptos::prelude::*;
use merpati_bridge::Privacy;
use merpati_words::{Language, Text, t};

use crate::theme::Theme;

/// The settings panel: the theme's and the language's choice and one checkbox per privacy
/// setting; each change is applied at once.
#[component]
pub fn SettingsPanel(
    /// The theme shown.
    #[prop(into)]
    theme: Signal<Theme>,
    /// Show another theme.
    on_theme: Callback<Theme>,
    /// The language spoken.
    language: Language,
    /// Speak another language.
    on_language: Callback<Language>,
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
        <section
            data-testid="settings-panel"
            class="settings-panel"
            aria-label=t(Text::Settings)
            on:keydown=close_on_escape(on_close)
        >
            <header>
                <h2>{t(Text::Settings)}</h2>
                <button type="button" class="link" aria-label=t(Text::CloseSettings) on:click=move |_| on_close.run(())>
                    {t(Text::Close)}
                </button>
            </header>
            <h3>{t(Text::Appearance)}</h3>
            <label>
                {t(Text::Theme)}
                " "
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
            <label>
                {t(Text::Language)}
                " "
                <select
                    data-testid="language-select"
                    prop:value=language.code()
                    on:change=move |ev| {
                        if let Some(chosen) = Language::from_code(&event_target_value(&ev)) {
                            on_language.run(chosen);
                        }
                    }
                >
                    {Language::ALL
                        .into_iter()
                        .map(|option| {
                            // Each in its own language, marked so, for a screen reader too.
                            view! {
                                <option value=option.code() lang=option.code()>
                                    {option.endonym()}
                                </option>
                            }
                        })
                        .collect_view()}
                </select>
            </label>
            <h3>{t(Text::Privacy)}</h3>
            <SettingRow
                testid="setting-read-receipts"
                words=Text::ShareReadReceipts
                privacy
                on_change
                get=|privacy| privacy.share_read_receipts
                set=|privacy, on| privacy.share_read_receipts = on
            />
            <SettingRow
                testid="setting-presence"
                words=Text::SharePresence
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
fn theme_words(theme: Theme) -> String {
    t(match theme {
        Theme::System => Text::ThemeSystem,
        Theme::Light => Text::ThemeLight,
        Theme::Dark => Text::ThemeDark,
    })
}

/// One privacy setting's checkbox: shows `get` of the settings, and on a change applies them
/// with `set` done.
#[component]
fn SettingRow(
    testid: &'static str,
    words: Text,
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
            " "
            {t(words)}
        </label>
    }
}
