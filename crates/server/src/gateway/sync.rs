//! Catching up: `Sync`, `Fetch` and `History`.
//!
//! After each (re)connection a client sends `Sync` with, per chat, the last sequence number
//! it holds without a gap; the server answers with every chat of the account (with the
//! receipts the account may see), a `Page` of what followed each position (or of the newest
//! messages where the client holds none), the account's block list and `SyncDone`.
//! Positions carry the storage epoch: from another epoch they describe another database and
//! are ignored. `Fetch` and `History` page forwards and backwards through one chat. Each
//! reads only what came after the account joined the chat (`storage::Reader`). A sync
//! costs the account's read allowance one read per ten chats (`limits`). It reads every
//! chat's head at once, but the chats with their members only [`CHATS_PAGE`] at a time as it
//! writes them: a reader taking them slowly holds one page, not the account. On a cluster, a
//! sync's pages reach as far as the process delivers its chats live from (`crate::cluster`),
//! so what came between its read and the live messages comes with the pages.

use std::collections::HashMap;

use merpati_protocol::{ChatId, Epoch, MAX_PAGE, Member, Seq, ServerFrame};

use super::session::{Flow, Gone, Session};
use super::socket::FrameSocket;
use crate::Error;
use crate::metrics::Counters;
use crate::storage::{ChatJoined, Page, Reader};

/// How many of a chat's newest messages `Sync` sends when the client holds no position.
const NEWEST_PAGE: u32 = 100;

/// How many chats a sync reads with their members at once: with at most
/// `MAX_GROUP_MEMBERS` each, a few megabytes at most, where every chat of the largest account
/// (`MAX_CHATS_PER_ACCOUNT`) would be over a hundred, held while a slow reader takes it.
pub(super) const CHATS_PAGE: u32 = 64;

impl<S: FrameSocket> Session<S> {
    /// Answers `Sync`: every chat, what each holds past the client's position, `SyncDone`.
    pub(super) async fn sync(
        &mut self,
        me: &Member,
        epoch: Option<Epoch>,
        positions: Vec<(ChatId, Seq)>,
    ) -> Result<Flow, Gone> {
        // Each chat may bring a page: a large account's sync costs its size, and reading
        // every chat is the costly part, so it is paid for before.
        let limits = &self.gateway.limits;
        let charged = match limits.take_sync_before_reading(me.id) {
            Ok(charged) => charged,
            Err(wait) => return self.past_allowance(me, None, wait).await,
        };
        let storage = self.gateway.storage.clone();
        // Every chat without its members: what the allowance, the cluster and the pages need
        // at once, a few bytes a chat.
        let mut chats = match storage.chats_joined(me.id).await {
            Ok(chats) => chats,
            Err(error) => {
                self.write_error(None, &error).await?;
                return Ok(Flow::Continue);
            }
        };
        Counters::bump(&self.gateway.counters().syncs_read);
        let limits = &self.gateway.limits;
        if let Err(wait) = limits.take_sync_after_reading(me.id, charged, chats.len()) {
            return self.past_allowance(me, None, wait).await;
        }
        let following = match &self.gateway.cluster {
            Some(cluster) => {
                // Live from what this read holds: anything committed since is past these heads.
                let heads = chats.iter().map(|chat| (chat.chat, chat.head)).collect();
                Some(cluster.follow(self.id, heads).await)
            }
            None => None,
        };
        if !self.write_chats(me, &mut chats).await? {
            return Ok(Flow::Continue);
        }
        // On a cluster, a chat another session here followed first may be delivered live only
        // after a later head than this read's: the pages reach up to there. Awaited once the
        // chats are written, which need no answer.
        let live_after = match following {
            Some(following) => following.live_after(self.gateway.counters()).await,
            None => HashMap::new(),
        };
        // Positions from another epoch describe another database: ignore them all.
        let positions: HashMap<ChatId, Seq> = if epoch == Some(storage.epoch()) {
            positions.into_iter().collect()
        } else {
            HashMap::new()
        };
        for chat in &chats {
            // The account reads what came after it joined (`storage::Reader`).
            let floor = chat.joined_seq;
            let reader = Reader::Checked { floor };
            let head = live_after
                .get(&chat.chat)
                .map_or(chat.head, |&live| live.max(chat.head));
            let page = match positions.get(&chat.chat) {
                Some(&held) if head > held => storage
                    .read_after(chat.chat, reader, held, MAX_PAGE)
                    .await
                    .map(|page| ended_at(page, head)),
                Some(_) => continue,
                None if head > floor => storage
                    .read_before(chat.chat, reader, head.next(), NEWEST_PAGE)
                    .await
                    // The newest page reaches the head: nothing newer remains.
                    .map(|page| Page {
                        more: false,
                        ..page
                    }),
                None => continue,
            };
            self.answer_page(chat.chat, page).await?;
        }
        // The registry's copy is the account's: every change goes through both.
        let privacy = self.gateway.fanout.privacy(me.id).unwrap_or_default();
        self.write_frame(&super::presence::privacy_frame(&privacy))
            .await?;
        self.write_frame(&ServerFrame::BlockList {
            request: None,
            users: privacy.blocked.into_vec(),
        })
        .await?;
        self.write_frame(&ServerFrame::SyncDone).await?;
        Ok(Flow::Continue)
    }

