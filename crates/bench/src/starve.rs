//! Sign-in latency while other accounts loop the costliest reads — the figure behind the
//! hostile-clients test `hostile::fifty_clients_looping_expensive_requests_leave_everyone_else_served`,
//! which proves everyone is served but asserts no time.
//!
//! Set-up (untimed): `honest` accounts, and `attackers` accounts in one group whose history
//! holds 100 messages of 4 KiB. Then every attacker pipelines full pages of that history and
//! key queries for the whole group (at most 32 unanswered at once) until the end of the
//! window — logging in again at once whenever the server closes it for asking on past its
//! allowance — while `honest` workers log in again and again on fresh connections; each
//! login (connect, challenge, `Login`, `Welcome`) is timed. With `attackers = 0` the same logins
//! run on a quiet server: the baseline.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::SinkExt;
use merpati_protocol::{
    ChatId, ClientFrame, ClientMsgId, ErrorCode, MAX_PAGE, Seq, ServerFrame, UserId, Username,
};
use merpati_testkit::random::random_bytes;
use merpati_testkit::raw_client::next_binary;
use merpati_testkit::{Endpoint, SplitSocket};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::Message;
use vodozemac::Ed25519SecretKey;

use crate::BenchError;
use crate::accounts;
use crate::scenarios::{Figure, Timing};

/// Unanswered requests one attacker keeps in flight.
const IN_FLIGHT: usize = 32;
/// Messages in the attacked group's history, and their size.
const HISTORY: usize = 100;
const HISTORY_BYTES: usize = 4096;

/// What the attackers' requests were answered, and how often they were closed and came back.
#[derive(Debug, Default)]
struct Answers {
    served: AtomicU64,
    refused: AtomicU64,
    closed: AtomicU64,
    sessions: AtomicU64,
}

pub(crate) async fn starve(
    endpoint: Endpoint,
    prefix: String,
    attackers: usize,
    honest: usize,
    timing: Timing,
) -> Result<Figure, BenchError> {
    let mut people = Vec::new();
    for index in 0..honest {
        let name = accounts::username(&format!("{prefix}h"), index)?;
        let key = Ed25519SecretKey::from_slice(&random_bytes()?);
        drop(accounts::sign_in(&endpoint, &name, &key, true).await?);
        people.push((name, key));
    }
    let deadline = Instant::now() + timing.warmup + timing.window;
    let answers = Arc::new(Answers::default());
    let mut attack = JoinSet::new();
    if attackers > 0 {
        let (accounts, group, members) = attacked_group(&endpoint, &prefix, attackers).await?;
        for (name, key) in accounts {
            let (endpoint, answers, members) = (endpoint.clone(), answers.clone(), members.clone());
            attack.spawn(async move {
                // Closed for asking on past its allowance, an attacker logs in again at once.
                while Instant::now() < deadline {
                    let Ok((client, _)) = accounts::sign_in(&endpoint, &name, &key, false).await
                    else {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    };
                    answers.sessions.fetch_add(1, Ordering::Relaxed);
                    attack_until(client.into_split(), group, &members, &answers, deadline).await;
                }
            });
        }
    }

    tokio::time::sleep(timing.warmup).await;
    let window_end = Instant::now() + timing.window;
    let mut logins = JoinSet::new();
    for (name, key) in people {
        let endpoint = endpoint.clone();
        logins.spawn(async move {
            let mut took = Vec::new();
            while Instant::now() < window_end {
                let started = Instant::now();
                let (client, _) = accounts::sign_in(&endpoint, &name, &key, false).await?;
                took.push(started.elapsed());
                let _ = client.into_split().writer.close().await;
            }
            Ok::<_, BenchError>(took)
        });
    }
    let mut took = Vec::new();
    while let Some(joined) = logins.join_next().await {
        took.extend(joined??);
    }
    attack.abort_all();
    while attack.join_next().await.is_some() {}
    took.sort();
    let millis = |quantile: f64| {
        let index = ((took.len() as f64 - 1.0) * quantile).round() as usize;
        took.get(index)
            .map_or(0.0, |took| took.as_secs_f64() * 1_000.0)
    };
    Ok(Figure::new(
        millis(0.99),
        &[
            ("p50_ms", millis(0.5)),
            ("logins", took.len() as f64),
            (
                "attack_served",
                answers.served.load(Ordering::Relaxed) as f64,
            ),
            (
                "attack_refused",
                answers.refused.load(Ordering::Relaxed) as f64,
            ),
            (
                "attack_closed",
                answers.closed.load(Ordering::Relaxed) as f64,
            ),
            (
                "attack_sessions",
                answers.sessions.load(Ordering::Relaxed) as f64,
            ),
        ],
    ))
}

