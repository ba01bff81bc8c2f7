//! The session's dispatch, specified over in-memory sockets with real storage.
//!
//! Each test drives one or more sessions through [`harness`]: no HTTP, no TCP, the same
//! gateway and SQLite storage the server runs. What goes over a real socket (the handshake,
//! admission, buffers) is specified by the integration tests in `crates/server/tests`.
//!
//! This file holds the session's basics (sending, refusals, signing in and out, shutdown);
//! the conversation has a file per area: `receipts`, `admins`, `blocking`,
//! `typing_presence` and `deletion`; `sessions` holds a session ended while it is being
//! resumed, and `syncs` a sync of more chats than it reads at once.

mod admins;
mod blocking;
mod deletion;
mod harness;
mod receipts;
mod sessions;
mod syncs;
mod typing_presence;

use crate::websocket::{self, Message, close_code};
use merpati_protocol::content::{EncryptedBody, SystemEvent};
use merpati_protocol::frames::AuthMethod;
use merpati_protocol::{
    ChatId, ChatInfo, ChatKind, ClientFrame, ClientMsgId, ErrorCode, MAX_BODY_BYTES,
    MAX_FRAME_BYTES, MessageFrame, NewChat, PROTOCOL_VERSION, Receipt, RequestId, Seq, ServerFrame,
};

use harness::{HANG_GUARD, Peer, TestGateway, register, username};

/// Creates a 1:1 chat from `peer`'s side and reads its answer; the chat's id.
async fn create_direct(peer: &mut Peer, with: &str) -> ChatId {
    peer.write(&ClientFrame::CreateChat {
        request: RequestId(1),
        chat: NewChat::Direct {
            with: username(with),
        },
    });
    match peer.next_frame().await {
        ServerFrame::Chat {
            request: Some(RequestId(1)),
            chat,
        } => {
            assert_eq!(chat.kind, ChatKind::Direct);
            chat.id
        }
        other => panic!("expected the created chat, got {other:?}"),
    }
}

fn send(chat_id: ChatId, id: u8, body: &[u8]) -> ClientFrame {
    ClientFrame::Send {
        chat_id,
        client_msg_id: ClientMsgId([id; 16]),
        body: body.to_vec(),
        attachment: None,
    }
}

/// Reads the `Ack` of a message; its sequence number.
async fn acked(peer: &mut Peer, id: u8) -> Seq {
    match peer.next_frame().await {
        ServerFrame::Ack {
            client_msg_id, seq, ..
        } if client_msg_id == ClientMsgId([id; 16]) => seq,
        other => panic!("expected the Ack of message {id}, got {other:?}"),
    }
}

/// Reads a delivered message.
async fn delivered(peer: &mut Peer) -> MessageFrame {
    match peer.next_frame().await {
        ServerFrame::Message(message) => message,
        other => panic!("expected a delivered message, got {other:?}"),
    }
}

/// Reads an error frame; its request id and code.
async fn refused(peer: &mut Peer) -> (Option<RequestId>, ErrorCode) {
    match peer.next_frame().await {
        ServerFrame::Error { request, code, .. } => (request, code),
        other => panic!("expected an error frame, got {other:?}"),
    }
}

/// Sends `SetPrivacy` and reads its answer, the settings as the server holds them now.
async fn set_privacy(peer: &mut Peer, share_read_receipts: bool, share_presence: bool) {
    peer.write(&ClientFrame::SetPrivacy {
        share_read_receipts,
        share_presence,
    });
    assert_eq!(
        peer.next_frame().await,
        ServerFrame::Privacy {
            share_read_receipts,
            share_presence,
        }
    );
}

/// Asks for `Sync` and reads everything up to `SyncDone`: proof that the session still
/// serves requests, and that nothing else was written before it.
async fn still_serves(peer: &mut Peer) {
    peer.write(&ClientFrame::Sync {
        epoch: None,
        positions: Vec::new(),
    });
    loop {
        match peer.next_frame().await {
            ServerFrame::SyncDone => return,
            ServerFrame::Chat { request: None, .. }
            | ServerFrame::Page { .. }
            | ServerFrame::Privacy { .. }
            | ServerFrame::BlockList { request: None, .. } => {}
            other => panic!("expected the answer to Sync, got {other:?}"),
        }
    }
}

