//! Starts the page in the browser: the app's initial download, which starts the engine worker.
//!
//! The page starts from wasm-bindgen's start function, not a Rust `main`: a `main` brings the
//! standard library's start-up and exit (flushing a standard output the browser does not
//! have, with the words of every I/O error), which the page never needs.
#![no_main]

use wasm_bindgen::prelude::wasm_bindgen;

#[wasm_bindgen(start)]
fn start() {
    // Built to abort at once on a panic (scripts/trunk/size-flags.sh), the page never runs a
    // panic hook: the hook's code, formatting included, would only weigh on the download.
    #[cfg(not(panic = "immediate-abort"))]
    console_error_panic_hook::set_once();
    // The app is drawn once its language is known, so it never shows another first.
    wasm_bindgen_futures::spawn_local(async {
        merpati_page::language::speak().await;
        leptos::mount::mount_to_body(merpati_page::App);
        // Its install fetches every file of the app for offline use: begun once the first
        // screen is painted, it does not take the cores drawing it needs.
        merpati_page::engine_link::after_next_paint(merpati_page::offline::register_service_worker);
    });
}
