//! What arrives from the server: [`Engine::handle_frame`] dispatches every frame, and the
//! handlers here merge chats, acknowledgements, live messages and pages into the timelines.
//!
//! Messages enter a timeline exactly once, in sequence order: duplicates are dropped, and a
//! gap (or an unfinished page) asks for what is missing with one `Fetch` at a time per chat.
//! A message that acts on another (an edit, a deletion, a reaction) is recorded against its
//! target as it opens, whether or not the target is here yet; a target deleted for everyone
//! loses its stored body here too: in memory and in the store once both are loaded, and in the
//! store alone, found there by its id, when the deletion comes for a message not loaded.
//! The answers of the sign-in live in `session`, the sync's end and its listing of the
//! account's chats in `sync`, those of the key flow in `keys`, receipts in `receipts`, typing
//! and presence in `presence`, the block list in `privacy`.

use merpati_protocol::{
    ChatId, ChatInfo, ChatKind, ClientFrame, ClientMsgId, ErrorCode, MAX_PAGE, MessageFrame,
    RequestId, Seq, ServerFrame, UserId, content::MessageContent,
};

use super::session::Phase;
use super::{ChatState, Engine, Event};
use crate::annotations::Action;
use crate::e2e::Opened;
use crate::store::{MessageRecord, PrivacySettings, StoreWrite};
use crate::timeline::{Inserted, Timeline};

impl Engine {
    /// Feeds one frame from the server.
    pub fn handle_frame(&mut self, frame: ServerFrame) {
        self.heard_from_server();
        match frame {
            ServerFrame::Challenge {
                version: _,
                nonce,
                epoch,
            } => self.on_challenge(nonce, epoch),
            ServerFrame::Welcome { me, session_token } => self.on_welcome(me, session_token),
            ServerFrame::Error {
                request,
                code,
                detail: _,
            } => self.on_error(request, code),
            ServerFrame::Chat { request, chat } => self.on_chat(request, chat),
            ServerFrame::Ack {
                chat_id,
                client_msg_id,
                seq,
                sent_at_ms,
            } => self.on_ack(chat_id, client_msg_id, seq, sent_at_ms),
            ServerFrame::SendFailed {
                chat_id: _,
                client_msg_id,
                code,
            } => self.on_send_failed(client_msg_id, code),
            ServerFrame::Message(message) => {
                let chat_id = message.chat_id;
                if self.chats.contains_key(&chat_id) {
                    self.insert_messages(chat_id, vec![message], false);
                } else {
                    self.hold_early(message);
                }
            }
            ServerFrame::Page {
                chat_id,
                messages,
                more,
            } => self.on_page(chat_id, messages, more),
            ServerFrame::SyncDone => self.on_sync_done(),
            ServerFrame::Receipt { chat_id, receipt } => self.on_receipt(chat_id, receipt),
            ServerFrame::Sessions { request, sessions } => self.on_sessions(request, sessions),
            ServerFrame::SessionEnded { request } => self.on_session_ended(request),
            // Answers to requests the engine does not make (a sign-out proof and a salt lookup
            // go out on connections of the shell's own), and the `Pong`, which says only that
            // the server is there, as every frame does (above).
            ServerFrame::SignedOut | ServerFrame::Salt { .. } | ServerFrame::Pong => {}
            // The account ended this session from another of its devices: signed out here.
            ServerFrame::Goodbye {
                code: ErrorCode::SessionExpired,
                ..
            } => self.on_sign_in_refused(ErrorCode::SessionExpired),
            ServerFrame::Goodbye {
                code: _,
                retry_after_ms,
            } => self.events.push(Event::ServerGoingAway { retry_after_ms }),
            ServerFrame::KeysPublished { one_time_keys } => self.on_keys_published(one_time_keys),
            ServerFrame::KeysClaimed {
                one_time_keys,
                fallback_claimed,
            } => self.on_keys_claimed(one_time_keys, fallback_claimed),
            ServerFrame::Keys { request, users } => self.on_keys(request, users),
            ServerFrame::ClaimedKeys { request, keys } => self.on_claimed_keys(request, keys),
            ServerFrame::ToDeviceSent { request, refused } => {
                self.on_to_device_sent(request, refused)
            }
            ServerFrame::ToDevice { id, sender, body } => self.on_to_device(id, sender, &body),
            ServerFrame::BackupStored { request } => self.on_backup_stored(request),
            ServerFrame::Backup {
                request,
                entries,
                more,
            } => self.on_backup(request, entries, more),
            ServerFrame::DevicesChanged { user } => self.on_devices_changed(user),
            ServerFrame::BackupChanged => self.on_backup_changed(),
            ServerFrame::Typing { chat_id, user } => self.on_typing(chat_id, user),
            ServerFrame::Presence { user, presence } => self.on_presence(user, presence),
            ServerFrame::BlockList { request, users } => self.on_block_list(request, users),
            ServerFrame::Privacy {
                share_read_receipts,
                share_presence,
            } => self.on_privacy(PrivacySettings {
                share_read_receipts,
                share_presence,
            }),
        }
    }

