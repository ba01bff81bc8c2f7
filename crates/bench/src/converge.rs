//! Time to converge after NATS faults (`merpati-bench converge`): the `latency` scenario's
//! paced traffic over two-member chats, while `scripts/bench-cluster` pauses and kills the
//! cluster's NATS.
//!
//! Every message's send, `Ack` and receipt is recorded on the wall clock, because the script
//! writes its fault times with `date +%s%3N` — one clock for both, on one machine. Once the
//! traffic has ended, the client waits for the script's faults file to say `done` (bounded),
//! then for every acknowledged message to reach its receiver (bounded by `settle`), and reads
//! each fault's figures off the records:
//! - time to converge: from the fault's end until every message acknowledged before that end
//!   has reached its receiver (null if one never did);
//! - how many messages were acknowledged during the fault;
//! - how many acknowledged during it never reached their receiver (the cluster promises none:
//!   PostgreSQL holds every acknowledged message, and the head check delivers what NATS lost).
//!
//! The baseline is the same run's send→receive latency of the messages sent outside every
//! fault. Messages sent during the warm-up are not counted anywhere: a receiver's process may
//! still be starting to follow its chat then.
//!
//! The faults file holds one line per event, `NAME start UNIX_MS` or `NAME end UNIX_MS`, and
//! a last line `done`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::SinkExt;
use merpati_protocol::{ClientMsgId, ServerFrame};
use merpati_testkit::SplitSocket;
use merpati_testkit::clock::unix_micros;
use merpati_testkit::random::random_bytes;
use merpati_testkit::raw_client::next_binary;
use merpati_testkit::{Endpoint, RawClient};
use tokio::task::JoinSet;

use crate::BenchError;
use crate::paced::{ChatPair, chat_pairs, paced_ticks, percentile_ms};
use crate::scenarios::{Figure, send_frame_as, sign_up_many};

/// What one `converge` run sends and how long it waits.
#[derive(Debug, Clone)]
pub(crate) struct ConvergeRun {
    /// Two-member chats, one sender each.
    pub(crate) pairs: usize,
    /// Messages per second, all senders together.
    pub(crate) rate: f64,
    /// Traffic before the figures start counting.
    pub(crate) warmup: Duration,
    /// Traffic in all, warm-up included.
    pub(crate) duration: Duration,
    /// The script's faults file.
    pub(crate) faults: PathBuf,
    /// How long after the traffic the faults file may take to say `done`.
    pub(crate) faults_wait: Duration,
    /// How long after `done` the acknowledged messages may take to arrive.
    pub(crate) settle: Duration,
}

/// One message's life, in Unix microseconds.
#[derive(Debug, Clone, Copy)]
struct Trace {
    sent: u64,
    acked: Option<u64>,
    received: Option<u64>,
    /// Refused with `SendFailed`: never stored, so never owed to the receiver.
    refused: bool,
}

/// The traces of one pair's messages, indexed by the number in their `ClientMsgId`.
type Traces = Arc<Mutex<Vec<Trace>>>;

/// A fault the script injected, from its start to its end, in Unix milliseconds.
#[derive(Debug, Clone)]
struct Fault {
    name: String,
    start_ms: u64,
    end_ms: u64,
}

