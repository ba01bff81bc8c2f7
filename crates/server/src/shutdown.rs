//! Stopping the server without dropping anyone on the floor.
//!
//! axum's graceful shutdown stops accepting and waits for HTTP requests, but it does not reach
//! WebSocket sessions: once upgraded they run in tasks of their own. So every session watches
//! one [`Shutdown`] signal, says `Goodbye` and closes when it fires, and is counted in a task
//! tracker that `run` waits on before it lets the storage writer finish.

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tokio_util::task::task_tracker::TaskTrackerToken;

/// The shutdown signal every session watches, and the count of sessions still running.
#[derive(Debug, Clone, Default)]
pub(crate) struct Shutdown {
    signal: CancellationToken,
    sessions: TaskTracker,
}

impl Shutdown {
    pub(crate) fn new() -> Shutdown {
        Shutdown::default()
    }

    /// Tells every session to close.
    pub(crate) fn trigger(&self) {
        self.signal.cancel();
    }

    /// Whether the server is shutting down.
    pub(crate) fn is_triggered(&self) -> bool {
        self.signal.is_cancelled()
    }

    /// Completes once the server is shutting down.
    pub(crate) async fn triggered(&self) {
        self.signal.cancelled().await;
    }

    /// Counts a session as running until the returned token is dropped.
    pub(crate) fn session_token(&self) -> TaskTrackerToken {
        self.sessions.token()
    }

    /// Waits until every session has ended, or `limit` has passed; `true` if all ended.
    pub(crate) async fn sessions_ended(&self, limit: Duration) -> bool {
        self.sessions.close();
        tokio::time::timeout(limit, self.sessions.wait())
            .await
            .is_ok()
    }
}

/// Completes on Ctrl-C or, on Unix, SIGTERM: the signals that should stop the server.
///
/// The handlers are installed when this is called, not when the future is first polled: a
/// process manager may send SIGTERM as soon as the port answers, and a signal that arrives
/// before its handler exists would kill the process without a graceful shutdown. Call it
/// before binding.
pub fn os_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{Signal, SignalKind, signal};
        let install = |kind: SignalKind, name: &'static str| -> Option<Signal> {
            signal(kind)
                .inspect_err(|error| tracing::error!(%error, "cannot listen for {name}"))
                .ok()
        };
        let interrupt = install(SignalKind::interrupt(), "Ctrl-C");
        let terminate = install(SignalKind::terminate(), "SIGTERM");
        async move {
            let wait = |stream: Option<Signal>| async move {
                match stream {
                    Some(mut stream) => {
                        stream.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = wait(interrupt) => tracing::info!("Ctrl-C received, shutting down"),
                () = wait(terminate) => tracing::info!("SIGTERM received, shutting down"),
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            if let Err(error) = tokio::signal::ctrl_c().await {
                tracing::error!(%error, "cannot listen for Ctrl-C");
                std::future::pending::<()>().await;
            }
            tracing::info!("Ctrl-C received, shutting down");
        }
    }
}
