//! The views of a live conversation, mounted alone in Chromium: who is typing, presence,
//! the unread total in the title, a message's receipts, system lines, group admin controls,
//! blocking and the privacy settings.

use std::sync::{Arc, Mutex};

use leptos::mount::mount_to;
use leptos::prelude::*;
use merpati_bridge::{
    ChatRow, MemberRow, MessageReceipts, MessageRow, MessageStatus, ReceiptRow, ReceiptState,
};
use merpati_page::views::chat_list::ChatList;
use merpati_page::views::chat_members::ChatMembers;
use merpati_page::views::chat_view::ChatView;
use merpati_page::views::message_list::MessageList;
use merpati_page::views::signals::UnreadTitle;
use merpati_protocol::{ChatId, ChatKind, Presence};
use wasm_bindgen::JsCast;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};
use web_sys::{Element, HtmlElement, HtmlInputElement, HtmlTextAreaElement};

wasm_bindgen_test_configure!(run_in_browser);

#[path = "support/dom.rs"]
mod dom;
use dom::{attr, container, document, find, find_all, text};
#[path = "support/focus.rs"]
mod focus;
#[path = "support/record.rs"]
mod record;
use focus::{after_the_page_paints, focused};
use record::{click, recorded, recorder};

fn row(id: &str, status: MessageStatus, own: bool, text: &str) -> MessageRow {
    MessageRow {
        id: id.to_owned(),
        status,
        own,
        text: text.to_owned(),
        sender: (!own).then(|| "bob".to_owned()),
        time: "09:41".to_owned(),
        ..MessageRow::default()
    }
}

/// What a chat view shows, each part changeable by the test.
#[derive(Clone, Copy)]
struct Chat {
    kind: RwSignal<Option<ChatKind>>,
    rows: RwSignal<Vec<MessageRow>>,
    typing: RwSignal<Vec<String>>,
    presence: RwSignal<Option<Presence>>,
    receipts: RwSignal<Option<MessageReceipts>>,
    blocked: RwSignal<bool>,
}

const NOW_MS: f64 = 1_764_000_000_000.0;

/// Mounts a chat view titled "bob"; returns what its callbacks heard: typing, details, block.
#[allow(clippy::type_complexity)]
fn mounted_chat(
    kind: ChatKind,
) -> (
    HtmlElement,
    Chat,
    Arc<Mutex<Vec<String>>>,
    Arc<Mutex<Vec<Option<String>>>>,
    Arc<Mutex<Vec<bool>>>,
    impl Sized,
) {
    let chat = Chat {
        kind: RwSignal::new(Some(kind)),
        rows: RwSignal::new(Vec::new()),
        typing: RwSignal::new(Vec::new()),
        presence: RwSignal::new(None),
        receipts: RwSignal::new(None),
        blocked: RwSignal::new(false),
    };
    let (on_input, typed) = recorder::<String>();
    let (on_details, details) = recorder::<Option<String>>();
    let (on_block, blocks) = recorder::<bool>();
    let root = container();
    let handle = mount_to(root.clone(), move || {
        view! {
            <ChatView
                key=Signal::stored(1)
                title=Signal::stored("bob".to_owned())
                rows=chat.rows
                on_send=Callback::new(|_: String| Ok(()))
                on_reach_top=Callback::new(|()| {})
                on_retry=Callback::new(|_: String| {})
                on_back=Callback::new(|()| {})
                kind=chat.kind
                typing=chat.typing
                on_input
                presence=chat.presence
                now_ms=Signal::stored(NOW_MS)
                receipts=chat.receipts
                on_details
                blocked=chat.blocked
                on_block
            />
        }
    });
    (root, chat, typed, details, blocks, handle)
}

