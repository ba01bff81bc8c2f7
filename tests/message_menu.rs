//! The message menu and what it does, mounted alone in Chromium: how it opens (right-click,
//! the keyboard, its "⋯" button, a long press), what it offers on own and others' messages,
//! how it closes, the actions it reports, the composer's reply and edit, and how a message
//! shows a quote, its marks, a deletion and its reactions.

use std::sync::{Arc, Mutex, PoisonError};

use futures::channel::oneshot;
use leptos::mount::mount_to;
use leptos::prelude::*;
use merpati_bridge::{ChatRow, MessageRow, MessageStatus, QuoteRow, ReactionRow};
use merpati_page::views::chat_list::ChatList;
use merpati_page::views::chat_view::{ChatView, MessageAction};
use merpati_page::views::message::LONG_PRESS_MS;
use merpati_page::views::message_list::MessageList;
use merpati_protocol::ChatId;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};
use web_sys::{Element, HtmlElement, HtmlTextAreaElement};

wasm_bindgen_test_configure!(run_in_browser);

mod support;
use support::list_box;

const OWN_ID: &str = "0000000000000000000000000000aa01";
const OTHER_ID: &str = "0000000000000000000000000000bb02";

fn document() -> web_sys::Document {
    web_sys::window()
        .and_then(|window| window.document())
        .expect("a document")
}

fn container() -> HtmlElement {
    let element = document().create_element("div").expect("a div");
    document()
        .body()
        .expect("a body")
        .append_child(&element)
        .expect("appended");
    element.unchecked_into()
}

fn find_in(root: &Element, testid: &str) -> Option<Element> {
    root.query_selector(&format!("[data-testid={testid}]"))
        .expect("a valid selector")
}

fn find(root: &Element, testid: &str) -> HtmlElement {
    find_in(root, testid)
        .unwrap_or_else(|| panic!("no element with data-testid={testid}"))
        .unchecked_into()
}

fn find_all(root: &Element, testid: &str) -> Vec<HtmlElement> {
    let list = root
        .query_selector_all(&format!("[data-testid={testid}]"))
        .expect("a valid selector");
    (0..list.length())
        .filter_map(|i| list.item(i)?.dyn_into().ok())
        .collect()
}

fn message(root: &Element, id: &str) -> HtmlElement {
    root.query_selector(&format!("[data-msg-id=\"{id}\"]"))
        .expect("a valid selector")
        .unwrap_or_else(|| panic!("no message {id}"))
        .unchecked_into()
}

fn text(element: &Element) -> String {
    element.text_content().unwrap_or_default()
}

/// The testid of the focused element, if it has one.
fn focused_testid() -> Option<String> {
    document().active_element()?.get_attribute("data-testid")
}

fn row(id: &str, own: bool, text: &str) -> MessageRow {
    MessageRow {
        id: id.to_owned(),
        status: MessageStatus::Sent,
        own,
        text: text.to_owned(),
        sender: (!own).then(|| "budi".to_owned()),
        time: "09:41".to_owned(),
        ..MessageRow::default()
    }
}

fn chat_row(id: u64, title: &str) -> ChatRow {
    ChatRow {
        id: ChatId(id),
        title: title.to_owned(),
        last_text: None,
        unread: 0,
        typing: Vec::new(),
        draft: None,
    }
}

fn key(target: &Element, key: &str, shift: bool) -> bool {
    let init = web_sys::KeyboardEventInit::new();
    init.set_key(key);
    init.set_shift_key(shift);
    init.set_bubbles(true);
    init.set_cancelable(true);
    let event = web_sys::KeyboardEvent::new_with_keyboard_event_init_dict("keydown", &init)
        .expect("a keydown event");
    target.dispatch_event(&event).expect("dispatched")
}

fn mouse(target: &Element, kind: &str) -> bool {
    let init = web_sys::MouseEventInit::new();
    init.set_bubbles(true);
    init.set_cancelable(true);
    init.set_button(2);
    let event =
        web_sys::MouseEvent::new_with_mouse_event_init_dict(kind, &init).expect("a mouse event");
    target.dispatch_event(&event).expect("dispatched")
}

