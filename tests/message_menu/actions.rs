//! What the message menu's items do: the actions they report, the composer's reply and edit,
//! and a refused action's words.

use leptos::prelude::*;
use merpati_page::views::chat_view::MessageAction;
use merpati_protocol::ChatId;
use wasm_bindgen_test::wasm_bindgen_test;

use crate::fixture::{OTHER_ID, OWN_ID, menu_open, mounted_chat, recorded, row};
use crate::page::{
    choose, composer, find, find_all, find_in, focused_testid, key, message, mouse, text,
    type_into, until,
};

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
    choose(&other, "message-reply").await;
    let banner = find(&chat.root, "composer-reply");
    assert!(text(&banner).contains("budi"), "{}", text(&banner));
    assert!(text(&banner).contains("kapan datang?"));
    assert_eq!(focused_testid().as_deref(), Some("composer-input"));

    find(&chat.root, "composer-reply-cancel").click();
    leptos::task::tick().await;
    assert!(find_in(&chat.root, "composer-reply").is_none());

    choose(&other, "message-reply").await;
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
    choose(&own, "message-edit").await;
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

    choose(&own, "message-edit").await;
    key(&input, "Escape", false);
    leptos::task::tick().await;
    assert!(
        find_in(&chat.root, "composer-editing").is_none(),
        "Escape cancels"
    );
    assert_eq!(
        input.value(),
        "belum selesai",
        "the chat's draft comes back"
    );
}

#[wasm_bindgen_test]
async fn a_refused_action_shows_its_words_in_the_composer() {
    let chat = mounted_chat(Err("That message is not here any more".to_owned()));
    leptos::task::tick().await;
    let own = message(&chat.root, OWN_ID);
    choose(&own, "message-delete").await;
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
async fn what_was_typed_before_an_edit_comes_back_after_it() {
    let chat = mounted_chat(Ok(()));
    leptos::task::tick().await;
    let input = composer(&chat.root);
    type_into(&input, "masih menulis");
    leptos::task::tick().await;
    let own = message(&chat.root, OWN_ID);
    let edit = || async {
        choose(&own, "message-edit").await;
        until("the message's text in the composer", 2_000.0, || {
            input.value() == "sampai jumpa"
        })
        .await;
    };

    // Sent: the draft comes back.
    edit().await;
    type_into(&input, "sampai besok");
    leptos::task::tick().await;
    find(&chat.root, "composer-send").click();
    leptos::task::tick().await;
    until("the draft back in the composer", 2_000.0, || {
        input.value() == "masih menulis"
    })
    .await;

    // Cancelled: the draft comes back too.
    edit().await;
    key(&input, "Escape", false);
    leptos::task::tick().await;
    assert_eq!(input.value(), "masih menulis");
}

/// Another tab of the browser sent this chat's draft: the box here empties, so that it is not
/// sent twice; a draft written on there shows here; the echo of this tab's own typing (the
/// draft moving without the count) leaves what the person typed since; an edit under way
/// keeps its text and puts the other tab's draft back after.
#[wasm_bindgen_test]
async fn the_composer_follows_a_draft_another_tab_sent_or_changed_but_not_its_own_echo() {
    let chat = mounted_chat(Ok(()));
    leptos::task::tick().await;
    let input = composer(&chat.root);
    assert_eq!(input.value(), "belum selesai");

    // This tab's own typing comes back as the draft a keystroke behind.
    type_into(&input, "belum selesai ya");
    leptos::task::tick().await;
    chat.draft.set(Some("belum selesai y".to_owned()));
    a_later_message_drawn(&chat, "0000000000000000000000000000bb03").await;
    assert_eq!(input.value(), "belum selesai ya", "an echo takes nothing");

    chat.draft.set(None);
    chat.draft_taken.set(1);
    until("sent in the other tab: gone here", 2_000.0, || {
        input.value().is_empty()
    })
    .await;

    chat.draft.set(Some("nanti sore".to_owned()));
    chat.draft_taken.set(2);
    until("written there: shown here", 2_000.0, || {
        input.value() == "nanti sore"
    })
    .await;

    let own = message(&chat.root, OWN_ID);
    choose(&own, "message-edit").await;
    until("the message's text in the composer", 2_000.0, || {
        input.value() == "sampai jumpa"
    })
    .await;
    chat.draft.set(Some("nanti malam".to_owned()));
    chat.draft_taken.set(3);
    a_later_message_drawn(&chat, "0000000000000000000000000000bb04").await;
    assert_eq!(input.value(), "sampai jumpa", "the edit keeps its text");
    key(&input, "Escape", false);
    leptos::task::tick().await;
    assert_eq!(
        input.value(),
        "nanti malam",
        "the other tab's draft after the edit"
    );
}

/// Draws a message after what the test changed before: whatever that change set off has run
/// by the time it shows.
async fn a_later_message_drawn(chat: &crate::fixture::Mounted, id: &str) {
    chat.rows.update(|rows| rows.push(row(id, false, "jadi?")));
    let selector = format!("[data-msg-id=\"{id}\"]");
    until("a later message drawn", 2_000.0, || {
        chat.root.query_selector(&selector).ok().flatten().is_some()
    })
    .await;
}

/// The message being answered is deleted while the reply is written: sending does not empty
/// the box for a reply that would be refused. The reply ends, the text stays, and the words
/// say why; nothing is sent.
#[wasm_bindgen_test]
async fn a_reply_to_a_message_deleted_meanwhile_keeps_what_was_typed() {
    let chat = mounted_chat(Ok(()));
    leptos::task::tick().await;
    let input = composer(&chat.root);
    let other = message(&chat.root, OTHER_ID);
    choose(&other, "message-reply").await;
    type_into(&input, "iya, jam tujuh");
    leptos::task::tick().await;
    chat.rows.update(|rows| {
        for row in rows.iter_mut().filter(|row| row.id == OTHER_ID) {
            row.deleted = true;
        }
    });
    leptos::task::tick().await;
    find(&chat.root, "composer-send").click();
    leptos::task::tick().await;
    assert!(recorded(&chat.actions).is_empty(), "nothing sent");
    assert_eq!(input.value(), "iya, jam tujuh", "the text stays");
    assert!(
        find_in(&chat.root, "composer-reply").is_none(),
        "the reply ends"
    );
    assert_eq!(
        text(&find(&chat.root, "composer-error")),
        "That message was deleted"
    );
}

/// Reply chosen while an edit is open: the edited message's text goes, and what was typed
/// before the edit comes back to be the reply.
#[wasm_bindgen_test]
async fn a_reply_chosen_during_an_edit_starts_from_the_draft_not_the_edited_text() {
    let chat = mounted_chat(Ok(()));
    leptos::task::tick().await;
    let input = composer(&chat.root);
    let own = message(&chat.root, OWN_ID);
    mouse(&own, "contextmenu");
    leptos::task::tick().await;
    find(&own, "message-edit").click();
    until("the edited text in the composer", 2_000.0, || {
        input.value() == "sampai jumpa"
    })
    .await;
    let other = message(&chat.root, OTHER_ID);
    choose(&other, "message-reply").await;
    find(&chat.root, "composer-reply");
    until("the draft, not the edited text", 2_000.0, || {
        input.value() == "belum selesai"
    })
    .await;
}