    fn on_error(&mut self, request: Option<RequestId>, code: ErrorCode) {
        if self.is_signing_in() {
            self.on_sign_in_refused(code);
            return;
        }
        if request.is_none() {
            self.liveness_refused(code);
        }
        if request.is_none() && self.on_publish_refused(code) {
            return;
        }
        if request.is_none()
            && code == ErrorCode::TooManyRequests
            && self.privacy_unsent
            && !self.privacy_retry.is_waiting()
        {
            // It may be the privacy change's (its frame has no request id): sent again later,
            // or the person's choice would hold here while the server applies the old one
            // until the next connection. Sent twice, it costs a write.
            self.privacy_retry.refused(self.now_ms);
        }
        if let Some(request) = request {
            if self.on_key_request_failed(request, code) {
                return;
            }
            self.pending_requests.retain(|pending| *pending != request);
        } else if code == ErrorCode::TooManyRequests && self.phase == Phase::Syncing {
            // A large account's sync costs its size: while catching up, a refusal without a
            // request is the sync's (a page asked for meanwhile is asked again by it too).
            self.on_sync_refused();
            self.forget_page_requests();
            return;
        }
        if matches!(code, ErrorCode::NoSuchChat | ErrorCode::TooManyRequests) {
            // A page refused (which one is not said): any may be asked for again.
            self.forget_page_requests();
        }
        if code == ErrorCode::TooManyRequests {
            // Older pages are asked for again as the reader scrolls; a gap, only by the
            // chat's next message, which may not come: the clock asks for it.
            self.page_retry.refused(self.now_ms);
        }
        self.events.push(Event::RequestFailed { request, code });
    }

    /// The clock reached the time a refused page is to be asked again: every chat with a gap
    /// asks for what follows what it holds.
    pub(super) fn retry_pages_if_due(&mut self) {
        if !self.page_retry.take_due(self.now_ms) || !self.is_authenticated() {
            return;
        }
        for (&chat_id, chat) in &mut self.chats {
            if chat.timeline.has_gap() && !chat.fetching {
                chat.fetching = true;
                self.frames.push(ClientFrame::Fetch {
                    chat_id,
                    after: chat.timeline.synced(),
                    limit: MAX_PAGE,
                });
            }
        }
    }

    /// Forgets which chats have a page asked for, so that the next reason asks again.
    fn forget_page_requests(&mut self) {
        for chat in self.chats.values_mut() {
            chat.fetching = false;
            chat.history = super::HistoryAsked::Not;
        }
    }

