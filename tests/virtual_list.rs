//! The virtualized message list: a chat of 100,000 messages keeps at most 200 rows in the DOM
//! wherever the reader scrolls, shows the right rows, keeps the reading position while its
//! window moves, and jumps to the newest message on request.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures::channel::oneshot;
use leptos::mount::mount_to;
use leptos::prelude::*;
use merpati_bridge::{MessageRow, MessageStatus};
use merpati_page::views::message_list::MessageList;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};
use web_sys::HtmlElement;

wasm_bindgen_test_configure!(run_in_browser);

mod support;
use support::list_box;

/// The product's bound on message rows in the DOM.
const MAX_ROWS: usize = 200;

/// Message `index`: its id is the index in 32 hex digits, and its text wraps over one to five
/// lines, so rows differ in height as real ones do.
fn message(index: usize) -> MessageRow {
    MessageRow {
        id: format!("{index:032x}"),
        status: MessageStatus::Sent,
        own: index.is_multiple_of(3),
        text: format!("message {index} ") + &"lorem ipsum dolor ".repeat(index % 5 * 3),
        sender: None,
        time: "09:41".to_owned(),
        ..MessageRow::default()
    }
}

fn messages(range: std::ops::Range<usize>) -> Vec<MessageRow> {
    range.map(message).collect()
}

/// Waits for the browser to lay out and paint `n` times.
async fn frames(n: usize) {
    for _ in 0..n {
        let (done, painted) = oneshot::channel();
        request_animation_frame(move || {
            let _ = done.send(());
        });
        let _ = painted.await;
    }
}

/// Lets the list react to a change or a scroll and settle.
async fn settle() {
    leptos::task::tick().await;
    frames(4).await;
}

fn scroller(root: &HtmlElement) -> HtmlElement {
    root.query_selector(".message-list")
        .expect("a valid selector")
        .expect("the message list")
        .unchecked_into()
}

fn rows(root: &HtmlElement) -> Vec<HtmlElement> {
    let list = root
        .query_selector_all("[data-testid=message]")
        .expect("a valid selector");
    (0..list.length())
        .filter_map(|i| list.item(i)?.dyn_into().ok())
        .collect()
}

fn index_of(row: &HtmlElement) -> usize {
    let id = row.get_attribute("data-msg-id").expect("a data-msg-id");
    usize::from_str_radix(&id, 16).expect("a hex id")
}

/// The indices of the rendered rows, in DOM order.
fn rendered(root: &HtmlElement) -> Vec<usize> {
    rows(root).iter().map(index_of).collect()
}

/// The rows the reader can see, with how far each stands below the top of the viewport.
fn visible(root: &HtmlElement) -> Vec<(usize, i32)> {
    let list = scroller(root);
    let (top, height) = (list.scroll_top(), list.client_height());
    rows(root)
        .iter()
        .filter(|row| row.offset_top() + row.offset_height() > top)
        .filter(|row| row.offset_top() < top + height)
        .map(|row| (index_of(row), row.offset_top() - top))
        .collect()
}

fn jump_button(root: &HtmlElement) -> HtmlElement {
    root.query_selector("[data-testid=jump-to-newest]")
        .expect("a valid selector")
        .expect("the jump-to-newest button")
        .unchecked_into()
}

/// The rendered rows are few, consecutive, and include every row the reader sees.
fn assert_window(root: &HtmlElement, where_: &str) {
    let rendered = rendered(root);
    assert!(
        !rendered.is_empty() && rendered.len() <= MAX_ROWS,
        "{where_}: {} message rows in the DOM",
        rendered.len()
    );
    assert!(
        rendered.windows(2).all(|pair| pair[1] == pair[0] + 1),
        "{where_}: the rendered rows are consecutive and in order"
    );
    assert!(!visible(root).is_empty(), "{where_}: some row is in view");
}

