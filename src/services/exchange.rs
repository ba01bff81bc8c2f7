//! One request on a connection of its own, for what needs no session: open the socket, wait
//! for the server's challenge, send one frame, read the answer, close. A salt lookup before
//! a passphrase sign-in, and a sign-out proof the server has not heard yet, go this way.

use futures::{SinkExt, StreamExt};
use gloo_net::websocket::Message;
use gloo_net::websocket::futures::WebSocket;
use merpati_protocol::{ClientFrame, ServerFrame};

/// Sends `frame` on a new connection to `socket_url` and returns the server's answer (the
/// first frame after its challenge); `None` if the server could not be reached or said
/// nothing that decodes.
pub async fn exchange(socket_url: &str, frame: &ClientFrame) -> Option<ServerFrame> {
    let mut socket = WebSocket::open(socket_url).ok()?;
    // The challenge first: its nonce signs nothing here.
    if !matches!(
        next_frame(&mut socket).await,
        Some(ServerFrame::Challenge { .. })
    ) {
        return None;
    }
    socket
        .send(Message::Bytes(merpati_protocol::encode(frame)))
        .await
        .ok()?;
    let answer = next_frame(&mut socket).await;
    let _ = socket.close(None, None);
    answer
}

async fn next_frame(socket: &mut WebSocket) -> Option<ServerFrame> {
    match socket.next().await? {
        Ok(Message::Bytes(bytes)) => merpati_protocol::decode(&bytes).ok(),
        _ => None,
    }
}
