//! Starts the page in the browser: the app's initial download, which starts the engine worker.

fn main() {
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
