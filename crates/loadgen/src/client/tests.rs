//! The swarm client against a scripted server over a real socket: what it does when the server
//! answers its sign-in with a transient refusal, and with a final one.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use merpati_core::{crypto::KdfParams, reconnect::Backoff};
use merpati_protocol::{
    ClientFrame, Epoch, ErrorCode, PROTOCOL_VERSION, ServerFrame, Username, decode, encode,
    frames::AuthMethod,
};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;

use super::{ClientOptions, Join, SwarmClient};

/// Far longer than anything here takes; reaching it means the client never did what the test
/// waits for.
const PATIENCE: Duration = Duration::from_secs(60);

type ServerSocket = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

async fn send(socket: &mut ServerSocket, frame: ServerFrame) {
    socket
        .send(Message::Binary(encode(&frame).into()))
        .await
        .expect("the frame is sent");
}

/// Accepts the client's next connection, challenges it, and returns the socket with how the
/// client authenticated.
async fn next_sign_in(listener: &TcpListener) -> (ServerSocket, AuthMethod) {
    let (tcp, _) = listener.accept().await.expect("the client connects");
    let mut socket = tokio_tungstenite::accept_async(tcp)
        .await
        .expect("a WebSocket handshake");
    send(
        &mut socket,
        ServerFrame::Challenge {
            version: PROTOCOL_VERSION,
            nonce: [7; 32],
            epoch: Epoch(1),
        },
    )
    .await;
    loop {
        match socket.next().await {
            Some(Ok(Message::Binary(bytes))) => {
                if let Ok(ClientFrame::Authenticate { method, .. }) = decode(&bytes) {
                    return (socket, method);
                }
            }
            Some(Ok(_)) => {}
            other => panic!("the client left before authenticating: {other:?}"),
        }
    }
}

fn refusal(code: ErrorCode) -> ServerFrame {
    ServerFrame::Error {
        request: None,
        code,
        detail: String::new(),
    }
}

/// A client signing up as "ani" at the scripted server, retrying at once.
async fn signing_up() -> (TcpListener, SwarmClient) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let address = listener.local_addr().expect("a bound address");
    let client = SwarmClient::spawn(ClientOptions {
        url: format!("ws://{address}/ws"),
        username: Username::parse("ani").expect("a valid username"),
        passphrase: "correct horse battery staple".to_owned(),
        join: Join::SignUp,
        kdf: KdfParams::FAST_INSECURE,
        backoff: Backoff::new(1, 1),
    });
    (listener, client)
}

fn registers_with(method: &AuthMethod) -> [u8; 32] {
    match method {
        AuthMethod::Register { public_key, .. } => *public_key,
        other => panic!("expected a sign-up, got {other:?}"),
    }
}

#[tokio::test]
async fn a_sign_up_the_server_defers_is_tried_again_on_a_new_connection() {
    let (listener, client) = signing_up().await;
    let script = async {
        let (mut first, method) = next_sign_in(&listener).await;
        let key = registers_with(&method);
        send(&mut first, refusal(ErrorCode::ServerBusy)).await;
        // The client ends this connection itself ...
        while let Some(Ok(message)) = first.next().await {
            if matches!(message, Message::Close(_)) {
                break;
            }
        }
        // ... and signs up again on the next one, with the same keys.
        let (_second, method) = next_sign_in(&listener).await;
        assert_eq!(registers_with(&method), key);
    };
    tokio::time::timeout(PATIENCE, script)
        .await
        .expect("the client came back");
    let status = client.status();
    assert_eq!(
        (status.deferred, status.connections, status.auth_error),
        (1, 2, None)
    );
    client.stop();
}

#[tokio::test]
async fn a_sign_up_refused_for_good_is_reported_and_the_client_ends() {
    let (listener, mut client) = signing_up().await;
    let script = async {
        let (mut socket, _) = next_sign_in(&listener).await;
        send(&mut socket, refusal(ErrorCode::UsernameTaken)).await;
        let outcome = client.signed_in().await;
        // The client ends the connection and, with no credentials left, itself: a command
        // sent after that finds nobody to answer it.
        while let Some(Ok(message)) = socket.next().await {
            if matches!(message, Message::Close(_)) {
                break;
            }
        }
        (outcome, client.snapshot().await.err())
    };
    let (outcome, gone) = tokio::time::timeout(PATIENCE, script)
        .await
        .expect("the client heard the refusal and ended");
    assert_eq!(outcome, Err(ErrorCode::UsernameTaken));
    assert_eq!(gone, Some(super::Gone));
    assert_eq!(client.status().deferred, 0);
}
