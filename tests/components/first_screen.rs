//! The app's first screen: the sign-in form drawn at once when this browser is known to hold
//! no database (`public/session-hint.js` had its answer before the page started), the loading
//! screen while a stored session may exist.

use leptos::mount::mount_to;
use merpati_page::App;
use merpati_page::state::DATABASE_NAME;
use wasm_bindgen::JsValue;
use wasm_bindgen_test::wasm_bindgen_test;

use crate::dom::container;

/// What `session-hint.js` keeps once IndexedDB answered: the names of this browser's
/// databases.
fn databases_known(names: &[&str]) {
    let names: js_sys::Array = names.iter().map(|name| JsValue::from_str(name)).collect();
    js_sys::Reflect::set(&js_sys::global(), &"merpatiDatabaseNames".into(), &names)
        .expect("set on the window");
}

/// The screens the app draws as it is mounted, before any task or frame has run: whether
/// the sign-in form is there, and whether the loading screen is.
fn first_screen(names: &[&str]) -> (bool, bool) {
    databases_known(names);
    let root = container();
    // Left mounted: the app goes on (its engine worker fails to start here) after the test.
    std::mem::forget(mount_to(root.clone(), App));
    let has = |selector: &str| root.query_selector(selector).ok().flatten().is_some();
    (has("[data-testid=\"auth-login\"]"), has(".loading"))
}

#[wasm_bindgen_test]
fn a_browser_known_to_hold_no_database_is_shown_the_form_first() {
    assert_eq!(first_screen(&["another-app"]), (true, false));
}

#[wasm_bindgen_test]
fn a_browser_holding_the_database_is_shown_the_loading_screen_first() {
    assert_eq!(first_screen(&[DATABASE_NAME]), (false, true));
}
