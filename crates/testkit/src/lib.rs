//! Merpati's test kit: what every test suite and the benchmarks need to run a real server and
//! talk to it, written once. Dev-only: no production crate depends on it.
//!
//! Everything here waits for the thing itself — a port that answers, `/healthz` saying `ok`,
//! the frame that was asked for — within a bound, and never for "enough time": a slow machine
//! makes a test slower, not flaky.
//!
//! # Layout
//! - [`server_process`]: the `merpati-server` binary as a child process — found one way,
//!   started on a free port with a data directory and a web root, killed with SIGKILL,
//!   started again on the same data, stopped with SIGTERM.
//! - [`raw_client`]: the raw protocol client — one WebSocket, frames encoded with
//!   `merpati_protocol`, no engine — used by the server's tests and the benchmark's load
//!   clients alike.
//! - [`sign_in`]: the `Authenticate` frame for each way in, with the challenge signed in one
//!   place.
//! - [`http`]: a minimal HTTP/1.1 request (any method, a body) and the server's `/metrics`.
//! - [`postgres_process`]: a PostgreSQL cluster of the test's own as a child process — a
//!   fresh `initdb` in a temporary directory, killed with SIGKILL, stopped, started again.
//! - [`nats_process`]: a NATS server of the test's own — killed, paused (SIGSTOP), resumed,
//!   started again.
//! - [`poll`]: waiting for a condition, with a bound.
//! - [`ports`]: free loopback ports, none handed out twice in a process.
//! - [`clock`] and [`random`]: the time as the benchmarks stamp it, and random bytes.

pub mod clock;
pub mod http;
pub mod nats_process;
pub mod poll;
pub mod ports;
pub mod postgres_process;
pub mod random;
pub mod raw_client;
pub mod server_process;
pub mod sign_in;

use std::time::Duration;

pub use nats_process::NatsProcess;
pub use ports::{free_loopback_addr, free_loopback_port};
pub use postgres_process::PostgresProcess;
pub use raw_client::{ConnectOptions, Endpoint, RawClient, SourceAddress, SplitSocket};
pub use server_process::{ServerOptions, ServerProcess};
pub use sign_in::SignIn;

/// Why a step of the kit failed. Tests usually `unwrap` it; the benchmarks report it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A socket, a file or a process could not be used.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The WebSocket layer failed (boxed: its HTTP response makes it large).
    #[error("WebSocket: {0}")]
    WebSocket(Box<tokio_tungstenite::tungstenite::Error>),
    /// The server sent bytes that are not a frame.
    #[error(transparent)]
    Decode(#[from] merpati_protocol::DecodeError),
    /// Something did not happen within its bound.
    #[error("timed out after {patience:?} waiting for {what}")]
    TimedOut {
        /// What was waited for.
        what: String,
        /// How long.
        patience: Duration,
    },
    /// The connection ended while something was still expected on it.
    #[error("the connection ended while waiting for {0}")]
    Closed(String),
    /// Something else arrived than what was expected.
    #[error("expected {expected}, got {got}")]
    Unexpected {
        /// What was expected.
        expected: String,
        /// What came instead, as `Debug` shows it.
        got: String,
    },
    /// The server answered with an `Error` frame.
    #[error("the server refused with {code:?}: {detail}")]
    Refused {
        /// Its code.
        code: merpati_protocol::ErrorCode,
        /// Its detail.
        detail: String,
    },
    /// The server process could not be found, started or stopped.
    #[error("merpati-server: {0}")]
    Server(String),
    /// A server process (Merpati's, PostgreSQL, NATS) exited before it answered (its stderr
    /// says why).
    #[error("the server process exited at start ({0}); its stderr says why")]
    ExitedAtStart(std::process::ExitStatus),
    /// An HTTP answer that is not one.
    #[error("HTTP: {0}")]
    Http(String),
    /// The system's random source failed.
    #[error("random bytes: {0}")]
    Random(getrandom::Error),
}

impl From<tokio_tungstenite::tungstenite::Error> for Error {
    fn from(error: tokio_tungstenite::tungstenite::Error) -> Error {
        Error::WebSocket(Box::new(error))
    }
}

/// Awaits `future` for at most `patience`; `what` names it in the error.
pub(crate) async fn within<F: Future>(
    patience: Duration,
    what: &str,
    future: F,
) -> Result<F::Output, Error> {
    tokio::time::timeout(patience, future)
        .await
        .map_err(|_| Error::TimedOut {
            what: what.to_owned(),
            patience,
        })
}
