//! The conversation's frames of protocol version 3 as the tests say them: the lines the
//! server writes into a group's history, receipts, and a whole `Sync` (its block list
//! included) read in the order the protocol sets (docs/protocol.md, sections 2 and 5–6d).
//! Delivery positions and blocking are tested at the gateway (`src/gateway/tests`).

use merpati_protocol::content::{EncryptedBody, SystemEvent};
use merpati_protocol::{
    ChatId, ChatInfo, ClientFrame, Epoch, MessageFrame, Receipt, Seq, ServerFrame, UserId,
};

use super::Client;

/// Everything one `Sync` answered, each part in the order it came.
#[derive(Debug)]
pub(crate) struct Synced {
    /// Every chat of the account.
    pub(crate) chats: Vec<ChatInfo>,
    /// `(chat, messages, more)` for each chat with news.
    pub(crate) pages: Vec<(ChatId, Vec<MessageFrame>, bool)>,
    /// The account's privacy settings: (share read receipts, share presence).
    pub(crate) privacy: Option<(bool, bool)>,
    /// The accounts the account blocks.
    pub(crate) blocked: Vec<UserId>,
}

impl Synced {
    /// The chat `id`, which the sync must have listed.
    pub(crate) fn chat(&self, id: ChatId) -> &ChatInfo {
        self.chats
            .iter()
            .find(|chat| chat.id == id)
            .unwrap_or_else(|| panic!("the sync did not list chat {id:?}: {:?}", self.chats))
    }
}

/// The event of a line the server wrote, or `None` for a message a client sent.
pub(crate) fn line_event(body: &[u8]) -> Option<SystemEvent> {
    match EncryptedBody::from_body(body) {
        Some(EncryptedBody::System(event)) => Some(event),
        _ => None,
    }
}

impl Client {
    /// Expects a line the server wrote into `chat`'s history: the message and its event.
    pub(crate) async fn expect_line(&mut self, chat: ChatId) -> (MessageFrame, SystemEvent) {
        let message = self.expect_message().await;
        assert_eq!(message.chat_id, chat, "a line of another chat");
        match line_event(&message.body) {
            Some(event) => (message, event),
            None => panic!("expected a line of the server's, got {message:?}"),
        }
    }

    /// Expects a pushed `Receipt`: its chat and the member's positions.
    pub(crate) async fn expect_receipt(&mut self) -> (ChatId, Receipt) {
        self.expect("a receipt", |frame| match frame {
            ServerFrame::Receipt { chat_id, receipt } => Ok((chat_id, receipt)),
            other => Err(Box::new(other)),
        })
        .await
    }

    /// Sends `SetPrivacy` and reads its answer, the settings as the server holds them now.
    pub(crate) async fn set_privacy(&mut self, share_read_receipts: bool, share_presence: bool) {
        self.send(&ClientFrame::SetPrivacy {
            share_read_receipts,
            share_presence,
        })
        .await;
        assert_eq!(
            self.recv().await,
            ServerFrame::Privacy {
                share_read_receipts,
                share_presence,
            }
        );
    }

    /// Reads the end of a sync's answer: the settings (both shared, as a new account's are),
    /// the block list `blocked`, and `SyncDone`.
    pub(crate) async fn expect_sync_end(&mut self, blocked: Vec<UserId>) {
        assert_eq!(
            self.recv().await,
            ServerFrame::Privacy {
                share_read_receipts: true,
                share_presence: true,
            }
        );
        assert_eq!(
            self.recv().await,
            ServerFrame::BlockList {
                request: None,
                users: blocked,
            }
        );
        assert_eq!(self.recv().await, ServerFrame::SyncDone);
    }

    /// Sends `MarkRead` (not answered).
    pub(crate) async fn mark_read(&mut self, chat_id: ChatId, seq: u64) {
        self.send(&ClientFrame::MarkRead {
            chat_id,
            seq: Seq(seq),
        })
        .await;
    }

    /// Sends `Sync` and reads its whole answer, which must come in the protocol's order —
    /// chats, pages, the privacy settings, the block list, `SyncDone` — with nothing else in
    /// between.
    pub(crate) async fn sync(
        &mut self,
        epoch: Option<Epoch>,
        positions: Vec<(ChatId, Seq)>,
    ) -> Synced {
        self.send(&ClientFrame::Sync { epoch, positions }).await;
        let mut synced = Synced {
            chats: Vec::new(),
            pages: Vec::new(),
            privacy: None,
            blocked: Vec::new(),
        };
        loop {
            match self.recv().await {
                ServerFrame::Chat {
                    request: None,
                    chat,
                } if synced.pages.is_empty() => synced.chats.push(chat),
                ServerFrame::Page {
                    chat_id,
                    messages,
                    more,
                } => synced.pages.push((chat_id, messages, more)),
                ServerFrame::Privacy {
                    share_read_receipts,
                    share_presence,
                } if synced.privacy.is_none() => {
                    synced.privacy = Some((share_read_receipts, share_presence));
                }
                ServerFrame::BlockList {
                    request: None,
                    users,
                } if synced.privacy.is_some() => {
                    synced.blocked = users;
                    break;
                }
                other => panic!("expected the rest of a sync, got {other:?}"),
            }
        }
        assert_eq!(self.recv().await, ServerFrame::SyncDone);
        synced
    }
}
