//! The engine worker's side of the bridge, in Chromium: the same `EngineWorker` the
//! `merpati-worker` module runs, driven with commands here (a real IndexedDB, a real socket
//! to a port where no server listens) and heard through what it posts.

use std::cell::RefCell;
use std::rc::Rc;

use merpati_app::worker::EngineWorker;
use merpati_bridge::{AuthMode, Command, ConnectionPhase, Update, View};
use merpati_protocol::{ChatId, ClientMsgId};
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

#[path = "support/worker.rs"]
mod worker;
use worker::heard;

/// A worker over a database of its own.
fn started_worker() -> (EngineWorker, Rc<RefCell<Vec<Update>>>) {
    worker::started_worker(format!("merpati-test-worker-{}", js_sys::Math::random()))
}

#[wasm_bindgen_test]
async fn a_browser_without_a_stored_session_is_told_so() {
    let (_worker, updates) = started_worker();
    let resumed = heard(&updates, "whether it resumed", |update| match update {
        Update::Resumed(resumed) => Some(*resumed),
        _ => None,
    })
    .await;
    assert!(!resumed);
}

#[wasm_bindgen_test]
async fn what_cannot_be_done_comes_back_as_words() {
    let (worker, updates) = started_worker();
    worker.handle(Command::Authenticate {
        mode: AuthMode::Login,
        username: "not a name".to_owned(),
        passphrase: "a long enough passphrase".to_owned(),
    });
    let words = heard(
        &updates,
        "why the sign-in cannot start",
        |update| match update {
            Update::AuthError(words) => Some(words.clone()),
            _ => None,
        },
    )
    .await;
    assert!(!words.is_empty());

    worker.handle(Command::SendText {
        chat: ChatId(99),
        text: "halo".to_owned(),
    });
    let words = heard(&updates, "why the text cannot go", |update| match update {
        Update::RequestError(words) => Some(words.clone()),
        _ => None,
    })
    .await;
    assert_eq!(words, "That chat does not exist");
}

#[wasm_bindgen_test]
async fn a_refused_action_on_a_message_comes_back_as_the_engines_words() {
    let (worker, updates) = started_worker();
    let target = ClientMsgId([7; 16]);
    let refused = [
        Command::React {
            chat: ChatId(99),
            target,
            emoji: "👍".to_owned(),
        },
        Command::DeleteForMe {
            chat: ChatId(99),
            target,
        },
    ];
    for (index, command) in refused.into_iter().enumerate() {
        worker.handle(command);
        let words = heard(
            &updates,
            "why the action cannot be done",
            |update| match update {
                Update::ActionError(words) => Some(words.clone()),
                _ => None,
            },
        )
        .await;
        assert_eq!(words, "That chat does not exist", "action {index}");
        updates.borrow_mut().clear();
    }
}

#[wasm_bindgen_test]
async fn signing_up_with_no_server_shows_the_wait_for_the_next_try() {
    let (worker, updates) = started_worker();
    worker.handle(Command::Authenticate {
        mode: AuthMode::Register,
        username: "ani".to_owned(),
        passphrase: "correct horse battery staple".to_owned(),
    });
    heard(&updates, "that it contacts the server", |update| {
        (*update == Update::Contacting).then_some(())
    })
    .await;
    // Views follow the engine: the failed connection shows as offline, with the time of the
    // next attempt for the countdown.
    let view: View = heard(
        &updates,
        "an offline view with a retry time",
        |update| match update {
            Update::View { view, .. }
                if view.phase == ConnectionPhase::Offline && view.next_attempt_at_ms.is_some() =>
            {
                Some((**view).clone())
            }
            _ => None,
        },
    )
    .await;
    assert!(view.chats.is_empty());
    assert_eq!(view.open_chat, None);
    // No two views in a row are the same: an unchanged view is not sent again.
    let views: Vec<View> = updates
        .borrow()
        .iter()
        .filter_map(|update| match update {
            Update::View { view, .. } => Some((**view).clone()),
            _ => None,
        })
        .collect();
    assert!(views.windows(2).all(|pair| pair[0] != pair[1]), "{views:?}");
}

#[wasm_bindgen_test]
async fn the_chat_the_page_opens_is_the_one_its_views_show_until_it_is_closed() {
    let (worker, updates) = started_worker();
    heard(&updates, "whether it resumed", |update| match update {
        Update::Resumed(_) => Some(()),
        _ => None,
    })
    .await;
    let open_chat_of = |update: &Update| match update {
        Update::View { view, .. } => Some(view.open_chat.as_ref().map(|chat| chat.id)),
        _ => None,
    };

    // The worker keeps which chat is on screen: the page asks, and reads it back from the view.
    worker.handle(Command::OpenChat(Some(ChatId(5))));
    heard(&updates, "a view with chat 5 open", |update| {
        (open_chat_of(update)? == Some(ChatId(5))).then_some(())
    })
    .await;

    updates.borrow_mut().clear();
    worker.handle(Command::OpenChat(None));
    heard(&updates, "a view with no chat open", |update| {
        open_chat_of(update)?.is_none().then_some(())
    })
    .await;
}
