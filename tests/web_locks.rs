//! The Web Locks the tabs of a browser take turns with, in Chromium: a lock held is not
//! granted again until it is let go, and then it is; one taken for good while free is not
//! free for another.

use std::cell::Cell;
use std::rc::Rc;

use merpati_app::services::web_locks;
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

/// The names of the locks `navigator.locks.query()` lists as `held` or `pending`.
async fn listed(which: &str) -> Vec<String> {
    let locks = js_sys::Reflect::get(&js_sys::global(), &"navigator".into())
        .and_then(|navigator| js_sys::Reflect::get(&navigator, &"locks".into()))
        .unwrap_or_else(|error| panic!("no Web Locks: {error:?}"));
    let query = js_sys::Reflect::get(&locks, &"query".into())
        .ok()
        .and_then(|query| wasm_bindgen::JsCast::dyn_into::<js_sys::Function>(query).ok())
        .unwrap_or_else(|| panic!("no query"));
    let snapshot = JsFuture::from(js_sys::Promise::from(
        query
            .call0(&locks)
            .unwrap_or_else(|error| panic!("{error:?}")),
    ))
    .await
    .unwrap_or_else(|error| panic!("{error:?}"));
    let entries = js_sys::Reflect::get(&snapshot, &which.into()).unwrap_or(JsValue::UNDEFINED);
    js_sys::Array::from(&entries)
        .iter()
        .filter_map(|entry| {
            js_sys::Reflect::get(&entry, &"name".into())
                .ok()?
                .as_string()
        })
        .collect()
}

/// Waits until the lock `name` is listed as `which` (`listed` is `true`) or not, checking
/// every few milliseconds for at most ten seconds.
async fn until_listed(which: &str, name: &str, listed_now: bool) {
    for _ in 0..2_000 {
        if listed(which).await.iter().any(|held| held == name) == listed_now {
            return;
        }
        gloo_timers::future::TimeoutFuture::new(5).await;
    }
    panic!(
        "{name} never {} as {which}",
        if listed_now { "listed" } else { "unlisted" }
    );
}

#[wasm_bindgen_test]
async fn a_lock_held_is_granted_again_only_once_let_go() {
    let name = format!("merpati-test-lock-{}", js_sys::Math::random());
    let first = web_locks::hold(&name).await.expect("granted while free");
    let second_granted = Rc::new(Cell::new(false));
    let (tx, rx) = futures::channel::oneshot::channel();
    wasm_bindgen_futures::spawn_local({
        let (name, second_granted) = (name.clone(), second_granted.clone());
        async move {
            let second = web_locks::hold(&name).await;
            second_granted.set(true);
            let _ = tx.send(second);
        }
    });
    // The sentinel: the browser lists the second request as waiting for the lock.
    until_listed("pending", &name, true).await;
    assert!(!second_granted.get(), "not while the first holds it");
    drop(first);
    let second = rx.await.expect("the second's answer");
    assert!(second.is_some(), "granted once let go");
    assert!(listed("held").await.contains(&name));
    drop(second);
    until_listed("held", &name, false).await;
}

#[wasm_bindgen_test]
async fn a_lock_taken_for_good_while_free_is_not_free_for_another() {
    let name = format!("merpati-test-lock-{}", js_sys::Math::random());
    assert_eq!(web_locks::hold_for_good_if_free(&name).await, Some(true));
    assert_eq!(web_locks::hold_for_good_if_free(&name).await, Some(false));
}