    fn on_chat(&mut self, request: Option<RequestId>, info: ChatInfo) {
        let chat_id = info.id;
        if let Some(listed) = &mut self.listed_in_sync {
            listed.insert(chat_id);
        }
        // Two changes committed together are pushed in either order: the older description,
        // coming after the newer, would put back a member just removed (and share the chat's
        // key with them) or take away one just added. The newer stands.
        if self
            .chats
            .get(&chat_id)
            .is_some_and(|chat| info.head < chat.described_at)
        {
            self.chat_ready(request, chat_id);
            return;
        }
        if self.is_replaced_by(&info) {
            self.forget_replaced_chat(chat_id);
        }
        let authenticated = self.is_authenticated();
        self.clock_ms = self.clock_ms.max(info.created_ms);
        self.learn_names(&info.members);
        self.views_changed = true;
        if info.kind == ChatKind::Direct {
            // Its safety number needs the other person's keys.
            let me = self.my_id();
            self.keys.wanted.extend(
                info.members
                    .iter()
                    .map(|member| member.id)
                    .filter(|id| *id != me),
            );
        }
        let chat = self
            .chats
            .entry(chat_id)
            .or_insert_with(|| ChatState::new(info.clone(), Timeline::default()));
        if info.head == Seq(0) && chat.timeline.floor() == Seq(0) {
            // An empty chat: this device holds all of it, from the very first message on.
            chat.timeline = Timeline::with_positions(Seq(1), Seq(0));
        }
        let read = chat.info.read.max(info.read);
        if read > info.read && authenticated {
            // Read here while the server could not be told: tell it now.
            self.frames
                .push(ClientFrame::MarkRead { chat_id, seq: read });
        }
        for receipt in &info.receipts {
            chat.receipts.merge(*receipt);
        }
        let joined = info
            .members
            .iter()
            .any(|member| !chat.info.members.iter().any(|known| known.id == member.id));
        if joined {
            let head = chat
                .joined_after
                .map_or(info.head, |known| known.min(info.head));
            chat.joined_after = Some(head);
        }
        chat.described_at = info.head;
        chat.info = info;
        chat.info.read = read;
        self.writes.push(StoreWrite::PutChat(chat.record()));
        self.take_in_early(chat_id);
        self.chat_ready(request, chat_id);
        self.send_outbox();
    }

    /// Answers the request `request` (if this engine made it) with its chat.
    fn chat_ready(&mut self, request: Option<RequestId>, chat_id: ChatId) {
        if let Some(request) = request
            && self.pending_requests.contains(&request)
        {
            self.pending_requests.retain(|pending| *pending != request);
            self.events.push(Event::ChatReady { request, chat_id });
        }
    }

    fn on_ack(&mut self, chat_id: ChatId, client_msg_id: ClientMsgId, seq: Seq, sent_at_ms: u64) {
        let Some(position) = self
            .outbox
            .iter()
            .position(|entry| entry.record.client_msg_id == client_msg_id)
        else {
            // Acknowledged already (a resend's second ack), or by another tab.
            return;
        };
        self.clock_ms = self.clock_ms.max(sent_at_ms);
        let entry = self.take_from_outbox(position);
        self.views_changed = true;
        let (Some(me), Some(body)) = (self.me.as_ref().map(|me| me.id), entry.sent_body) else {
            return;
        };
        let message = MessageFrame {
            chat_id,
            seq,
            client_msg_id,
            sender: me,
            sent_at_ms,
            body,
        };
        if let Some(content) = MessageContent::from_body(&entry.record.body) {
            // Written here: no need to decrypt what this device encrypted.
            self.remember_opened(&message, Opened::Content(content));
        }
        self.insert_messages(chat_id, vec![message], false);
    }

    fn on_send_failed(&mut self, client_msg_id: ClientMsgId, code: ErrorCode) {
        self.refuse(client_msg_id, code);
    }

    fn on_page(&mut self, chat_id: ChatId, messages: Vec<MessageRecord>, more: bool) {
        self.page_retry.served();
        let Some(chat) = self.chats.get_mut(&chat_id) else {
            return;
        };
        let floor = chat.timeline.floor();
        let is_history = match (chat.history, messages.last()) {
            (super::HistoryAsked::Below(before), Some(last)) => last.seq < before,
            // Empty: the answer of the History in flight, unless a Fetch is in flight too
            // (answers come in the order asked, which is not known here: taken as the Fetch's,
            // whose empty answer changes nothing).
            (super::HistoryAsked::Below(_), None) => !chat.fetching,
            _ => false,
        };
        if is_history {
            chat.history = if more {
                super::HistoryAsked::Not
            } else {
                super::HistoryAsked::Done
            };
            self.open_messages(&messages);
            let Some(chat) = self.chats.get_mut(&chat_id) else {
                return;
            };
            // Messages held already may still lower the floor (they were loaded below it).
            if chat.timeline.insert_older(messages.clone()) > 0 || chat.timeline.floor() < floor {
                self.writes.push(StoreWrite::PutChat(chat.record()));
                self.views_changed = true;
                let ids: Vec<ClientMsgId> = messages.iter().map(|m| m.client_msg_id).collect();
                self.writes.push(StoreWrite::PutMessages(messages));
                self.erase_deleted(chat_id, ids);
            }
            return;
        }
        chat.fetching = false;
        if let Some(first) = messages.first() {
            chat.timeline.skip_unreadable_before(first.seq);
        }
        self.insert_messages(chat_id, messages, more);
        // A gap skipped (what lay in it is not this account's to read) holds everything
        // after it now, though nothing new came: the chat on screen is read that far too.
        if self.on_screen == Some(chat_id) {
            self.mark_read(chat_id);
        }
    }

