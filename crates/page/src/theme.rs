//! The colour theme: the system's (light or dark as the device is set) unless this browser
//! chose one.
//!
//! The choice lives in `localStorage`, not in the sealed store: it must be known before the
//! first paint, and the sealed store opens only once the engine worker has loaded.
//! `public/theme.js`, loaded before the stylesheet, puts it on `<html data-theme>` from
//! there, so a reload never shows the other theme first. It says only "light" or "dark"
//! (docs/security.md lists it among what is kept unsealed).

use wasm_bindgen::JsValue;

/// Where the choice is kept; `public/theme.js` reads the same key.
pub const STORAGE_KEY: &str = "merpati.theme";

/// The attribute of `<html>` the stylesheet follows (`style/main.css`).
const ATTRIBUTE: &str = "data-theme";

/// A theme to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Theme {
    /// Light or dark as the device is set, following it when it changes.
    #[default]
    System,
    /// Light whatever the device says.
    Light,
    /// Dark whatever the device says.
    Dark,
}

impl Theme {
    /// Every theme, in the order the settings offer them.
    pub const ALL: [Theme; 3] = [Theme::System, Theme::Light, Theme::Dark];

    /// The theme's name in `localStorage`, `data-theme` and the settings' `<select>`.
    pub fn as_str(self) -> &'static str {
        match self {
            Theme::System => "system",
            Theme::Light => "light",
            Theme::Dark => "dark",
        }
    }

    /// The theme of a name; `None` for anything else.
    pub fn from_name(name: &str) -> Option<Theme> {
        Theme::ALL.into_iter().find(|theme| theme.as_str() == name)
    }
}

/// The theme this browser chose, or [`Theme::System`] if none (or storage is unavailable).
pub fn chosen() -> Theme {
    crate::local_storage()
        .and_then(|storage| storage.get_item(STORAGE_KEY).ok().flatten())
        .and_then(|name| Theme::from_name(&name))
        .unwrap_or_default()
}

/// Shows `theme` now and remembers it in this browser.
pub fn choose(theme: Theme) -> Result<(), JsValue> {
    let root = web_sys::window()
        .and_then(|window| window.document())
        .and_then(|document| document.document_element())
        .ok_or_else(|| JsValue::from_str("no document to theme"))?;
    match theme {
        Theme::System => root.remove_attribute(ATTRIBUTE)?,
        Theme::Light | Theme::Dark => root.set_attribute(ATTRIBUTE, theme.as_str())?,
    }
    // A browser that keeps nothing (storage off) still shows the theme until the next load.
    if let Some(storage) = crate::local_storage() {
        match theme {
            Theme::System => storage.remove_item(STORAGE_KEY)?,
            Theme::Light | Theme::Dark => storage.set_item(STORAGE_KEY, theme.as_str())?,
        }
    }
    Ok(())
}