/// Runs the traffic, waits for the faults and the stragglers, and returns the figures: the
/// value is how many acknowledged messages never reached their receiver.
pub(crate) async fn converge(
    endpoint: Endpoint,
    prefix: String,
    run: ConvergeRun,
) -> Result<Figure, BenchError> {
    let sessions = sign_up_many(&endpoint, &prefix, run.pairs * 2, 200).await?;
    let chats = chat_pairs(&prefix, sessions, "converge").await?;
    // This run's messages are told apart from any other's by the first 8 bytes of their id.
    let run_tag: [u8; 8] = random_bytes()?;
    let started = Instant::now();
    let counted_from = unix_micros() + micros(run.warmup);
    let traffic_end = started + run.duration;
    let mut tasks = JoinSet::new();
    let mut all_traces = Vec::with_capacity(chats.len());
    for (pair, chat) in chats.into_iter().enumerate() {
        let traces: Traces = Arc::new(Mutex::new(Vec::new()));
        all_traces.push(traces.clone());
        let pair_number = u32::try_from(pair)?;
        let ticks = paced_ticks(started, pair, run.pairs, run.rate);
        spawn_pair(
            &mut tasks,
            chat,
            pair_number,
            run_tag,
            traces,
            traffic_end,
            ticks,
        );
    }
    // scripts/bench-cluster waits for this line before its first fault.
    eprintln!("converge: traffic started");
    tokio::time::sleep_until(traffic_end.into()).await;
    let faults = wait_for_faults(&run.faults, run.faults_wait).await?;
    let settle_until = Instant::now() + run.settle;
    while owed(&all_traces, counted_from)? > 0 && Instant::now() < settle_until {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tasks.abort_all();
    let mut traces = Vec::new();
    for pair in &all_traces {
        let pair = pair.lock().map_err(|_| "a pair's task panicked")?;
        traces.extend(
            pair.iter()
                .filter(|trace| trace.sent >= counted_from)
                .copied(),
        );
    }
    Ok(figures(&traces, &faults, run.settle))
}

/// Starts the pair's sender (paced by `ticks` until `traffic_end`), the reader of its `Ack`s
/// and its receiver; each records into `traces`.
fn spawn_pair(
    tasks: &mut JoinSet<()>,
    chat: ChatPair,
    pair: u32,
    run_tag: [u8; 8],
    traces: Traces,
    traffic_end: Instant,
    mut ticks: tokio::time::Interval,
) {
    let ChatPair {
        sender,
        receiver,
        chat_id,
    } = chat;
    let SplitSocket {
        mut writer,
        mut reader,
    } = RawClient::into_split(sender);
    let sent = traces.clone();
    tasks.spawn(async move {
        let mut number = 0u32;
        while Instant::now() < traffic_end {
            ticks.tick().await;
            let id = message_id(run_tag, pair, number);
            let Ok(message) = send_frame_as(chat_id, id, vec![b'x'; 64]) else {
                return;
            };
            if let Ok(mut traces) = sent.lock() {
                traces.push(Trace {
                    sent: unix_micros(),
                    acked: None,
                    received: None,
                    refused: false,
                });
            }
            if writer.send(message).await.is_err() {
                return;
            }
            number += 1;
        }
    });
    let acked = traces.clone();
    tasks.spawn(async move {
        while let Some(bytes) = next_binary(&mut reader).await {
            // The sender's own copy of each message is pushed to it too; only answers count.
            if bytes.first() == Some(&ServerFrame::MESSAGE_TAG) {
                continue;
            }
            let (id, refused) = match merpati_protocol::decode::<ServerFrame>(&bytes) {
                Ok(ServerFrame::Ack { client_msg_id, .. }) => (client_msg_id, false),
                Ok(ServerFrame::SendFailed { client_msg_id, .. }) => (client_msg_id, true),
                _ => continue,
            };
            let now = unix_micros();
            update(&acked, run_tag, pair, id, |trace| {
                if refused {
                    trace.refused = true;
                } else if trace.acked.is_none() {
                    trace.acked = Some(now);
                }
            });
        }
    });
    let mut receiver = receiver.into_split();
    tasks.spawn(async move {
        while let Some(bytes) = next_binary(&mut receiver.reader).await {
            if bytes.first() != Some(&ServerFrame::MESSAGE_TAG) {
                continue;
            }
            let now = unix_micros();
            if let Ok(ServerFrame::Message(message)) = merpati_protocol::decode(&bytes) {
                update(&traces, run_tag, pair, message.client_msg_id, |trace| {
                    trace.received.get_or_insert(now);
                });
            }
        }
    });
}

/// The id of message `number` of pair `pair` in this run.
fn message_id(run_tag: [u8; 8], pair: u32, number: u32) -> ClientMsgId {
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&run_tag);
    id[8..12].copy_from_slice(&pair.to_le_bytes());
    id[12..].copy_from_slice(&number.to_le_bytes());
    ClientMsgId(id)
}

/// Applies `change` to the trace `id` names, if it is one of this pair's in this run.
fn update(
    traces: &Traces,
    run_tag: [u8; 8],
    pair: u32,
    id: ClientMsgId,
    change: impl FnOnce(&mut Trace),
) {
    let ClientMsgId(id) = id;
    let (tag, rest) = id.split_at(8);
    let (pair_bytes, number_bytes) = rest.split_at(4);
    if tag != run_tag || pair_bytes != pair.to_le_bytes() {
        return;
    }
    let mut number = [0u8; 4];
    number.copy_from_slice(number_bytes);
    let Ok(index) = usize::try_from(u32::from_le_bytes(number)) else {
        return;
    };
    if let Ok(mut traces) = traces.lock()
        && let Some(trace) = traces.get_mut(index)
    {
        change(trace);
    }
}

