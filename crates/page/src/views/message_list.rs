//! The messages of one chat, as a virtualized list.
//!
//! A chat can hold 100,000 messages; the DOM holds at most [`WINDOW`] of them. The list renders
//! a sliding window of rows by index, with a spacer above and below whose heights stand in for
//! the rows left out (their count times the average height of the rows on screen). Rows wrap,
//! so heights are never assumed exact: whenever the window moves or rows are added, the list
//! notes where one row on screen stood (its *anchor*) and, once the browser has laid the new
//! rows out, scrolls by however far that row moved. The reader sees nothing jump.
//!
//! The window is named by the id of its first row, not by its index, so messages added above
//! (older pages) or below (new messages) leave it where it is. While the reader is at the bottom
//! the window instead follows the newest message, and the view stays at it when the list's box
//! changes height (the typing line, a growing draft, a resized window).
//!
//! Rows stand at fractions of a pixel (the stylesheet's rem-based gaps and line heights), but a
//! browser scrolls by whole pixels. So putting the anchor back scrolls by whole pixels and moves
//! the rows by the rest through a margin under the top spacer, less than a pixel: the anchor
//! row lands exactly where it stood, not half a pixel off each time the window moves.

use std::cell::RefCell;
use std::rc::Rc;

use leptos::html::Div;
use leptos::prelude::*;
use merpati_bridge::{ChatRow, MessageRow};
use merpati_words::{Text, t};
use wasm_bindgen::JsCast;
use web_sys::HtmlElement;

use super::message::{Message, MessageHandlers};
use super::message_menu::MenuChoice;

/// The most message rows in the DOM at once (the product's budget is 200).
pub const WINDOW: usize = 150;
/// How many rows the window moves by when the reader nears one of its ends.
const STEP: usize = 50;
/// A row's height, in pixels, until rows on screen have been measured.
const FIRST_ESTIMATE_PX: f64 = 60.0;
/// Distance from an edge, in pixels, that counts as "at" the edge.
const EDGE_PX: f64 = 48.0;
/// How long a message a quote jumped to stays highlighted.
const HIGHLIGHT_MS: u64 = 2000;
/// Where a message a quote jumped to stands, in pixels below the top of the view: room for the
/// lines above it (its day, the unread divider).
const JUMP_OFFSET_PX: f64 = 72.0;

/// A `ResizeObserver` and what it calls, let go of together: the observer stops first, so it
/// never calls a closure already dropped.
struct ResizeWatch {
    observer: Option<web_sys::ResizeObserver>,
    _on_resize: wasm_bindgen::closure::Closure<dyn FnMut()>,
}

impl Drop for ResizeWatch {
    fn drop(&mut self) {
        if let Some(observer) = &self.observer {
            observer.disconnect();
        }
    }
}

/// Which rows the reader wants rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Wanted {
    /// The newest rows, following new messages as they come.
    Newest,
    /// The window that starts at this row (its id).
    From(String),
}

/// The rendered rows: `start..end` of `len`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Span {
    start: usize,
    end: usize,
    len: usize,
}

/// A row on screen and how far below the top of the viewport it stood, in pixels.
#[derive(Debug, Clone)]
struct Anchor {
    id: String,
    offset: f64,
}

/// What the list remembers between a scroll and the next layout. Plain cells, not reactive
/// values: a frame callback may run after the list is gone (another chat opened) and must then
/// find its state still there.
#[derive(Debug, Default)]
struct ScrollMemory {
    anchor: RefCell<Option<Anchor>>,
    last_row: RefCell<Option<String>>,
}

