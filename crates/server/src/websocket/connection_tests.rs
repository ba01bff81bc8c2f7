//! A connection against tungstenite's client over a real loopback socket: messages both
//! ways, pings and the closing handshake answered by the connection itself, protocol errors,
//! and nothing held between messages.

#![allow(clippy::unwrap_used)]

use futures_util::{SinkExt, StreamExt, poll};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message as ClientMessage;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame as ClientCloseFrame, Role};

use super::*;
use crate::websocket::{CloseFrame, close_code};

const LIMIT: usize = 64 * 1024;

async fn socket_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (server, _) = listener.accept().await.unwrap();
    (server, client)
}

async fn pair() -> (WebSocket<TcpStream>, WebSocketStream<TcpStream>) {
    let (server, client) = socket_pair().await;
    let client = WebSocketStream::from_raw_socket(client, Role::Client, None).await;
    (WebSocket::new(server, LIMIT), client)
}

async fn received(server: &mut WebSocket<TcpStream>) -> Message {
    server.next().await.expect("a message").expect("no error")
}

#[tokio::test]
async fn messages_go_both_ways_and_nothing_is_held_between_them() {
    let (mut server, mut client) = pair().await;
    let large: Vec<u8> = (0..LIMIT).map(|i| (i % 253) as u8).collect();
    client
        .send(ClientMessage::Binary(large.clone().into()))
        .await
        .unwrap();
    client
        .send(ClientMessage::Text("halo".into()))
        .await
        .unwrap();

    assert_eq!(received(&mut server).await, Message::Binary(large.into()));
    assert_eq!(received(&mut server).await, Message::Text("halo".into()));
    assert!(poll!(server.next()).is_pending());
    assert_eq!(server.held_bytes(), 0);

    // Larger than any socket buffer: written in many pieces.
    let reply: Vec<u8> = (0..4 << 20).map(|i| (i % 241) as u8).collect();
    let sent = Bytes::from(reply.clone());
    let send = tokio::spawn(async move {
        server.send(Message::Binary(sent)).await.unwrap();
        server
    });
    let got = client.next().await.unwrap().unwrap();
    assert_eq!(got, ClientMessage::Binary(reply.into()));
    send.await.unwrap();
}

#[tokio::test]
async fn a_ping_is_answered_by_the_connection_itself() {
    let (mut server, mut client) = pair().await;
    client
        .send(ClientMessage::Ping(Bytes::from_static(b"masih di sana?")))
        .await
        .unwrap();
    client
        .send(ClientMessage::Binary(Bytes::from_static(b"after")))
        .await
        .unwrap();
    assert_eq!(
        received(&mut server).await,
        Message::Ping(Bytes::from_static(b"masih di sana?"))
    );
    assert_eq!(
        received(&mut server).await,
        Message::Binary(Bytes::from_static(b"after"))
    );
    assert_eq!(
        client.next().await.unwrap().unwrap(),
        ClientMessage::Pong(Bytes::from_static(b"masih di sana?"))
    );
}

#[tokio::test]
async fn the_clients_close_is_answered_and_ends_the_stream() {
    let (mut server, mut client) = pair().await;
    client
        .close(Some(ClientCloseFrame {
            code: CloseCode::Normal,
            reason: "selesai".into(),
        }))
        .await
        .unwrap();
    assert_eq!(
        received(&mut server).await,
        Message::Close(Some(CloseFrame {
            code: 1000,
            reason: "selesai".into()
        }))
    );
    assert!(server.next().await.is_none(), "the stream ends");
    match client.next().await {
        Some(Ok(ClientMessage::Close(Some(frame)))) => assert_eq!(frame.code, CloseCode::Normal),
        other => panic!("expected the server's Close, got {other:?}"),
    }
    assert!(matches!(
        server.send(Message::Binary(Bytes::new())).await,
        Err(Error::Closed)
    ));
}

#[tokio::test]
async fn the_servers_close_is_answered_by_the_client() {
    let (mut server, mut client) = pair().await;
    server
        .send(Message::Close(Some(CloseFrame {
            code: close_code::POLICY,
            reason: "sign-in took too long".into(),
        })))
        .await
        .unwrap();
    match client.next().await {
        Some(Ok(ClientMessage::Close(Some(frame)))) => {
            assert_eq!(u16::from(frame.code), close_code::POLICY);
            assert_eq!(frame.reason, "sign-in took too long");
        }
        other => panic!("expected the server's Close, got {other:?}"),
    }
    // tungstenite answers when it is next polled.
    let client = tokio::spawn(async move { while client.next().await.is_some() {} });
    assert!(
        matches!(received(&mut server).await, Message::Close(Some(frame)) if frame.code == close_code::POLICY)
    );
    assert!(server.next().await.is_none());
    // The server ends the TCP connection (section 7.1.1); the client waits for that.
    drop(server);
    client.await.unwrap();
}

#[tokio::test]
async fn a_frame_against_the_protocol_ends_the_stream_with_its_error() {
    let (server, mut raw) = socket_pair().await;
    let mut server = WebSocket::new(server, LIMIT);
    // Unmasked, which a client may not send.
    raw.write_all(&[0x82, 0x01, 0x2A]).await.unwrap();
    match server.next().await {
        Some(Err(error)) => {
            assert!(matches!(error, Error::Protocol(_)), "{error}");
            assert_eq!(error.close_code(), Some(close_code::PROTOCOL));
        }
        other => panic!("expected a protocol error, got {other:?}"),
    }
    assert!(server.next().await.is_none());
    assert_eq!(server.held_bytes(), 0);
}

#[tokio::test]
async fn a_message_over_the_limit_is_refused_before_it_is_read() {
    let (server, mut raw) = socket_pair().await;
    let mut server = WebSocket::new(server, LIMIT);
    // The header of a masked 1 GiB binary frame, and nothing more.
    let mut header = vec![0x82, 0x80 | 127];
    header.extend_from_slice(&(1u64 << 30).to_be_bytes());
    header.extend_from_slice(&[1, 2, 3, 4]);
    raw.write_all(&header).await.unwrap();
    assert!(matches!(
        server.next().await,
        Some(Err(Error::TooLarge { size, limit: LIMIT })) if size == 1 << 30
    ));
}

#[tokio::test]
async fn the_end_of_the_byte_stream_ends_the_message_stream() {
    let (server, raw) = socket_pair().await;
    let mut server = WebSocket::new(server, LIMIT);
    drop(raw);
    assert!(server.next().await.is_none());
}