/// `count` attackers in one group with a long history: their names and keys, the group, and
/// who is in it.
async fn attacked_group(
    endpoint: &Endpoint,
    prefix: &str,
    count: usize,
) -> Result<(Vec<(Username, Ed25519SecretKey)>, ChatId, Vec<UserId>), BenchError> {
    let mut accounts = Vec::new();
    let mut names = Vec::new();
    let mut members = Vec::new();
    for index in 0..count {
        let name = accounts::username(&format!("{prefix}a"), index)?;
        let key = Ed25519SecretKey::from_slice(&random_bytes()?);
        let (_, me) = accounts::sign_in(endpoint, &name, &key, true).await?;
        names.push(name.clone());
        accounts.push((name, key));
        members.push(me.id);
    }
    let host_name = accounts::username(&format!("{prefix}host"), 0)?;
    let host_key = Ed25519SecretKey::from_slice(&random_bytes()?);
    let (mut host, _) = accounts::sign_in(endpoint, &host_name, &host_key, true).await?;
    let group = accounts::create_group(&mut host, "lobby", names).await?;
    for index in 0..HISTORY {
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&(index as u64).to_le_bytes());
        host.send(&ClientFrame::Send {
            chat_id: group,
            client_msg_id: ClientMsgId(id),
            body: vec![0x61; HISTORY_BYTES],
            attachment: None,
        })
        .await?;
        host.skip_until("the history's ack", |frame| {
            matches!(frame, ServerFrame::Ack { .. }).then_some(())
        })
        .await?;
    }
    Ok((accounts, group, members))
}

/// One attacker's connection: full pages and key queries, `IN_FLIGHT` at a time, until
/// `deadline` or until the server closes it.
async fn attack_until(
    socket: SplitSocket,
    group: ChatId,
    members: &[UserId],
    answers: &Arc<Answers>,
    deadline: Instant,
) {
    let SplitSocket {
        mut writer,
        mut reader,
    } = socket;
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    let reading = {
        let (slots, answers) = (slots.clone(), answers.clone());
        tokio::spawn(async move {
            while let Some(bytes) = next_binary(&mut reader).await {
                if let Ok(ServerFrame::Goodbye { .. }) =
                    merpati_protocol::decode::<ServerFrame>(&bytes)
                {
                    answers.closed.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                let counter = match merpati_protocol::decode::<ServerFrame>(&bytes) {
                    Ok(ServerFrame::Page { .. } | ServerFrame::Keys { .. }) => &answers.served,
                    Ok(ServerFrame::Error {
                        code: ErrorCode::TooManyRequests,
                        ..
                    }) => &answers.refused,
                    _ => continue,
                };
                counter.fetch_add(1, Ordering::Relaxed);
                slots.add_permits(1);
            }
            // Closed: the sender stops waiting for answers that will not come.
            slots.close();
        })
    };
    let mut request = 0u32;
    while Instant::now() < deadline {
        let Ok(permit) = slots.acquire().await else {
            break;
        };
        permit.forget();
        request = request.wrapping_add(1);
        let frame = if request.is_multiple_of(2) {
            ClientFrame::History {
                chat_id: group,
                before: Seq(u64::MAX),
                limit: MAX_PAGE,
            }
        } else {
            ClientFrame::QueryKeys {
                request: merpati_protocol::RequestId(request),
                users: members.to_vec(),
            }
        };
        let bytes = merpati_protocol::encode(&frame);
        if writer.send(Message::Binary(bytes.into())).await.is_err() {
            break;
        }
    }
    reading.abort();
    let _ = tokio::time::timeout(Duration::from_secs(1), writer.close()).await;
}
