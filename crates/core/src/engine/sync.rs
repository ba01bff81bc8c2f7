//! Catching up after each sign-in: the `Sync`, asked again after a growing wait when the
//! server refuses it for now, its end, and what its listing of the account's chats says.
//!
//! A sync names every chat of the account: a group held here and not named was left, or this
//! account taken out of it, while the device was away, and is held as left from then on. The
//! listing spans the connection from `Welcome` to the first `SyncDone`, across a sync asked
//! again: the server refuses a sync before it writes any chat, and from `Welcome` on pushes
//! every change to the account's chats to this session too, so a chat named at any point since
//! is the account's unless a push said otherwise. A refusal names no request, and may have been
//! another frame's (a `SetPrivacy` sent before the sync has none either; the first publish's
//! refusal is told apart, `publishing`), so the sync asked again may be one the server is
//! serving already: started afresh, the listing would lack what that sync named before it was
//! asked again, and its `SyncDone` would take those groups for left.

use std::collections::BTreeSet;

use merpati_protocol::{ChatId, ChatKind, ClientFrame, Seq};

use super::Engine;
use super::session::Phase;
use crate::store::StoreWrite;

impl Engine {
    /// Starts the connection's catching up: its one listing of the account's chats, and the
    /// sync.
    pub(super) fn start_sync(&mut self) {
        self.listed_in_sync = Some(BTreeSet::new());
        self.push_sync();
    }

    /// Asks to catch up. Chats whose range is known resume after it; for the others the
    /// server sends the newest page, and older history comes page by page as the person
    /// scrolls.
    fn push_sync(&mut self) {
        let positions = self
            .chats
            .iter()
            .filter(|(_, chat)| chat.timeline.floor() > Seq(0))
            .map(|(id, chat)| (*id, chat.timeline.synced()))
            .collect();
        self.frames.push(ClientFrame::Sync {
            epoch: self.epoch,
            positions,
        });
    }

    /// The sync was refused for now (too many requests of this account): asked again after
    /// a growing wait, the connection still catching up meanwhile.
    pub(super) fn on_sync_refused(&mut self) {
        self.sync_retry.refused(self.now_ms);
    }

    /// The clock reached the time a refused sync is to be asked again: ask.
    pub(super) fn retry_sync_if_due(&mut self) {
        if self.sync_retry.take_due(self.now_ms) && self.phase == Phase::Syncing {
            self.push_sync();
        }
    }

    pub(super) fn on_sync_done(&mut self) {
        if self.phase == Phase::Syncing {
            self.phase = Phase::Online;
            self.views_changed = true;
        }
        if let Some(listed) = self.listed_in_sync.take() {
            self.leave_groups_not_listed(&listed);
        }
        // What this device holds and has not reported, and what it reported on a connection
        // that may have lost the report.
        for (chat_id, chat) in &self.chats {
            if chat.timeline.synced() > chat.delivered {
                self.delivery_moved.insert(*chat_id);
            }
        }
        self.report_delivery_again();
    }

    /// The sync named every chat of the account: a group held here as a member and not
    /// named is one this account left or was taken out of while this device was away, and
    /// told nobody here (the server tells only the sessions online then). It is held as such
    /// from now on, as if its push had come: read-only, its outbox refused.
    fn leave_groups_not_listed(&mut self, listed: &BTreeSet<ChatId>) {
        let me = self.my_id();
        let mut left = false;
        for (chat_id, chat) in &mut self.chats {
            let gone = chat.info.kind == ChatKind::Group
                && !listed.contains(chat_id)
                && chat.info.members.iter().any(|member| member.id == me);
            if gone {
                chat.info.members.retain(|member| member.id != me);
                chat.info.admins.retain(|admin| *admin != me);
                self.writes.push(StoreWrite::PutChat(chat.record()));
                left = true;
            }
        }
        if left {
            self.views_changed = true;
            // What waited to be sent there will never be: refused, and said so.
            self.send_outbox();
        }
    }
}