/// Creates a group from `peer`'s side and reads its answer and the line saying it was
/// created; the group.
async fn create_group(peer: &mut Peer, title: &str, members: &[&str]) -> ChatInfo {
    peer.write(&ClientFrame::CreateChat {
        request: RequestId(2),
        chat: NewChat::Group {
            title: title.into(),
            members: members.iter().map(|name| username(name)).collect(),
        },
    });
    let chat = match peer.next_frame().await {
        ServerFrame::Chat {
            request: Some(RequestId(2)),
            chat,
        } => chat,
        other => panic!("expected the created group, got {other:?}"),
    };
    assert!(matches!(line(peer).await.1, SystemEvent::Created { .. }));
    chat
}

/// Reads a chat pushed to `peer`.
async fn pushed_chat(peer: &mut Peer) -> ChatInfo {
    match peer.next_frame().await {
        ServerFrame::Chat {
            request: None,
            chat,
        } => chat,
        other => panic!("expected a pushed chat, got {other:?}"),
    }
}

/// Reads the answer to a request about a chat.
async fn answered_chat(peer: &mut Peer, request: RequestId) -> ChatInfo {
    match peer.next_frame().await {
        ServerFrame::Chat {
            request: Some(answered),
            chat,
        } if answered == request => chat,
        other => panic!("expected the answer to request {request:?}, got {other:?}"),
    }
}

/// Reads a delivered line the server wrote into a group's history.
async fn line(peer: &mut Peer) -> (MessageFrame, SystemEvent) {
    let message = delivered(peer).await;
    match EncryptedBody::from_body(&message.body) {
        Some(EncryptedBody::System(event)) => (message, event),
        other => panic!("expected a line written by the server, got {other:?}"),
    }
}

/// Sends message `id` and reads its `Ack` and its delivery to the sender; its sequence.
async fn say(peer: &mut Peer, chat: ChatId, id: u8) -> Seq {
    peer.write(&send(chat, id, &[id]));
    let seq = acked(peer, id).await;
    assert_eq!(delivered(peer).await.seq, seq);
    seq
}

/// Reads a pushed receipt.
async fn receipt(peer: &mut Peer) -> (ChatId, Receipt) {
    match peer.next_frame().await {
        ServerFrame::Receipt { chat_id, receipt } => (chat_id, receipt),
        other => panic!("expected a receipt, got {other:?}"),
    }
}

#[tokio::test]
async fn a_message_sent_after_sign_up_is_acknowledged_and_delivered_to_every_member() {
    let server = TestGateway::start();
    let (mut alice, alice_member, _) = server.sign_up("alice").await;
    let (mut bob, _, _) = server.sign_up("bob").await;

    let chat = create_direct(&mut alice, "bob").await;
    match bob.next_frame().await {
        ServerFrame::Chat {
            request: None,
            chat: pushed,
        } => assert_eq!(pushed.id, chat),
        other => panic!("expected the new chat pushed to bob, got {other:?}"),
    }

    alice.write(&send(chat, 1, b"sealed"));
    assert_eq!(acked(&mut alice, 1).await, Seq(1));
    // The sender's own sessions get the message too, after its Ack.
    assert_eq!(delivered(&mut alice).await.seq, Seq(1));
    let message = delivered(&mut bob).await;
    assert_eq!(
        (message.chat_id, message.seq, message.sender),
        (chat, Seq(1), alice_member.id)
    );
    assert_eq!(message.body, b"sealed");
}

#[tokio::test]
async fn a_resent_message_is_acknowledged_with_its_first_seq_and_not_delivered_again() {
    let server = TestGateway::start();
    let (mut alice, _, _) = server.sign_up("alice").await;
    let (_bob, _, _) = server.sign_up("bob").await;
    let chat = create_direct(&mut alice, "bob").await;

    alice.write(&send(chat, 1, b"first"));
    assert_eq!(acked(&mut alice, 1).await, Seq(1));
    assert_eq!(delivered(&mut alice).await.seq, Seq(1));
    alice.write(&send(chat, 1, b"first"));
    assert_eq!(acked(&mut alice, 1).await, Seq(1));
    // The next message's frames come next: nothing was delivered for the resend.
    alice.write(&send(chat, 2, b"second"));
    assert_eq!(acked(&mut alice, 2).await, Seq(2));
    assert_eq!(delivered(&mut alice).await.seq, Seq(2));
}

