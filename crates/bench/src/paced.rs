//! What the paced scenarios (`latency`, `converge`) share: two-member chats, senders whose
//! phases are spread over one period, and percentiles of latencies.

use std::time::{Duration, Instant};

use merpati_protocol::ChatId;
use merpati_testkit::RawClient;

use crate::BenchError;
use crate::accounts;

/// A two-member chat of the paced scenarios: one member sends, the other receives.
pub(crate) struct ChatPair {
    /// The member who created the chat and sends in it.
    pub(crate) sender: RawClient,
    /// The other member.
    pub(crate) receiver: RawClient,
    /// Their chat.
    pub(crate) chat_id: ChatId,
}

/// Puts `sessions` (signed up by `scenarios::sign_up_many` with `prefix`) two by two into chats
/// titled `title`: session `2i` creates a chat with session `2i + 1`.
pub(crate) async fn chat_pairs(
    prefix: &str,
    sessions: Vec<RawClient>,
    title: &str,
) -> Result<Vec<ChatPair>, BenchError> {
    let mut sessions = sessions.into_iter();
    let mut pairs = Vec::with_capacity(sessions.len() / 2);
    while let (Some(sender), Some(receiver)) = (sessions.next(), sessions.next()) {
        pairs.push(chat_pair(prefix, pairs.len(), sender, receiver, title).await?);
    }
    Ok(pairs)
}

/// Pair `pair` of the sessions signed up with `prefix`: `sender` (session `2 * pair`) creates a
/// chat titled `title` with `receiver` (session `2 * pair + 1`).
pub(crate) async fn chat_pair(
    prefix: &str,
    pair: usize,
    mut sender: RawClient,
    receiver: RawClient,
    title: &str,
) -> Result<ChatPair, BenchError> {
    let other = accounts::username(prefix, pair * 2 + 1)?;
    let chat_id = accounts::create_group(&mut sender, title, vec![other]).await?;
    Ok(ChatPair {
        sender,
        receiver,
        chat_id,
    })
}

/// The send times of sender `pair` of `pairs` that together send `rate` messages per second
/// from `started` on: the senders' phases are spread over one period so the load is smooth.
pub(crate) fn paced_ticks(
    started: Instant,
    pair: usize,
    pairs: usize,
    rate: f64,
) -> tokio::time::Interval {
    let period = Duration::from_secs_f64(pairs as f64 / rate);
    let offset = period.mul_f64(pair as f64 / pairs as f64);
    tokio::time::interval_at((started + offset).into(), period)
}

/// The `q` quantile (0 to 1, nearest rank) of `sorted` latencies in microseconds, in
/// milliseconds; NaN if there are none.
pub(crate) fn percentile_ms(sorted: &[u32], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted.len() - 1) as f64 * q).round() as usize;
    f64::from(sorted.get(index).copied().unwrap_or(u32::MAX)) / 1000.0
}
