//! The baselines the figures stand beside, measured in the same run.
//!
//! - [`argon2_server`]: Merpati's sign-up conversation (`Challenge` → `Register` → `Welcome`)
//!   on a server that, instead of checking an Ed25519 signature, hashes a password with
//!   argon2id at OWASP settings (m = 19 MiB, t = 2, p = 1) — what a password-based server pays
//!   per sign-up. The client sends its signature bytes as the "password".
//! - [`broadcast_server`]: a bare tokio-tungstenite server with no protocol, no storage and no
//!   accounts: every binary frame a client sends on `/ws/<group>` goes to every connection of
//!   that group, the sender's included.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use argon2::{Algorithm, Argon2, Params, Version};
use futures_util::{SinkExt, StreamExt};
use merpati_protocol::frames::AuthMethod;
use merpati_protocol::{ClientFrame, Epoch, Member, PROTOCOL_VERSION, ServerFrame, UserId};
use merpati_testkit::random::random_bytes;
use merpati_testkit::raw_client::send_frame;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::{Bytes, Message};

use crate::BenchError;

/// OWASP's argon2id recommendation: 19 MiB of memory, 2 passes, 1 lane.
const OWASP_MEMORY_KIB: u32 = 19 * 1024;
const OWASP_PASSES: u32 = 2;
const OWASP_LANES: u32 = 1;

/// How many frames a slow member of a bare broadcast group may fall behind before it skips.
const BROADCAST_BACKLOG: usize = 4096;

/// Serves the password-hashing sign-up baseline on `addr` until the process is stopped.
pub(crate) async fn argon2_server(addr: SocketAddr) -> Result<(), BenchError> {
    let listener = TcpListener::bind(addr).await?;
    let accounts: Arc<Mutex<HashMap<String, [u8; 32]>>> = Arc::default();
    loop {
        let (stream, _) = listener.accept().await?;
        let accounts = accounts.clone();
        tokio::spawn(async move {
            // A session's error (a client gone without a close, say) ends only that session.
            let _ = argon2_session(stream, accounts).await;
        });
    }
}

async fn argon2_session(
    stream: TcpStream,
    accounts: Arc<Mutex<HashMap<String, [u8; 32]>>>,
) -> Result<(), BenchError> {
    stream.set_nodelay(true)?;
    let ws = tokio_tungstenite::accept_async(stream).await?;
    let (mut writer, mut reader) = ws.split();
    send_frame(
        &mut writer,
        &ServerFrame::Challenge {
            version: PROTOCOL_VERSION,
            nonce: random_bytes()?,
            epoch: Epoch(1),
        },
    )
    .await?;
    while let Some(message) = reader.next().await {
        let Message::Binary(bytes) = message? else {
            continue;
        };
        let ClientFrame::Authenticate {
            method:
                AuthMethod::Register {
                    username,
                    signature: password,
                    ..
                },
            ..
        } = merpati_protocol::decode(&bytes)?
        else {
            continue;
        };
        let salt: [u8; 32] = random_bytes()?;
        let hash = tokio::task::spawn_blocking(move || hash_password(&password, &salt)).await??;
        let id = {
            let mut accounts = accounts.lock().map_err(|_| "accounts lock poisoned")?;
            accounts.insert(username.as_str().to_owned(), hash);
            accounts.len()
        };
        send_frame(
            &mut writer,
            &ServerFrame::Welcome {
                me: Member {
                    id: UserId(u64::try_from(id)?),
                    username,
                },
                session_token: Some(random_bytes()?),
            },
        )
        .await?;
    }
    Ok(())
}

/// argon2id at OWASP settings over `password` with `salt`.
fn hash_password(password: &[u8], salt: &[u8]) -> Result<[u8; 32], BenchError> {
    let params = Params::new(OWASP_MEMORY_KIB, OWASP_PASSES, OWASP_LANES, Some(32))
        .map_err(|error| format!("argon2 parameters: {error}"))?;
    let mut hash = [0u8; 32];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(password, salt, &mut hash)
        .map_err(|error| format!("argon2: {error}"))?;
    Ok(hash)
}

/// Serves the bare broadcast baseline on `addr` until the process is stopped.
pub(crate) async fn broadcast_server(addr: SocketAddr) -> Result<(), BenchError> {
    let listener = TcpListener::bind(addr).await?;
    let groups: Arc<Mutex<HashMap<String, broadcast::Sender<Bytes>>>> = Arc::default();
    loop {
        let (stream, _) = listener.accept().await?;
        let groups = groups.clone();
        tokio::spawn(async move {
            let _ = broadcast_session(stream, groups).await;
        });
    }
}

// The handshake callback's error type is tungstenite's HTTP response, large by design.
#[allow(clippy::result_large_err)]
async fn broadcast_session(
    stream: TcpStream,
    groups: Arc<Mutex<HashMap<String, broadcast::Sender<Bytes>>>>,
) -> Result<(), BenchError> {
    stream.set_nodelay(true)?;
    let mut path = String::new();
    let ws = tokio_tungstenite::accept_hdr_async(stream, |request: &Request, response| {
        path = request.uri().path().to_owned();
        Ok::<Response, _>(response)
    })
    .await?;
    let group = {
        let mut groups = groups.lock().map_err(|_| "groups lock poisoned")?;
        groups
            .entry(path)
            .or_insert_with(|| broadcast::channel(BROADCAST_BACKLOG).0)
            .clone()
    };
    let mut frames = group.subscribe();
    let (mut writer, mut reader) = ws.split();
    let forward = tokio::spawn(async move {
        loop {
            match frames.recv().await {
                Ok(bytes) => {
                    if writer.send(Message::Binary(bytes)).await.is_err() {
                        return;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    });
    while let Some(message) = reader.next().await {
        if let Message::Binary(bytes) = message? {
            // No receivers only means everyone left; nothing to do.
            let _ = group.send(bytes);
        }
    }
    forward.abort();
    Ok(())
}