fn pointer(target: &Element, kind: &str, pointer_type: &str) {
    let init = web_sys::PointerEventInit::new();
    init.set_bubbles(true);
    init.set_cancelable(true);
    init.set_pointer_type(pointer_type);
    let event =
        web_sys::PointerEvent::new_with_event_init_dict(kind, &init).expect("a pointer event");
    target.dispatch_event(&event).expect("dispatched");
}

fn type_into(textarea: &HtmlTextAreaElement, value: &str) {
    textarea.set_value(value);
    let init = web_sys::EventInit::new();
    init.set_bubbles(true);
    let event = web_sys::Event::new_with_event_init_dict("input", &init).expect("an input event");
    textarea.dispatch_event(&event).expect("dispatched");
}

fn composer(root: &Element) -> HtmlTextAreaElement {
    find(root, "composer-input").unchecked_into()
}

/// Waits for the browser to paint once.
async fn frame() {
    let (done, painted) = oneshot::channel();
    request_animation_frame(move || {
        let _ = done.send(());
    });
    let _ = painted.await;
}

/// Waits, frame by frame, until `ready` holds; fails after `limit_ms` of page time.
async fn until(what: &str, limit_ms: f64, ready: impl Fn() -> bool) {
    let started = js_sys::Date::now();
    while !ready() {
        assert!(
            js_sys::Date::now() - started < limit_ms,
            "waited {limit_ms} ms for {what}"
        );
        frame().await;
    }
}

type Recorded<T> = Arc<Mutex<Vec<T>>>;

fn recorded<T: Clone>(list: &Recorded<T>) -> Vec<T> {
    list.lock().unwrap_or_else(PoisonError::into_inner).clone()
}

/// A chat view with an own message and one of budi's, recording every action (and every
/// keystroke); its actions answer `answer`. Other chats: 8 ("Keluarga") to forward to.
struct Mounted {
    root: HtmlElement,
    rows: RwSignal<Vec<MessageRow>>,
    actions: Recorded<MessageAction>,
    typed: Recorded<String>,
    action_error: RwSignal<Option<String>>,
    _handle: Box<dyn std::any::Any>,
}

fn mounted_chat(answer: Result<(), String>) -> Mounted {
    let rows = RwSignal::new(vec![
        row(OWN_ID, true, "sampai jumpa"),
        row(OTHER_ID, false, "kapan datang?"),
    ]);
    let action_error = RwSignal::new(None::<String>);
    let actions: Recorded<MessageAction> = Arc::default();
    let typed: Recorded<String> = Arc::default();
    let root = container();
    let (record_action, record_typed) = (actions.clone(), typed.clone());
    let handle = mount_to(root.clone(), move || {
        let record_action = record_action.clone();
        let record_typed = record_typed.clone();
        let answer = answer.clone();
        view! {
            <ChatView
                key=Signal::stored(7)
                title=Signal::stored("budi".to_owned())
                rows
                on_send=Callback::new(|_| Ok(()))
                on_reach_top=Callback::new(|()| {})
                on_retry=Callback::new(|_| {})
                on_back=Callback::new(|()| {})
                on_action=Callback::new(move |action| {
                    record_action.lock().unwrap_or_else(PoisonError::into_inner).push(action);
                    answer.clone()
                })
                forward_targets=Signal::stored(vec![chat_row(8, "Keluarga")])
                draft=Signal::stored(Some("belum selesai".to_owned()))
                on_input=Callback::new(move |text| {
                    record_typed.lock().unwrap_or_else(PoisonError::into_inner).push(text);
                })
                action_error
            />
        }
    });
    Mounted {
        root,
        rows,
        actions,
        typed,
        action_error,
        _handle: Box::new(handle),
    }
}

fn menu_open(root: &Element) -> bool {
    find_in(root, "message-actions").is_some()
}

#[wasm_bindgen_test]
async fn a_right_click_opens_the_menu_with_every_item_on_an_own_message() {
    let chat = mounted_chat(Ok(()));
    leptos::task::tick().await;
    let own = message(&chat.root, OWN_ID);
    assert!(!menu_open(&chat.root), "closed until asked for");
    let not_cancelled = mouse(&own, "contextmenu");
    leptos::task::tick().await;
    assert!(!not_cancelled, "the browser's own menu does not show");
    let menu = find(&own, "message-actions");
    assert_eq!(menu.get_attribute("role").as_deref(), Some("menu"));
    for item in [
        "message-reply",
        "message-edit",
        "message-react",
        "message-forward",
        "message-delete",
        "message-delete-mine",
    ] {
        let button = find(&menu, item);
        assert_eq!(button.get_attribute("role").as_deref(), Some("menuitem"));
    }
    assert_eq!(focused_testid().as_deref(), Some("message-reply"));
    key(&menu, "ArrowDown", false);
    assert_eq!(focused_testid().as_deref(), Some("message-edit"));
}

