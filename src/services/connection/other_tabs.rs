//! What this browser chose for itself ([`BrowserChoices`]: its notification settings, the chats
//! it does not notify of, its recent emoji and skin tone) is in the store its tabs share, and
//! each tab's engine reads it when the tab opens. A tab that stores a change of them says so on
//! a `BroadcastChannel` of the browser's tabs, and every other tab reads them again from the
//! store: a chat muted in one tab notifies from none, notifications turned off stop in all, and
//! a tab's next change does not write back what it read at start. Only "read again" goes on the
//! channel; the choices stay sealed in the store.
//!
//! Two tabs changing them in the same moment (a person is in one tab at a time) end with the
//! last one stored, which the other tab reads next.

use std::rc::{Rc, Weak};

use merpati_core::BrowserChoices;
use wasm_bindgen::JsValue;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::prelude::JsCast;

use super::{Inner, flush};

/// The channel, and what it does with what it hears; dropped with the client.
pub(super) struct OtherTabs {
    channel: web_sys::BroadcastChannel,
    _on_message: Closure<dyn FnMut(web_sys::MessageEvent)>,
}

impl OtherTabs {
    /// Listens, for the client `inner` over the database `db_name`, to the other tabs of the
    /// browser. `None` where there are no broadcast channels: each tab keeps what it read.
    pub(super) fn listen(inner: &Rc<Inner>, db_name: &str) -> Option<OtherTabs> {
        let channel = web_sys::BroadcastChannel::new(&format!("{db_name}-browser-choices")).ok()?;
        let weak = Rc::downgrade(inner);
        let on_message = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |_| {
            wasm_bindgen_futures::spawn_local(read_again(weak.clone()));
        });
        channel.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        Some(OtherTabs {
            channel,
            _on_message: on_message,
        })
    }

    /// Tells the other tabs that this one stored a change of the browser's choices.
    pub(super) fn tell_changed(&self) {
        if let Err(error) = self.channel.post_message(&JsValue::NULL) {
            leptos::logging::warn!("telling the other tabs of a settings change failed: {error:?}");
        }
    }
}

impl Drop for OtherTabs {
    fn drop(&mut self) {
        self.channel.set_onmessage(None);
        self.channel.close();
    }
}

/// Another tab changed the browser's choices: the engine takes them as stored now, and the
/// views show them.
async fn read_again(inner: Weak<Inner>) {
    let Some(inner) = inner.upgrade() else {
        return;
    };
    let store = inner.store.borrow().clone();
    let Some(store) = store else {
        return;
    };
    // Between flushes: a change of this tab's being stored is read back with the rest.
    let read = {
        let _turn = inner.flush_lock.lock().await;
        let read = BrowserChoices::read(&*store).await;
        if let Ok(choices) = &read {
            inner
                .engine
                .borrow_mut()
                .adopt_browser_choices(choices.clone());
        }
        read
    };
    match read {
        Ok(_) => flush(&inner).await,
        Err(error) => leptos::logging::warn!("reading another tab's settings failed: {error}"),
    }
}