#[wasm_bindgen_test]
async fn the_open_chat_says_who_is_typing_and_forgets_it_when_they_stop() {
    let (root, chat, typed, _, _, _handle) = mounted_chat(ChatKind::Group);
    leptos::task::tick().await;
    assert!(find_all(&root, "typing-indicator").is_empty());

    chat.typing.set(vec!["bob".to_owned()]);
    leptos::task::tick().await;
    assert_eq!(text(&find(&root, "typing-indicator")), "bob is typing…");

    chat.typing.set(vec!["bob".to_owned(), "carol".to_owned()]);
    leptos::task::tick().await;
    assert_eq!(
        text(&find(&root, "typing-indicator")),
        "bob and carol are typing…"
    );

    chat.typing.set(Vec::new());
    leptos::task::tick().await;
    assert!(find_all(&root, "typing-indicator").is_empty());

    // Each input in the composer goes out (as typing, and as the chat's draft).
    let input: HtmlTextAreaElement = find(&root, "composer-input").dyn_into().expect("a box");
    input.set_value("h");
    let init = web_sys::EventInit::new();
    init.set_bubbles(true);
    let event = web_sys::Event::new_with_event_init_dict("input", &init).expect("an event");
    input.dispatch_event(&event).expect("dispatched");
    leptos::task::tick().await;
    assert_eq!(recorded(&typed), vec!["h".to_owned()]);
}

#[wasm_bindgen_test]
async fn the_chat_list_shows_who_is_typing_instead_of_the_last_message() {
    let chats = RwSignal::new(vec![ChatRow {
        id: ChatId(7),
        title: "bob".to_owned(),
        last_text: Some("see you".to_owned()),
        last_time: "Yesterday".to_owned(),
        last_received: None,
        last_received_from: None,
        unread: 0,
        typing: vec!["bob".to_owned()],
        draft: None,
        muted: false,
    }]);
    let root = container();
    let _handle = mount_to(root.clone(), move || {
        view! { <ChatList chats selected=Signal::stored(None) on_select=Callback::new(|_| {})/> }
    });
    leptos::task::tick().await;
    let item = find(&root, "chat-list-item");
    assert_eq!(text(&find(&item, "typing-indicator")), "bob is typing…");
    assert!(!text(&item).contains("see you"));

    chats.update(|chats| chats[0].typing.clear());
    leptos::task::tick().await;
    assert!(find_all(&item, "typing-indicator").is_empty());
    assert!(text(&item).contains("see you"));

    // Someone typing there says so even over the person's own draft; the draft comes back
    // when they stop.
    chats.update(|chats| {
        chats[0].draft = Some("nanti".to_owned());
        chats[0].typing = vec!["bob".to_owned()];
    });
    leptos::task::tick().await;
    assert_eq!(text(&find(&item, "typing-indicator")), "bob is typing…");
    assert!(find_all(&item, "chat-draft").is_empty());
    chats.update(|chats| chats[0].typing.clear());
    leptos::task::tick().await;
    assert_eq!(text(&find(&item, "chat-draft")), "Draft: nanti");
}

#[wasm_bindgen_test]
async fn a_direct_chat_header_says_online_or_when_last_seen() {
    let (root, chat, _, _, _, _handle) = mounted_chat(ChatKind::Direct);
    leptos::task::tick().await;
    assert!(
        find_all(&root, "presence").is_empty(),
        "nothing until the server says"
    );

    chat.presence.set(Some(Presence::Online));
    leptos::task::tick().await;
    assert_eq!(text(&find(&root, "presence")), "online");

    chat.presence.set(Some(Presence::LastSeen {
        at_ms: (NOW_MS as u64) - 5 * 60_000 - 10_000,
    }));
    leptos::task::tick().await;
    assert_eq!(text(&find(&root, "presence")), "last seen 5 minutes ago");

    chat.presence.set(Some(Presence::LastSeen {
        at_ms: (NOW_MS as u64) - 3 * 3_600_000,
    }));
    leptos::task::tick().await;
    assert_eq!(text(&find(&root, "presence")), "last seen 3 hours ago");

    chat.presence.set(Some(Presence::Hidden));
    leptos::task::tick().await;
    assert!(
        find_all(&root, "presence").is_empty(),
        "hidden shows nothing"
    );
}

