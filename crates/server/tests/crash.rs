//! Crash safety: the real `merpati-server` binary is killed with SIGKILL at arbitrary moments
//! while clients send as fast as they can, and restarted on the same data directory. Every
//! message the server acknowledged is there afterwards, exactly once and under the sequence
//! number it was acknowledged with; resending the unacknowledged ones stores each once.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use merpati_protocol::content::is_system_body;
use merpati_protocol::{ChatId, ClientFrame, ClientMsgId, Seq, ServerFrame};
use merpati_testkit::poll::poll_until;
use merpati_testkit::random::random_bytes;
use merpati_testkit::{Endpoint, ServerOptions, ServerProcess, SplitSocket};
use tokio_tungstenite::tungstenite::Message;

use crate::support::{Client, data_dir, key, msg_id};

/// The server binary as its own process, so that it can be killed for real; sends here come
/// far faster than a person's, and the whole chat is read back twice, tens of thousands of
/// messages on a fast machine: the send rate and the read allowance are lifted (with the
/// default allowance, a long enough run was refused `TooManyRequests` half-way through its
/// second read).
async fn start_server(data: &Path) -> ServerProcess {
    ServerProcess::start(ServerOptions::new().data_dir(data).args([
        "--send-rate",
        "0",
        "--reads-per-minute",
        "0",
    ]))
    .await
    .unwrap()
}

/// A random number in `0..bound`.
fn random_below(bound: u64) -> u64 {
    u64::from_le_bytes(random_bytes().unwrap()) % bound
}

fn body(id: ClientMsgId) -> Vec<u8> {
    format!("crash-safe {:?}", id.0).into_bytes()
}

/// What one sender did across all runs.
#[derive(Default)]
struct Ledger {
    /// Every message sent at least once, in order.
    sent: Vec<ClientMsgId>,
    /// Every acknowledgement received: id → seq.
    acked: HashMap<ClientMsgId, Seq>,
}

/// How many messages one sender has in flight (sent, not yet acknowledged) at most: enough
/// for the writer to form batches, few enough that resending them later is quick.
const IN_FLIGHT: usize = 64;