#[tokio::test]
async fn messages_too_large_or_to_a_stranger_chat_fail_without_ending_the_session() {
    let server = TestGateway::start();
    let (mut alice, _, _) = server.sign_up("alice").await;
    let (_bob, _, _) = server.sign_up("bob").await;
    let (mut mallory, _, _) = server.sign_up("mallory").await;
    let chat = create_direct(&mut alice, "bob").await;

    alice.write(&send(chat, 1, &vec![0; MAX_BODY_BYTES + 1]));
    match alice.next_frame().await {
        ServerFrame::SendFailed { code, .. } => assert_eq!(code, ErrorCode::MessageTooLarge),
        other => panic!("expected SendFailed, got {other:?}"),
    }
    mallory.write(&send(chat, 2, b"let me in"));
    match mallory.next_frame().await {
        ServerFrame::SendFailed { code, .. } => assert_eq!(code, ErrorCode::NoSuchChat),
        other => panic!("expected SendFailed, got {other:?}"),
    }
    still_serves(&mut alice).await;
    still_serves(&mut mallory).await;
}

#[tokio::test]
async fn a_malformed_frame_gets_an_error_and_the_session_stays_usable() {
    let server = TestGateway::start();
    let (mut alice, _, _) = server.sign_up("alice").await;

    alice.write_message(Ok(Message::Binary(vec![0xff, 0xff, 0xff].into())));
    assert_eq!(refused(&mut alice).await, (None, ErrorCode::Malformed));
    still_serves(&mut alice).await;
}

#[tokio::test]
async fn a_text_frame_is_refused_as_malformed_and_the_session_goes_on() {
    let server = TestGateway::start();
    let (mut alice, _, _) = server.sign_up("alice").await;

    alice.write_message(Ok(Message::Text("hello".into())));
    assert_eq!(refused(&mut alice).await, (None, ErrorCode::Malformed));
    still_serves(&mut alice).await;
}

#[tokio::test]
async fn the_tenth_malformed_frame_closes_the_connection() {
    let server = TestGateway::start();
    let (mut alice, _, _) = server.sign_up("alice").await;

    for _ in 0..10 {
        alice.write_message(Ok(Message::Binary(vec![0xff].into())));
        assert_eq!(refused(&mut alice).await, (None, ErrorCode::Malformed));
    }
    assert_eq!(alice.closed().await, close_code::POLICY);
    alice.hang_up().await;
}

#[tokio::test]
async fn a_request_before_signing_in_is_refused_with_its_request_id() {
    let server = TestGateway::start();
    let mut peer = server.connect();
    let nonce = peer.challenge().await;

    peer.write(&ClientFrame::CreateChat {
        request: RequestId(7),
        chat: NewChat::Direct {
            with: username("bob"),
        },
    });
    assert_eq!(
        refused(&mut peer).await,
        (Some(RequestId(7)), ErrorCode::NotAuthenticated)
    );
    // Still waiting to be signed in.
    peer.write(&register("alice", &nonce));
    assert!(matches!(
        peer.next_frame().await,
        ServerFrame::Welcome { .. }
    ));
}

#[tokio::test]
async fn an_unsupported_protocol_version_is_refused_and_closes() {
    let server = TestGateway::start();
    let mut peer = server.connect();
    let nonce = peer.challenge().await;

    let ClientFrame::Authenticate { method, .. } = register("alice", &nonce) else {
        unreachable!("register makes an Authenticate frame");
    };
    peer.write(&ClientFrame::Authenticate {
        version: PROTOCOL_VERSION + 1,
        method,
    });
    assert_eq!(
        refused(&mut peer).await,
        (None, ErrorCode::UnsupportedVersion)
    );
    assert_eq!(peer.closed().await, close_code::POLICY);
    peer.hang_up().await;
}