    /// Inserts messages going forward, persists what is new, and asks for whatever a gap or
    /// an unfinished page leaves missing.
    pub(super) fn insert_messages(
        &mut self,
        chat_id: ChatId,
        messages: Vec<MessageRecord>,
        more: bool,
    ) {
        if !self.chats.contains_key(&chat_id) {
            return;
        }
        if let Some(newest) = messages.iter().map(|message| message.sent_at_ms).max() {
            self.clock_ms = self.clock_ms.max(newest);
        }
        self.open_messages(&messages);
        let authenticated = self.is_authenticated();
        let me = self.my_id();
        let Some(chat) = self.chats.get_mut(&chat_id) else {
            return;
        };
        let mut new = Vec::new();
        for message in messages {
            chat.info.head = chat.info.head.max(message.seq);
            if chat.timeline.insert(message.clone()) != Inserted::Duplicate {
                new.push(message);
            }
        }
        let gap = chat.timeline.has_gap();
        for message in &new {
            // Their message arrived: they are no longer typing it.
            chat.typing.remove(&message.sender);
        }
        if authenticated && chat.timeline.synced() > chat.delivered {
            chat.delivered = chat.timeline.synced();
            self.delivery_moved.insert(chat_id);
        }
        // A message delivered by the server is no longer pending, whoever sent it from here
        // (taken out of the outbox below, once the chat is let go).
        let delivered: Vec<(ClientMsgId, bool)> = new
            .iter()
            .map(|message| (message.client_msg_id, message.sender == me))
            .collect();
        if (gap || more) && !chat.fetching && authenticated {
            chat.fetching = true;
            self.frames.push(ClientFrame::Fetch {
                chat_id,
                after: chat.timeline.synced(),
                limit: MAX_PAGE,
            });
        }
        if !new.is_empty() {
            let ids: Vec<ClientMsgId> = new.iter().map(|message| message.client_msg_id).collect();
            self.writes.push(StoreWrite::PutMessages(new));
            self.writes.push(StoreWrite::PutChat(chat.record()));
            self.views_changed = true;
            self.erase_deleted(chat_id, ids);
            if self.on_screen == Some(chat_id) {
                self.mark_read(chat_id);
            }
        }
        for (id, mine) in delivered {
            match self
                .outbox
                .iter()
                .position(|entry| entry.record.client_msg_id == id)
            {
                Some(position) => {
                    self.take_from_outbox(position);
                }
                // Perhaps sent from another tab of this browser, closed before its Ack: its
                // record in the shared outbox goes too. Left there, a reload that does not
                // load this message (a page of newer ones) would show it pending again and
                // send it again, below the messages after it.
                None if mine => {
                    let file = match self.opened.get(&id) {
                        Some(Opened::Content(content)) => {
                            super::attachments::attached_blob(content)
                        }
                        _ => None,
                    };
                    self.forget_outbox_record(id, file);
                }
                None => {}
            }
        }
    }

