//! The page's side of the engine worker (the root package's `worker` module): starts it, sends
//! it [`Command`]s and hears its [`Update`]s; also what only the page can see for it (whether
//! the tab is visible, where the server is) and a quick look at whether a stored session can
//! exist at all. The page's only I/O besides the service worker ([`crate::offline`]).

use std::cell::{Cell, OnceCell, RefCell};
use std::rc::Rc;

use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use merpati_bridge::{self as bridge, Command, Update};

/// Where trunk puts the worker's loader (its `data-loader-shim`); worker files keep their
/// names across releases, so the service worker fetches them network-first.
pub const WORKER_SCRIPT: &str = "/merpati-worker_loader.js";

/// The page's link to the engine worker, which may not have started yet: commands sent
/// before the worker listens (or before [`EngineLink::launch`] starts it) are held and sent
/// when it does.
#[derive(Clone)]
pub struct EngineLink {
    inner: Rc<Inner>,
}

impl std::fmt::Debug for EngineLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineLink")
            .field("launched", &self.inner.worker.get().is_some())
            .field("ready", &self.inner.ready.get())
            .finish_non_exhaustive()
    }
}

struct Inner {
    /// Set once, by [`EngineLink::launch`].
    worker: OnceCell<web_sys::Worker>,
    ready: Cell<bool>,
    held: RefCell<Vec<(Command, Option<JsValue>)>>,
    // Kept alive as long as the link: the worker calls them.
    on_message: Closure<dyn FnMut(web_sys::MessageEvent)>,
    on_error: Closure<dyn FnMut(web_sys::Event)>,
    _on_visibility: Option<Closure<dyn FnMut()>>,
}

