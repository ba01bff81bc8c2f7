//! `merpati-loadgen`: runs a swarm of real clients against a Merpati server.
//!
//! `chat` signs clients up, forms groups and sends messages, then checks that every member of
//! every group holds the same timeline and decrypted every message in it; `idle` signs clients up and holds their connections,
//! reporting how many are online and, after the server drops them, how long until all are
//! back.

use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use merpati_core::reconnect::Backoff;
use merpati_loadgen::scenario::{ChatSwarm, IdleSwarm};

/// A swarm of real Merpati clients: the same engine as the app, over real WebSockets.
///
/// Every client reconnects by itself with exponential backoff and full jitter, and honours the
/// server's `Retry-After` (HTTP 503) and `Goodbye` hints. Usernames are unique per run.
#[derive(Debug, Parser)]
#[command(name = "merpati-loadgen", version)]
struct Args {
    /// The server's WebSocket address.
    #[arg(long, global = true, default_value = "ws://127.0.0.1:8080/ws")]
    url: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Sign up, form groups, send messages round-robin, and check that every member of each
    /// group ends up with the same timeline, every message decrypted to the text sent (exits
    /// with an error if not).
    Chat {
        /// How many clients.
        #[arg(long, default_value_t = 50)]
        clients: usize,
        /// Members per group.
        #[arg(long, default_value_t = 5)]
        group_size: usize,
        /// Messages in all.
        #[arg(long, default_value_t = 1_000)]
        messages: usize,
        /// Pause between two sends, in microseconds.
        #[arg(long, default_value_t = 0)]
        pause_us: u64,
        /// How long to wait for everything to be delivered, in seconds.
        #[arg(long, default_value_t = 60)]
        patience_s: u64,
    },
    /// Sign up and hold connections: prints once a second how many are online, and after a
    /// drop (a restarted server, say) how long it took until all were back.
    Idle {
        /// How many connections to hold.
        #[arg(long, default_value_t = 1_000)]
        clients: usize,
        /// How many accounts they belong to; the other connections are further tabs of
        /// these accounts' browsers (cheaper to open: no key derivation, no signature; each
        /// is still a device of its own). Default: one account each.
        #[arg(long)]
        accounts: Option<usize>,
        /// How long to run, in seconds (0: until Ctrl-C).
        #[arg(long, default_value_t = 60)]
        duration_s: u64,
        /// The first reconnect waits up to this long (milliseconds, full jitter).
        #[arg(long, default_value_t = 500)]
        backoff_base_ms: u64,
        /// No reconnect waits longer than this (milliseconds), unless the server asks.
        #[arg(long, default_value_t = 5_000)]
        backoff_cap_ms: u64,
    },
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let prefix = format!("lg{:x}_", std::process::id());
    match args.command {
        Command::Chat {
            clients,
            group_size,
            messages,
            pause_us,
            patience_s,
        } => {
            let swarm = ChatSwarm {
                url: args.url,
                clients,
                group_size,
                messages,
                name_prefix: prefix,
            };
            chat(swarm, Duration::from_micros(pause_us), patience_s).await
        }
        Command::Idle {
            clients,
            accounts,
            duration_s,
            backoff_base_ms,
            backoff_cap_ms,
        } => {
            let swarm = IdleSwarm {
                url: args.url,
                clients,
                accounts: accounts.unwrap_or(clients),
                name_prefix: prefix,
                backoff: Backoff::new(backoff_base_ms, backoff_cap_ms),
            };
            idle(swarm, duration_s).await
        }
    }
}

async fn chat(
    swarm: ChatSwarm,
    pause: Duration,
    patience_s: u64,
) -> Result<(), Box<dyn std::error::Error>> {
    let started = Instant::now();
    let (clients, groups) = swarm.prepare().await?;
    eprintln!(
        "{} clients signed up in {:?}",
        clients.len(),
        started.elapsed()
    );
    let sending = Instant::now();
    let sent = swarm.send_all(&clients, &groups, pause).await?;
    let queued = sent.len();
    let report = swarm
        .settle(&clients, &groups, &sent, Duration::from_secs(patience_s))
        .await?;
    eprintln!(
        "queued {queued}, converged {} in {:?}; pending {}, failed {}, diverged groups {:?}, \
         unreadable {}; {} connections, {} refused",
        report.converged,
        sending.elapsed(),
        report.pending,
        report.failed.len(),
        report.diverged,
        report.unreadable.len(),
        report.connections,
        report.refused,
    );
    for client in &clients {
        client.stop();
    }
    if report.pending > 0 || !report.diverged.is_empty() || !report.unreadable.is_empty() {
        return Err("the swarm did not converge".into());
    }
    Ok(())
}

async fn idle(swarm: IdleSwarm, duration_s: u64) -> Result<(), Box<dyn std::error::Error>> {
    let total = swarm.clients;
    let started = Instant::now();
    let clients = swarm.spawn().await?;
    eprintln!(
        "{} accounts signed up in {:?}",
        swarm.accounts.min(total),
        started.elapsed()
    );
    let run = async {
        let mut ticks = tokio::time::interval(Duration::from_secs(1));
        let mut was_full = false;
        let mut dropped_at: Option<Instant> = None;
        loop {
            ticks.tick().await;
            let online = IdleSwarm::online(&clients);
            let refused = IdleSwarm::refused(&clients);
            eprintln!(
                "{:>6.1} s  online {online}/{total}  refused {refused}",
                started.elapsed().as_secs_f64()
            );
            if online == total {
                if let Some(at) = dropped_at.take() {
                    eprintln!("all {total} back {:?} after the drop", at.elapsed());
                } else if !was_full {
                    eprintln!("all {total} online after {:?}", started.elapsed());
                }
                was_full = true;
            } else if was_full && dropped_at.is_none() {
                dropped_at = Some(Instant::now());
            }
            if duration_s > 0 && started.elapsed() >= Duration::from_secs(duration_s) {
                return;
            }
        }
    };
    tokio::select! {
        () = run => {}
        _ = tokio::signal::ctrl_c() => eprintln!("interrupted"),
    }
    for client in &clients {
        client.stop();
    }
    Ok(())
}
