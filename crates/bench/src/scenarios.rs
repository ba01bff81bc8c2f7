//! The measured scenarios: sign-ups, durable sends, fan-out deliveries and paced latency.
//!
//! Each one sets up its clients first (untimed), then measures over a fixed window after a
//! warm-up, and returns a [`Figure`]. Every loop is bounded: by a count, by the window, or
//! both; tasks still running when the window closes are aborted.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::SinkExt;
use merpati_protocol::{ChatId, ClientFrame, ClientMsgId, ServerFrame};
use merpati_testkit::clock::unix_micros;
use merpati_testkit::random::random_bytes;
use merpati_testkit::raw_client::{ConnectOptions, connect_socket, next_binary};
use merpati_testkit::{Endpoint, RawClient, SplitSocket};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::Message;

use crate::BenchError;
use crate::accounts;
use crate::paced::{ChatPair, chat_pair, paced_ticks, percentile_ms};

/// When a measured window starts and how long it lasts.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timing {
    /// Load runs this long before the window opens.
    pub(crate) warmup: Duration,
    /// The measured window.
    pub(crate) window: Duration,
}

/// One measured figure, printed as a JSON line for `scripts/bench`.
#[derive(Debug, Default)]
pub(crate) struct Figure {
    /// The headline number (per second), or the p50 in milliseconds for latency.
    pub(crate) value: f64,
    /// Further named numbers (p99, achieved rate, errors, …).
    pub(crate) extra: Vec<(String, f64)>,
}

impl Figure {
    /// The headline `value` and the named numbers beside it.
    pub(crate) fn new(value: f64, extra: &[(&str, f64)]) -> Figure {
        Figure {
            value,
            extra: extra
                .iter()
                .map(|(name, value)| ((*name).to_owned(), *value))
                .collect(),
        }
    }

    /// `{"value":…, "name":…}` — flat, so a shell script can pick it apart. A number that is
    /// not finite (a percentile of no samples, a time that never came) is `null`, which JSON
    /// can carry and `NaN` is not.
    pub(crate) fn to_json(&self) -> String {
        let number = |value: f64| {
            if value.is_finite() {
                format!("{value:.3}")
            } else {
                "null".to_owned()
            }
        };
        let mut out = format!("{{\"value\":{}", number(self.value));
        for (name, value) in &self.extra {
            out.push_str(&format!(",\"{name}\":{}", number(*value)));
        }
        out.push('}');
        out
    }
}

