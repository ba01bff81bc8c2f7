//! Group membership in the chat view: the members panel, removing someone, and leaving.

use leptos::mount::mount_to;
use leptos::prelude::*;
use merpati_bridge::MemberRow;
use merpati_page::views::chat_view::ChatView;
use merpati_protocol::{ChatKind, ClientFrame, ServerFrame};
use wasm_bindgen::JsCast;
use wasm_bindgen_test::wasm_bindgen_test;
use web_sys::HtmlElement;

use crate::dom::{attr, container, find, find_all, text};
use crate::engine::{
    ALICE, BOB, CICI, GROUP, alice_online, chat_info, frames, mounted_chat_view, person,
    with_engine,
};
use crate::focus::{after_the_page_paints, focused};

#[wasm_bindgen_test]
async fn a_member_who_left_reads_on_but_the_composer_is_gone() {
    let mut engine = alice_online();
    let everyone = vec![
        person(ALICE, "alice"),
        person(BOB, "bob"),
        person(CICI, "cici"),
    ];
    engine.handle_frame(ServerFrame::Chat {
        request: None,
        chat: chat_info(GROUP, ChatKind::Group, everyone),
    });
    let (root, engine, version, _handle) = mounted_chat_view(engine, GROUP);
    leptos::task::tick().await;

    let names: Vec<String> = find_all(&root, "chat-member")
        .iter()
        .map(|member| attr(member, "data-username"))
        .collect();
    assert_eq!(names, ["alice", "bob", "cici"]);
    let removes = find_all(&root, "member-remove");
    assert_eq!(removes.len(), 2, "everyone but oneself can be removed");
    assert!(find_all(&root, "safety-number").is_empty());
    find(&root, "composer-input");
    assert!(find_all(&root, "chat-left").is_empty());

    // Removing cici asks the server to.
    removes[1].unchecked_ref::<HtmlElement>().click();
    leptos::task::tick().await;
    let sent = with_engine(&engine, frames);
    assert!(
        sent.iter().any(|frame| matches!(
            frame,
            ClientFrame::RemoveMember {
                chat_id: GROUP,
                user: CICI,
                ..
            }
        )),
        "{sent:?}"
    );

    // Leaving, with the composer last having the focus: it asks first, and only the answer
    // sends the request; the server's updated chat no longer has alice.
    after_the_page_paints().await;
    find(&root, "composer-input")
        .unchecked_into::<HtmlElement>()
        .focus()
        .expect("focusable");
    find(&root, "chat-leave")
        .unchecked_into::<HtmlElement>()
        .click();
    leptos::task::tick().await;
    assert_eq!(
        text(&find(&root, "chat-leave-question")),
        "Leave this group? You will no longer get its messages, and only an admin can add you back."
    );
    let sent = with_engine(&engine, frames);
    assert!(
        !sent
            .iter()
            .any(|frame| matches!(frame, ClientFrame::RemoveMember { user: ALICE, .. })),
        "not before the answer: {sent:?}"
    );
    find(&root, "chat-leave-confirm")
        .unchecked_into::<HtmlElement>()
        .click();
    leptos::task::tick().await;
    let sent = with_engine(&engine, frames);
    assert!(
        sent.iter().any(|frame| matches!(
            frame,
            ClientFrame::RemoveMember {
                chat_id: GROUP,
                user: ALICE,
                ..
            }
        )),
        "{sent:?}"
    );
    with_engine(&engine, |engine| {
        engine.handle_frame(ServerFrame::Chat {
            request: None,
            chat: chat_info(GROUP, ChatKind::Group, vec![person(BOB, "bob")]),
        });
    });
    version.update(|version| *version += 1);
    leptos::task::tick().await;

    let notice = find(&root, "chat-left");
    after_the_page_paints().await;
    assert_eq!(
        focused(),
        Some(find(&root, "chat-title")),
        "out of the group, the title has the focus (its Leave button is gone)"
    );
    assert_eq!(
        text(&notice),
        "You are no longer a member of this group. You can still read what you received."
    );
    assert!(find_all(&root, "composer-input").is_empty());
    assert!(find_all(&root, "composer-send").is_empty());
    assert!(find_all(&root, "chat-leave").is_empty());
    assert!(
        find_all(&root, "member-remove")
            .iter()
            .all(|button| button.unchecked_ref::<HtmlElement>().hidden()),
        "no removing once out"
    );
}

/// Moving from one group to another draws the members panel afresh: a Leave question left
/// open in one group is not one click from leaving the next, and a name typed to rename one
/// does not rename the other.
#[wasm_bindgen_test]
async fn what_was_left_open_in_one_groups_panel_is_not_carried_to_the_next() {
    let root = container();
    let key = RwSignal::new(7_u64);
    let members = vec![MemberRow {
        id: 1,
        username: "alice".to_owned(),
        me: true,
        admin: true,
    }];
    let handle = mount_to(root.clone(), move || {
        view! {
            <ChatView
                key
                title=Signal::stored("Kantor".to_owned())
                rows=Signal::stored(Vec::new())
                on_send=Callback::new(|_| Ok(()))
                on_reach_top=Callback::new(|()| {})
                on_retry=Callback::new(|_| {})
                on_back=Callback::new(|()| {})
                kind=ChatKind::Group
                members=Signal::stored(members.clone())
                am_admin=Signal::stored(true)
            />
        }
    });
    leptos::task::tick().await;
    find(&root, "chat-leave")
        .unchecked_into::<HtmlElement>()
        .click();
    let rename = find(&root, "group-rename-input").unchecked_into::<web_sys::HtmlInputElement>();
    rename.set_value("Kantor Lama");
    rename
        .dispatch_event(&web_sys::Event::new("input").expect("an event"))
        .expect("dispatched");
    leptos::task::tick().await;
    assert_eq!(attr(&find(&root, "chat-leave"), "aria-expanded"), "true");

    key.set(8);
    leptos::task::tick().await;
    assert_eq!(
        attr(&find(&root, "chat-leave"), "aria-expanded"),
        "false",
        "the next group does not ask to be left"
    );
    let rename = find(&root, "group-rename-input").unchecked_into::<web_sys::HtmlInputElement>();
    assert_eq!(rename.value(), "", "nor offers the last one's new name");
    drop(handle);
    root.remove();
}