/// How many counted messages are still owed: sent and not yet answered, or acknowledged and
/// not yet received.
fn owed(all_traces: &[Traces], counted_from: u64) -> Result<usize, BenchError> {
    let mut owed = 0;
    for pair in all_traces {
        let pair = pair.lock().map_err(|_| "a pair's task panicked")?;
        owed += pair
            .iter()
            .filter(|trace| trace.sent >= counted_from && !trace.refused)
            .filter(|trace| trace.acked.is_none() || trace.received.is_none())
            .count();
    }
    Ok(owed)
}

/// Reads the faults file until it says `done`, for at most `wait`.
async fn wait_for_faults(path: &Path, wait: Duration) -> Result<Vec<Fault>, BenchError> {
    let deadline = Instant::now() + wait;
    loop {
        // Not there yet, or half written: read it again shortly.
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if text.lines().any(|line| line.trim() == "done") {
            return parse_faults(&text);
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "{} did not say `done` within {} s of the traffic's end",
                path.display(),
                wait.as_secs()
            )
            .into());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The faults of `NAME start UNIX_MS` / `NAME end UNIX_MS` lines, in the order they started.
fn parse_faults(text: &str) -> Result<Vec<Fault>, BenchError> {
    let mut faults: Vec<Fault> = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line == "done" {
            continue;
        }
        let (name, edge, at) = match line.split_whitespace().collect::<Vec<_>>()[..] {
            [name, edge, at] => (name, edge, at),
            _ => return Err(format!("faults file: cannot read {line:?}").into()),
        };
        let at: u64 = at
            .parse()
            .map_err(|error| format!("faults file: {line:?}: {error}"))?;
        match edge {
            "start" => faults.push(Fault {
                name: name.to_owned(),
                start_ms: at,
                end_ms: 0,
            }),
            "end" => match faults.iter_mut().find(|fault| fault.name == name) {
                Some(fault) => fault.end_ms = at,
                None => return Err(format!("faults file: {name} ends before it starts").into()),
            },
            _ => return Err(format!("faults file: cannot read {line:?}").into()),
        }
    }
    match faults.iter().find(|fault| fault.end_ms < fault.start_ms) {
        Some(fault) => Err(format!("faults file: {} has no end", fault.name).into()),
        None => Ok(faults),
    }
}

/// The figures of the counted `traces`: see the module's documentation.
fn figures(traces: &[Trace], faults: &[Fault], settle: Duration) -> Figure {
    let during =
        |fault: &Fault, at: u64| (fault.start_ms * 1_000..=fault.end_ms * 1_000).contains(&at);
    let acked: Vec<&Trace> = traces
        .iter()
        .filter(|trace| trace.acked.is_some())
        .collect();
    let lost = acked
        .iter()
        .filter(|trace| trace.received.is_none())
        .count();
    let mut extra = vec![
        ("sent".to_owned(), traces.len() as f64),
        ("acked".to_owned(), acked.len() as f64),
        (
            "refused".to_owned(),
            traces.iter().filter(|trace| trace.refused).count() as f64,
        ),
        (
            "unanswered".to_owned(),
            traces
                .iter()
                .filter(|trace| trace.acked.is_none() && !trace.refused)
                .count() as f64,
        ),
        ("settle_s".to_owned(), settle.as_secs_f64()),
    ];
    for fault in faults {
        let end = fault.end_ms * 1_000;
        let owed: Vec<&&Trace> = acked
            .iter()
            .filter(|trace| trace.acked.is_some_and(|at| at <= end))
            .collect();
        let converged_at = owed
            .iter()
            .map(|trace| trace.received)
            .try_fold(end, |latest, received| received.map(|at| latest.max(at)));
        let acked_during: Vec<&&Trace> = acked
            .iter()
            .filter(|trace| trace.acked.is_some_and(|at| during(fault, at)))
            .collect();
        let name = &fault.name;
        extra.extend([
            (
                format!("{name}_fault_ms"),
                fault.end_ms.saturating_sub(fault.start_ms) as f64,
            ),
            (
                format!("{name}_converge_ms"),
                converged_at.map_or(f64::NAN, |at| (at - end) as f64 / 1_000.0),
            ),
            (format!("{name}_acked_during"), acked_during.len() as f64),
            (
                format!("{name}_never_received"),
                acked_during
                    .iter()
                    .filter(|trace| trace.received.is_none())
                    .count() as f64,
            ),
        ]);
    }
    let latencies = |keep: &dyn Fn(&Trace) -> bool| -> Vec<u32> {
        let mut samples: Vec<u32> = traces
            .iter()
            .filter(|trace| keep(trace))
            .filter_map(|trace| trace.received.map(|at| at.saturating_sub(trace.sent)))
            .map(|micros| u32::try_from(micros).unwrap_or(u32::MAX))
            .collect();
        samples.sort_unstable();
        samples
    };
    let outside = latencies(&|trace| !faults.iter().any(|fault| during(fault, trace.sent)));
    let first_fault = faults.iter().map(|fault| fault.start_ms * 1_000).min();
    let before = latencies(&|trace| first_fault.is_none_or(|start| trace.sent < start));
    extra.extend([
        ("outside_p50_ms".to_owned(), percentile_ms(&outside, 0.50)),
        ("outside_p99_ms".to_owned(), percentile_ms(&outside, 0.99)),
        ("outside_samples".to_owned(), outside.len() as f64),
        ("before_p50_ms".to_owned(), percentile_ms(&before, 0.50)),
        ("before_p99_ms".to_owned(), percentile_ms(&before, 0.99)),
        ("before_samples".to_owned(), before.len() as f64),
    ]);
    Figure {
        value: lost as f64,
        extra,
    }
}