/// Signs up clients in parallel (up to `concurrency` handshakes in flight, at most `max` in
/// all) for `window`, and returns completed sign-ups per second.
pub(crate) async fn sign_ups(
    endpoint: Endpoint,
    prefix: String,
    concurrency: usize,
    max: u64,
    window: Duration,
) -> Result<Figure, BenchError> {
    let issued = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + window;
    let mut workers = JoinSet::new();
    for _ in 0..concurrency {
        let (endpoint, prefix) = (endpoint.clone(), prefix.clone());
        let (issued, done, failed) = (issued.clone(), done.clone(), failed.clone());
        workers.spawn(async move {
            loop {
                let index = issued.fetch_add(1, Ordering::Relaxed);
                if index >= max || Instant::now() >= deadline {
                    return;
                }
                let attempt = async {
                    let name = accounts::username(&prefix, usize::try_from(index)?)?;
                    let client = accounts::sign_up(&endpoint, name).await?;
                    // Counted at Welcome; the close is the client's business.
                    if Instant::now() < deadline {
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    let _ = client.into_split().writer.close().await;
                    Ok::<(), BenchError>(())
                };
                if tokio::time::timeout_at(deadline.into(), attempt)
                    .await
                    .is_ok_and(|result| result.is_err())
                {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
    // Every worker stops at the deadline at the latest (its attempt is cut off there).
    while workers.join_next().await.is_some() {}
    let elapsed = started.elapsed().min(window).as_secs_f64();
    let done = done.load(Ordering::Relaxed) as f64;
    Ok(Figure::new(
        done / elapsed,
        &[
            ("completed", done),
            ("failed", failed.load(Ordering::Relaxed) as f64),
            ("seconds", elapsed),
        ],
    ))
}

/// Signs up `count` accounts named `prefix0`, `prefix1`, … with `concurrency` at once.
pub(crate) async fn sign_up_many(
    endpoint: &Endpoint,
    prefix: &str,
    count: usize,
    concurrency: usize,
) -> Result<Vec<RawClient>, BenchError> {
    let semaphore = Arc::new(Semaphore::new(concurrency));
    let mut tasks = JoinSet::new();
    for index in 0..count {
        let endpoint = endpoint.clone();
        let name = accounts::username(prefix, index)?;
        let permit = semaphore.clone().acquire_owned().await?;
        tasks.spawn(async move {
            let session = accounts::sign_up(&endpoint, name).await;
            drop(permit);
            session.map(|session| (index, session))
        });
    }
    let mut sessions: Vec<Option<RawClient>> = (0..count).map(|_| None).collect();
    while let Some(joined) = tasks.join_next().await {
        let (index, session) = joined??;
        if let Some(slot) = sessions.get_mut(index) {
            *slot = Some(session);
        }
    }
    Ok(sessions.into_iter().flatten().collect())
}

/// A frame to send: `Send` to `chat_id` with a fresh message id.
fn send_frame(chat_id: ChatId, body: Vec<u8>) -> Result<Message, BenchError> {
    send_frame_as(chat_id, ClientMsgId(random_bytes()?), body)
}

/// A frame to send: `Send` to `chat_id` named `client_msg_id`.
pub(crate) fn send_frame_as(
    chat_id: ChatId,
    client_msg_id: ClientMsgId,
    body: Vec<u8>,
) -> Result<Message, BenchError> {
    let frame = ClientFrame::Send {
        chat_id,
        client_msg_id,
        body,
        attachment: None,
    };
    Ok(Message::Binary(merpati_protocol::encode(&frame).into()))
}

/// Counts `counter` over `window` after `warmup`, per second.
async fn rate_over(counter: &AtomicU64, warmup: Duration, window: Duration) -> f64 {
    tokio::time::sleep(warmup).await;
    let before = counter.load(Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(window).await;
    let after = counter.load(Ordering::Relaxed);
    (after - before) as f64 / started.elapsed().as_secs_f64()
}

/// Keeps `outstanding` sends in flight on one connection until aborted: the reader returns a
/// credit for each frame whose first byte is `ack_tag`, and counts it in `acks`.
fn spawn_sender(
    tasks: &mut JoinSet<()>,
    session: SplitSocket,
    outstanding: usize,
    acks: Arc<AtomicU64>,
    ack_tag: u8,
    mut next: impl FnMut() -> Result<Message, BenchError> + Send + 'static,
) {
    let SplitSocket {
        mut writer,
        mut reader,
    } = session;
    let credit = Arc::new(Semaphore::new(outstanding));
    let reader_credit = credit.clone();
    tasks.spawn(async move {
        while let Some(bytes) = next_binary(&mut reader).await {
            if bytes.first() == Some(&ack_tag) {
                acks.fetch_add(1, Ordering::Relaxed);
                reader_credit.add_permits(1);
            }
        }
    });
    tasks.spawn(async move {
        while let Ok(permit) = credit.acquire().await {
            permit.forget();
            let Ok(message) = next() else { return };
            if writer.send(message).await.is_err() {
                return;
            }
        }
    });
}

/// `senders` clients, each in a chat of its own, keep `outstanding` sends in flight; returns
/// the `Ack`s per second (an `Ack` is sent only after the commit holding the message).
pub(crate) async fn durable(
    endpoint: Endpoint,
    prefix: String,
    senders: usize,
    outstanding: usize,
    timing: Timing,
) -> Result<Figure, BenchError> {
    let Timing { warmup, window } = timing;
    let sessions = sign_up_many(&endpoint, &prefix, senders, 200).await?;
    let acks = Arc::new(AtomicU64::new(0));
    let mut tasks = JoinSet::new();
    // Every chat exists before the first send, so setup does not compete with the load.
    let mut ready = Vec::with_capacity(sessions.len());
    for mut session in sessions {
        let chat_id = accounts::create_group(&mut session, "durable", Vec::new()).await?;
        ready.push((session, chat_id));
    }
    for (session, chat_id) in ready {
        let body = vec![b'x'; 64];
        spawn_sender(
            &mut tasks,
            session.into_split(),
            outstanding,
            acks.clone(),
            ServerFrame::ACK_TAG,
            move || send_frame(chat_id, body.clone()),
        );
    }
    let rate = rate_over(&acks, warmup, window).await;
    tasks.abort_all();
    Ok(Figure::new(rate, &[("senders", senders as f64)]))
}

/// `groups` groups of `members`; one member per group keeps `outstanding` messages in flight,
/// and every member counts the messages it receives. Returns deliveries per second.
///
/// Against Merpati the sender's credit comes back with its `Ack`; against the bare broadcast
/// server (`bare`: no sign-up, path `/ws/<group>`, every frame goes to the whole group) with
/// the sender's own copy. In both a message reaches every member, the sender included.
pub(crate) async fn fan_out(
    endpoint: Endpoint,
    prefix: String,
    groups: usize,
    members: usize,
    outstanding: usize,
    bare: bool,
    timing: Timing,
) -> Result<Figure, BenchError> {
    let Timing { warmup, window } = timing;
    let deliveries = Arc::new(AtomicU64::new(0));
    let acks = Arc::new(AtomicU64::new(0));
    let mut tasks = JoinSet::new();
    for group in 0..groups {
        let group_prefix = format!("{prefix}g{group:x}_");
        let (mut senders, receivers, chat_id) = if bare {
            let bare_group = Endpoint::at(endpoint.addr, &format!("/ws/{group}"));
            let mut sessions = Vec::with_capacity(members);
            for _ in 0..members {
                let socket = connect_socket(&bare_group, &ConnectOptions::load_client()).await?;
                sessions.push(SplitSocket::from(socket));
            }
            let receivers = sessions.split_off(1);
            (sessions, receivers, ChatId(0))
        } else {
            let mut clients = sign_up_many(&endpoint, &group_prefix, members, 100).await?;
            let names = (1..members)
                .map(|index| accounts::username(&group_prefix, index))
                .collect::<Result<Vec<_>, _>>()?;
            let receivers = clients.split_off(1);
            let creator = clients.first_mut().ok_or("no members")?;
            let chat_id = accounts::create_group(creator, "fan-out", names).await?;
            let split = |clients: Vec<RawClient>| -> Vec<SplitSocket> {
                clients.into_iter().map(RawClient::into_split).collect()
            };
            (split(clients), split(receivers), chat_id)
        };
        for mut receiver in receivers {
            let counter = deliveries.clone();
            tasks.spawn(async move {
                while let Some(bytes) = next_binary(&mut receiver.reader).await {
                    if bare || bytes.first() == Some(&ServerFrame::MESSAGE_TAG) {
                        counter.fetch_add(1, Ordering::Relaxed);
                    }
                }
                drop(receiver.writer);
            });
        }
        let sender = senders.pop().ok_or("no sender")?;
        let body = vec![b'x'; 64];
        // The bare server gets a frame of exactly the size Merpati's `Send` has.
        let frame_len = merpati_protocol::encode(&ClientFrame::Send {
            chat_id,
            client_msg_id: ClientMsgId(random_bytes()?),
            body: body.clone(),
            attachment: None,
        })
        .len();
        let (tag, next): (u8, Box<dyn FnMut() -> Result<Message, BenchError> + Send>) = if bare {
            // The bare server's frames are counted in full, the sender's own copy as its
            // credit (and as a delivery: Merpati pushes the sender's copy too).
            (
                b'x',
                Box::new(move || Ok(Message::Binary(vec![b'x'; frame_len].into()))),
            )
        } else {
            (
                ServerFrame::ACK_TAG,
                Box::new(move || send_frame(chat_id, body.clone())),
            )
        };
        let counter = if bare {
            deliveries.clone()
        } else {
            acks.clone()
        };
        spawn_sender(&mut tasks, sender, outstanding, counter, tag, next);
    }
    let rate = rate_over(&deliveries, warmup, window).await;
    tasks.abort_all();
    Ok(Figure::new(
        rate,
        &[("groups", groups as f64), ("members", members as f64)],
    ))
}

/// `pairs` two-member chats; each sender sends at `rate / pairs` per second with its send time
/// in the body, and the other member records send→receive latency. Returns p50 in ms, with
/// p99 and the achieved send rate.
pub(crate) async fn latency(
    endpoint: Endpoint,
    prefix: String,
    pairs: usize,
    rate: f64,
    timing: Timing,
) -> Result<Figure, BenchError> {
    let Timing { warmup, window } = timing;
    let sessions = sign_up_many(&endpoint, &prefix, pairs * 2, 200).await?;
    let started = Instant::now();
    let measure_from = started + warmup;
    let measure_to = measure_from + window;
    let sent = Arc::new(AtomicU64::new(0));
    let samples = Arc::new(Mutex::new(Vec::<u32>::new()));
    let mut tasks = JoinSet::new();
    let mut sessions = sessions.into_iter();
    // Each pair starts sending as soon as its chat exists, on the schedule that began at
    // `started`, while the next pairs' chats are being created.
    for pair in 0..pairs {
        let (Some(sender), Some(receiver)) = (sessions.next(), sessions.next()) else {
            return Err("fewer sessions than pairs".into());
        };
        let ChatPair {
            sender,
            receiver,
            chat_id,
        } = chat_pair(&prefix, pair, sender, receiver, "latency").await?;
        let samples = samples.clone();
        let mut receiver = receiver.into_split();
        tasks.spawn(async move {
            while let Some(bytes) = next_binary(&mut receiver.reader).await {
                if bytes.first() != Some(&ServerFrame::MESSAGE_TAG) {
                    continue;
                }
                let now = Instant::now();
                if now < measure_from || now >= measure_to {
                    continue;
                }
                if let Ok(ServerFrame::Message(message)) =
                    merpati_protocol::decode::<ServerFrame>(&bytes)
                {
                    let mut stamp = [0u8; 8];
                    if let Some(head) = message.body.get(..8) {
                        stamp.copy_from_slice(head);
                    }
                    let micros = unix_micros().saturating_sub(u64::from_le_bytes(stamp));
                    if let Ok(mut samples) = samples.lock() {
                        samples.push(u32::try_from(micros).unwrap_or(u32::MAX));
                    }
                }
            }
        });
        let SplitSocket {
            mut writer,
            mut reader,
        } = sender.into_split();
        tasks.spawn(async move { while next_binary(&mut reader).await.is_some() {} });
        let counter = sent.clone();
        let mut ticks = paced_ticks(started, pair, pairs, rate);
        tasks.spawn(async move {
            while Instant::now() < measure_to {
                ticks.tick().await;
                let mut body = unix_micros().to_le_bytes().to_vec();
                body.resize(64, b'x');
                let Ok(message) = send_frame(chat_id, body) else {
                    return;
                };
                if writer.send(message).await.is_err() {
                    return;
                }
                let now = Instant::now();
                if now >= measure_from && now < measure_to {
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
    tokio::time::sleep_until((measure_to + Duration::from_secs(1)).into()).await;
    tasks.abort_all();
    let mut samples = samples
        .lock()
        .map(|samples| samples.clone())
        .map_err(|_| "a receiver panicked")?;
    samples.sort_unstable();
    Ok(Figure::new(
        percentile_ms(&samples, 0.50),
        &[
            ("p99_ms", percentile_ms(&samples, 0.99)),
            ("max_ms", percentile_ms(&samples, 1.0)),
            ("samples", samples.len() as f64),
            (
                "sent_per_s",
                sent.load(Ordering::Relaxed) as f64 / window.as_secs_f64(),
            ),
        ],
    ))
}

/// Opens `connections` idle connections to the bare broadcast server, each on a path of its
/// own, holds them for `hold`, then closes them all.
pub(crate) async fn hold_bare(
    endpoint: Endpoint,
    connections: usize,
    hold: Duration,
) -> Result<(), BenchError> {
    let mut held = Vec::with_capacity(connections);
    for index in 0..connections {
        let idle = Endpoint::at(endpoint.addr, &format!("/ws/idle{index}"));
        held.push(connect_socket(&idle, &ConnectOptions::load_client()).await?);
    }
    eprintln!("holding {} connections", held.len());
    tokio::time::sleep(hold).await;
    drop(held);
    Ok(())
}

/// Signs up `connections` accounts, `concurrency` at a time, and keeps each connection open
/// and read (so nothing the server sends piles up in its socket) for `hold` after the last
/// sign-up. A failed sign-up is counted, not fatal: the figure is what was held.
pub(crate) async fn hold(
    endpoint: Endpoint,
    prefix: String,
    connections: usize,
    concurrency: usize,
    hold: Duration,
) -> Result<(), BenchError> {
    let semaphore = Arc::new(Semaphore::new(concurrency.max(1)));
    let held = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let mut tasks = JoinSet::new();
    for index in 0..connections {
        let (endpoint, name) = (endpoint.clone(), accounts::username(&prefix, index)?);
        let permit = semaphore.clone().acquire_owned().await?;
        let (held, failed) = (held.clone(), failed.clone());
        tasks.spawn(async move {
            let session = accounts::sign_up(&endpoint, name).await;
            drop(permit);
            let Ok(session) = session else {
                failed.fetch_add(1, Ordering::Relaxed);
                return;
            };
            held.fetch_add(1, Ordering::Relaxed);
            let SplitSocket { writer, mut reader } = session.into_split();
            while next_binary(&mut reader).await.is_some() {}
            drop(writer);
        });
    }
    // Every sign-up has finished once all permits are back.
    let all = u32::try_from(concurrency.max(1))?;
    drop(semaphore.acquire_many(all).await?);
    println!(
        "{{\"held\":{},\"failed\":{}}}",
        held.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed)
    );
    tokio::time::sleep(hold).await;
    tasks.abort_all();
    Ok(())
}