#[wasm_bindgen_test]
async fn a_chat_of_100000_messages_keeps_at_most_200_rows_in_the_dom_wherever_one_scrolls() {
    const COUNT: usize = 100_000;
    let rows_signal = RwSignal::new(messages(0..COUNT));
    let reached_top = Arc::new(AtomicUsize::new(0));
    let root = list_box(360, 400);

    let started = js_sys::Date::now();
    let seen = reached_top.clone();
    let _handle = mount_to(root.clone(), move || {
        let seen = seen.clone();
        let on_reach_top = Callback::new(move |()| {
            seen.fetch_add(1, Ordering::Relaxed);
        });
        view! { <MessageList rows=rows_signal on_reach_top/> }
    });
    leptos::task::tick().await;
    frames(1).await;
    leptos::logging::log!(
        "first paint of a {COUNT}-message list: {} ms",
        js_sys::Date::now() - started
    );
    settle().await;

    // At the bottom: the newest message is in view.
    assert_window(&root, "at the bottom");
    assert_eq!(rendered(&root).last(), Some(&(COUNT - 1)));
    assert!(
        visible(&root).iter().any(|(index, _)| *index == COUNT - 1),
        "the newest message is in view"
    );
    assert!(jump_button(&root).hidden(), "no jump offered at the bottom");

    // The middle, reached by dragging the scrollbar.
    let list = scroller(&root);
    list.set_scroll_top(list.scroll_height() / 2);
    settle().await;
    assert_window(&root, "in the middle");
    let in_view: Vec<usize> = visible(&root).iter().map(|(index, _)| *index).collect();
    assert!(
        in_view.iter().all(|index| (40_000..60_000).contains(index)),
        "the rows in view belong to the middle of the chat: {in_view:?}"
    );
    assert!(
        !jump_button(&root).hidden(),
        "a jump is offered away from the bottom"
    );

    // Reading upwards, past several moves of the window: the text moves exactly as far as the
    // reader scrolled, never jumps.
    for step in 0..40 {
        let (index, offset) = visible(&root)[0];
        list.set_scroll_top(list.scroll_top() - 300);
        settle().await;
        assert_window(&root, "reading upwards");
        let now = visible(&root)
            .into_iter()
            .find(|(seen, _)| *seen == index)
            .map(|(_, offset)| offset);
        assert_eq!(
            now,
            Some(offset + 300),
            "step {step}: row {index} moved by the 300 px scrolled"
        );
    }

    // The top: the oldest message is in view, and older history is asked for.
    for _ in 0..30 {
        list.set_scroll_top(0);
        settle().await;
        if rendered(&root).first() == Some(&0) && list.scroll_top() == 0 {
            break;
        }
    }
    assert_window(&root, "at the top");
    assert_eq!(rendered(&root).first(), Some(&0));
    assert!(
        visible(&root).iter().any(|(index, _)| *index == 0),
        "the oldest message is in view"
    );
    assert!(
        reached_top.load(Ordering::Relaxed) > 0,
        "older messages were asked for"
    );

    // Jump to the newest message.
    jump_button(&root).click();
    settle().await;
    assert_window(&root, "after jumping to the newest");
    assert!(
        visible(&root).iter().any(|(index, _)| *index == COUNT - 1),
        "the newest message is in view after the jump"
    );
    assert!(jump_button(&root).hidden());
}

#[wasm_bindgen_test]
async fn older_messages_added_above_leave_the_reader_where_they_were() {
    let rows_signal = RwSignal::new(messages(1_000..1_300));
    let root = list_box(360, 400);
    let _handle = mount_to(root.clone(), move || {
        view! { <MessageList rows=rows_signal on_reach_top=Callback::new(|()| {})/> }
    });
    settle().await;
    let list = scroller(&root);
    list.set_scroll_top(list.scroll_top() - 1_500);
    settle().await;
    let (index, offset) = visible(&root)[1];

    rows_signal.update(|rows| {
        let mut older = messages(950..1_000);
        older.append(rows);
        *rows = older;
    });
    settle().await;
    assert_window(&root, "after older messages came");
    let now = visible(&root)
        .into_iter()
        .find(|(seen, _)| *seen == index)
        .map(|(_, offset)| offset);
    assert_eq!(
        now,
        Some(offset),
        "row {index} stayed where the reader saw it"
    );
}

#[wasm_bindgen_test]
async fn new_messages_show_at_the_bottom_and_never_pull_a_reader_away_from_older_ones() {
    let rows_signal = RwSignal::new(messages(0..1_000));
    let root = list_box(360, 400);
    let _handle = mount_to(root.clone(), move || {
        view! { <MessageList rows=rows_signal on_reach_top=Callback::new(|()| {})/> }
    });
    settle().await;

    // At the bottom, a message from someone else comes into view.
    rows_signal.update(|rows| rows.push(message(1_000)));
    settle().await;
    assert_window(&root, "after a new message");
    assert!(visible(&root).iter().any(|(index, _)| *index == 1_000));

    // Reading older messages, the next one does not move the text.
    let list = scroller(&root);
    list.set_scroll_top(list.scroll_top() - 2_000);
    settle().await;
    let (index, offset) = visible(&root)[1];
    rows_signal.update(|rows| rows.push(message(1_001)));
    settle().await;
    let now = visible(&root)
        .into_iter()
        .find(|(seen, _)| *seen == index)
        .map(|(_, offset)| offset);
    assert_eq!(
        now,
        Some(offset),
        "row {index} stayed where the reader saw it"
    );
    assert!(
        !jump_button(&root).hidden(),
        "a jump to the newest is offered"
    );

    // The reader sends one: it shows.
    rows_signal.update(|rows| rows.push(message(1_002)));
    settle().await;
    assert_window(&root, "after sending");
    assert!(
        visible(&root).iter().any(|(index, _)| *index == 1_002),
        "the reader's own message is in view"
    );
    assert!(jump_button(&root).hidden());
}

