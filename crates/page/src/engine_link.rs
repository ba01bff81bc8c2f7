//! The page's side of the engine worker (the root package's `worker` module): starts it, sends
//! it [`Command`]s and hears its [`Update`]s; also what only the page can see for it (whether
//! the tab is visible, where the server is) and a quick look at whether a stored session can
//! exist at all. The page's only I/O besides the service worker ([`crate::offline`]).

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use merpati_bridge::{self as bridge, Command, Update};

/// Where trunk puts the worker's loader (its `data-loader-shim`); worker files keep their
/// names across releases, so the service worker fetches them network-first.
pub const WORKER_SCRIPT: &str = "/merpati-worker_loader.js";

/// A running engine worker. Commands sent before it listens are held and sent when it does.
#[derive(Clone)]
pub struct EngineLink {
    inner: Rc<Inner>,
}

impl std::fmt::Debug for EngineLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineLink")
            .field("ready", &self.inner.ready.get())
            .finish_non_exhaustive()
    }
}

struct Inner {
    worker: web_sys::Worker,
    ready: Cell<bool>,
    held: RefCell<Vec<(Command, Option<JsValue>)>>,
    // Kept alive as long as the link: the worker calls them.
    _on_message: Closure<dyn FnMut(web_sys::MessageEvent)>,
    _on_error: Closure<dyn FnMut(web_sys::Event)>,
    _on_visibility: Option<Closure<dyn FnMut()>>,
}

impl EngineLink {
    /// Starts the worker from `script`; `on_update` hears everything it says, `on_failure`
    /// hears if it could not start (or crashed). Then sends it `start`.
    pub fn start(
        script: &str,
        start: Command,
        on_update: impl Fn(Update, Option<JsValue>) + 'static,
        on_failure: impl Fn() + 'static,
    ) -> Result<EngineLink, JsValue> {
        let worker = web_sys::Worker::new(script)?;
        let link = Rc::new_cyclic(|weak: &std::rc::Weak<Inner>| {
            let weak_for_messages = weak.clone();
            let on_message = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(
                move |event: web_sys::MessageEvent| match bridge::from_event_with::<Update>(&event)
                {
                    Ok((Update::Ready, _)) => {
                        if let Some(inner) = weak_for_messages.upgrade() {
                            inner.ready.set(true);
                            let held = std::mem::take(&mut *inner.held.borrow_mut());
                            for (command, object) in held {
                                post(&inner.worker, &command, object.as_ref());
                            }
                        }
                    }
                    Ok((update, object)) => on_update(update, object),
                    Err(error) => {
                        leptos::logging::warn!("ignoring a message from the worker: {error}");
                    }
                },
            );
            let on_error = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| on_failure());
            worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
            worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
            let weak_for_visibility = weak.clone();
            let on_visibility = watch_visibility(move |visible| {
                if let Some(inner) = weak_for_visibility.upgrade() {
                    EngineLink { inner }.send(Command::Visible(visible));
                }
            });
            Inner {
                worker,
                ready: Cell::new(false),
                held: RefCell::new(Vec::new()),
                _on_message: on_message,
                _on_error: on_error,
                _on_visibility: on_visibility,
            }
        });
        let link = EngineLink { inner: link };
        link.send(start);
        link.send(Command::Visible(page_visible()));
        Ok(link)
    }

    /// Tells the worker what the person did.
    pub fn send(&self, command: Command) {
        self.send_object(command, None);
    }

    /// Tells the worker what the person did, handing it a browser object beside the command
    /// (the `File` of `Command::SendFile`).
    pub fn send_with(&self, command: Command, object: JsValue) {
        self.send_object(command, Some(object));
    }

    fn send_object(&self, command: Command, object: Option<JsValue>) {
        if self.inner.ready.get() {
            post(&self.inner.worker, &command, object.as_ref());
        } else {
            self.inner.held.borrow_mut().push((command, object));
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.worker.terminate();
    }
}

fn post(worker: &web_sys::Worker, command: &Command, object: Option<&JsValue>) {
    let message = match object {
        Some(object) => bridge::to_js_with(command, object).into(),
        None => JsValue::from(bridge::to_js(command)),
    };
    if let Err(error) = worker.post_message(&message) {
        leptos::logging::warn!("could not reach the worker: {error:?}");
    }
}

fn page_visible() -> bool {
    web_sys::window()
        .and_then(|window| window.document())
        .is_none_or(|document| document.visibility_state() == web_sys::VisibilityState::Visible)
}

fn watch_visibility(on_change: impl Fn(bool) + 'static) -> Option<Closure<dyn FnMut()>> {
    let document = web_sys::window()?.document()?;
    let closure = Closure::<dyn FnMut()>::new(move || on_change(page_visible()));
    document
        .add_event_listener_with_callback("visibilitychange", closure.as_ref().unchecked_ref())
        .ok()?;
    Some(closure)
}

/// `ws(s)://host/ws` of the page's own origin.
pub fn socket_url() -> Option<String> {
    let location = web_sys::window()?.location();
    let scheme = if location.protocol().ok()? == "https:" {
        "wss"
    } else {
        "ws"
    };
    Some(format!("{scheme}://{}/ws", location.host().ok()?))
}

/// Whether this browser holds the IndexedDB database `name`: `Some(false)` means no stored
/// session can exist, so the sign-in form can show before the worker has even loaded.
/// `None` when the browser cannot say (`indexedDB.databases()` is missing).
pub async fn has_database(name: &str) -> Option<bool> {
    let factory = js_sys::Reflect::get(&js_sys::global(), &"indexedDB".into()).ok()?;
    let databases = js_sys::Reflect::get(&factory, &"databases".into())
        .ok()?
        .dyn_into::<js_sys::Function>()
        .ok()?;
    let promise = databases
        .call0(&factory)
        .ok()?
        .dyn_into::<js_sys::Promise>()
        .ok()?;
    let list = JsFuture::from(promise).await.ok()?;
    let list = list.dyn_into::<js_sys::Array>().ok()?;
    Some(list.iter().any(|database| {
        js_sys::Reflect::get(&database, &"name".into())
            .ok()
            .and_then(|found| found.as_string())
            .is_some_and(|found| found == name)
    }))
}
