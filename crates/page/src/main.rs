//! Starts the page in the browser: the app's initial download, which starts the engine worker.

fn main() {
    console_error_panic_hook::set_once();
    merpati_page::offline::register_service_worker();
    leptos::mount::mount_to_body(merpati_page::App);
}
