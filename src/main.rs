//! Starts the app in the browser.

fn main() {
    console_error_panic_hook::set_once();
    merpati_app::services::offline::register_service_worker();
    leptos::mount::mount_to_body(merpati_app::App);
}
