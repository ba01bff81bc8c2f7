//! Notifications of new messages while the tab is hidden or another chat is on screen.
//!
//! Asked for when the person turns them on — in the settings, or from the offer the chat list
//! shows once there is a chat to hear from (never on load, and "Not now" is remembered) — and
//! shown through the service worker (`registration.showNotification`), whose
//! `notificationclick` focuses the tab and tells the page which chat to open (`public/sw.js`).
//! Each tab decides for itself, and asks the service worker first, which leaves the message to
//! a tab of the browser the person sees more (it notifies every chat they are not looking at
//! in it). One notification per chat (its tag is the chat): a newer message replaces the
//! older one's. The text can be hidden, for a screen others see: "New message" and the sender
//! then.
//!
//! The choice (on, whether the text shows, "Not now" to the offer) is this browser's, kept
//! sealed in its store by the engine worker like the rest (`DeviceSettings`): the page reads
//! it from the worker's view and changes it with `Command::SetNotifications`.

use merpati_bridge::{ChatRow, ConnectionPhase};
use merpati_protocol::ChatId;
use merpati_words::{Text, t, tf};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

/// What a hidden text says instead.
pub const HIDDEN_TEXT: Text = Text::NewMessage;

/// Whether to notify, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NotifyPrefs {
    /// Notify of new messages.
    pub enabled: bool,
    /// Leave the message's text out.
    pub hide_text: bool,
}

/// What the browser lets this site do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Notifications may be shown.
    Granted,
    /// The person said no (only the browser's site settings can undo it).
    Denied,
    /// Not asked yet.
    Ask,
    /// This browser has no notifications.
    Unsupported,
}

/// A notification to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arrival {
    /// The chat it opens.
    pub chat: ChatId,
    /// The chat's title: the sender of a 1:1 chat, or the group's name.
    pub title: String,
    /// The newest message from someone else (never the person's own), or [`HIDDEN_TEXT`];
    /// in a group, after its sender's name.
    pub body: String,
}

/// The chats whose unread count went up since `before` (each chat's unread count then; a chat
/// not in it counts up from none: a new chat's first message), that are not muted, and that the
/// person is not looking at: every chat when the tab is hidden, else all but the open one.
pub fn arrivals(
    before: &[(ChatId, usize)],
    chats: &[ChatRow],
    open: Option<ChatId>,
    visible: bool,
    prefs: NotifyPrefs,
) -> Vec<Arrival> {
    if !prefs.enabled {
        return Vec::new();
    }
    chats
        .iter()
        .filter(|chat| {
            let then = before.iter().find(|(id, _)| *id == chat.id);
            chat.unread > then.map_or(0, |(_, unread)| *unread)
        })
        .filter(|chat| !chat.muted && (!visible || open != Some(chat.id)))
        .map(|chat| {
            let text = match &chat.last_received {
                Some(received) if !prefs.hide_text => received.clone(),
                _ => t(HIDDEN_TEXT),
            };
            let body = match chat.last_received_from.as_deref() {
                Some(sender) => tf(Text::SenderSaid, &[("sender", sender), ("text", &text)]),
                None => text,
            };
            Arrival {
                chat: chat.id,
                title: chat.title.clone(),
                body,
            }
        })
        .collect()
}

/// The chats read since `before` (each chat's unread count then): those with unread messages
/// then and none now, read here or on another of the person's devices (whose read position
/// the server passes on), or gone from the list. Their notifications are old news.
pub fn read_since(before: &[(ChatId, usize)], chats: &[ChatRow]) -> Vec<ChatId> {
    before
        .iter()
        .filter(|(id, unread)| {
            *unread > 0
                && chats
                    .iter()
                    .find(|chat| chat.id == *id)
                    .is_none_or(|chat| chat.unread == 0)
        })
        .map(|(id, _)| *id)
        .collect()
}

/// Whether to offer notifications: they are off here, the browser could show them (not asked
/// yet, or already allowed), there is a chat to hear from, and the person has not said "Not
/// now" in this browser.
pub fn offer_wanted(
    prefs: NotifyPrefs,
    permission: Permission,
    has_chats: bool,
    dismissed: bool,
) -> bool {
    !prefs.enabled
        && matches!(permission, Permission::Ask | Permission::Granted)
        && has_chats
        && !dismissed
}

fn supported() -> bool {
    web_sys::window().is_some_and(|window| {
        js_sys::Reflect::has(&window, &JsValue::from_str("Notification")).unwrap_or(false)
    })
}