/// Signs in with `token` and sends numbered messages back to back, up to [`IN_FLIGHT`]
/// ahead of the acks, until the connection dies; records what was sent and acknowledged.
async fn send_until_killed(
    endpoint: Endpoint,
    token: [u8; 32],
    chat: ChatId,
    first: u64,
    ledger: Arc<Mutex<Ledger>>,
) {
    let mut client = Client::connect(&endpoint).await;
    assert!(matches!(
        client.resume(token).await,
        ServerFrame::Welcome { .. }
    ));
    let SplitSocket {
        writer: mut sink,
        reader: mut stream,
    } = client.into_split();
    let acks = Arc::clone(&ledger);
    let window = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
    let acked = Arc::clone(&window);
    let reader = tokio::spawn(async move {
        while let Some(Ok(message)) = stream.next().await {
            if let Message::Binary(bytes) = message
                && let Ok(ServerFrame::Ack {
                    client_msg_id, seq, ..
                }) = merpati_protocol::decode(&bytes)
            {
                let previous = acks.lock().unwrap().acked.insert(client_msg_id, seq);
                assert!(
                    previous.is_none_or(|before| before == seq),
                    "an ack changed its seq"
                );
                acked.add_permits(1);
            }
        }
        // The connection is gone: let the sender find out.
        acked.close();
    });
    for n in first.. {
        match window.acquire().await {
            Ok(permit) => permit.forget(),
            Err(_) => break,
        }
        let id = msg_id(n);
        ledger.lock().unwrap().sent.push(id);
        let frame = ClientFrame::Send {
            chat_id: chat,
            client_msg_id: id,
            body: body(id),
            attachment: None,
        };
        if sink
            .send(Message::binary(merpati_protocol::encode(&frame)))
            .await
            .is_err()
        {
            break;
        }
        // A little air, so that the writer forms batches of many sizes.
        if n % 8 == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    let _ = reader.await;
}

/// One stored message of the chat: its seq, its client's id, and whether the server wrote it
/// (a line in the group's history) rather than a sender.
type Stored = (Seq, ClientMsgId, bool);

/// Every message of `chat`, read with Fetch pages.
async fn server_log(client: &mut Client, chat: ChatId) -> Vec<Stored> {
    let mut log = Vec::new();
    let mut after = Seq(0);
    loop {
        client
            .send(&ClientFrame::Fetch {
                chat_id: chat,
                after,
                limit: 500,
            })
            .await;
        let (messages, more) = loop {
            match client.recv().await {
                ServerFrame::Page { messages, more, .. } => break (messages, more),
                // Messages pushed live while paging are read again by the pages.
                ServerFrame::Message(_) => {}
                other => panic!("expected a page, got {other:?}"),
            }
        };
        log.extend(messages.iter().map(|message| {
            (
                message.seq,
                message.client_msg_id,
                is_system_body(&message.body),
            )
        }));
        after = log.last().map_or(after, |(seq, _, _)| *seq);
        if !more {
            return log;
        }
    }
}

/// The messages the senders sent, as (seq, client_msg_id): the log without the server's
/// lines, of which there must be exactly one, the group's `Created` line, as message 1 (the
/// group is not changed while the senders send).
fn sent_messages(log: &[Stored]) -> Vec<(Seq, ClientMsgId)> {
    let lines: Vec<Seq> = log
        .iter()
        .filter(|(_, _, line)| *line)
        .map(|(seq, _, _)| *seq)
        .collect();
    assert_eq!(lines, [Seq(1)], "the Created line, and no other");
    log.iter()
        .filter(|(_, _, line)| !*line)
        .map(|(seq, id, _)| (*seq, *id))
        .collect()
}

/// Sends `id` again and waits for its Ack, skipping the messages pushed meanwhile.
async fn resend(client: &mut Client, chat: ChatId, id: ClientMsgId) -> Seq {
    client
        .send(&ClientFrame::Send {
            chat_id: chat,
            client_msg_id: id,
            body: body(id),
            attachment: None,
        })
        .await;
    loop {
        match client.recv().await {
            ServerFrame::Ack {
                client_msg_id, seq, ..
            } if client_msg_id == id => return seq,
            ServerFrame::Message(_) => {}
            other => panic!("expected the ack of a resend, got {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_any_moment_loses_no_acknowledged_message_and_resends_are_stored_once() {
    let (_keep, data) = data_dir();
    let names = ["ana", "ben", "cai", "dee"];

    let mut server = start_server(&data).await;
    let mut tokens = Vec::new();
    for name in names {
        let mut client = Client::connect(&server.endpoint()).await;
        match client.register(name, &key(name)).await {
            ServerFrame::Welcome {
                session_token: Some(token),
                ..
            } => tokens.push(token),
            other => panic!("registering {name}: {other:?}"),
        }
    }
    let mut ana = Client::connect(&server.endpoint()).await;
    ana.resume(tokens[0]).await;
    let chat = ana.group("crash", &names[1..]).await.id;
    drop(ana);

    let ledgers: Vec<Arc<Mutex<Ledger>>> = names.iter().map(|_| Arc::default()).collect();
    let acked_so_far = |ledgers: &[Arc<Mutex<Ledger>>]| -> usize {
        ledgers
            .iter()
            .map(|ledger| ledger.lock().unwrap().acked.len())
            .sum()
    };
    for round in 0..3u64 {
        let acked_before = acked_so_far(&ledgers);
        let senders: Vec<_> = tokens
            .iter()
            .zip(&ledgers)
            .enumerate()
            .map(|(i, (token, ledger))| {
                // Each sender numbers its messages in a range of its own, fresh every round.
                let first = (i as u64 + 1) * 1_000_000 + round * 100_000;
                tokio::spawn(send_until_killed(
                    server.endpoint(),
                    *token,
                    chat,
                    first,
                    Arc::clone(ledger),
                ))
            })
            .collect();
        // Once the sending is under way (a barrier: this round's first ack), somewhere in the
        // middle of it: no moment is safe. The random delay only picks the moment.
        poll_until("this round's first ack", Duration::from_secs(30), || {
            std::future::ready((acked_so_far(&ledgers) > acked_before).then_some(()))
        })
        .await
        .unwrap();
        tokio::time::sleep(Duration::from_millis(random_below(600))).await;
        server.kill();
        for sender in senders {
            tokio::time::timeout(Duration::from_secs(30), sender)
                .await
                .expect("a sender notices the kill")
                .unwrap();
        }
        server.restart().await.unwrap();
    }

    // Every acknowledged message is there, once, under its seq.
    let mut reader = Client::connect(&server.endpoint()).await;
    reader.resume(tokens[0]).await;
    let log = server_log(&mut reader, chat).await;
    let seqs: Vec<u64> = log.iter().map(|(seq, _, _)| seq.0).collect();
    assert_eq!(
        seqs,
        (1..=log.len() as u64).collect::<Vec<_>>(),
        "no gaps, no repeats"
    );
    let log = sent_messages(&log);
    let stored: HashMap<ClientMsgId, Seq> = log.iter().map(|(seq, id)| (*id, *seq)).collect();
    assert_eq!(stored.len(), log.len(), "a message stored twice");
    let mut acked_total = 0;
    let mut unacked: Vec<Vec<ClientMsgId>> = Vec::new();
    for ledger in &ledgers {
        let ledger = ledger.lock().unwrap();
        acked_total += ledger.acked.len();
        for (id, seq) in &ledger.acked {
            assert_eq!(
                stored.get(id),
                Some(seq),
                "an acknowledged message is lost or moved"
            );
        }
        let mut mine: Vec<ClientMsgId> = ledger
            .sent
            .iter()
            .filter(|id| !ledger.acked.contains_key(id))
            .copied()
            .collect();
        mine.dedup();
        unacked.push(mine);
    }
    assert!(
        acked_total > 0,
        "nothing was acknowledged: the test proved nothing"
    );

    // Each sender resends what was not acknowledged to it (some of it was stored, some not):
    // each is stored once, and a resend of a stored one gets its first seq back.
    let mut resent: BTreeMap<ClientMsgId, Seq> = BTreeMap::new();
    // Stored, but killed before its Ack went out.
    let mut stored_before_ack = 0;
    for (token, mine) in tokens.iter().zip(&unacked) {
        let mut sender = Client::connect(&server.endpoint()).await;
        sender.resume(*token).await;
        for &id in mine {
            let seq = resend(&mut sender, chat, id).await;
            if let Some(first) = stored.get(&id) {
                assert_eq!(*first, seq, "a resend of a stored message got a new seq");
                stored_before_ack += 1;
            }
            resent.insert(id, seq);
        }
    }
    // A fresh reader: the first one has not read what was pushed to it meanwhile.
    let mut reader = Client::connect(&server.endpoint()).await;
    reader.resume(tokens[0]).await;
    let log = server_log(&mut reader, chat).await;
    let seqs: Vec<u64> = log.iter().map(|(seq, _, _)| seq.0).collect();
    assert_eq!(
        seqs,
        (1..=log.len() as u64).collect::<Vec<_>>(),
        "no gaps, no repeats after the resends"
    );
    let log = sent_messages(&log);
    let ids: HashSet<ClientMsgId> = log.iter().map(|(_, id)| *id).collect();
    assert_eq!(ids.len(), log.len(), "a resend was stored twice");
    for (id, seq) in &resent {
        assert!(log.contains(&(*seq, *id)));
    }
    let every_sent: HashSet<ClientMsgId> = ledgers
        .iter()
        .flat_map(|ledger| ledger.lock().unwrap().sent.clone())
        .collect();
    assert_eq!(ids, every_sent, "the log holds exactly what was sent");
    eprintln!(
        "crash test: {} sent, {} acknowledged before the kills, {} resent ({} of them stored \
         before the kill), {} stored",
        every_sent.len(),
        acked_total,
        resent.len(),
        stored_before_ack,
        log.len()
    );
    server.kill();
}

/// A process manager may stop the server the moment its port answers: that SIGTERM must
/// find its handler installed and end in a graceful exit, not a kill by signal.
#[tokio::test]
async fn sigterm_as_soon_as_the_port_answers_shuts_down_gracefully() {
    let data = tempfile::tempdir().unwrap();
    for _ in 0..5 {
        let mut server = ServerProcess::start(
            ServerOptions::new()
                .data_dir(data.path())
                .ready_when_port_answers(),
        )
        .await
        .unwrap();
        let status = server.terminate().await.unwrap();
        assert!(status.success(), "exited with {status}");
    }
}
