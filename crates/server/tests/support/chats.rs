//! Chats and their messages as the tests say them to a [`Client`]: creating chats and groups,
//! sending with its acknowledgement, what the server pushes, errors, pages of a chat's history,
//! and the sentinel that shows nothing more arrived.

use merpati_protocol::content::SystemEvent;
use merpati_protocol::{
    ChatId, ChatInfo, ClientFrame, ClientMsgId, ErrorCode, NewChat, Seq, ServerFrame,
};

use super::{Client, username};

impl Client {
    /// Sends `CreateChat` and returns the answer.
    pub(crate) async fn create_chat(&mut self, chat: NewChat) -> ServerFrame {
        self.request(|request| ClientFrame::CreateChat { request, chat })
            .await
    }

    /// Creates a chat that must succeed.
    pub(crate) async fn chat_with(&mut self, chat: NewChat) -> ChatInfo {
        match self.create_chat(chat).await {
            ServerFrame::Chat { chat, .. } => chat,
            other => panic!("creating a chat: {other:?}"),
        }
    }

    pub(crate) async fn direct(&mut self, with: &str) -> ChatInfo {
        self.chat_with(NewChat::Direct {
            with: username(with),
        })
        .await
    }

    /// Creates a group, and reads the answer and the `Created` line the server writes as its
    /// first message, which the creator gets too: sent by the creator, its only admin, and
    /// naming the group's title.
    pub(crate) async fn group(&mut self, title: &str, members: &[&str]) -> ChatInfo {
        let group = self
            .chat_with(NewChat::Group {
                title: title.to_owned(),
                members: members.iter().map(|name| username(name)).collect(),
            })
            .await;
        assert_eq!(
            group.head,
            Seq(1),
            "the Created line is the group's message 1"
        );
        let (line, event) = self.expect_line(group.id).await;
        let SystemEvent::Created { by, title } = event else {
            panic!("expected the Created line, got {event:?}");
        };
        assert_eq!((line.seq, line.sender), (Seq(1), by.id));
        assert_eq!(group.admins, [by.id], "the creator is the only admin");
        assert!(group.members.contains(&by));
        assert_eq!(title, group.title);
        group
    }

    /// Sends a message and waits for its Ack; returns the seq. The sender's own copy of the
    /// message (fanned out to its sessions) is left unread.
    pub(crate) async fn send_text(&mut self, chat: ChatId, id: ClientMsgId, body: &[u8]) -> Seq {
        self.send(&ClientFrame::Send {
            chat_id: chat,
            client_msg_id: id,
            body: body.to_vec(),
            attachment: None,
        })
        .await;
        match self.recv().await {
            ServerFrame::Ack {
                chat_id,
                client_msg_id,
                seq,
                ..
            } => {
                assert_eq!((chat_id, client_msg_id), (chat, id));
                seq
            }
            other => panic!("expected an ack, got {other:?}"),
        }
    }

    /// Sends a message, then reads its Ack and its own fanned-out copy; returns the seq.
    pub(crate) async fn say(&mut self, chat: ChatId, id: ClientMsgId, body: &[u8]) -> Seq {
        let seq = self.send_text(chat, id, body).await;
        match self.recv().await {
            ServerFrame::Message(message) => {
                assert_eq!((message.chat_id, message.seq), (chat, seq));
            }
            other => panic!("expected my own message back, got {other:?}"),
        }
        seq
    }

    /// Expects a chat pushed by the server (no request of this connection asked for it).
    pub(crate) async fn expect_pushed_chat(&mut self) -> ChatInfo {
        self.expect("a pushed chat", |frame| match frame {
            ServerFrame::Chat {
                request: None,
                chat,
            } => Ok(chat),
            other => Err(Box::new(other)),
        })
        .await
    }

    /// A sentinel for "nothing more on this connection": a `QueryKeys` for no one, whose answer
    /// must be the next frame. The server sends what a request makes it send this connection
    /// (a queue of to-device messages, an error) before it reads the next frame, so anything
    /// an earlier request caused here would come first.
    pub(crate) async fn expect_nothing_before_a_sentinel(&mut self) {
        assert!(self.query_keys(&[]).await.is_empty());
    }

    /// Expects a pushed message.
    pub(crate) async fn expect_message(&mut self) -> merpati_protocol::MessageFrame {
        match self.recv().await {
            ServerFrame::Message(message) => message,
            other => panic!("expected a message, got {other:?}"),
        }
    }

    /// Expects an Error frame and returns its code.
    pub(crate) async fn expect_error(&mut self) -> ErrorCode {
        match self.recv().await {
            ServerFrame::Error { code, .. } => code,
            other => panic!("expected an error, got {other:?}"),
        }
    }

    /// Expects a Page of `chat` and returns its seqs and `more`.
    pub(crate) async fn expect_page(&mut self, chat: ChatId) -> (Vec<u64>, bool) {
        match self.recv().await {
            ServerFrame::Page {
                chat_id,
                messages,
                more,
            } => {
                assert_eq!(chat_id, chat);
                (messages.iter().map(|message| message.seq.0).collect(), more)
            }
            other => panic!("expected a page, got {other:?}"),
        }
    }

    pub(crate) async fn fetch(&mut self, chat: ChatId, after: u64, limit: u32) -> (Vec<u64>, bool) {
        self.send(&ClientFrame::Fetch {
            chat_id: chat,
            after: Seq(after),
            limit,
        })
        .await;
        self.expect_page(chat).await
    }

    pub(crate) async fn history(
        &mut self,
        chat: ChatId,
        before: u64,
        limit: u32,
    ) -> (Vec<u64>, bool) {
        self.send(&ClientFrame::History {
            chat_id: chat,
            before: Seq(before),
            limit,
        })
        .await;
        self.expect_page(chat).await
    }
}
