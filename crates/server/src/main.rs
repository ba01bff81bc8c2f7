//! The `merpati-server` binary: reads its configuration from flags and environment variables,
//! sets up logging (to stderr; `RUST_LOG` filters, default `info`), and serves until Ctrl-C or
//! SIGTERM. On glibc it first starts itself again once with a malloc tunable set (see
//! [`tune_malloc`]).

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::Parser;
use merpati_server::Config;
use tracing_subscriber::EnvFilter;

// `--features heap-profile`: every allocation is recorded, and a graceful stop writes
// `dhat-heap.json` (the heap at its peak, by allocation site; see bench/NOTES.md).
#[cfg(feature = "heap-profile")]
#[global_allocator]
static ALLOCATOR: dhat::Alloc = dhat::Alloc;

/// glibc's malloc hands memory back to the system (`madvise`) whenever the free space at the
/// top of a thread's heap passes a threshold, 128 KiB by default. The storage writer's SQLite
/// connection crosses it on nearly every batch: `perf` showed a quarter of the writer's time
/// in the TLB shootdowns that follow, and durable messages/s rose from about 30,600 to 50,300
/// with the threshold at 256 MiB (bench/NOTES.md). glibc reads its tunables only when a process
/// starts, so the server starts itself again, once, with `glibc.malloc.trim_threshold` added
/// to `GLIBC_TUNABLES` — unless the operator set that tunable already. Same process id,
/// arguments, environment and open files; if that fails, it runs as it is.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn tune_malloc() {
    use std::os::unix::process::CommandExt;

    const STARTED_TUNED: &str = "MERPATI_MALLOC_TUNED";
    const TRIM_THRESHOLD: &str = "glibc.malloc.trim_threshold";
    let tunables = std::env::var("GLIBC_TUNABLES").unwrap_or_default();
    if std::env::var_os(STARTED_TUNED).is_some() || tunables.contains(TRIM_THRESHOLD) {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let tunables = if tunables.is_empty() {
        format!("{TRIM_THRESHOLD}=268435456")
    } else {
        format!("{tunables}:{TRIM_THRESHOLD}=268435456")
    };
    // `exec` returns only if it failed.
    let error = std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env("GLIBC_TUNABLES", tunables)
        .env(STARTED_TUNED, "1")
        .exec();
    eprintln!("merpati-server: running without the malloc tunable ({error})");
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_malloc() {}

fn main() -> ExitCode {
    tune_malloc();
    serve()
}

#[tokio::main]
async fn serve() -> ExitCode {
    #[cfg(feature = "heap-profile")]
    let _profiler = dhat::Profiler::new_heap();
    let config = Config::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        // Logs are diagnostics: stderr, and colour only for a person watching.
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    if config.new_epoch {
        return match merpati_server::new_epoch(&config).await {
            Ok(epoch) => {
                // The one line an operator's script reads: stdout, apart from the logs.
                let mut stdout = std::io::stdout();
                match writeln!(stdout, "new storage epoch: {epoch}") {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(_) => ExitCode::FAILURE,
                }
            }
            Err(error) => {
                tracing::error!(%error, "cannot choose a new epoch");
                ExitCode::FAILURE
            }
        };
    }
    // Before binding: a SIGTERM sent as soon as the port answers must shut down gracefully.
    let signal = merpati_server::os_signal();
    let listening = if config.database_url.is_some() {
        merpati_server::listen_shared(config.addr)
    } else {
        merpati_server::listen(config.addr)
    };
    let listener = match listening {
        Ok(listener) => listener,
        Err(error) => {
            tracing::error!(addr = %config.addr, %error, "cannot listen");
            return ExitCode::FAILURE;
        }
    };
    match merpati_server::run(listener, config, signal).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "the server failed");
            ExitCode::FAILURE
        }
    }
}