#[wasm_bindgen_test]
async fn an_other_persons_message_cannot_be_edited_or_deleted_for_everyone() {
    let chat = mounted_chat(Ok(()));
    leptos::task::tick().await;
    let other = message(&chat.root, OTHER_ID);
    mouse(&other, "contextmenu");
    leptos::task::tick().await;
    let menu = find(&other, "message-actions");
    for offered in [
        "message-reply",
        "message-react",
        "message-forward",
        "message-delete-mine",
    ] {
        find(&menu, offered);
    }
    assert!(find_in(&menu, "message-edit").is_none());
    assert!(find_in(&menu, "message-delete").is_none());
}

#[wasm_bindgen_test]
async fn escape_and_a_press_outside_close_the_menu_and_the_message_takes_the_focus_back() {
    let chat = mounted_chat(Ok(()));
    leptos::task::tick().await;
    let own = message(&chat.root, OWN_ID);
    mouse(&own, "contextmenu");
    leptos::task::tick().await;
    key(&find(&own, "message-actions"), "Escape", false);
    leptos::task::tick().await;
    assert!(!menu_open(&chat.root));
    assert_eq!(focused_testid().as_deref(), Some("message"));
    assert_eq!(
        document()
            .active_element()
            .and_then(|element| element.get_attribute("data-msg-id"))
            .as_deref(),
        Some(OWN_ID)
    );

    mouse(&own, "contextmenu");
    leptos::task::tick().await;
    assert!(menu_open(&chat.root));
    pointer(&composer(&chat.root), "pointerdown", "mouse");
    leptos::task::tick().await;
    assert!(!menu_open(&chat.root), "a press outside closes it");
}

#[wasm_bindgen_test]
async fn the_keyboard_and_the_menu_button_open_the_menu() {
    let chat = mounted_chat(Ok(()));
    leptos::task::tick().await;
    let other = message(&chat.root, OTHER_ID);
    other.focus().expect("focusable");
    assert_eq!(other.get_attribute("tabindex").as_deref(), Some("0"));
    key(&other, "ContextMenu", false);
    leptos::task::tick().await;
    assert!(menu_open(&chat.root), "the ContextMenu key opens it");
    assert_eq!(focused_testid().as_deref(), Some("message-reply"));
    key(&find(&other, "message-actions"), "Escape", false);
    leptos::task::tick().await;

    key(&other, "F10", false);
    leptos::task::tick().await;
    assert!(!menu_open(&chat.root), "F10 alone is not the menu key");
    key(&other, "F10", true);
    leptos::task::tick().await;
    assert!(menu_open(&chat.root), "Shift+F10 opens it");
    key(&find(&other, "message-actions"), "Escape", false);
    leptos::task::tick().await;

    let button = find(&other, "message-menu");
    assert_eq!(
        button.get_attribute("aria-expanded").as_deref(),
        Some("false")
    );
    button.click();
    leptos::task::tick().await;
    assert!(menu_open(&chat.root), "the ⋯ button opens it");
    assert_eq!(
        button.get_attribute("aria-expanded").as_deref(),
        Some("true")
    );
}

#[wasm_bindgen_test]
async fn a_long_touch_opens_the_menu() {
    let chat = mounted_chat(Ok(()));
    leptos::task::tick().await;
    let other = message(&chat.root, OTHER_ID);
    let pressed_at = js_sys::Date::now();
    pointer(&other, "pointerdown", "touch");
    until("the menu after a long press", 5_000.0, || {
        menu_open(&chat.root)
    })
    .await;
    assert!(
        js_sys::Date::now() - pressed_at >= LONG_PRESS_MS as f64,
        "not before the press is long"
    );
    pointer(&other, "pointerup", "touch");
}