/// Whether row `index` ends in view: its last line is on screen.
fn ends_in_view(root: &HtmlElement, index: usize) -> bool {
    let list = scroller(root);
    rows(root).iter().any(|row| {
        let bottom = row.offset_top() + row.offset_height();
        index_of(row) == index
            && bottom > list.scroll_top()
            && bottom <= list.scroll_top() + list.client_height()
    })
}

#[wasm_bindgen_test]
async fn a_reader_at_the_newest_message_stays_there_when_the_lists_box_shrinks() {
    // The typing line or a longer draft below the list, or a phone's keyboard, takes height
    // from it; the browser keeps the offset from the top, which would hide the newest rows.
    let rows_signal = RwSignal::new(messages(0..1_000));
    let root = list_box(360, 400);
    let _handle = mount_to(root.clone(), move || {
        view! { <MessageList rows=rows_signal on_reach_top=Callback::new(|()| {})/> }
    });
    settle().await;
    assert!(ends_in_view(&root, 999), "the newest in view at first");
    let resize = |height: u32| {
        root.style()
            .set_property("height", &format!("{height}px"))
            .expect("a height");
    };
    resize(280);
    settle().await;
    assert!(
        ends_in_view(&root, 999),
        "the newest in view in a smaller box"
    );

    // A reader of older messages is left where they are.
    let list = scroller(&root);
    list.set_scroll_top(list.scroll_top() - 1_500);
    settle().await;
    let (index, offset) = visible(&root)[1];
    resize(200);
    settle().await;
    assert_eq!(
        visible(&root)
            .into_iter()
            .find(|(seen, _)| *seen == index)
            .map(|(_, offset)| offset),
        Some(offset),
        "row {index} stayed where the reader saw it"
    );
    root.remove();
}

#[wasm_bindgen_test]
async fn the_jump_to_the_newest_brings_it_into_view_when_its_rows_are_already_rendered() {
    // Short chats render every row, and a short way up a long one the newest rows stay
    // rendered: the jump must scroll, not only wait for the window to move.
    for (count, scrolled_up) in [(40, 600), (1_000, 900)] {
        let rows_signal = RwSignal::new(messages(0..count));
        let root = list_box(360, 400);
        let _handle = mount_to(root.clone(), move || {
            view! { <MessageList rows=rows_signal on_reach_top=Callback::new(|()| {})/> }
        });
        settle().await;
        let list = scroller(&root);
        list.set_scroll_top(list.scroll_top() - scrolled_up);
        settle().await;
        assert!(
            !visible(&root).iter().any(|(index, _)| *index == count - 1),
            "{count} messages: the newest is out of view after scrolling up"
        );
        assert!(
            !jump_button(&root).hidden(),
            "{count} messages: a jump is offered"
        );

        jump_button(&root).click();
        settle().await;
        assert!(
            visible(&root).iter().any(|(index, _)| *index == count - 1),
            "{count} messages: the newest is in view after the jump"
        );
        assert!(
            jump_button(&root).hidden(),
            "{count} messages: no jump offered at the bottom"
        );
        root.remove();
    }
}

#[wasm_bindgen_test]
async fn a_chat_opened_with_unread_messages_opens_at_its_divider_not_at_the_newest() {
    // The worker names the first unread message as the one to reveal, with the rows of the
    // chat just opened: among the newest rows rendered, and far above them. The rows arrive
    // with the list (a chat opened again) or after it (opened for the first time).
    for (count, first_unread) in [(100, 60), (1_000, 700)] {
        for rows_first in [true, false] {
            let case = format!("{count} messages, rows with the list: {rows_first}");
            let mut all = messages(0..count);
            all[first_unread].unread_from_here = Some(format!("{} unread", count - first_unread));
            let rows_signal = RwSignal::new(Vec::new());
            let reveal = RwSignal::new(None);
            let chat = (all, Some(format!("{first_unread:032x}")));
            let open = move || {
                rows_signal.set(chat.0.clone());
                reveal.set(chat.1.clone());
            };
            if rows_first {
                open();
            }
            let root = list_box(360, 400);
            let _handle = mount_to(root.clone(), move || {
                view! { <MessageList rows=rows_signal reveal on_reach_top=Callback::new(|()| {})/> }
            });
            settle().await;
            if !rows_first {
                open();
                settle().await;
            }

            let list = scroller(&root);
            let divider: HtmlElement = root
                .query_selector("[data-testid=unread-divider]")
                .expect("a valid selector")
                .expect("the divider")
                .unchecked_into();
            let divider_top = divider.offset_top() - list.scroll_top();
            assert!(
                (0..list.client_height() / 2).contains(&divider_top),
                "{case}: the divider stands in the upper half of the view, at {divider_top} px"
            );
            let seen = visible(&root);
            assert!(
                seen.iter().any(|(index, _)| *index == first_unread),
                "{case}"
            );
            assert!(
                !seen.iter().any(|(index, _)| *index == count - 1),
                "{case}: not at the newest"
            );
            assert!(
                !jump_button(&root).hidden(),
                "{case}: a jump to the newest is offered"
            );
            root.remove();
        }
    }
}
