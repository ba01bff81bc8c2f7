//! The reconnect storm: 5,000 real clients hold connections to the server binary, which is
//! killed with SIGKILL so that all 5,000 drop at once, and restarted. They come back by
//! themselves, spread by full-jitter backoff and the server's `Retry-After` refusals.
//!
//! Phase 1 (cap 6,000, handshakes capped at 1,500/s): all 5,000 come back after the restart.
//! Phase 2: the server restarts with a cap of 3,000, below the demand: it never holds more
//! than 3,000 (sampled from `/metrics` throughout), refuses the rest with 503 + `Retry-After` —
//! each of them again after the cap was reached, while it holds — and when 2,000 people leave,
//! every one still waiting gets in.
//!
//! What the test guards is that: everyone returns, and the cap holds. How fast they return
//! depends on the machine (with builds running beside it, a debug server needed over 30 s for
//! the last phase, where a quiet run needs a fraction of that), so it is printed, not
//! asserted: a deadline here would test the machine's load. [`PATIENCE`] only keeps a broken run from
//! hanging.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use merpati_core::ConnectionPhase;
use merpati_core::reconnect::Backoff;
use merpati_loadgen::SwarmClient;
use merpati_loadgen::scenario::IdleSwarm;
use merpati_testkit::poll::poll_until;
use merpati_testkit::{ServerOptions, ServerProcess};

const CLIENTS: usize = 5_000;
/// How long a wait may last before the run counts as broken: a guard against hanging, far
/// above what a phase takes even on a loaded machine, not a claim about speed.
const PATIENCE: Duration = Duration::from_secs(180);
const HANDSHAKES_PER_SECOND: &str = "1500";
const HANDSHAKE_BURST: &str = "300";
/// How long the server stays down after each kill: the clients' first attempts fail and back
/// off, as after a real crash. It shapes the storm; nothing is concluded from having waited.
const DOWNTIME: Duration = Duration::from_secs(1);

/// What `/metrics` showed while sampled.
#[derive(Debug, Default)]
struct Sampled {
    max_open: AtomicU64,
    max_peak: AtomicU64,
    samples: AtomicU64,
}