/// The messages in the order given (oldest first), virtualized. Follows the newest message while
/// the reader is at the bottom or has just sent one, keeps the reading position when rows are
/// added above or the window moves, offers to jump to the newest message when the reader has
/// scrolled away from it, and asks for older messages when the reader reaches the top.
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
    /// Open a message's details (its id): who has it and who read it; offered on own
    /// messages when given.
    #[prop(optional)]
    on_details: Option<Callback<String>>,
    /// A choice in a message's menu; without it messages have no menu.
    #[prop(default = None)]
    on_choice: Option<Callback<MenuChoice>>,
    /// The chats a message can be forwarded to.
    #[prop(into, default = Signal::stored(Vec::new()))]
    forward_targets: Signal<Vec<ChatRow>>,
    /// A message to bring into sight and highlight, as a quote's jump does (a search result
    /// chosen); each new value jumps once.
    #[prop(into, default = Signal::stored(None))]
    reveal: Signal<Option<String>>,
    /// A quote's target is not among the rows (it lies further back): its id, for the worker to
    /// load back to it (it then comes as `reveal`).
    #[prop(optional)]
    on_unloaded: Option<Callback<String>>,
) -> impl IntoView {
    let list = NodeRef::<Div>::new();
    let top_spacer = NodeRef::<Div>::new();
    let bottom_spacer = NodeRef::<Div>::new();
    let wanted = RwSignal::new(Wanted::Newest);
    let estimate = RwSignal::new(FIRST_ESTIMATE_PX);
    // The margin under the top spacer, in [0, 1) pixels (see the module documentation).
    let spacer_fraction = RwSignal::new(0.0_f64);
    let memory = Rc::new(ScrollMemory::default());
    // For the quote's jump (a callback, which must be `Send`: the memory stays on this thread).
    let jump_memory = StoredValue::new_local(memory.clone());

    // Each jump to the newest message: it scrolls even when the window does not move (a short
    // chat, or a short way up a long one, where the newest rows are rendered already).
    let jumps = RwSignal::new(0_u32);

    let span = Memo::new(move |previous: Option<&Span>| {
        let hint = previous.map_or(0, |span| span.start);
        rows.with(|rows| {
            let len = rows.len();
            let newest = len.saturating_sub(WINDOW);
            let start = wanted.with(|wanted| match wanted {
                Wanted::Newest => newest,
                Wanted::From(id) => position_of(rows, id, hint).unwrap_or(hint).min(newest),
            });
            Span {
                start,
                end: (start + WINDOW).min(len),
                len,
            }
        })
    });
    let rendered_rows = Memo::new(move |_| {
        let Span { start, end, .. } = span.get();
        rows.with(|rows| rows[start..end].to_vec())
    });
    let top_px = move || css_px((span.get().start as f64 * estimate.get()).round());
    // Apart from the height: the browser keeps a tall spacer's height in single precision,
    // which cannot hold a fraction of a pixel at millions of pixels.
    let top_fraction_px = move || css_px(spacer_fraction.get());
    let bottom_px = move || {
        let span = span.get();
        css_px((span.len - span.end) as f64 * estimate.get())
    };

    // After every change of what is rendered: once laid out, either show the newest row or
    // put the anchor row back where the reader saw it.
    let after_render = memory.clone();
    Effect::new(move |_| {
        let span = span.get();
        estimate.track();
        jumps.track();
        let last = rows.with(|rows| rows.last().map(|row| (row.id.clone(), row.own)));
        let last_id = last.as_ref().map(|(id, _)| id.clone());
        let previous_last = after_render.last_row.replace(last_id.clone());
        if last.is_some_and(|(_, own)| own) && previous_last.is_some() && previous_last != last_id {
            // The reader just sent this: show it.
            if wanted.with_untracked(|wanted| *wanted != Wanted::Newest) {
                wanted.set(Wanted::Newest);
            }
        }
        let memory = after_render.clone();
        request_animation_frame(move || {
            let Some(Some(element)) = list.try_get_untracked() else {
                return;
            };
            let Some(newest) = wanted.try_with_untracked(|wanted| *wanted == Wanted::Newest) else {
                return;
            };
            let anchor = memory.anchor.borrow().clone();
            let anchor_row = anchor.and_then(|anchor| {
                let row = row_element(&element, &anchor.id)?;
                Some((anchor, row))
            });
            match anchor_row {
                Some((anchor, row)) if !newest => {
                    // Whole pixels by scrolling, the rest by the top spacer (module docs): the
                    // row stands where it stood, and so does the anchor.
                    let moved = offset_in_view(&element, &row) - anchor.offset;
                    let fraction = spacer_fraction.get_untracked();
                    let scroll_px = (moved - fraction).ceil();
                    element.set_scroll_top(element.scroll_top() + scroll_px as i32);
                    let fraction = fraction + scroll_px - moved;
                    if fraction != spacer_fraction.get_untracked() {
                        spacer_fraction.set(fraction);
                    }
                }
                _ => {
                    if newest {
                        element.set_scroll_top(element.scroll_height());
                    }
                    remember_anchor(&element, &memory);
                }
            }
            // The oldest rows are rendered and the reader is at the top (or the list does not
            // fill its box): ask for older ones.
            let at_top = element.scroll_top() < EDGE_PX as i32;
            if span.start == 0
                && span.len > 0
                && (at_top || element.scroll_height() <= element.client_height())
            {
                on_reach_top.try_run(());
            }
        });
    });

    let on_scroll = move |_| {
        let Some(element) = list.get_untracked() else {
            return;
        };
        let top = f64::from(element.scroll_top());
        let view_height = f64::from(element.client_height());
        let full = f64::from(element.scroll_height());
        let current = span.get_untracked();
        if full - top - view_height < EDGE_PX {
            if wanted.with_untracked(|wanted| *wanted != Wanted::Newest) {
                wanted.set(Wanted::Newest);
            }
            remember_anchor(&element, &memory);
            return;
        }
        let (Some(above), Some(below)) =
            (top_spacer.get_untracked(), bottom_spacer.get_untracked())
        else {
            return;
        };
        // Where the rendered rows begin and end in the scrolled content.
        let spacer_top = f64::from(above.offset_top());
        let rendered_top = spacer_top + f64::from(above.offset_height());
        let rendered_bottom = f64::from(below.offset_top());
        // The height the spacers are laid out with: a position inside them means a row by this
        // estimate, even when the rows on screen measure otherwise.
        let per_row = estimate.get_untracked();
        let rendered = current.end - current.start;
        if rendered > 0 {
            // Only a real change re-lays the spacers out (and moves the anchor back).
            let measured = ((rendered_bottom - rendered_top) / rendered as f64).max(1.0);
            if (measured - per_row).abs() >= 1.0 {
                estimate.set(measured);
            }
        }
        let newest_start = current.len.saturating_sub(WINDOW);
        let mut start = current.start;
        // The row the reader dragged the scrollbar to, if they did.
        let mut dragged_to = None;
        if current.start > 0 && top < rendered_top + view_height {
            if top + view_height < rendered_top {
                // Far above the rendered rows: go by the estimate.
                let index = ((top - spacer_top).max(0.0) / per_row) as usize;
                start = index.saturating_sub(WINDOW / 3);
                dragged_to = Some(index);
            } else {
                start = current.start.saturating_sub(STEP);
            }
        } else if current.end < current.len && top + 2.0 * view_height > rendered_bottom {
            if top > rendered_bottom {
                let index = current.end + ((top - rendered_bottom) / per_row) as usize;
                start = index.saturating_sub(WINDOW / 3);
                dragged_to = Some(index);
            } else {
                start = current.start + STEP;
            }
        }
        let start = start.min(newest_start);
        match dragged_to {
            // That row goes to the top of the view, however far the new estimate moves it.
            Some(index) => {
                let id = rows.with_untracked(|rows| {
                    rows.get(index.min(rows.len().saturating_sub(1)))
                        .map(|row| row.id.clone())
                });
                memory
                    .anchor
                    .replace(id.map(|id| Anchor { id, offset: 0.0 }));
            }
            None => remember_anchor(&element, &memory),
        }
        let first = rows.with_untracked(|rows| rows.get(start).map(|row| row.id.clone()));
        if let Some(first) = first {
            let next = Wanted::From(first);
            if wanted.with_untracked(|wanted| *wanted != next) {
                wanted.set(next);
            }
        }
        if current.start == 0 && top < EDGE_PX {
            on_reach_top.try_run(());
        }
    };

    // A quote was clicked: bring the quoted message into view and highlight it briefly. A row
    // already rendered is scrolled to at once; otherwise the window moves to it and the
    // after-render step puts it where the anchor says (like a dragged scrollbar).
    let highlighted = RwSignal::new(None::<String>);
    let on_quote = Callback::new(move |target: String| {
        let Some(element) = list.get_untracked() else {
            return;
        };
        let Some(index) = rows.with_untracked(|rows| position_of(rows, &target, 0)) else {
            if let Some(on_unloaded) = on_unloaded {
                on_unloaded.run(target);
            }
            return;
        };
        highlighted.set(Some(target.clone()));
        let clear = target.clone();
        set_timeout(
            move || {
                if highlighted.try_get_untracked().flatten().as_deref() == Some(clear.as_str()) {
                    highlighted.try_set(None);
                }
            },
            std::time::Duration::from_millis(HIGHLIGHT_MS),
        );
        if let Some(row) = row_element(&element, &target) {
            let moved = offset_in_view(&element, &row) - JUMP_OFFSET_PX;
            element.set_scroll_top(element.scroll_top() + moved.round() as i32);
            return;
        }
        jump_memory.with_value(|memory| {
            memory.anchor.replace(Some(Anchor {
                id: target,
                offset: JUMP_OFFSET_PX,
            }))
        });
        let first = rows.with_untracked(|rows| {
            rows.get(index.saturating_sub(WINDOW / 3))
                .map(|row| row.id.clone())
        });
        if let Some(first) = first {
            wanted.set(Wanted::From(first));
        }
    });
    Effect::new(move |_| {
        if let Some(target) = reveal.get() {
            on_quote.run(target);
        }
    });
    // The list's box changes height (the typing line or a longer draft below it, a phone's
    // keyboard, a resized window) and the browser keeps the offset from the top, hiding the
    // newest rows from a reader who was at them: such a reader stays at the newest. The
    // observer's first call, when it starts, only notes the height.
    let mut seen_height = 0;
    let keep_newest = wasm_bindgen::closure::Closure::<dyn FnMut()>::new(move || {
        let Some(Some(element)) = list.try_get_untracked() else {
            return;
        };
        let before = std::mem::replace(&mut seen_height, element.client_height());
        if before != 0
            && before != element.client_height()
            && wanted.try_with_untracked(|wanted| *wanted == Wanted::Newest) == Some(true)
        {
            element.set_scroll_top(element.scroll_height());
        }
    });
    let resizes = StoredValue::new_local(ResizeWatch {
        observer: web_sys::ResizeObserver::new(keep_newest.as_ref().unchecked_ref()).ok(),
        _on_resize: keep_newest,
    });
    list.on_load(move |element| {
        resizes.with_value(|watch| watch.observer.as_ref().map(|o| o.observe(&element)));
    });
    let handlers = MessageHandlers {
        on_choice,
        forward_targets,
        on_quote,
        on_retry,
        on_details,
        highlighted: highlighted.into(),
    };

    view! {
        <div class="message-pane">
            <div
                class="message-list"
                node_ref=list
                on:scroll=on_scroll
                role="log"
                aria-live="polite"
            >
                <div
                    class="message-spacer"
                    style:height=top_px
                    style:margin-bottom=top_fraction_px
                    node_ref=top_spacer
                    aria-hidden="true"
                ></div>
                <For
                    each=move || rendered_rows.get()
                    key=|row| row.id.clone()
                    children=move |row| {
                        // The rows stay the same DOM elements and only their changing parts
                        // update: each reads its own row, by id, from the (windowed) rows.
                        let id = row.id.clone();
                        let state = Signal::derive(move || {
                            rendered_rows
                                .with(|rows| rows.iter().find(|now| now.id == id).cloned())
                                .unwrap_or_else(|| row.clone())
                        });
                        // A day's first message, and the first unread, have a line above
                        // them; the line is part of the row, so it moves with it.
                        let day = move || {
                            state
                                .with(|row| row.day.clone())
                                .map(|day| {
                                    view! {
                                        <div class="day-separator" data-testid="day-separator">
                                            {day}
                                        </div>
                                    }
                                })
                        };
                        let unread = move || {
                            state
                                .with(|row| row.unread_from_here.clone())
                                .map(|words| {
                                    view! {
                                        <div class="unread-divider" data-testid="unread-divider">
                                            {words}
                                        </div>
                                    }
                                })
                        };
                        view! {
                            {day}
                            {unread}
                            <Message state handlers/>
                        }
                    }
                />
                <div
                    class="message-spacer"
                    style:height=bottom_px
                    node_ref=bottom_spacer
                    aria-hidden="true"
                ></div>
            </div>
            <button
                type="button"
                class="jump-to-newest"
                data-testid="jump-to-newest"
                aria-label=t(Text::JumpToNewest)
                hidden=move || wanted.with(|wanted| *wanted == Wanted::Newest)
                on:click=move |_| {
                    wanted.set(Wanted::Newest);
                    jumps.update(|count| *count = count.wrapping_add(1));
                }
            >
                "↓"
            </button>
        </div>
    }
}

