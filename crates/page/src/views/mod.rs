//! Views: presentational components. Each takes signals and `Callback`s and renders; none
//! reads the app context or does I/O, so each can be mounted alone in a test. (What can be
//! done with files is one context of the views' own, [`attachment::FileActions`], since every
//! message and the composer may need it; without it files show and offer nothing. The emoji
//! the picker offers are another, [`emoji_picker::EmojiSource`]: without it there is no picker.)
//!
//! - [`ask_first`]: a button that asks before it acts while acting would lose something.
//! - [`attachment`]: a photo or file in a message, its progress, and the photo viewer.
//! - [`auth`]: the sign-in / sign-up form.
//! - [`chat_list`]: the chats, latest activity first, with unread badges.
//! - [`chat_view`]: one chat: header, message list, composer; `chat_section`, what its
//!   section hears (files pasted or dropped, its details folded).
//! - [`chat_security`]: a 1:1 chat's safety number, and the key-change banner.
//! - [`chat_members`]: a group's members, removing one, leaving.
//! - [`message_list`]: the messages of a chat, scrolled to the newest, loading older at the top.
//! - [`message`]: one message bubble: quote, text, marks, reactions, status.
//! - [`message_menu`]: what can be done to a message (reply, edit, delete, react, forward).
//! - [`composer`]: the message box (Enter sends, Shift+Enter breaks the line).
//! - [`emoji_picker`]: the emoji by group or found by name, fetched when it first opens.
//! - [`new_chat`]: the forms that start a 1:1 chat or a group.
//! - [`connection_status`]: online / connecting / offline, and what waits to be sent.
//! - [`signals`]: who is typing, presence words, the unread total in the tab's title.
//! - [`receipts`]: a message's details: who has it, who read it when.
//! - [`settings`]: the privacy settings panel.
//! - [`search`]: the search box and the messages it found.

pub mod ask_first;
pub mod attachment;
pub mod auth;
pub mod chat_list;
pub mod chat_members;
mod chat_section;
pub mod chat_security;
pub mod chat_view;
pub mod composer;
pub mod connection_status;
pub mod devices;
pub mod emoji_picker;
pub mod message;
pub mod message_list;
pub mod message_menu;
pub mod new_chat;
pub mod notifications;
pub mod receipts;
pub mod search;
pub mod settings;
pub mod signals;

/// A panel's `keydown` handler: Escape, pressed anywhere in it, closes it as its close button
/// does. One handler type for every panel, so the page's module holds its code once.
fn close_on_escape(
    close: leptos::prelude::Callback<()>,
) -> impl Fn(leptos::ev::KeyboardEvent) + 'static {
    use leptos::prelude::Callable;
    move |event| {
        if event.key() == "Escape" {
            close.run(());
        }
    }
}
