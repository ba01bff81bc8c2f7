//! `merpati-loadgen`: runs a swarm of real clients against a Merpati server.

use std::time::{Duration, Instant};

use clap::Parser;
use merpati_loadgen::scenario::ChatSwarm;

/// A swarm of real Merpati clients.
#[derive(Debug, Parser)]
#[command(name = "merpati-loadgen", version)]
struct Args {
    /// The server's WebSocket address.
    #[arg(long, default_value = "ws://127.0.0.1:8080/ws")]
    url: String,
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
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let prefix = format!("lg{:x}_", std::process::id());
    let swarm = ChatSwarm {
        url: args.url,
        clients: args.clients,
        group_size: args.group_size,
        messages: args.messages,
        name_prefix: prefix,
    };
    let started = Instant::now();
    let (clients, groups) = swarm.prepare().await?;
    eprintln!(
        "{} clients signed up in {:?}",
        clients.len(),
        started.elapsed()
    );
    let sending = Instant::now();
    let queued = swarm
        .send_all(&clients, &groups, Duration::from_micros(args.pause_us))
        .await?;
    let report = swarm
        .settle(&clients, &groups, Duration::from_secs(args.patience_s))
        .await?;
    eprintln!(
        "queued {queued}, converged {} in {:?}; pending {}, failed {}, diverged groups {:?}",
        report.converged,
        sending.elapsed(),
        report.pending,
        report.failed.len(),
        report.diverged
    );
    for client in &clients {
        client.stop();
    }
    if report.pending > 0 || !report.diverged.is_empty() {
        return Err("the swarm did not converge".into());
    }
    Ok(())
}