impl EngineLink {
    /// A link whose worker will hear `start` first; `on_update` hears everything it says,
    /// `on_failure` hears if it crashed. The worker starts with [`EngineLink::launch`].
    pub fn new(
        start: Command,
        on_update: impl Fn(Update, Option<JsValue>) + 'static,
        on_failure: impl Fn() + 'static,
    ) -> EngineLink {
        let link = Rc::new_cyclic(|weak: &std::rc::Weak<Inner>| {
            let weak_for_messages = weak.clone();
            let on_message = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(
                move |event: web_sys::MessageEvent| match bridge::from_event_with::<Update>(&event)
                {
                    Ok((Update::Ready, _)) => {
                        if let Some(inner) = weak_for_messages.upgrade()
                            && let Some(worker) = inner.worker.get()
                        {
                            inner.ready.set(true);
                            let held = std::mem::take(&mut *inner.held.borrow_mut());
                            for (command, object) in held {
                                post(worker, &command, object.as_ref());
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
            let weak_for_visibility = weak.clone();
            let on_visibility = watch_looked_at(move |looked_at| {
                if let Some(inner) = weak_for_visibility.upgrade() {
                    EngineLink { inner }.send(Command::Visible(looked_at));
                }
            });
            Inner {
                worker: OnceCell::new(),
                ready: Cell::new(false),
                held: RefCell::new(Vec::new()),
                on_message,
                on_error,
                _on_visibility: on_visibility,
            }
        });
        let link = EngineLink { inner: link };
        link.send(start);
        link.send(Command::Visible(page_looked_at()));
        link
    }

    /// Starts the worker from `script` (once; later calls do nothing). It hears what was
    /// sent before, in order, as soon as it listens.
    pub fn launch(&self, script: &str) -> Result<(), JsValue> {
        if self.inner.worker.get().is_some() {
            return Ok(());
        }
        let worker = web_sys::Worker::new(script)?;
        worker.set_onmessage(Some(self.inner.on_message.as_ref().unchecked_ref()));
        worker.set_onerror(Some(self.inner.on_error.as_ref().unchecked_ref()));
        // Not set before: this call is the only one that sets it.
        let _ = self.inner.worker.set(worker);
        Ok(())
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
        if self.inner.ready.get()
            && let Some(worker) = self.inner.worker.get()
        {
            post(worker, &command, object.as_ref());
        } else {
            self.inner.held.borrow_mut().push((command, object));
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(worker) = self.worker.get() {
            worker.terminate();
        }
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

/// Whether the page is on screen (a hidden page paints nothing, and its animation frames wait
/// until it shows).
pub fn page_visible() -> bool {
    web_sys::window()
        .and_then(|window| window.document())
        .is_none_or(|document| document.visibility_state() == web_sys::VisibilityState::Visible)
}

/// Whether the person is looking at the page: it is on screen and its window has the focus. A
/// window left visible behind another app, or on a second screen, is not being read: what
/// arrives in the chat open there stays unread (and is notified), as in WhatsApp Web and
/// Signal Desktop.
pub fn page_looked_at() -> bool {
    page_visible()
        && web_sys::window()
            .and_then(|window| window.document())
            .is_none_or(|document| document.has_focus().unwrap_or(true))
}

/// Runs `then` in the task after the next frame, once what the page has drawn is painted; at
/// once if the page is hidden (it paints nothing, and its frames wait until it shows). For
/// work the first screen does not need, so that it does not take the cores the first paint
/// needs.
pub fn after_next_paint(then: impl FnOnce() + 'static) {
    after_next_paint_boxed(Box::new(then));
}

/// [`after_next_paint`] for one type of work: each caller's closure type would otherwise get a
/// copy of the frame and timer code.
fn after_next_paint_boxed(then: Box<dyn FnOnce()>) {
    if page_visible() {
        leptos::prelude::request_animation_frame(move || {
            leptos::prelude::set_timeout(then, std::time::Duration::ZERO);
        });
    } else {
        then();
    }
}

/// Calls `on_change` with [`page_looked_at`] whenever it may have changed: the page shown or
/// hidden, its window focused or left.
fn watch_looked_at(on_change: impl Fn(bool) + 'static) -> Option<Closure<dyn FnMut()>> {
    let window = web_sys::window()?;
    let document = window.document()?;
    let closure = Closure::<dyn FnMut()>::new(move || on_change(page_looked_at()));
    let listener = closure.as_ref().unchecked_ref();
    document
        .add_event_listener_with_callback("visibilitychange", listener)
        .ok()?;
    for event in ["focus", "blur"] {
        window
            .add_event_listener_with_callback(event, listener)
            .ok()?;
    }
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

/// Whether this browser held the IndexedDB database `name` as the page started: `Some(false)`
/// means no stored session can exist, so the sign-in form can show before the worker has even
/// loaded. `public/session-hint.js` asked while the page's module loaded; `None` when it
/// could not (no `indexedDB.databases()`, or the script did not run), and then the page waits
/// for the worker to say.
pub async fn has_database(name: &str) -> Option<bool> {
    if let Some(known) = known_database(name) {
        return Some(known);
    }
    let asked = js_sys::Reflect::get(&js_sys::global(), &"merpatiDatabases".into())
        .ok()?
        .dyn_into::<js_sys::Promise>()
        .ok()?;
    let list = JsFuture::from(asked).await.ok()?;
    Some(names_hold(&list.dyn_into().ok()?, name))
}

/// [`has_database`]'s answer if IndexedDB has already given it (`session-hint.js` keeps the
/// names once they come): then the first screen can be drawn as it should be at once, with no
/// other screen before it.
pub fn known_database(name: &str) -> Option<bool> {
    let names = js_sys::Reflect::get(&js_sys::global(), &"merpatiDatabaseNames".into())
        .ok()?
        .dyn_into::<js_sys::Array>()
        .ok()?;
    Some(names_hold(&names, name))
}

/// Whether the database names `names` hold `name`.
fn names_hold(names: &js_sys::Array, name: &str) -> bool {
    names
        .iter()
        .any(|found| found.as_string().is_some_and(|found| found == name))
}
