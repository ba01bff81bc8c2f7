//! Group membership in the chat view: the members panel, removing someone, and leaving.

use leptos::prelude::*;
use merpati_protocol::{ChatKind, ClientFrame, ServerFrame};
use wasm_bindgen::JsCast;
use wasm_bindgen_test::wasm_bindgen_test;
use web_sys::HtmlElement;

use crate::dom::{attr, find, find_all, text};
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