#[wasm_bindgen_test]
async fn deleting_reacting_and_forwarding_report_the_action_and_close_the_menu() {
    let chat = mounted_chat(Ok(()));
    leptos::task::tick().await;
    let own = message(&chat.root, OWN_ID);
    let open = || async {
        mouse(&own, "contextmenu");
        leptos::task::tick().await;
    };
    open().await;
    find(&own, "message-delete").click();
    leptos::task::tick().await;
    assert!(!menu_open(&chat.root));

    open().await;
    find(&own, "message-delete-mine").click();
    leptos::task::tick().await;

    open().await;
    find(&own, "message-react").click();
    leptos::task::tick().await;
    let emoji = find_all(&own, "emoji-option");
    assert_eq!(emoji.len(), 6);
    assert_eq!(focused_testid().as_deref(), Some("emoji-option"));
    let heart = emoji
        .iter()
        .find(|option| option.get_attribute("data-emoji").as_deref() == Some("❤️"))
        .expect("a heart");
    heart.click();
    leptos::task::tick().await;
    assert!(!menu_open(&chat.root));

    open().await;
    find(&own, "message-forward").click();
    leptos::task::tick().await;
    let targets = find_all(&own, "forward-target");
    assert_eq!(targets.len(), 1);
    assert_eq!(
        targets[0].get_attribute("data-chat-id").as_deref(),
        Some("8")
    );
    assert_eq!(text(&targets[0]), "Keluarga");
    targets[0].click();
    leptos::task::tick().await;

    assert_eq!(
        recorded(&chat.actions),
        [
            MessageAction::DeleteForEveryone(OWN_ID.to_owned()),
            MessageAction::DeleteForMe(OWN_ID.to_owned()),
            MessageAction::React {
                target: OWN_ID.to_owned(),
                emoji: "❤️".to_owned()
            },
            MessageAction::Forward {
                target: OWN_ID.to_owned(),
                to: ChatId(8)
            },
        ]
    );
}

#[wasm_bindgen_test]
async fn a_reply_shows_what_it_answers_in_the_composer_and_sends_a_reply() {
    let chat = mounted_chat(Ok(()));
    leptos::task::tick().await;
    let input = composer(&chat.root);
    assert_eq!(
        input.value(),
        "belum selesai",
        "the composer starts from the draft"
    );
    let other = message(&chat.root, OTHER_ID);
    mouse(&other, "contextmenu");
    leptos::task::tick().await;
    find(&other, "message-reply").click();
    leptos::task::tick().await;
    let banner = find(&chat.root, "composer-reply");
    assert!(text(&banner).contains("budi"), "{}", text(&banner));
    assert!(text(&banner).contains("kapan datang?"));
    assert_eq!(focused_testid().as_deref(), Some("composer-input"));

    find(&chat.root, "composer-reply-cancel").click();
    leptos::task::tick().await;
    assert!(find_in(&chat.root, "composer-reply").is_none());

    mouse(&other, "contextmenu");
    leptos::task::tick().await;
    find(&other, "message-reply").click();
    leptos::task::tick().await;
    type_into(&input, "besok pagi");
    leptos::task::tick().await;
    find(&chat.root, "composer-send").click();
    leptos::task::tick().await;
    assert_eq!(
        recorded(&chat.actions),
        [MessageAction::Reply {
            target: OTHER_ID.to_owned(),
            text: "besok pagi".to_owned()
        }]
    );
    assert!(find_in(&chat.root, "composer-reply").is_none());
    assert_eq!(input.value(), "");
    assert_eq!(
        recorded(&chat.typed),
        ["besok pagi"],
        "keystrokes are reported"
    );
}

#[wasm_bindgen_test]
async fn an_edit_puts_the_text_in_the_composer_and_sends_the_new_text() {
    let chat = mounted_chat(Ok(()));
    leptos::task::tick().await;
    let own = message(&chat.root, OWN_ID);
    mouse(&own, "contextmenu");
    leptos::task::tick().await;
    find(&own, "message-edit").click();
    leptos::task::tick().await;
    let input = composer(&chat.root);
    find(&chat.root, "composer-editing");
    until("the message's text in the composer", 2_000.0, || {
        input.value() == "sampai jumpa"
    })
    .await;
    type_into(&input, "sampai besok");
    leptos::task::tick().await;
    assert!(
        recorded(&chat.typed).is_empty(),
        "an edit's text is not the chat's draft"
    );
    find(&chat.root, "composer-send").click();
    leptos::task::tick().await;
    assert_eq!(
        recorded(&chat.actions),
        [MessageAction::Edit {
            target: OWN_ID.to_owned(),
            text: "sampai besok".to_owned()
        }]
    );
    assert!(find_in(&chat.root, "composer-editing").is_none());

    mouse(&own, "contextmenu");
    leptos::task::tick().await;
    find(&own, "message-edit").click();
    leptos::task::tick().await;
    key(&input, "Escape", false);
    leptos::task::tick().await;
    assert!(
        find_in(&chat.root, "composer-editing").is_none(),
        "Escape cancels"
    );
    assert_eq!(input.value(), "");
}

