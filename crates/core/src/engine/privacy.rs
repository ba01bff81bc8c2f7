//! The account's privacy settings and whom it blocks, and this browser's own settings,
//! recently chosen emoji, skin tone and muted chats.
//!
//! The settings (share read receipts, share presence) are the account's, whichever device the
//! person chose them on: the server holds them, and tells each session what they are (`Privacy`: in
//! every sync, and whenever they change). A change made here is remembered (sealed in the store
//! like everything else) and sent, at once or after the next `Welcome`, and this device's choice
//! stands until the server has answered with it — so a change made offline is not undone by the
//! sync, and a device that was away does not put back what another chose meanwhile — also after a
//! reload: that a change waits is remembered with it. The views follow them too: what this account
//! does not share, it is not shown of anyone, including what it learnt before the change (others'
//! reads, their presence). Its own read position is still sent (`MarkRead`): the server keeps it
//! for this account's other devices and passes on to others only what is shared.
//!
//! The block list is the server's (`BlockList`, in every sync and after each change); a copy
//! is kept so that, even offline, a 1:1 chat with a blocked person refuses sending with
//! words, and blocked people's typing and presence are not shown.

use merpati_protocol::content::MAX_REACTION_BYTES;
use merpati_protocol::{ChatId, ClientFrame, MAX_BLOCKED, RequestId, UserId};
use merpati_words::SkinTone;

use super::{Engine, Event, RequestError};
use crate::store::{BrowserChoices, DeviceSettings, PrivacySettings, StoreWrite};
use crate::timeline::Person;

/// How many recently chosen emoji a browser keeps: about three rows of the picker.
pub const RECENT_EMOJI: usize = 24;

impl Engine {
    /// Changes the privacy settings: remembered, and told to the server now if connected
    /// (else after the next sign-in).
    pub fn set_privacy(&mut self, privacy: PrivacySettings) {
        if self.settings.privacy == privacy {
            return;
        }
        self.settings.privacy = privacy;
        if !self.privacy_unsent {
            self.privacy_unsent = true;
            self.writes.push(StoreWrite::PutPrivacyPending(true));
        }
        self.writes
            .push(StoreWrite::PutSettings(self.settings.clone()));
        if self.is_authenticated() {
            self.frames.push(self.privacy_frame());
        }
        self.views_changed = true;
    }

    /// The server says what the account's privacy settings are: held from now on, unless a
    /// change made here has not been answered yet (its answer follows).
    pub(super) fn on_privacy(&mut self, privacy: PrivacySettings) {
        if self.privacy_unsent {
            if self.settings.privacy == privacy {
                self.privacy_unsent = false;
                self.writes.push(StoreWrite::PutPrivacyPending(false));
            }
            return;
        }
        if self.settings.privacy != privacy {
            self.settings.privacy = privacy;
            self.writes
                .push(StoreWrite::PutSettings(self.settings.clone()));
            self.views_changed = true;
        }
    }

    /// The privacy settings.
    pub fn privacy(&self) -> PrivacySettings {
        self.settings.privacy
    }

    /// Takes what this browser chose for itself as stored: at start, and whenever another tab
    /// of the browser changed it — a chat muted there notifies from no tab, and a change this
    /// tab makes next does not put back what the other chose. Nothing is written. Not while a
    /// change made here waits to be stored: it is newer than what was read, and once stored
    /// the other tabs read it in their turn.
    pub fn adopt_browser_choices(&mut self, browser: BrowserChoices) {
        if self.writes.iter().any(BrowserChoices::changed_by) {
            return;
        }
        let BrowserChoices {
            device_settings,
            recent_emoji,
            skin_tone,
            muted_chats,
            drafts,
        } = browser;
        self.take_drafts(crate::sorting::map_from(
            drafts.into_iter().map(|draft| (draft.chat_id, draft.text)),
        ));
        self.device_settings = device_settings.unwrap_or_default();
        self.recent_emoji = recent_emoji;
        self.skin_tone = skin_tone;
        self.muted_chats = crate::sorting::set_from(muted_chats);
        self.views_changed = true;
    }

    /// Changes this browser's own settings (notifications): remembered, sealed, never sent.
    pub fn set_device_settings(&mut self, settings: DeviceSettings) {
        if self.device_settings == settings {
            return;
        }
        self.device_settings = settings;
        self.writes.push(StoreWrite::PutDeviceSettings(settings));
        self.views_changed = true;
    }

