//! The app context's part for a live conversation: who is typing, presence, a message's
//! receipts, privacy settings, group admins and blocking — what the views read, and what
//! people do, turned into [`Command`]s like the rest of [`crate::state`].

use leptos::prelude::*;
use merpati_bridge::{Command, DeviceRow, MessageReceipts, Notifications, Privacy};
use merpati_protocol::sessions::SessionRef;
use merpati_protocol::{ChatKind, ClientMsgId, Presence, UserId};
use merpati_words::SkinTone;

use crate::state::AppContext;

impl AppContext {
    /// Who is typing in the chat on screen.
    pub fn typing(self) -> Signal<Vec<String>> {
        self.project_open_chat(|chat| chat.typing.clone())
    }

    /// The presence of the other person of the 1:1 chat on screen.
    pub fn presence(self) -> Signal<Option<Presence>> {
        self.project_open_chat(|chat| chat.presence)
    }

    /// The open details of a message in the chat on screen.
    pub fn receipts(self) -> Signal<Option<MessageReceipts>> {
        self.project_open_chat(|chat| chat.receipts.clone())
    }

    /// Whether this account is an admin of the group on screen.
    pub fn am_admin(self) -> Signal<bool> {
        self.project_open_chat(|chat| chat.am_admin)
    }

    /// Whether this account blocks the other person of the 1:1 chat on screen.
    pub fn blocked(self) -> Signal<bool> {
        self.project_open_chat(|chat| chat.blocked)
    }

    /// The privacy settings.
    pub fn privacy(self) -> Signal<Privacy> {
        self.project(|view| view.privacy)
    }

    /// Where the account is signed in; `None` until listed ([`AppContext::list_devices`]).
    pub fn devices(self) -> Signal<Option<Vec<DeviceRow>>> {
        self.project(|view| view.devices.clone())
    }

    /// Asks where the account is signed in (the devices section opens).
    pub fn list_devices(self) {
        self.send(Command::ListDevices);
    }

    /// Signs another browser out.
    pub fn end_device(self, session: SessionRef) {
        self.send(Command::EndDevice(session));
    }

    /// Opens the details of a message (its `data-msg-id`) in the chat on screen, or closes
    /// them.
    pub fn show_receipts(self, id: Option<String>) {
        let id = id.and_then(|id| ClientMsgId::from_hex(&id));
        self.send(Command::ShowReceipts(id));
    }

    /// Changes the privacy settings.
    pub fn set_privacy(self, privacy: Privacy) {
        self.send(Command::SetPrivacy(privacy));
    }

    /// This browser's notification settings, as its store keeps them.
    pub fn notifications(self) -> Signal<Notifications> {
        self.project(|view| view.notifications)
    }

    /// The emoji this browser chose lately, most recent first.
    pub fn recent_emoji(self) -> Signal<Vec<String>> {
        self.project(|view| view.recent_emoji.clone())
    }

    /// Tells the engine the person chose `emoji` in the picker.
    pub fn emoji_used(self, emoji: String) {
        self.send(Command::EmojiUsed(emoji));
    }

    /// The skin tone this browser's picker shows.
    pub fn skin_tone(self) -> Signal<SkinTone> {
        self.project(|view| SkinTone::from_index(view.skin_tone))
    }

    /// Keeps the skin tone the picker shows, for this browser.
    pub fn set_skin_tone(self, tone: SkinTone) {
        self.send(Command::SetSkinTone(tone.index()));
    }

    /// Keeps new notification settings for this browser.
    pub fn set_notifications(self, notifications: Notifications) {
        self.send(Command::SetNotifications(notifications));
    }

    /// Makes a member of the group on screen an admin, or no longer one.
    pub fn set_admin(self, user: u64, admin: bool) {
        if let Some(chat) = self.open_chat_id_untracked() {
            self.send(Command::SetAdmin {
                chat,
                user: UserId(user),
                admin,
            });
        }
    }

    /// Adds a person (their username) to the group on screen; the members update when the
    /// server answers, or `request-error` says why it refused.
    pub fn add_member(self, username: String) {
        if let Some(chat) = self.open_chat_id_untracked() {
            // Words about an earlier attempt would read as the answer to this one.
            self.dismiss_request_error();
            self.send(Command::AddMember { chat, username });
        }
    }

    /// Renames the group on screen.
    pub fn rename_group(self, title: String) {
        if let Some(chat) = self.open_chat_id_untracked() {
            self.send(Command::RenameGroup { chat, title });
        }
    }

    /// Whether this browser does not notify of the chat on screen.
    pub fn muted(self) -> Signal<bool> {
        self.project(|view| {
            let open = view.open_chat.as_ref().map(|chat| chat.id);
            view.chats
                .iter()
                .any(|chat| Some(chat.id) == open && chat.muted)
        })
    }

    /// Mutes the chat on screen in this browser, or no longer.
    pub fn set_muted(self, muted: bool) {
        if let Some(chat) = self.open_chat_id_untracked() {
            self.send(Command::SetMuted { chat, muted });
        }
    }

    /// Blocks or unblocks the other person of the 1:1 chat on screen.
    pub fn set_blocked(self, blocked: bool) {
        let partner = self.with_view_untracked(|view| {
            let chat = view.open_chat.as_ref()?;
            (chat.kind == Some(ChatKind::Direct))
                .then(|| chat.members.iter().find(|member| !member.me))
                .flatten()
                .map(|member| member.id)
        });
        if let Some(user) = partner {
            self.send(Command::SetBlocked {
                user: UserId(user),
                blocked,
            });
        }
    }
}
