//! `merpati-bench`: the load clients and baseline servers behind `scripts/bench`.
//!
//! Each client subcommand sets up, measures one figure over a fixed window, and prints it as
//! one JSON line on stdout; progress and errors go to stderr. The server subcommands run a
//! baseline until killed. `scripts/bench` starts the servers, runs the clients several times
//! and writes `bench/RESULTS.md`.
//!
//! The load clients speak the protocol through the test kit's lean raw client
//! (`merpati_testkit::raw_client`: frames via `merpati_protocol`, no engine, no store).
//!
//! # Layout
//! - `accounts`: unique names, sign-ups and groups.
//! - `scenarios`: sign-ups/s, durable sends/s, fan-out deliveries/s, paced latency, held
//!   sign-ins.
//! - `paced`: the two-member chats and paced senders of `latency` and `converge`.
//! - `converge`: time to converge after the NATS faults `scripts/bench-cluster` injects.
//! - `starve`: sign-in latency while other accounts loop the costliest reads.
//! - `baseline`: the argon2id sign-up server and the bare broadcast server.

// The one result line goes to stdout for the script to read.
#![allow(clippy::print_stdout)]

mod accounts;
mod baseline;
mod converge;
mod paced;
mod scenarios;
mod starve;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use merpati_testkit::Endpoint;

use crate::converge::ConvergeRun;
use crate::scenarios::Timing;

/// Any failure of a benchmark client; the benchmark reports it and stops.
pub(crate) type BenchError = Box<dyn std::error::Error + Send + Sync>;