/// Samples `/metrics` every 100 ms until `stop` is set.
fn sample(addr: std::net::SocketAddr, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<Sampled> {
    tokio::spawn(async move {
        let sampled = Sampled::default();
        while !stop.load(Ordering::SeqCst) {
            if let Ok(metrics) = merpati_testkit::http::metrics(addr).await {
                let open = metrics["merpati_connections_open"] as u64;
                let peak = metrics["merpati_connections_peak"] as u64;
                sampled.max_open.fetch_max(open, Ordering::SeqCst);
                sampled.max_peak.fetch_max(peak, Ordering::SeqCst);
                sampled.samples.fetch_add(1, Ordering::SeqCst);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        sampled
    })
}

/// Waits until `count` of `clients` are online; panics past the bound.
async fn all_back(clients: &[SwarmClient], count: usize, what: &str) -> Duration {
    match IdleSwarm::wait_online(clients, count, PATIENCE).await {
        Ok(took) => took,
        Err(online) => panic!(
            "{what}: only {online} of {count} back within {PATIENCE:?} ({} refusals)",
            IdleSwarm::refused(clients)
        ),
    }
}

/// Waits until every client has seen its connection drop (none is online).
async fn all_dropped(clients: &[SwarmClient]) {
    let dropped = poll_until("every client to see the drop", PATIENCE, || {
        std::future::ready((IdleSwarm::online(clients) == 0).then_some(()))
    })
    .await;
    if let Err(error) = dropped {
        panic!("{error}: {} still online", IdleSwarm::online(clients));
    }
}

/// Waits until every client of `clients` not online now has been refused again, or got in
/// (someone left): that is the cap holding against their knocking, counted client by client.
/// How long that took.
async fn each_outsider_refused_again(clients: &[SwarmClient]) -> Duration {
    let started = Instant::now();
    let outside: Vec<(&SwarmClient, u32)> = clients
        .iter()
        .map(|client| (client, client.status()))
        .filter(|(_, status)| status.phase != ConnectionPhase::Online)
        .map(|(client, status)| (client, status.refused))
        .collect();
    let knocked = |(client, refused_before): &(&SwarmClient, u32)| {
        let status = client.status();
        status.refused > *refused_before || status.phase == ConnectionPhase::Online
    };
    let refused = poll_until("each client outside to be refused again", PATIENCE, || {
        std::future::ready(outside.iter().all(knocked).then_some(()))
    })
    .await;
    if let Err(error) = refused {
        let waiting = outside.iter().filter(|entry| !knocked(entry)).count();
        panic!(
            "{error}: {waiting} of {} never knocked again",
            outside.len()
        );
    }
    started.elapsed()
}

fn args(max_connections: &'static str) -> [&'static str; 10] {
    [
        "--max-connections",
        max_connections,
        "--max-handshakes-per-second",
        HANDSHAKES_PER_SECOND,
        "--handshake-burst",
        HANDSHAKE_BURST,
        // The swarm's 5,000 people all connect from 127.0.0.1: the cap per source address
        // (tests/hostile.rs in the server) would hold them to a few hundred.
        "--max-connections-per-address",
        "0",
        // ...and sign up from there: the allowance of accounts per address
        // (tests/quotas.rs in the server) would stop them at a hundred.
        "--sign-ups-per-address",
        "0",
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_thousand_dropped_connections_all_come_back_and_the_cap_holds() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = ServerProcess::start(ServerOptions::new().data_dir(&data).args(args("6000")))
        .await
        .unwrap();

    let swarm = IdleSwarm {
        url: server.ws_url(),
        clients: CLIENTS,
        // Ten tabs per account: signing up costs a key derivation and an Ed25519 signature
        // on each side, which is slow in a debug build; resuming a session costs neither
        // (each tab still creates and publishes a device of its own).
        accounts: CLIENTS / 10,
        name_prefix: "storm".to_owned(),
        backoff: Backoff::new(250, 4_000),
    };
    let clients = swarm.spawn().await.unwrap();
    let signed_up = match IdleSwarm::wait_online(&clients, CLIENTS, Duration::from_secs(300)).await
    {
        Ok(took) => took,
        Err(online) => panic!("only {online} of {CLIENTS} signed up"),
    };
    let refused_at_sign_up = IdleSwarm::refused(&clients);

    // Phase 1: all 5,000 dropped at once; the server is back after its downtime.
    server.kill();
    all_dropped(&clients).await;
    tokio::time::sleep(DOWNTIME).await;
    server.restart().await.unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = sample(server.metrics_addr(), Arc::clone(&stop));
    let phase1 = all_back(&clients, CLIENTS, "after the first drop").await;
    stop.store(true, Ordering::SeqCst);
    let sampled1 = sampler.await.unwrap();
    let metrics1 = server.metrics().await.unwrap();
    assert!(metrics1["merpati_connections_peak"] <= 6_000.0);
    assert!(sampled1.max_open.load(Ordering::SeqCst) <= 6_000);
    let refused1 = metrics1["merpati_handshakes_refused_total"];

    // Phase 2: dropped again, and the server comes back with room for only 3,000.
    server.kill();
    all_dropped(&clients).await;
    tokio::time::sleep(DOWNTIME).await;
    server.restart_with_args(args("3000")).await.unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = sample(server.metrics_addr(), Arc::clone(&stop));
    let phase2 = all_back(&clients, 3_000, "up to the cap").await;
    // The refused keep knocking, and the cap holds.
    let knocking = each_outsider_refused_again(&clients).await;
    let online_at_cap = IdleSwarm::online(&clients);
    assert!(
        online_at_cap <= 3_000,
        "{online_at_cap} online past the cap"
    );
    let metrics2 = server.metrics().await.unwrap();
    assert!(metrics2["merpati_connections_refused_total"] > 0.0);

    // 2,000 people leave; everyone still waiting gets in.
    let (leaving, staying) = clients.split_at(2_000);
    for client in leaving {
        client.stop();
    }
    let room_at = Instant::now();
    let phase2_room = all_back(staying, staying.len(), "once there was room").await;
    stop.store(true, Ordering::SeqCst);
    let sampled2 = sampler.await.unwrap();
    let metrics2 = server.metrics().await.unwrap();
    assert!(metrics2["merpati_connections_peak"] <= 3_000.0);
    assert!(sampled2.max_peak.load(Ordering::SeqCst) <= 3_000);
    assert!(sampled2.max_open.load(Ordering::SeqCst) <= 3_000);

    eprintln!(
        "storm test: {CLIENTS} online ({} accounts) in {signed_up:?} ({refused_at_sign_up} \
         handshakes refused on the way); phase 1 (cap 6000, {HANDSHAKES_PER_SECOND}/s handshakes): all \
         back {phase1:?} after the restart, {refused1} handshakes refused, peak {}, \
         {} samples; phase 2 (cap 3000): 3000 back in {phase2:?}, each of the rest refused \
         again within {knocking:?}, {} refused at the cap, \
         {} handshakes refused, peak {} (sampled max {}), the other 2000 in {phase2_room:?} \
         once there was room ({:?}); {:?} in all",
        CLIENTS / 10,
        metrics1["merpati_connections_peak"],
        sampled1.samples.load(Ordering::SeqCst),
        metrics2["merpati_connections_refused_total"],
        metrics2["merpati_handshakes_refused_total"],
        metrics2["merpati_connections_peak"],
        sampled2.max_open.load(Ordering::SeqCst),
        room_at.elapsed(),
        started.elapsed(),
    );
    for client in staying {
        client.stop();
    }
    server.kill();
}
