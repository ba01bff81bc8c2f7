//! Merpati's server: accounts, chats and messages over one WebSocket per client.
//!
//! A client connects to `/ws`, answers a signed challenge, and from then on sends requests and
//! receives chats and messages as they happen (the frames are in `merpati-protocol`, the
//! conversation in `docs/protocol.md`). Every message is committed to SQLite before it is
//! acknowledged, then handed to every online session of every member of its chat. The same
//! HTTP server serves the web app's files.
//!
//! [`run`] is the whole server; the binary only parses a [`Config`], sets up logging, [`listen`]s
//! and calls it, so tests start real servers on `127.0.0.1:0` with their own shutdown signal.
//!
//! # Layout
//! - [`config`]: the flags and environment variables the server is configured with.
//! - `accept`: accepting connections and serving HTTP/1.1 on each, with a header-read timeout,
//!   a least rate for its writes and a cap per source address.
//! - `least_rate`: the least rate a transfer must keep, either way: a file part's sender and
//!   the reader of what a connection writes.
//! - `http`: the routes: `/healthz`, the `/ws` handshake with its Origin check and
//!   admission, static files; `/metrics` on the metrics address (loopback by default).
//! - `blobs`: files' ciphertext over HTTP (`/blobs/{id}`): uploads that resume, downloads,
//!   each account's quota, and deleting what no message carries.
//! - `security_headers`: the Content-Security-Policy and the other headers on every response.
//! - `admission`: the connection cap, the handshake rate and each session's send rate.
//! - `metrics`: the counters, served in the Prometheus text format.
//! - `gateway`: one WebSocket session, from the challenge to the last frame: its event loop
//!   (`gateway::session`), and each kind of frame served in its domain's file (`sign_in`,
//!   `chats`, `messages`, `sync`, `receipts`, `presence`, `blocking`, and `keys` for
//!   end-to-end encryption).
//! - `auth`: challenge nonces, Ed25519 signature checks and session tokens.
//! - `client_kind`: the browser family and system a session signs in from, read from its
//!   `User-Agent` (only those two words are kept).
//! - `fanout`: who is online (on which device, with what privacy, watching whom), handing one
//!   encoded frame to many sessions, and pushing presence.
//! - `privacy`: what one account lets another see of it: receipts, presence, typing.
//! - `storage`: SQLite: schema migrations, the group-committing writer, read connections, and
//!   the SQL in one file per domain (`storage::sql`).
//! - `throttle`: rates per key (source address, account), in bounded tables.
//! - `shutdown`: the signal that reaches every session, and waiting for them to end.
//! - [`error`]: the error type of the crate.

mod accept;
mod admission;
mod auth;
mod blobs;
mod client_kind;
mod cluster;
pub mod config;
pub mod error;
mod fanout;
mod gateway;
mod http;
mod least_rate;
mod metrics;
mod privacy;
mod security_headers;
mod shutdown;
mod storage;
mod throttle;
mod websocket;

use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpSocket};

pub use config::{Config, Durability};
pub use error::Error;
pub use shutdown::os_signal;

use admission::AdmissionControl;
use blobs::BlobStore;
use cluster::Cluster;
use fanout::FanOut;
use gateway::{Gateway, Quotas, RequestLimits};
use metrics::{Counters, Metrics};
use shutdown::Shutdown;
use storage::{Storage, WriterThread};

/// How long shutdown waits for sessions to say goodbye and close.
const SESSIONS_CLOSE_WITHIN: Duration = Duration::from_secs(10);
/// How long shutdown waits for the writer to commit what is queued.
const WRITER_STOPS_WITHIN: Duration = Duration::from_secs(30);

/// How many connections may wait to be accepted. tokio's `TcpListener::bind` uses 128, which
/// a reconnect surge overflows at once; the kernel caps this at `net.core.somaxconn`.
const ACCEPT_BACKLOG: u32 = 4096;

/// Listens on `addr` with a backlog sized for connection surges.
pub fn listen(addr: SocketAddr) -> Result<TcpListener, Error> {
    bind(addr, false)
}