/// Load clients and baseline servers for Merpati's performance budgets (loopback only).
#[derive(Debug, Parser)]
#[command(name = "merpati-bench")]
struct Args {
    /// The server's address (loopback).
    #[arg(long, global = true, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// The WebSocket path.
    #[arg(long, global = true, default_value = "/ws")]
    path: String,
    /// Seconds of warm-up before a measured window.
    #[arg(long, global = true, default_value_t = 2)]
    warmup_s: u64,
    /// Seconds in the measured window.
    #[arg(long, global = true, default_value_t = 5)]
    window_s: u64,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Sign-ups per second: Challenge → Register → Welcome on fresh connections.
    Signup {
        /// Handshakes in flight at once.
        #[arg(long, default_value_t = 256)]
        concurrency: usize,
        /// Sign-ups at most.
        #[arg(long, default_value_t = 50_000)]
        max: u64,
    },
    /// Durable messages per second: `Ack`s (sent after commit) from many pipelined senders.
    Durable {
        #[arg(long, default_value_t = 200)]
        senders: usize,
        /// Sends in flight per sender.
        #[arg(long, default_value_t = 64)]
        outstanding: usize,
    },
    /// Fan-out deliveries per second: groups with one pipelined sender each.
    Fanout {
        #[arg(long, default_value_t = 10)]
        groups: usize,
        #[arg(long, default_value_t = 100)]
        members: usize,
        /// Messages in flight per sender.
        #[arg(long, default_value_t = 32)]
        outstanding: usize,
        /// Talk to the bare broadcast baseline instead of Merpati.
        #[arg(long)]
        bare: bool,
    },
    /// Send→receive latency (p50, p99) at a paced total send rate, over two-member chats.
    Latency {
        #[arg(long, default_value_t = 500)]
        pairs: usize,
        /// Messages per second, all senders together.
        #[arg(long, default_value_t = 20_000.0)]
        rate: f64,
    },
    /// Time to converge after NATS faults: `latency`'s paced chats for `duration_s` (the
    /// `--warmup-s` first seconds not counted) while `scripts/bench-cluster` pauses and kills
    /// NATS and writes the times to `faults`; per fault, the time from its end until every
    /// message acknowledged before then was received, the messages acknowledged during it
    /// and those never received; beside them the latency outside the faults.
    Converge {
        #[arg(long, default_value_t = 500)]
        pairs: usize,
        /// Messages per second, all senders together.
        #[arg(long, default_value_t = 1_000.0)]
        rate: f64,
        /// Seconds of traffic, warm-up included.
        #[arg(long, default_value_t = 60)]
        duration_s: u64,
        /// The faults file: `NAME start UNIX_MS` and `NAME end UNIX_MS` lines, then `done`.
        #[arg(long)]
        faults: PathBuf,
        /// Seconds after the traffic the faults file may take to say `done`.
        #[arg(long, default_value_t = 120)]
        faults_wait_s: u64,
        /// Seconds after `done` that acknowledged messages may take to arrive.
        #[arg(long, default_value_t = 30)]
        settle_s: u64,
    },
    /// Login latency (p99 ms; p50 too) of `honest` people logging in again and again while
    /// `attackers` accounts loop full history pages and key queries (0: the quiet baseline).
    Starve {
        #[arg(long, default_value_t = 50)]
        attackers: usize,
        #[arg(long, default_value_t = 20)]
        honest: usize,
    },
    /// Open `connections` connections to the bare broadcast baseline (one group each, so
    /// nothing is sent) and hold them for `hold_s` seconds; the idle-memory baseline.
    HoldBare {
        #[arg(long, default_value_t = 1_000)]
        connections: usize,
        #[arg(long, default_value_t = 30)]
        hold_s: u64,
    },
    /// Sign up `connections` accounts (each on a connection of its own, `concurrency` sign-ups
    /// in flight), print `{"held":…,"failed":…}` once done, and hold them signed in and idle for
    /// `hold_s` seconds, reading whatever the server sends; the cluster's idle figure.
    Hold {
        #[arg(long, default_value_t = 1_000)]
        connections: usize,
        #[arg(long, default_value_t = 100)]
        concurrency: usize,
        #[arg(long, default_value_t = 30)]
        hold_s: u64,
    },
    /// Run the argon2id sign-up baseline server on `--addr`.
    Argon2Server,
    /// Run the bare tokio-tungstenite broadcast baseline server on `--addr`.
    BroadcastServer,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("merpati-bench: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("merpati-bench: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), BenchError> {
    let endpoint = Endpoint::at(args.addr, &args.path);
    // Unique per process, so several runs against one database never collide on names.
    let prefix = format!("b{:x}_", std::process::id());
    let window = Duration::from_secs(args.window_s);
    let timing = Timing {
        warmup: Duration::from_secs(args.warmup_s),
        window,
    };
    let figure = match args.command {
        Command::Signup { concurrency, max } => {
            scenarios::sign_ups(endpoint, prefix, concurrency, max, window).await?
        }
        Command::Durable {
            senders,
            outstanding,
        } => scenarios::durable(endpoint, prefix, senders, outstanding, timing).await?,
        Command::Fanout {
            groups,
            members,
            outstanding,
            bare,
        } => {
            scenarios::fan_out(endpoint, prefix, groups, members, outstanding, bare, timing).await?
        }
        Command::Latency { pairs, rate } => {
            scenarios::latency(endpoint, prefix, pairs, rate, timing).await?
        }
        Command::Converge {
            pairs,
            rate,
            duration_s,
            faults,
            faults_wait_s,
            settle_s,
        } => {
            let run = ConvergeRun {
                pairs,
                rate,
                warmup: timing.warmup,
                duration: Duration::from_secs(duration_s),
                faults,
                faults_wait: Duration::from_secs(faults_wait_s),
                settle: Duration::from_secs(settle_s),
            };
            converge::converge(endpoint, prefix, run).await?
        }
        Command::Starve { attackers, honest } => {
            starve::starve(endpoint, prefix, attackers, honest, timing).await?
        }
        Command::HoldBare {
            connections,
            hold_s,
        } => {
            return scenarios::hold_bare(endpoint, connections, Duration::from_secs(hold_s)).await;
        }
        Command::Hold {
            connections,
            concurrency,
            hold_s,
        } => {
            let hold = Duration::from_secs(hold_s);
            return scenarios::hold(endpoint, prefix, connections, concurrency, hold).await;
        }
        Command::Argon2Server => return baseline::argon2_server(endpoint.addr).await,
        Command::BroadcastServer => return baseline::broadcast_server(endpoint.addr).await,
    };
    println!("{}", figure.to_json());
    Ok(())
}
