//! A server running in this process ([`TestServer`]): started on `127.0.0.1:0` with a fresh or
//! a kept data directory and its own shutdown trigger, the connections a test opens to it, its
//! `/metrics`, and stopping it; and a data directory kept across restarts ([`data_dir`]).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use merpati_protocol::Member;
use merpati_server::{Config, Durability};
use merpati_testkit::Endpoint;
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::Client;

/// A server running in this process.
pub(crate) struct TestServer {
    pub(crate) addr: SocketAddr,
    /// Where it serves `/metrics`.
    pub(crate) metrics_addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), merpati_server::Error>>,
    /// Its temporary directories, removed with it (`blobs` starts servers too).
    pub(super) _dirs: Vec<TempDir>,
}

impl TestServer {
    /// A server with a fresh data directory and an empty web root.
    pub(crate) async fn start() -> TestServer {
        let data = tempfile::tempdir().unwrap();
        let web = tempfile::tempdir().unwrap();
        let config = Config::new(data.path(), web.path());
        let mut server = TestServer::start_with(config).await;
        server._dirs = vec![data, web];
        server
    }

    /// A server with a fresh data directory and an empty web root, configured as the defaults
    /// changed by `change`.
    pub(crate) async fn start_configured(change: impl FnOnce(&mut Config)) -> TestServer {
        let data = tempfile::tempdir().unwrap();
        let web = tempfile::tempdir().unwrap();
        let mut config = Config::new(data.path(), web.path());
        change(&mut config);
        let mut server = TestServer::start_with(config).await;
        server._dirs = vec![data, web];
        server
    }

    /// A server storing its data in `data` (which the caller keeps).
    pub(crate) async fn start_in(data: &Path) -> TestServer {
        let web = tempfile::tempdir().unwrap();
        let mut server = TestServer::start_with(Config::new(data, web.path())).await;
        server._dirs = vec![web];
        server
    }

    pub(crate) async fn start_with(mut config: Config) -> TestServer {
        // Tests need durability semantics, not speed; FULL is the default and what we ship.
        config.durability = Durability::Full;
        let listener = merpati_server::listen(([127, 0, 0, 1], 0).into()).unwrap();
        let addr = listener.local_addr().unwrap();
        // A port just handed out and taken back, so that the test knows where to read.
        let metrics_addr = merpati_testkit::free_loopback_addr().unwrap();
        config.metrics_addr = metrics_addr;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(merpati_server::run(listener, config, async move {
            let _ = stopped.await;
        }));
        TestServer {
            addr,
            metrics_addr,
            stop: Some(stop),
            task,
            _dirs: Vec::new(),
        }
    }

    pub(crate) fn endpoint(&self) -> Endpoint {
        Endpoint::websocket(self.addr)
    }

    pub(crate) fn ws_url(&self) -> String {
        self.endpoint().url()
    }

    /// Connects and reads the challenge.
    pub(crate) async fn connect(&self) -> Client {
        Client::connect(&self.endpoint()).await
    }

    /// Connects from 127.0.0.`last` and reads the challenge.
    pub(crate) async fn connect_from(&self, last: u8) -> Client {
        Client::connect_from(&self.endpoint(), last).await
    }

    /// A new account signed in on a new connection.
    pub(crate) async fn signed_up(&self, name: &str) -> (Client, Member, [u8; 32]) {
        Client::signed_up(&self.endpoint(), name).await
    }

    /// Signs `name` in with its key on a new connection.
    pub(crate) async fn logged_in(&self, name: &str) -> Client {
        Client::logged_in(&self.endpoint(), name).await
    }

    /// `/metrics`, as name → value (samples without labels).
    pub(crate) async fn metrics(&self) -> HashMap<String, f64> {
        merpati_testkit::http::metrics(self.metrics_addr)
            .await
            .unwrap_or_else(|error| panic!("reading /metrics: {error}"))
    }

    /// Triggers shutdown and waits for `run` to return.
    pub(crate) async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let outcome = tokio::time::timeout(Duration::from_secs(20), &mut self.task)
            .await
            .expect("run returns after shutdown")
            .expect("run does not panic");
        outcome.expect("run ends without error");
    }

    /// Triggers shutdown without waiting.
    pub(crate) fn trigger_stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Waits for `run` to return after `trigger_stop`.
    pub(crate) async fn stopped(mut self) -> Result<(), merpati_server::Error> {
        tokio::time::timeout(Duration::from_secs(20), &mut self.task)
            .await
            .expect("run returns after shutdown")
            .expect("run does not panic")
    }
}

/// A data directory kept across server restarts.
pub(crate) fn data_dir() -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data");
    (dir, path)
}
