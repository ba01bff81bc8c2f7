//! The chat view the message menu tests drive: an own message and one of budi's, every
//! action and keystroke recorded, and the rows it is built from.

use std::sync::{Arc, Mutex, PoisonError};

use leptos::mount::mount_to;
use leptos::prelude::*;
use merpati_bridge::{ChatRow, MessageRow, MessageStatus};
use merpati_page::views::chat_view::{ChatView, MessageAction};
use merpati_protocol::ChatId;
use web_sys::{Element, HtmlElement};

use crate::page::{container, find_in};

pub(crate) const OWN_ID: &str = "0000000000000000000000000000aa01";
pub(crate) const OTHER_ID: &str = "0000000000000000000000000000bb02";

pub(crate) fn row(id: &str, own: bool, text: &str) -> MessageRow {
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

pub(crate) fn chat_row(id: u64, title: &str) -> ChatRow {
    ChatRow {
        id: ChatId(id),
        title: title.to_owned(),
        last_text: None,
        last_time: String::new(),
        last_received: None,
        last_received_from: None,
        unread: 0,
        typing: Vec::new(),
        draft: None,
        muted: false,
    }
}

pub(crate) type Recorded<T> = Arc<Mutex<Vec<T>>>;

pub(crate) fn recorded<T: Clone>(list: &Recorded<T>) -> Vec<T> {
    list.lock().unwrap_or_else(PoisonError::into_inner).clone()
}

/// A chat view with an own message and one of budi's, recording every action (and every
/// keystroke); its actions answer `answer`. Other chats: 8 ("Keluarga") to forward to.
pub(crate) struct Mounted {
    pub(crate) root: HtmlElement,
    pub(crate) rows: RwSignal<Vec<MessageRow>>,
    pub(crate) actions: Recorded<MessageAction>,
    pub(crate) typed: Recorded<String>,
    pub(crate) action_error: RwSignal<Option<String>>,
    /// The chat's draft and the count of its changes by other tabs, as the worker tells them.
    pub(crate) draft: RwSignal<Option<String>>,
    pub(crate) draft_taken: RwSignal<u32>,
    _handle: Box<dyn std::any::Any>,
}

pub(crate) fn mounted_chat(answer: Result<(), String>) -> Mounted {
    let rows = RwSignal::new(vec![
        row(OWN_ID, true, "sampai jumpa"),
        row(OTHER_ID, false, "kapan datang?"),
    ]);
    let action_error = RwSignal::new(None::<String>);
    let draft = RwSignal::new(Some("belum selesai".to_owned()));
    let draft_taken = RwSignal::new(0);
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
                draft
                draft_taken
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
        draft,
        draft_taken,
        _handle: Box::new(handle),
    }
}

pub(crate) fn menu_open(root: &Element) -> bool {
    find_in(root, "message-actions").is_some()
}