/// Like [`listen`], with `SO_REUSEPORT`: several server processes sharing one database (a
/// cluster, `MERPATI_DATABASE_URL`) listen on the same port, and the kernel spreads new
/// connections across them. Never for SQLite: two processes on one data directory would
/// both write its database.
pub fn listen_shared(addr: SocketAddr) -> Result<TcpListener, Error> {
    bind(addr, true)
}

fn bind(addr: SocketAddr, share_port: bool) -> Result<TcpListener, Error> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    // Restarting must not wait for the old process's connections to leave TIME_WAIT.
    socket.set_reuseaddr(true)?;
    if share_port {
        socket.set_reuseport(true)?;
    }
    socket.bind(addr)?;
    Ok(socket.listen(ACCEPT_BACKLOG)?)
}

/// Refuses a data directory at or under the web root: everything there is served to anyone
/// who asks, and the database must never be.
fn refuse_data_inside_web_root(data: &Path, web_root: &Path) -> Result<(), Error> {
    let (data, web_root) = (resolved(data)?, resolved(web_root)?);
    if data.starts_with(&web_root) {
        return Err(Error::Config(format!(
            "the data directory {} lies inside the web root {}, which would serve the \
             database to anyone: choose a data directory outside it",
            data.display(),
            web_root.display()
        )));
    }
    Ok(())
}

/// `path` made absolute with links and `..` resolved as far as it exists, so that two
/// spellings of one place compare equal.
fn resolved(path: &Path) -> Result<PathBuf, Error> {
    let mut resolved = PathBuf::new();
    for part in std::path::absolute(path)?.components() {
        match part {
            Component::ParentDir => {
                resolved.pop();
            }
            Component::CurDir => {}
            part => {
                resolved.push(part);
                if let Ok(real) = resolved.canonicalize() {
                    resolved = real;
                }
            }
        }
    }
    Ok(resolved)
}

/// Chooses a new storage epoch for the database `config` names (`--new-epoch`), and
/// returns it.
pub async fn new_epoch(config: &Config) -> Result<u64, Error> {
    let (storage, writer) = open_storage(config).await?;
    let epoch = storage.new_epoch().await?;
    drop(storage);
    if let Some(writer) = writer {
        tokio::task::spawn_blocking(move || writer.join()).await?;
    }
    Ok(epoch.0)
}

/// Opens the database `config` names: PostgreSQL, or SQLite in the data directory (with its
/// writer thread).
async fn open_storage(config: &Config) -> Result<(Storage, Option<WriterThread>), Error> {
    Ok(match &config.database_url {
        Some(url) => {
            let timeout = Duration::from_millis(config.database_timeout_ms);
            (Storage::open_postgres(url, timeout).await?, None)
        }
        None => {
            let data = config.data.clone();
            let durability = config.durability;
            let (storage, writer) =
                tokio::task::spawn_blocking(move || Storage::open(&data, durability)).await??;
            (storage, Some(writer))
        }
    })
}

