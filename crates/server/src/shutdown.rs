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
pub async fn os_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut stream) => {
                stream.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("Ctrl-C received, shutting down"),
        () = terminate => tracing::info!("SIGTERM received, shutting down"),
    }
}