#[wasm_bindgen_test]
async fn a_refused_action_shows_its_words_in_the_composer() {
    let chat = mounted_chat(Err("That message is not here any more".to_owned()));
    leptos::task::tick().await;
    let own = message(&chat.root, OWN_ID);
    mouse(&own, "contextmenu");
    leptos::task::tick().await;
    find(&own, "message-delete").click();
    leptos::task::tick().await;
    assert_eq!(
        text(&find(&chat.root, "composer-error")),
        "That message is not here any more"
    );

    let chat = mounted_chat(Ok(()));
    leptos::task::tick().await;
    assert!(find_in(&chat.root, "composer-error").is_none());
    chat.action_error.set(Some(
        "You can only edit or delete your own messages".to_owned(),
    ));
    leptos::task::tick().await;
    assert_eq!(
        text(&find(&chat.root, "composer-error")),
        "You can only edit or delete your own messages"
    );
}

#[wasm_bindgen_test]
async fn quotes_marks_deletions_and_reactions_show_as_the_rows_say() {
    let chat = mounted_chat(Ok(()));
    leptos::task::tick().await;
    let mut reply = row("0000000000000000000000000000cc03", false, "besok");
    reply.quote = Some(QuoteRow {
        target: OWN_ID.to_owned(),
        sender: "hana".to_owned(),
        text: "sampai jumpa".to_owned(),
    });
    reply.edited = true;
    reply.reactions = vec![
        ReactionRow {
            emoji: "👍".to_owned(),
            count: 2,
            people: vec!["hana".to_owned(), "budi".to_owned()],
            mine: true,
        },
        ReactionRow {
            emoji: "😂".to_owned(),
            count: 1,
            people: vec!["budi".to_owned()],
            mine: false,
        },
    ];
    let mut forwarded = row("0000000000000000000000000000dd04", true, "kabar baik");
    forwarded.forwarded = true;
    chat.rows.update(|rows| {
        rows[0].deleted = true;
        rows[0].text = "This message was deleted".to_owned();
        rows.push(reply.clone());
        rows.push(forwarded);
    });
    leptos::task::tick().await;

    let deleted = message(&chat.root, OWN_ID);
    assert_eq!(
        deleted.get_attribute("data-deleted").as_deref(),
        Some("true")
    );
    assert_eq!(
        text(&find(&deleted, "message-text")),
        "This message was deleted"
    );
    let other = message(&chat.root, OTHER_ID);
    assert_eq!(
        other.get_attribute("data-deleted").as_deref(),
        Some("false")
    );
    assert!(find_in(&other, "message-edited").is_none());
    assert!(find_in(&other, "message-forwarded").is_none());
    assert!(find_in(&other, "message-quote").is_none());
    assert!(find_in(&other, "reaction").is_none());

    let answer = message(&chat.root, &reply.id);
    let quote = find(&answer, "message-quote");
    assert_eq!(
        quote.get_attribute("data-target-id").as_deref(),
        Some(OWN_ID)
    );
    assert!(text(&quote).contains("hana"));
    assert!(text(&quote).contains("sampai jumpa"));
    assert_eq!(text(&find(&answer, "message-edited")), "edited");
    let reactions = find_all(&answer, "reaction");
    assert_eq!(reactions.len(), 2);
    assert_eq!(
        reactions[0].get_attribute("data-emoji").as_deref(),
        Some("👍")
    );
    assert!(text(&reactions[0]).contains('2'));
    assert_eq!(reactions[0].title(), "hana, budi");
    assert_eq!(
        reactions[0].get_attribute("aria-pressed").as_deref(),
        Some("true")
    );
    assert_eq!(
        reactions[1].get_attribute("aria-pressed").as_deref(),
        Some("false")
    );

    let forwarded = message(&chat.root, "0000000000000000000000000000dd04");
    assert_eq!(text(&find(&forwarded, "message-forwarded")), "Forwarded");

    // Choosing an emoji under the message is the same as choosing it in the menu.
    reactions[0].click();
    leptos::task::tick().await;
    assert_eq!(
        recorded(&chat.actions),
        [MessageAction::React {
            target: reply.id.clone(),
            emoji: "👍".to_owned()
        }]
    );

    // A deleted message offers only deleting it on this device.
    mouse(&deleted, "contextmenu");
    leptos::task::tick().await;
    let menu = find(&deleted, "message-actions");
    assert_eq!(find_all(&menu, "message-delete-mine").len(), 1);
    for gone in [
        "message-reply",
        "message-edit",
        "message-delete",
        "message-react",
    ] {
        assert!(
            find_in(&menu, gone).is_none(),
            "{gone} on a deleted message"
        );
    }
}