#[wasm_bindgen_test]
async fn the_tab_title_counts_unread_messages_across_chats() {
    let chat = |id: u64, unread: usize| ChatRow {
        id: ChatId(id),
        title: format!("chat {id}"),
        last_text: None,
        last_time: String::new(),
        last_received: None,
        last_received_from: None,
        unread,
        typing: Vec::new(),
        draft: None,
        muted: false,
    };
    let chats = RwSignal::new(vec![chat(1, 2), chat(2, 1), chat(3, 0)]);
    let root = container();
    let handle = mount_to(root, move || view! { <UnreadTitle chats/> });
    leptos::task::tick().await;
    assert_eq!(document().title(), "(3) Merpati");

    chats.update(|chats| chats[0].unread = 0);
    leptos::task::tick().await;
    assert_eq!(document().title(), "(1) Merpati");

    chats.update(|chats| chats[1].unread = 0);
    leptos::task::tick().await;
    assert_eq!(document().title(), "Merpati");

    chats.update(|chats| chats[2].unread = 4);
    leptos::task::tick().await;
    assert_eq!(document().title(), "(4) Merpati");

    // A muted chat's unread messages do not call from the tab.
    chats.update(|chats| chats[2].muted = true);
    leptos::task::tick().await;
    assert_eq!(document().title(), "Merpati");
    chats.update(|chats| chats[2].muted = false);
    leptos::task::tick().await;
    assert_eq!(document().title(), "(4) Merpati");
    drop(handle);
    assert_eq!(document().title(), "Merpati", "signed out: no count");
}

#[wasm_bindgen_test]
async fn a_message_shows_delivered_and_its_details_list_each_members_receipt() {
    let (root, chat, _, details, _, _handle) = mounted_chat(ChatKind::Group);
    let id = "0123456789abcdef0123456789abcdef";
    chat.rows.set(vec![
        row(id, MessageStatus::Delivered, true, "halo semua"),
        row("ffff", MessageStatus::Sent, false, "dari bob"),
    ]);
    leptos::task::tick().await;
    let message = find(&root, "message");
    assert_eq!(attr(&message, "data-status"), "delivered");
    assert_eq!(text(&find(&message, "message-status")), "Delivered");
    assert_eq!(
        find_all(&root, "message-info").len(),
        1,
        "only own messages have details"
    );

    click(&find(&message, "message-info"));
    leptos::task::tick().await;
    assert_eq!(recorded(&details), vec![Some(id.to_owned())]);

    chat.receipts.set(Some(MessageReceipts {
        id: id.to_owned(),
        members: vec![
            ReceiptRow {
                username: "bob".to_owned(),
                state: ReceiptState::Read,
                read_at: Some("09:45".to_owned()),
            },
            ReceiptRow {
                username: "carol".to_owned(),
                state: ReceiptState::Delivered,
                read_at: None,
            },
        ],
    }));
    leptos::task::tick().await;
    let panel = find(&root, "message-receipts");
    let receipts: Vec<(String, String, String)> = find_all(&panel, "message-receipt")
        .iter()
        .map(|receipt| {
            (
                attr(receipt, "data-username"),
                attr(receipt, "data-state"),
                text(receipt),
            )
        })
        .collect();
    assert_eq!(receipts[0].0, "bob");
    assert_eq!(receipts[0].1, "read");
    assert!(receipts[0].2.contains("Read 09:45"), "{}", receipts[0].2);
    assert_eq!(receipts[1].0, "carol");
    assert_eq!(receipts[1].1, "delivered");
    assert_eq!(receipts.len(), 2);

    click(&find(&panel, "message-receipts-close"));
    leptos::task::tick().await;
    assert_eq!(recorded(&details), vec![Some(id.to_owned()), None]);
}

#[wasm_bindgen_test]
async fn a_system_line_is_nobodys_message() {
    let mut system = row(
        "aa02",
        MessageStatus::Sent,
        false,
        "alice renamed the group to “Arisan”",
    );
    system.system = true;
    system.sender = None;
    let rows = RwSignal::new(vec![
        row("aa01", MessageStatus::Sent, false, "halo"),
        system,
    ]);
    let root = container();
    let _handle = mount_to(root.clone(), move || {
        view! { <MessageList rows on_reach_top=Callback::new(|()| {})/> }
    });
    leptos::task::tick().await;
    assert_eq!(find_all(&root, "message").len(), 1);
    let line = find(&root, "message-system");
    assert_eq!(text(&line), "alice renamed the group to “Arisan”");
    assert!(find_all(&line, "message-status").is_empty());
}

fn member(id: u64, username: &str, me: bool, admin: bool) -> MemberRow {
    MemberRow {
        id,
        username: username.to_owned(),
        me,
        admin,
    }
}

