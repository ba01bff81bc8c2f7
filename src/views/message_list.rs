//! The messages of one chat.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use leptos::html::Div;
use leptos::prelude::*;
use merpati_core::MessageStatus;

/// One message as the list shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRow {
    /// The client message id in hex (`data-msg-id`), stable from pending to sent.
    pub id: String,
    /// How far it has come (`data-status`).
    pub status: MessageStatus,
    /// Whether this account wrote it (`data-own`).
    pub own: bool,
    /// What it says.
    pub text: String,
    /// The sender's name, shown for others' messages in groups.
    pub sender: Option<String>,
    /// When it was sent, as the person's clock shows it.
    pub time: String,
}

/// Distance from an edge, in pixels, that counts as "at" the edge.
const EDGE_PX: i32 = 48;

/// The messages in the order given (oldest first). Follows the newest message while the reader
/// is at the bottom, keeps the reading position when older messages are added above, and asks
/// for older messages when the reader reaches the top.
#[component]
pub fn MessageList(
    /// The messages.
    #[prop(into)]
    rows: Signal<Vec<MessageRow>>,
    /// Asked when the reader reaches the top (or the list does not fill its box).
    on_reach_top: Callback<()>,
    /// Send a refused message again (its id); offered on failed messages when given.
    #[prop(optional)]
    on_retry: Option<Callback<String>>,
) -> impl IntoView {
    let list = NodeRef::<Div>::new();
    // Plain cells, not reactive values: the frame callback below may run after the list is
    // gone (another chat opened), and must then find its state still there.
    let scroll = Rc::new(ScrollState::default());

    let after_render = scroll.clone();
    Effect::new(move |_| {
        let ends = rows.with(|rows| Ends {
            first: rows.first().map(|row| row.id.clone()),
            last: rows.last().map(|row| row.id.clone()),
            last_own: rows.last().is_some_and(|row| row.own),
        });
        let scroll = after_render.clone();
        // After the browser has laid the new rows out.
        request_animation_frame(move || {
            let Some(Some(element)) = list.try_get_untracked() else {
                return;
            };
            let old = scroll.ends.replace(ends.clone());
            if ends.last_own && ends.last != old.last {
                // The reader just sent this: show it.
                scroll.follow_newest.set(true);
            }
            let height = element.scroll_height();
            if scroll.follow_newest.get() {
                element.set_scroll_top(height);
            } else if ends.first != old.first && old.first.is_some() {
                // Older messages were added above: keep what the reader was looking at.
                element.set_scroll_top(element.scroll_top() + height - scroll.height.get());
            }
            scroll.height.set(height);
            if ends.first.is_some() && height <= element.client_height() {
                on_reach_top.try_run(());
            }
        });
    });

    let on_scroll = move |_| {
        let Some(Some(element)) = list.try_get_untracked() else {
            return;
        };
        let bottom_gap = element.scroll_height() - element.scroll_top() - element.client_height();
        scroll.follow_newest.set(bottom_gap < EDGE_PX);
        scroll.height.set(element.scroll_height());
        if element.scroll_top() < EDGE_PX {
            on_reach_top.try_run(());
        }
    };

    // What can change about a message already shown (pending → sent → read, and its time),
    // by id: the rows stay the same DOM elements and only these parts update.
    let live = Memo::new(move |_| {
        rows.with(|rows| {
            rows.iter()
                .map(|row| (row.id.clone(), (row.status, row.time.clone())))
                .collect::<HashMap<String, (MessageStatus, String)>>()
        })
    });

    view! {
        <div class="message-list" node_ref=list on:scroll=on_scroll role="log" aria-live="polite">
            <For
                each=move || rows.get()
                key=|row| row.id.clone()
                children=move |row| {
                    let id = row.id.clone();
                    let initial = (row.status, row.time.clone());
                    let state = Signal::derive(move || {
                        live.with(|live| live.get(&id).cloned()).unwrap_or_else(|| initial.clone())
                    });
                    view! { <Message row state on_retry/> }
                }
            />
        </div>
    }
}

/// The first and last rows, to tell new messages below from older ones above.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Ends {
    first: Option<String>,
    last: Option<String>,
    last_own: bool,
}

/// Where the list stands, between renders.
#[derive(Debug)]
struct ScrollState {
    follow_newest: Cell<bool>,
    height: Cell<i32>,
    ends: RefCell<Ends>,
}

impl Default for ScrollState {
    fn default() -> Self {
        ScrollState {
            follow_newest: Cell::new(true),
            height: Cell::new(0),
            ends: RefCell::default(),
        }
    }
}

/// One message bubble; `state` is its live status and time.
#[component]
fn Message(
    row: MessageRow,
    state: Signal<(MessageStatus, String)>,
    on_retry: Option<Callback<String>>,
) -> impl IntoView {
    let id = row.id.clone();
    let status = move || state.with(|(status, _)| *status);
    let status_words = move || match status() {
        MessageStatus::Pending => "Sending…",
        MessageStatus::Sent => "Sent",
        MessageStatus::Read => "Read",
        MessageStatus::Failed => "Not sent",
    };
    view! {
        <div
            data-testid="message"
            class="message"
            class:own=row.own
            data-msg-id=row.id
            data-status=move || status().as_str()
            data-own=if row.own { "true" } else { "false" }
        >
            {row.sender.map(|name| view! { <span class="sender">{name}</span> })}
            <p data-testid="message-text" class="message-text">
                {row.text}
            </p>
            <span class="meta">
                <time>{move || state.with(|(_, time)| time.clone())}</time>
                {row
                    .own
                    .then(|| {
                        view! {
                            <span data-testid="message-status" class="status">
                                {status_words}
                            </span>
                        }
                    })}
                {on_retry
                    .filter(|_| row.own)
                    .map(|on_retry| {
                        view! {
                            <button
                                type="button"
                                class="link"
                                data-testid="message-retry"
                                hidden=move || status() != MessageStatus::Failed
                                on:click=move |_| on_retry.run(id.clone())
                            >
                                "Retry"
                            </button>
                        }
                    })}
            </span>
        </div>
    }
}