/// What the browser lets this site do now.
pub fn permission() -> Permission {
    if !supported() {
        return Permission::Unsupported;
    }
    match web_sys::Notification::permission() {
        web_sys::NotificationPermission::Granted => Permission::Granted,
        web_sys::NotificationPermission::Denied => Permission::Denied,
        _ => Permission::Ask,
    }
}

/// Asks the browser (it shows its prompt; call it from the person's click).
pub async fn ask() -> Permission {
    if !supported() {
        return Permission::Unsupported;
    }
    if let Ok(promise) = web_sys::Notification::request_permission() {
        let _ = JsFuture::from(promise).await;
    }
    permission()
}

/// The service worker's registration, once it is active: what shows and lists the app's
/// notifications. `None` in a browser without one.
async fn registration() -> Option<web_sys::ServiceWorkerRegistration> {
    let ready = web_sys::window()?
        .navigator()
        .service_worker()
        .ready()
        .ok()?;
    let registration = JsFuture::from(ready).await.ok()?;
    Some(registration.unchecked_into())
}

/// Closes the notifications of `chats`, or every one the app shows (`None`): chats read since
/// they were notified, here or on another of the person's devices, are old news; an account
/// signed out (perhaps from another device, on a computer others use) must not leave its
/// messages readable in the system's notification centre.
pub fn close(chats: Option<Vec<ChatId>>) {
    wasm_bindgen_futures::spawn_local(async move {
        let Some(registration) = registration().await else {
            return;
        };
        let Ok(listed) = registration.get_notifications() else {
            return;
        };
        if let Ok(shown) = JsFuture::from(listed).await {
            for notification in js_sys::Array::from(&shown).iter() {
                let notification = notification.unchecked_into::<web_sys::Notification>();
                let tag = notification.tag();
                if chats.as_ref().is_none_or(|chats| {
                    chats
                        .iter()
                        .any(|chat| tag.as_deref() == Some(tag_of(*chat).as_str()))
                }) {
                    notification.close();
                }
            }
        }
    });
}

/// The tag of a chat's notification: one per chat, a newer message's replacing the older's.
fn tag_of(chat: ChatId) -> String {
    format!("chat-{}", chat.0)
}

/// Shows a notification: asks the service worker that controls the page first
/// (`public/sw.js`), which hands the ask back to be shown ([`listen_to_service_worker`])
/// unless another tab of this browser is seen more and notifies by its own rule — a chat on
/// screen there is read there, and would otherwise flash a notification here that closes once
/// this tab hears so. A page no service worker controls (a reload that bypassed it) shows it
/// at once; a browser without one shows nothing, and so does a page of a new release while
/// the service worker of the release before still controls it (it does not answer asks).
pub fn show(arrival: Arrival) {
    let options = web_sys::NotificationOptions::new();
    options.set_body(&arrival.body);
    options.set_tag(&tag_of(arrival.chat));
    options.set_icon("/icons/icon-192.png");
    let data = js_sys::Object::new();
    let _ = js_sys::Reflect::set(
        &data,
        &JsValue::from_str("chat"),
        &JsValue::from_f64(arrival.chat.0 as f64),
    );
    options.set_data(&data);
    // The ask, and the answer: `[title, options]`.
    let notify = js_sys::Array::of2(&JsValue::from_str(&arrival.title), &options);
    let controller =
        web_sys::window().and_then(|window| window.navigator().service_worker().controller());
    match controller {
        Some(worker) => {
            if let Err(error) = worker.post_message(&notify) {
                leptos::logging::warn!("cannot show a notification: {error:?}");
            }
        }
        None => show_now(notify),
    }
}

/// Shows `[title, options]` through the service worker's registration.
fn show_now(notify: js_sys::Array) {
    wasm_bindgen_futures::spawn_local(async move {
        let Some(registration) = registration().await else {
            return;
        };
        let title = notify.get(0).as_string().unwrap_or_default();
        let options = notify
            .get(1)
            .unchecked_into::<web_sys::NotificationOptions>();
        match registration.show_notification_with_options(&title, &options) {
            Ok(shown) => {
                if let Err(error) = JsFuture::from(shown).await {
                    leptos::logging::warn!("cannot show a notification: {error:?}");
                }
            }
            Err(error) => leptos::logging::warn!("cannot show a notification: {error:?}"),
        }
    });
}