/// The index of the row with this id, looked for from `hint` on first (where it usually is, or
/// a little later when rows were added above).
fn position_of(rows: &[MessageRow], id: &str, hint: usize) -> Option<usize> {
    let hint = hint.min(rows.len());
    rows[hint..]
        .iter()
        .position(|row| row.id == id)
        .map(|found| hint + found)
        .or_else(|| rows[..hint].iter().rposition(|row| row.id == id))
}

/// The rendered row with this id.
fn row_element(list: &HtmlElement, id: &str) -> Option<HtmlElement> {
    list.query_selector(&format!("[data-msg-id=\"{id}\"]"))
        .ok()
        .flatten()?
        .dyn_into()
        .ok()
}

/// A length in CSS pixels, to 1/10,000 px. Written as fixed point so that the page's module
/// carries no float formatting code (bench/NOTES.md).
fn css_px(value: f64) -> String {
    let ten_thousandths = (value.max(0.0) * 10_000.0).round() as u64;
    format!(
        "{}.{:04}px",
        ten_thousandths / 10_000,
        ten_thousandths % 10_000
    )
}

/// How far below the top of the list's viewport `row` stands, in pixels and their fractions.
fn offset_in_view(list: &HtmlElement, row: &HtmlElement) -> f64 {
    row.get_bounding_client_rect().top() - list.get_bounding_client_rect().top()
}

/// Notes the first row whose bottom is below the top of the viewport, and where it stands.
fn remember_anchor(list: &HtmlElement, memory: &ScrollMemory) {
    let mut child = list.first_element_child();
    let mut anchor = None;
    while let Some(element) = child {
        child = element.next_element_sibling();
        let Ok(row) = element.dyn_into::<HtmlElement>() else {
            continue;
        };
        let offset = offset_in_view(list, &row);
        if offset + row.get_bounding_client_rect().height() > 0.0
            && let Some(id) = row.get_attribute("data-msg-id")
        {
            anchor = Some(Anchor { id, offset });
            break;
        }
    }
    memory.anchor.replace(anchor);
}