#[wasm_bindgen_test]
async fn clicking_a_quote_brings_the_quoted_message_into_view_and_highlights_it() {
    let mut messages: Vec<MessageRow> = (0..400)
        .map(|index| {
            row(
                &format!("{index:032x}"),
                index % 2 == 0,
                &format!("pesan {index}"),
            )
        })
        .collect();
    let target = format!("{:032x}", 3);
    messages[399].quote = Some(QuoteRow {
        target: target.clone(),
        sender: "budi".to_owned(),
        text: "pesan 3".to_owned(),
    });
    let rows = RwSignal::new(messages);
    let root = list_box(480, 600);
    let _handle = mount_to(root.clone(), move || {
        view! {
            <MessageList
                rows
                on_reach_top=Callback::new(|()| {})
                on_choice=Some(Callback::new(|_| {}))
            />
        }
    });
    let scroller: HtmlElement = root
        .query_selector(".message-list")
        .expect("a valid selector")
        .expect("the list")
        .unchecked_into();
    until("the newest message", 5_000.0, || {
        root.query_selector("[data-testid=message-quote]")
            .ok()
            .flatten()
            .is_some()
    })
    .await;
    assert!(
        root.query_selector(&format!("[data-msg-id=\"{target}\"]"))
            .ok()
            .flatten()
            .is_none(),
        "the quoted message starts far outside the window"
    );
    find(&root, "message-quote").click();
    let in_view = || {
        let Some(element) = root
            .query_selector(&format!("[data-msg-id=\"{target}\"]"))
            .ok()
            .flatten()
        else {
            return false;
        };
        let view = scroller.get_bounding_client_rect();
        let rect = element.get_bounding_client_rect();
        element.class_list().contains("highlighted")
            && rect.top() >= view.top() - 1.0
            && rect.bottom() <= view.bottom() + 1.0
    };
    until("the quoted message, highlighted, in view", 5_000.0, in_view).await;
}

#[wasm_bindgen_test]
async fn a_chat_with_a_draft_shows_it_instead_of_the_last_message() {
    let mut with_draft = chat_row(7, "budi");
    with_draft.last_text = Some("kapan datang?".to_owned());
    with_draft.draft = Some("besok pagi".to_owned());
    let mut without = chat_row(8, "Keluarga");
    without.last_text = Some("sampai".to_owned());
    let chats = RwSignal::new(vec![with_draft, without]);
    let root = container();
    let _handle = mount_to(root.clone(), move || {
        view! { <ChatList chats selected=Signal::stored(None) on_select=Callback::new(|_| {})/> }
    });
    leptos::task::tick().await;
    let items = find_all(&root, "chat-list-item");
    assert_eq!(text(&find(&items[0], "chat-draft")), "Draft: besok pagi");
    assert!(!text(&items[0]).contains("kapan datang?"));
    assert!(find_in(&items[1], "chat-draft").is_none());
    assert!(text(&items[1]).contains("sampai"));
    chats.update(|chats| chats[0].draft = None);
    leptos::task::tick().await;
    assert!(find_in(&items[0], "chat-draft").is_none());
    assert!(text(&items[0]).contains("kapan datang?"));
}