thread_local! {
    static LISTENING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Listens to the service worker, once per page, for the page's life: shows the notifications
/// it hands back ([`show`]), and calls `open` with the chat of a notification the person
/// clicked — the service worker posts `{ openChat }` to the tab it focuses, or opens the app
/// at `/#chat=<id>` when no tab is open, and the address is read now. Later calls (the main
/// screen mounted again after a sign-in) change nothing.
pub fn listen_to_service_worker(open: impl Fn(ChatId) + 'static) {
    if LISTENING.with(|listening| listening.replace(true)) {
        return;
    }
    let Some(window) = web_sys::window() else {
        return;
    };
    if let Some(chat) = chat_in_address(&window) {
        open(chat);
    }
    let listener =
        Closure::<dyn Fn(web_sys::MessageEvent)>::new(move |event: web_sys::MessageEvent| {
            let data = event.data();
            if js_sys::Array::is_array(&data) {
                show_now(data.unchecked_into());
                return;
            }
            let chat = js_sys::Reflect::get(&data, &JsValue::from_str("openChat"))
                .ok()
                .and_then(|chat| chat.as_f64());
            if let Some(chat) = chat.filter(|chat| *chat >= 0.0) {
                open(ChatId(chat as u64));
            }
        });
    let _ = window
        .navigator()
        .service_worker()
        .add_event_listener_with_callback("message", listener.as_ref().unchecked_ref());
    listener.forget();
}

/// The chat named by the address's `#chat=<id>`, which is then taken off the address (a
/// reload shows what the person chose since, not that chat again): the app's one address,
/// `/`, is left.
fn chat_in_address(window: &web_sys::Window) -> Option<ChatId> {
    let hash = window.location().hash().ok()?;
    let chat = hash.strip_prefix("#chat=")?.parse().ok().map(ChatId);
    if let Ok(history) = window.history() {
        let _ = history.replace_state_with_url(&JsValue::NULL, "", Some("/"));
    }
    chat
}

/// Shows a notification for each chat whose unread count goes up while the person looks
/// elsewhere, as long as they are on and the browser allows them, and closes a chat's once
/// it is read ([`read_since`]), as WhatsApp and Signal do. Only news counts: while a page just
/// opened catches up, counts are taken in silence — they are what the person has not read,
/// not what just arrived. What comes while a reconnect catches up is news, told once it is
/// done: the counts from before the connection dropped stand until then.
pub fn watch(
    chats: leptos::prelude::Signal<Vec<ChatRow>>,
    open: leptos::prelude::Signal<Option<ChatId>>,
    phase: leptos::prelude::Signal<ConnectionPhase>,
    prefs: leptos::prelude::Signal<NotifyPrefs>,
) {
    use leptos::prelude::*;

    let seen = StoredValue::new(Vec::<(ChatId, usize)>::new());
    let caught_up = StoredValue::new(false);
    Effect::new(move |_| {
        let before = seen.get_value();
        let online = phase.get() == ConnectionPhase::Online;
        if !online && caught_up.get_value() {
            return;
        }
        caught_up.set_value(online);
        let now = chats.with(|chats| {
            if online && permission() == Permission::Granted {
                let shown = arrivals(
                    &before,
                    chats,
                    open.get_untracked(),
                    crate::engine_link::page_looked_at(),
                    prefs.get_untracked(),
                );
                shown.into_iter().for_each(show);
            }
            let read = read_since(&before, chats);
            if !read.is_empty() {
                close(Some(read));
            }
            chats.iter().map(|chat| (chat.id, chat.unread)).collect()
        });
        seen.set_value(now);
    });
}

/// Applies a new choice (`current` the one in force): turning notifications on asks the
/// browser first (this runs from the person's click, the moment a prompt makes sense) and
/// stays off, with `note` saying why, if the browser refuses; `apply` keeps a choice made.
pub fn change(
    next: NotifyPrefs,
    current: NotifyPrefs,
    apply: impl Fn(NotifyPrefs) + 'static,
    note: leptos::prelude::RwSignal<Option<String>>,
) {
    use leptos::prelude::*;

    if !next.enabled || current.enabled {
        apply(next);
        note.set(None);
        return;
    }
    wasm_bindgen_futures::spawn_local(async move {
        let answer = match permission() {
            Permission::Ask => ask().await,
            other => other,
        };
        let words = match answer {
            Permission::Granted => {
                apply(next);
                note.set(None);
                return;
            }
            Permission::Denied => Text::NotificationsBlocked,
            Permission::Unsupported => Text::NotificationsUnsupported,
            Permission::Ask => Text::NotificationsNotAllowed,
        };
        note.set(Some(t(words)));
    });
}