    /// Writes a `Chat` frame for each of `chats`, reading them with their members
    /// [`CHATS_PAGE`] at a time, so that a sync holds no more than that many members lists
    /// however many chats the account is in and however slowly its reader takes them.
    ///
    /// `chats` are what the sync read first, by id. A chat joined since is left out, as one
    /// joined after that read would have been: its own push brings it. A chat left since is
    /// taken out of `chats`: it has no `Chat` frame and gets no page. A chat left and joined
    /// again reads only what came after it joined the last time. `false` if a page could not
    /// be read: the error is written, and the sync ends there without `SyncDone`.
    async fn write_chats(
        &mut self,
        me: &Member,
        chats: &mut Vec<ChatJoined>,
    ) -> Result<bool, Gone> {
        let storage = self.gateway.storage.clone();
        let mut written = vec![false; chats.len()];
        // Past the last chat the first read found, any chat is one joined since.
        let last = chats.last().map_or(ChatId(0), |chat| chat.chat);
        let mut after = ChatId(0);
        while after < last {
            let page = match storage.chats_of(me.id, after, CHATS_PAGE).await {
                Ok(page) => page,
                Err(error) => {
                    self.write_error(None, &error).await?;
                    return Ok(false);
                }
            };
            let Some(end) = page.last().map(|chat| chat.id) else {
                break;
            };
            after = end;
            for chat in page {
                let Ok(found) = chats.binary_search_by_key(&chat.id, |joined| joined.chat) else {
                    continue;
                };
                if let Some(member) = chat.member(me.id) {
                    let joined = &mut chats[found];
                    joined.joined_seq = joined.joined_seq.max(member.joined_seq);
                }
                written[found] = true;
                self.write_frame(&ServerFrame::Chat {
                    request: None,
                    chat: chat.info_for(me.id),
                })
                .await?;
            }
        }
        let mut written = written.into_iter();
        chats.retain(|_| written.next().unwrap_or(false));
        Ok(true)
    }

    /// Writes a page of one chat's messages, or the error that kept it from being read.
    async fn answer_page(
        &mut self,
        chat_id: ChatId,
        page: Result<Page, Error>,
    ) -> Result<Flow, Gone> {
        match page {
            Ok(page) => {
                self.write_frame(&ServerFrame::Page {
                    chat_id,
                    messages: page.messages,
                    more: page.more,
                })
                .await?
            }
            Err(error) => self.write_error(None, &error).await?,
        }
        Ok(Flow::Continue)
    }

    /// Answers `Fetch`: the messages after `after`, oldest first.
    pub(super) async fn fetch(
        &mut self,
        me: &Member,
        chat_id: ChatId,
        after: Seq,
        limit: u32,
    ) -> Result<Flow, Gone> {
        let page = self
            .gateway
            .storage
            .read_after(chat_id, Reader::Member(me.id), after, limit.min(MAX_PAGE))
            .await;
        self.answer_page(chat_id, page).await
    }

    /// Answers `History`: the newest messages before `before`, oldest first.
    pub(super) async fn history(
        &mut self,
        me: &Member,
        chat_id: ChatId,
        before: Seq,
        limit: u32,
    ) -> Result<Flow, Gone> {
        let page = self
            .gateway
            .storage
            .read_before(chat_id, Reader::Member(me.id), before, limit.min(MAX_PAGE))
            .await;
        self.answer_page(chat_id, page).await
    }
}

/// `page` without what was committed after `head`, the chat's head when the sync read its
/// chats: that reaches the session live if it is still a member (it was in the fan-out before
/// that read), and must not reach it once it is no longer one — a removal committed while a
/// slow reader took the frames before this page, which the sync did not see.
fn ended_at(mut page: Page, head: Seq) -> Page {
    if page.messages.last().is_some_and(|last| last.seq > head) {
        page.messages.retain(|message| message.seq <= head);
        page.more = false;
    }
    page
}
