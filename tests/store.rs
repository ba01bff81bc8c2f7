//! The IndexedDB store passes the one store suite every `Store` backend passes, in Chromium.

use merpati_app::services::idb_store::IdbStore;
use merpati_core::crypto::StoreCipher;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

/// A store in a database of its own, sealed under a new key.
async fn fresh_store() -> IdbStore {
    let name = format!("merpati-test-store-{}", js_sys::Math::random());
    let cipher = StoreCipher::generate().unwrap_or_else(|error| panic!("cipher: {error}"));
    IdbStore::open(&name, cipher)
        .await
        .unwrap_or_else(|error| panic!("open {name}: {error}"))
}

merpati_core::store_suite_tests!(wasm_bindgen_test, async { fresh_store().await });