    /// This browser's own settings.
    pub fn device_settings(&self) -> DeviceSettings {
        self.device_settings
    }

    /// Notes that the person chose `emoji` in the emoji picker: it goes first among the
    /// recent ones (remembered, sealed, never sent), at most [`RECENT_EMOJI`] of them. What
    /// could not be a reaction is no emoji the picker offers, and is ignored.
    pub fn emoji_used(&mut self, emoji: &str) {
        if emoji.is_empty() || emoji.len() > MAX_REACTION_BYTES {
            return;
        }
        if self
            .recent_emoji
            .first()
            .is_some_and(|first| first == emoji)
        {
            return;
        }
        self.recent_emoji.retain(|kept| kept != emoji);
        self.recent_emoji.insert(0, emoji.to_owned());
        self.recent_emoji.truncate(RECENT_EMOJI);
        self.writes
            .push(StoreWrite::PutRecentEmoji(self.recent_emoji.clone()));
        self.views_changed = true;
    }

    /// This browser's recently chosen emoji, most recent first.
    pub fn recent_emoji(&self) -> &[String] {
        &self.recent_emoji
    }

    /// Chooses the skin tone the emoji picker shows people and hands in, in this browser
    /// (remembered, sealed, never sent).
    pub fn set_skin_tone(&mut self, tone: SkinTone) {
        if tone == self.skin_tone {
            return;
        }
        self.skin_tone = tone;
        self.writes.push(StoreWrite::PutSkinTone(tone));
        self.views_changed = true;
    }

    /// The skin tone this browser's emoji picker shows.
    pub fn skin_tone(&self) -> SkinTone {
        self.skin_tone
    }

    /// Mutes a chat in this browser, or no longer: a muted chat's messages arrive and count as
    /// unread as ever, but this browser does not notify of them (remembered, sealed, never
    /// sent: the other members cannot tell).
    pub fn set_muted(&mut self, chat: ChatId, muted: bool) {
        let changed = if muted {
            self.muted_chats.insert(chat)
        } else {
            self.muted_chats.remove(&chat)
        };
        if changed {
            self.writes.push(StoreWrite::PutMutedChats(
                self.muted_chats.iter().copied().collect(),
            ));
            self.views_changed = true;
        }
    }

    /// Whether this browser does not notify of `chat`.
    pub fn is_muted(&self, chat: ChatId) -> bool {
        self.muted_chats.contains(&chat)
    }

    /// Blocks or unblocks a person. [`Event::RequestDone`] follows with the new block list.
    pub fn set_blocked(&mut self, user: UserId, blocked: bool) -> Result<RequestId, RequestError> {
        if blocked
            && !self.settings.blocked.contains(&user)
            && self.settings.blocked.len() >= MAX_BLOCKED
        {
            return Err(RequestError::TooManyBlocked);
        }
        self.request(|request| ClientFrame::SetBlocked {
            request,
            user,
            blocked,
        })
    }

    /// Whether this account blocks `user`.
    pub fn is_blocked(&self, user: UserId) -> bool {
        self.settings.blocked.contains(&user)
    }

    /// Everyone this account blocks, with their usernames where this device knows them.
    pub fn blocked_people(&self) -> Vec<Person> {
        self.settings
            .blocked
            .iter()
            .map(|user| self.person(*user))
            .collect()
    }

    /// The clock reached the time a privacy change refused for now is to be sent again.
    pub(super) fn retry_privacy_if_due(&mut self) {
        if self.privacy_retry.take_due(self.now_ms)
            && self.privacy_unsent
            && self.is_authenticated()
        {
            self.frames.push(self.privacy_frame());
        }
    }

    /// The frame that tells the server the settings.
    pub(super) fn privacy_frame(&self) -> ClientFrame {
        ClientFrame::SetPrivacy {
            share_read_receipts: self.settings.privacy.share_read_receipts,
            share_presence: self.settings.privacy.share_presence,
        }
    }

    pub(super) fn on_block_list(&mut self, request: Option<RequestId>, users: Vec<UserId>) {
        let blocked = crate::sorting::set_from(users);
        if blocked != self.settings.blocked {
            self.settings.blocked = blocked;
            self.writes
                .push(StoreWrite::PutSettings(self.settings.clone()));
            self.views_changed = true;
        }
        if let Some(request) = request
            && self.pending_requests.contains(&request)
        {
            self.pending_requests.retain(|pending| *pending != request);
            self.events.push(Event::RequestDone { request });
        }
    }
}