/// Types `value` into the input with `testid`, as a person would (an `input` event).
async fn type_into(root: &Element, testid: &str, value: &str) {
    let input: HtmlInputElement = find(root, testid).dyn_into().expect("an input");
    input.set_value(value);
    let init = web_sys::EventInit::new();
    init.set_bubbles(true);
    let event = web_sys::Event::new_with_event_init_dict("input", &init).expect("an event");
    input.dispatch_event(&event).expect("dispatched");
    leptos::task::tick().await;
}

/// Every admin control in the members panel: none shows for a non-admin.
const ADMIN_CONTROLS: [&str; 8] = [
    "member-admin",
    "member-remove",
    "group-rename",
    "group-rename-input",
    "group-rename-submit",
    "group-add-member",
    "group-add-member-input",
    "group-add-member-submit",
];

#[wasm_bindgen_test]
async fn only_admins_see_the_admin_controls() {
    let members = RwSignal::new(vec![
        member(1, "alice", true, true),
        member(2, "bob", false, false),
        member(3, "carol", false, true),
    ]);
    let am_admin = RwSignal::new(true);
    let (on_set_admin, set_admin) = recorder::<(u64, bool)>();
    let (on_rename, renames) = recorder::<String>();
    let root = container();
    let _handle = mount_to(root.clone(), move || {
        view! {
            <ChatMembers
                members
                is_member=Signal::stored(true)
                on_remove=Callback::new(|_| {})
                on_leave=Callback::new(|()| {})
                am_admin
                on_set_admin
                on_rename
            />
        }
    });
    leptos::task::tick().await;
    let rows = find_all(&root, "chat-member");
    let admins: Vec<String> = rows.iter().map(|row| attr(row, "data-admin")).collect();
    assert_eq!(admins, ["true", "false", "true"]);
    assert!(text(&rows[0]).contains("admin"));
    assert!(
        find_all(&rows[0], "member-admin").is_empty(),
        "not on oneself"
    );
    assert!(find_all(&rows[0], "member-remove").is_empty());
    assert_eq!(find_all(&rows[1], "member-remove").len(), 1);
    let make_bob = find(&rows[1], "member-admin");
    assert_eq!(attr(&make_bob, "aria-pressed"), "false");
    assert_eq!(text(&make_bob), "Make admin");
    let unmake_carol = find(&rows[2], "member-admin");
    assert_eq!(attr(&unmake_carol, "aria-pressed"), "true");
    assert_eq!(text(&unmake_carol), "Remove admin");

    click(&make_bob);
    click(&unmake_carol);
    assert_eq!(find(&root, "group-rename").tag_name(), "FORM");
    type_into(&root, "group-rename-input", "Arisan Baru").await;
    click(&find(&root, "group-rename-submit"));
    leptos::task::tick().await;
    assert_eq!(recorded(&set_admin), vec![(2, true), (3, false)]);
    assert_eq!(recorded(&renames), vec!["Arisan Baru".to_owned()]);

    // The server made bob an admin: his toggle now says so.
    members.update(|members| members[1].admin = true);
    leptos::task::tick().await;
    let rows = find_all(&root, "chat-member");
    let remove_bob = find(&rows[1], "member-admin");
    assert_eq!(attr(&remove_bob, "aria-pressed"), "true");
    assert_eq!(text(&remove_bob), "Remove admin");

    am_admin.set(false);
    leptos::task::tick().await;
    for testid in ADMIN_CONTROLS {
        assert!(
            find_all(&root, testid).is_empty(),
            "a non-admin sees no {testid}"
        );
    }
    find(&root, "chat-leave");
}