    /// Remembers what a message turned out to be when opened; a message that acts on another
    /// is recorded against its target.
    pub(super) fn remember_opened(&mut self, message: &MessageRecord, opened: Opened) {
        match &opened {
            Opened::Content(content) => {
                if let Some((target, action)) = Action::of(content)
                    && let Some(chat) = self.chats.get_mut(&message.chat_id)
                {
                    chat.annotations
                        .add(target, message.seq, message.sender, action);
                }
            }
            Opened::System(event) => {
                let named = crate::timeline::system_members(event);
                self.learn_names(named);
            }
            Opened::Waiting { .. } | Opened::Refused(_) | Opened::Deleted => {}
        }
        self.opened.insert(message.client_msg_id, opened);
        self.opened_at
            .insert(message.client_msg_id, (message.chat_id, message.seq));
        self.index_opened(message);
        self.views_changed = true;
    }

    /// Drops the stored body of every message among `ids` — or named by a deletion among
    /// them — that its sender deleted for everyone: the server no longer holds it, nor
    /// should this device. A target not loaded (older than what the store gave back, say) is
    /// erased in the store by its id, where the store checks who sent it. So is one among
    /// `ids` deleted here only while it was on its way ([`Engine::erase_hidden`]).
    pub(super) fn erase_deleted(&mut self, chat_id: ChatId, ids: Vec<ClientMsgId>) {
        self.erase_hidden(chat_id, &ids);
        let me = self.my_id();
        let Some(chat) = self.chats.get(&chat_id) else {
            return;
        };
        let mut candidates = Vec::new();
        for id in ids {
            if let Some(Opened::Content(MessageContent::Delete { target })) = self.opened.get(&id) {
                candidates.push(*target);
                let loaded = chat
                    .timeline
                    .messages()
                    .any(|message| message.client_msg_id == *target);
                let deletion = self
                    .opened_at
                    .get(&id)
                    .and_then(|(_, seq)| chat.timeline.get(*seq));
                if !loaded && let Some(deletion) = deletion {
                    self.writes.push(StoreWrite::EraseMessage {
                        chat_id,
                        client_msg_id: *target,
                        sender: deletion.sender,
                    });
                }
            }
            candidates.push(id);
        }
        candidates.retain(|id| chat.annotations.touches(*id));
        if candidates.is_empty() {
            return;
        }
        let erased: Vec<Seq> = chat
            .timeline
            .messages()
            .filter(|message| {
                candidates.contains(&message.client_msg_id)
                    && !message.body.is_empty()
                    && chat
                        .annotations
                        .fold(message.client_msg_id, author_of(message), me, [])
                        .deleted
            })
            .map(|message| message.seq)
            .collect();
        for seq in erased {
            self.erase(chat_id, seq);
        }
    }

    /// Drops the stored body of each message among `ids` this account deleted for itself while
    /// it was on its way (no outbox entry was left for its `Ack`), as it would have been had
    /// it been stored first.
    fn erase_hidden(&mut self, chat_id: ChatId, ids: &[ClientMsgId]) {
        let Some(chat) = self.chats.get(&chat_id) else {
            return;
        };
        let hidden: Vec<Seq> = chat
            .timeline
            .messages()
            .filter(|message| {
                !message.body.is_empty()
                    && ids.contains(&message.client_msg_id)
                    && self.hidden.contains(&(chat_id, message.client_msg_id))
            })
            .map(|message| message.seq)
            .collect();
        for seq in hidden {
            self.erase(chat_id, seq);
        }
    }

    /// Empties the stored body of a loaded message (deleted for everyone, or for this
    /// account).
    pub(super) fn erase(&mut self, chat_id: ChatId, seq: Seq) {
        let Some(chat) = self.chats.get_mut(&chat_id) else {
            return;
        };
        if let Some(message) = chat.timeline.replace_body(seq, Vec::new()) {
            let id = message.client_msg_id;
            self.opened.insert(id, Opened::Deleted);
            self.writes
                .push(StoreWrite::PutMessages(vec![message.clone()]));
            self.unindex(id);
            self.views_changed = true;
        }
    }
}

/// Who may edit or delete `message`: its sender, or nobody for a line the server wrote into a
/// group ([`crate::annotations::Annotations::fold`]).
pub(super) fn author_of(message: &MessageRecord) -> Option<UserId> {
    (!merpati_protocol::content::is_system_body(&message.body)).then_some(message.sender)
}
