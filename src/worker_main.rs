//! Starts the engine worker (see `merpati_app::worker`); trunk builds this binary as the
//! dedicated Web Worker the page starts.
//!
//! The worker starts from wasm-bindgen's start function, not a Rust `main`: a `main` brings
//! the standard library's start-up and exit (flushing a standard output the browser does not
//! have), which the worker never needs.
#![no_main]

use wasm_bindgen::prelude::wasm_bindgen;

#[wasm_bindgen(start)]
fn start() {
    // Built to abort at once on a panic (scripts/trunk/size-flags.sh), the worker never runs a
    // panic hook: the hook's code, formatting included, would only weigh on the download.
    #[cfg(not(panic = "immediate-abort"))]
    console_error_panic_hook::set_once();
    merpati_app::worker::run();
}