/// Serves Merpati on `listener` until `shutdown` completes.
///
/// Opens (or creates) the database in `config.data` and checks the blob files against it,
/// then serves HTTP and WebSocket connections, admitting WebSockets within the configured caps. When `shutdown` completes it
/// stops accepting, tells every session to say `Goodbye` (with a jittered hint of when to come
/// back) and close, waits for them, lets the storage writer commit what is queued, and
/// returns. It fails if the database cannot be opened or the listener fails.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    refuse_data_inside_web_root(&config.data, &config.web_root)?;
    if config.nats_url.is_some() && config.database_url.is_none() {
        // Processes on SQLite files of their own share nothing to be told about.
        return Err(Error::Config(
            "MERPATI_NATS_URL needs MERPATI_DATABASE_URL: processes tell each other of a \
             database they share"
                .into(),
        ));
    }
    let metrics_listener = listen(config.metrics_addr).map_err(|error| {
        Error::Config(format!(
            "cannot serve the metrics on {}: {error} (set MERPATI_METRICS_ADDR)",
            config.metrics_addr
        ))
    })?;
    let (storage, writer) = open_storage(&config).await?;

    if !config.web_root.join("index.html").is_file() {
        tracing::warn!(
            web_root = %config.web_root.display(),
            "the web root has no index.html: the app will not be served"
        );
    }

    let counters = Arc::new(Counters::default());
    let metrics = Arc::new(Metrics::new(Arc::clone(&counters), storage.stats()));
    let open_connections = accept::OpenConnections::new(Arc::clone(&counters));
    let stop = Shutdown::new();
    let blobs = Arc::new(BlobStore::open(
        storage.clone(),
        &config,
        Arc::clone(&counters),
        stop.clone(),
    )?);
    // Before anything is served: no upload may move while its file is checked.
    blobs.check_at_start().await?;
    let blob_cleanup = tokio::spawn(blobs::run_passes(
        Arc::clone(&blobs),
        Duration::from_millis(config.blob_cleanup_interval_ms),
    ));
    let admission = AdmissionControl::new(&config, Arc::clone(&counters));
    let fanout = match config.nats_url {
        Some(_) => FanOut::on_a_cluster(),
        None => FanOut::new(),
    };
    let gateway = Gateway::new(
        storage,
        fanout,
        stop.clone(),
        admission,
        Quotas::new(&config),
        RequestLimits::new(&config),
    );
    let (gateway, cluster) = match &config.nats_url {
        Some(url) => {
            let settings = cluster::Settings {
                head_check: Duration::from_millis(config.head_check_ms),
                subscription_capacity: usize::try_from(config.nats_subscription_capacity)
                    .unwrap_or(usize::MAX),
                wake_up_body: config.wake_up_body,
            };
            let counters = Arc::clone(&counters);
            let (cluster, parts) = Cluster::connect(url, settings, counters).await?;
            let gateway = Arc::new(gateway.with_cluster(cluster));
            let task = tokio::spawn(cluster::run(parts, Arc::clone(&gateway)));
            (gateway, Some(task))
        }
        None => (Arc::new(gateway), None),
    };
    let app = http::router(gateway, blobs, &config.web_root, &config.allowed_origins);
    tracing::info!(
        addr = %listener.local_addr()?,
        metrics_addr = %metrics_listener.local_addr()?,
        web_root = %config.web_root.display(),
        "listening"
    );
    let metrics_served = {
        let stop = stop.clone();
        let serve = axum::serve(metrics_listener, http::metrics_router(metrics))
            .with_graceful_shutdown(async move { stop.triggered().await });
        tokio::spawn(serve.into_future())
    };

    let signal = {
        let stop = stop.clone();
        tokio::spawn(async move {
            shutdown.await;
            tracing::info!("shutting down");
            stop.trigger();
        })
    };
    let limits = accept::ConnectionLimits {
        header_read_timeout: Duration::from_millis(config.header_read_timeout_ms),
        writes: least_rate::LeastRate {
            grace: Duration::from_millis(config.write_stall_timeout_ms),
            bytes_per_sec: config.least_transfer_bytes_per_sec,
        },
        per_address: config.max_connections_per_address,
    };
    accept::serve(
        listener,
        app,
        limits,
        open_connections,
        stop.clone(),
        SESSIONS_CLOSE_WITHIN,
    )
    .await;
    signal.abort();

    // Whatever ended serving, the sessions must end too: they hold the storage handles.
    stop.trigger();
    if !stop.sessions_ended(SESSIONS_CLOSE_WITHIN).await {
        tracing::warn!("some sessions did not close in time");
    }
    // It holds storage too: the writer stops only once it is gone.
    if let Some(cluster) = cluster
        && let Err(error) = cluster.await
    {
        tracing::warn!(%error, "the cluster's task failed");
    }
    if let Err(error) = blob_cleanup.await {
        tracing::warn!(%error, "the blob cleanup task failed");
    }
    if let Some(writer) = writer {
        let writer = tokio::task::spawn_blocking(move || writer.join());
        if tokio::time::timeout(WRITER_STOPS_WITHIN, writer)
            .await
            .is_err()
        {
            tracing::warn!("the storage writer did not stop in time");
        }
    }
    match metrics_served.await {
        Ok(Err(error)) => tracing::warn!(%error, "serving the metrics failed"),
        Err(error) => tracing::warn!(%error, "the metrics server's task failed"),
        Ok(Ok(())) => {}
    }
    tracing::info!("stopped");
    Ok(())
}