#[tokio::test]
async fn the_fifth_failed_sign_in_closes_the_connection() {
    let server = TestGateway::start();
    let mut peer = server.connect();
    peer.challenge().await;

    for _ in 0..5 {
        peer.write(&ClientFrame::Authenticate {
            version: PROTOCOL_VERSION,
            method: AuthMethod::Login {
                username: username("nobody"),
                signature: vec![0; 64],
            },
        });
        assert_eq!(refused(&mut peer).await, (None, ErrorCode::NoSuchUser));
    }
    assert_eq!(peer.closed().await, close_code::POLICY);
    peer.hang_up().await;
}

#[tokio::test]
async fn a_frame_the_socket_layer_finds_too_large_is_refused_and_closes() {
    let server = TestGateway::start();
    let (mut alice, _, _) = server.sign_up("alice").await;

    alice.write_message(Err(websocket::Error::TooLarge {
        size: MAX_FRAME_BYTES as u64 + 1,
        limit: MAX_FRAME_BYTES,
    }));
    assert_eq!(refused(&mut alice).await, (None, ErrorCode::FrameTooLarge));
    assert_eq!(alice.closed().await, close_code::SIZE);
    alice.hang_up().await;
}

#[tokio::test]
async fn signing_out_closes_the_session_and_its_token_no_longer_resumes() {
    let server = TestGateway::start();
    let (mut alice, _, token) = server.sign_up("alice").await;

    alice.write(&ClientFrame::Logout);
    assert_eq!(alice.closed().await, close_code::NORMAL);
    alice.hang_up().await;

    let mut again = server.connect();
    again.challenge().await;
    again.write(&ClientFrame::Authenticate {
        version: PROTOCOL_VERSION,
        method: AuthMethod::Resume {
            session_token: token,
        },
    });
    assert_eq!(refused(&mut again).await, (None, ErrorCode::SessionExpired));
    assert_eq!(again.closed().await, close_code::POLICY);
    again.hang_up().await;
}

#[tokio::test]
async fn shutdown_says_goodbye_to_every_session_and_waits_for_them_to_end() {
    let server = TestGateway::start();
    let (mut alice, _, _) = server.sign_up("alice").await;
    let mut stranger = server.connect();
    stranger.challenge().await;

    server.gateway.shutdown().trigger();
    for peer in [&mut alice, &mut stranger] {
        match peer.next_frame().await {
            ServerFrame::Goodbye {
                code: ErrorCode::ShuttingDown,
                retry_after_ms: Some(ms),
            } => assert!((1_000..=5_000).contains(&ms), "{ms}"),
            other => panic!("expected Goodbye, got {other:?}"),
        }
        assert_eq!(peer.closed().await, close_code::AWAY);
    }
    alice.hang_up().await;
    stranger.hang_up().await;
    assert!(server.gateway.shutdown().sessions_ended(HANG_GUARD).await);
}

#[tokio::test]
async fn a_session_ends_when_its_peer_hangs_up_and_frees_its_connection() {
    let server = TestGateway::start();
    let (alice, _, _) = server.sign_up("alice").await;
    assert_eq!(server.connections_open(), 1);

    alice.hang_up().await;
    assert_eq!(server.connections_open(), 0);
}

/// The future every connection's task holds for as long as it is connected, idle or not:
/// its size is part of each idle connection's memory (bench/NOTES.md, item 5). Measured in
/// release builds only, where it means something:
/// `cargo test --release -p merpati-server --lib connection_future`.
#[cfg(not(debug_assertions))]
#[test]
fn the_connection_future_is_no_larger_than_before_the_session_became_generic() {
    fn output_size<A, B, C, R>(_: impl FnOnce(A, B, C) -> R) -> usize {
        std::mem::size_of::<R>()
    }
    let size = output_size(super::Gateway::serve::<crate::websocket::handshake::ServerSocket>);
    // rustc 1.95: 1,584 bytes when the session held a concrete `WebSocket`, 1,568 since;
    // 1,440 since the challenge is encoded before it is written (protocol v3's larger
    // `ChatInfo` made a frame held across that write cost every connection more).
    assert!(size <= 1_584, "the connection's future has {size} bytes");
}