#[wasm_bindgen_test]
async fn a_removed_members_button_does_not_pass_the_focus_to_the_next_member() {
    let members = RwSignal::new(vec![
        member(1, "alice", true, true),
        member(2, "bob", false, false),
        member(3, "carol", false, false),
    ]);
    let root = container();
    let _handle = mount_to(root.clone(), move || {
        view! {
            <details open>
                <summary data-testid="chat-info">"Members"</summary>
                <ChatMembers
                    members
                    is_member=Signal::stored(true)
                    on_remove=Callback::new(|_| {})
                    on_leave=Callback::new(|()| {})
                    am_admin=Signal::stored(true)
                />
            </details>
        }
    });
    leptos::task::tick().await;
    let remove_bob = find(&find_all(&root, "chat-member")[1], "member-remove");
    remove_bob
        .unchecked_ref::<web_sys::HtmlElement>()
        .focus()
        .expect("focusable");
    click(&remove_bob);
    let list = find(&root, "chat-members");
    assert!(focused().is_some_and(|focused| list.contains(Some(&focused))));

    // The server took bob out: one Enter more must not take carol out too.
    members.update(|members| {
        members.remove(1);
    });
    leptos::task::tick().await;
    assert_eq!(find_all(&root, "chat-member").len(), 2);
    assert!(
        !focused().is_some_and(|focused| list.contains(Some(&focused))),
        "the focus left the members"
    );
    // To the details' summary, which counts the members left, not to the page.
    after_the_page_paints().await;
    let summary = find(&root, "chat-info");
    assert!(
        focused().is_some_and(|focused| focused == summary),
        "the focus is on {:?}",
        focused().map(|focused| focused.tag_name())
    );
}

#[wasm_bindgen_test]
async fn an_admin_adds_a_member_by_username_and_others_cannot() {
    let am_admin = RwSignal::new(true);
    let is_member = RwSignal::new(true);
    let (on_add_member, added) = recorder::<String>();
    let root = container();
    let _handle = mount_to(root.clone(), move || {
        view! {
            <ChatMembers
                members=Signal::stored(vec![member(1, "alice", true, true), member(2, "bob", false, false)])
                is_member
                on_remove=Callback::new(|_| {})
                on_leave=Callback::new(|()| {})
                am_admin
                on_add_member
            />
        }
    });
    leptos::task::tick().await;
    assert_eq!(find(&root, "group-add-member").tag_name(), "FORM");

    // Nothing typed: nothing asked.
    click(&find(&root, "group-add-member-submit"));
    leptos::task::tick().await;
    assert!(recorded(&added).is_empty());

    type_into(&root, "group-add-member-input", "  carol ").await;
    click(&find(&root, "group-add-member-submit"));
    leptos::task::tick().await;
    assert_eq!(recorded(&added), vec!["carol".to_owned()]);
    let input: HtmlInputElement = find(&root, "group-add-member-input")
        .dyn_into()
        .expect("an input");
    assert_eq!(input.value(), "", "ready for the next name");

    // An admin who left, and a member who is no admin, see no form.
    is_member.set(false);
    leptos::task::tick().await;
    assert!(find_all(&root, "group-add-member").is_empty());
    is_member.set(true);
    am_admin.set(false);
    leptos::task::tick().await;
    for testid in ADMIN_CONTROLS {
        assert!(
            find_all(&root, testid).is_empty(),
            "a non-admin sees no {testid}"
        );
    }
    assert_eq!(recorded(&added), vec!["carol".to_owned()]);
}

#[wasm_bindgen_test]
async fn a_blocked_person_leaves_a_notice_instead_of_the_composer() {
    let (root, chat, _, _, blocks, _handle) = mounted_chat(ChatKind::Direct);
    chat.presence.set(Some(Presence::Online));
    chat.typing.set(vec!["bob".to_owned()]);
    leptos::task::tick().await;
    find(&root, "composer-input");
    find(&root, "presence");
    click(&find(&root, "block-user"));
    leptos::task::tick().await;
    assert_eq!(recorded(&blocks), vec![true]);

    chat.blocked.set(true);
    leptos::task::tick().await;
    assert!(find_all(&root, "composer-input").is_empty());
    assert!(find_all(&root, "block-user").is_empty());
    assert!(text(&find(&root, "chat-blocked")).contains("You blocked"));
    assert!(
        find_all(&root, "presence").is_empty(),
        "no presence of a blocked person"
    );
    assert!(find_all(&root, "typing-indicator").is_empty(), "nor typing");

    click(&find(&root, "chat-unblock"));
    leptos::task::tick().await;
    assert_eq!(recorded(&blocks), vec![true, false]);
    chat.blocked.set(false);
    leptos::task::tick().await;
    find(&root, "composer-input");
}
