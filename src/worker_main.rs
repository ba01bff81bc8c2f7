//! Starts the engine worker (see `merpati_app::worker`); trunk builds this binary as the
//! dedicated Web Worker the page starts.

fn main() {
    console_error_panic_hook::set_once();
    merpati_app::worker::run();
}
