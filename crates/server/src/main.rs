//! The `merpati-server` binary: reads its configuration from flags and environment variables,
//! sets up logging (to stderr; `RUST_LOG` filters, default `info`), and serves until Ctrl-C or
//! SIGTERM.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use merpati_server::Config;
use tracing_subscriber::EnvFilter;

// `--features heap-profile`: every allocation is recorded, and a graceful stop writes
// `dhat-heap.json` (the heap at its peak, by allocation site; see bench/NOTES.md).
#[cfg(feature = "heap-profile")]
#[global_allocator]
static ALLOCATOR: dhat::Alloc = dhat::Alloc;

#[tokio::main]
async fn main() -> ExitCode {
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
    // Before binding: a SIGTERM sent as soon as the port answers must shut down gracefully.
    let signal = merpati_server::os_signal();
    let listener = match merpati_server::listen(config.addr) {
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