/// `duration` in whole microseconds.
fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trace(sent: u64, acked: Option<u64>, received: Option<u64>) -> Trace {
        Trace {
            sent,
            acked,
            received,
            refused: false,
        }
    }

    fn value(figure: &Figure, name: &str) -> f64 {
        figure
            .extra
            .iter()
            .find(|(key, _)| key == name)
            .map_or(f64::NAN, |(_, value)| *value)
    }

    #[test]
    fn a_fault_converges_when_the_last_message_acked_before_its_end_arrives() {
        let faults = parse_faults("pause start 10\npause end 20\ndone\n").expect("faults");
        let traces = [
            trace(1_000, Some(2_000), Some(3_000)),
            // Acked during the pause, delivered 7 ms after it ended.
            trace(12_000, Some(13_000), Some(27_000)),
            // Acked after the end: not owed at the end.
            trace(21_000, Some(40_000), Some(90_000)),
        ];
        let figure = figures(&traces, &faults, Duration::from_secs(1));
        assert_eq!(value(&figure, "pause_converge_ms"), 7.0);
        assert_eq!(value(&figure, "pause_acked_during"), 1.0);
        assert_eq!(value(&figure, "pause_never_received"), 0.0);
        assert_eq!(figure.value, 0.0);
    }

    #[test]
    fn an_acked_message_never_received_is_counted_and_the_fault_never_converges() {
        let faults = parse_faults("kill start 10\nkill end 20\ndone\n").expect("faults");
        let traces = [trace(12_000, Some(13_000), None)];
        let figure = figures(&traces, &faults, Duration::from_secs(1));
        assert!(value(&figure, "kill_converge_ms").is_nan());
        assert_eq!(value(&figure, "kill_never_received"), 1.0);
        assert_eq!(figure.value, 1.0);
        assert!(figure.to_json().contains("\"kill_converge_ms\":null"));
    }

    #[test]
    fn a_fault_without_an_end_is_refused() {
        assert!(parse_faults("kill start 10\ndone\n").is_err());
        assert!(parse_faults("kill end 10\ndone\n").is_err());
        assert!(parse_faults("kill at 10\n").is_err());
    }

    #[test]
    fn a_message_id_names_its_pair_and_number() {
        let traces: Traces = Arc::new(Mutex::new(vec![trace(1, None, None); 3]));
        update(&traces, [7; 8], 4, message_id([7; 8], 4, 2), |trace| {
            trace.received = Some(5);
        });
        // Another pair's or another run's id changes nothing.
        update(&traces, [7; 8], 4, message_id([7; 8], 5, 1), |trace| {
            trace.received = Some(6);
        });
        update(&traces, [7; 8], 4, message_id([8; 8], 4, 0), |trace| {
            trace.received = Some(6);
        });
        let traces = traces.lock().expect("lock");
        let received: Vec<_> = traces.iter().map(|trace| trace.received).collect();
        assert_eq!(received, [None, None, Some(5)]);
    }
}
