//! The real `merpati-server` binary as a child process: started on a free loopback port with a
//! data directory, a web root and extra flags or environment; killed with SIGKILL (no
//! shutdown, no flush); started again on the same port and data; stopped with SIGTERM. A
//! start returns once the server answers — `/healthz` says `ok`, or, for a test of that
//! moment, once the port takes connections — never after a fixed sleep.
//!
//! Its stdout is discarded and its stderr shown at `RUST_LOG=error`, unless a test captures
//! both at `trace` into files (to search what the server writes).
//!
//! # Finding the binary
//!
//! One way, as ripgrep's `tests/util.rs` finds `rg`: beside the running executable. Cargo
//! puts binaries in `target/<profile>/`, test executables in `target/<profile>/deps/` and
//! examples in `target/<profile>/examples/`; so a test, an example or a benchmark binary of
//! the same build finds `target/<profile>/merpati-server`. Cargo builds it for the server's
//! own tests; every other suite needs it built first, in the same profile:
//! `cargo build -p merpati-server` (as `scripts/test` does before the tests), or with
//! `--release` for release runs.

use std::ffi::{OsStr, OsString};
use std::fs::{File, OpenOptions};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use tempfile::TempDir;

use crate::poll::{poll_until, until_child_ready};
use crate::raw_client::Endpoint;
use crate::{Error, http};

/// How long a start may take until the server answers (a debug build migrating a database on
/// a loaded machine is slow, not broken).
pub const START_PATIENCE: Duration = Duration::from_secs(30);

/// How long a graceful stop may take.
pub const STOP_PATIENCE: Duration = Duration::from_secs(60);

/// How many free ports a start tries: a port found free can be taken by someone else before
/// the server binds it, and then the server exits at once; another port is tried.
const START_ATTEMPTS: usize = 3;

/// The server's file name.
const BINARY: &str = "merpati-server";

/// When a start counts as done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ready {
    /// `GET /healthz` answers `200`: the server serves.
    Healthy,
    /// The port takes TCP connections: the earliest moment anyone can reach it.
    PortAnswers,
    /// Its own `/metrics` answers `200` (served once the server is ready): for a port shared
    /// with other processes, where `/healthz` may be answered by another.
    MetricsAnswer,
}

/// How to start a server: every setting has a default, so `ServerOptions::new()` is a server
/// with a fresh data directory and an empty web root.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    data_dir: Option<PathBuf>,
    web_root: Option<PathBuf>,
    args: Vec<OsString>,
    env: Vec<(OsString, Option<OsString>)>,
    logs: Option<PathBuf>,
    ready: Ready,
    /// An address shared with other processes, instead of a free port of its own.
    shared_addr: Option<SocketAddr>,
}

impl Default for ServerOptions {
    fn default() -> ServerOptions {
        ServerOptions::new()
    }
}

impl ServerOptions {
    /// The defaults: a temporary data directory and an empty temporary web root (both removed
    /// with the process), no extra flags, logs at `error` to stderr, ready once healthy.
    pub fn new() -> ServerOptions {
        ServerOptions {
            data_dir: None,
            web_root: None,
            args: Vec::new(),
            env: Vec::new(),
            logs: None,
            ready: Ready::Healthy,
            shared_addr: None,
        }
    }

    /// Stores the data in `dir` (created if missing, kept by the caller): for a test that
    /// reads the database itself or restarts on it.
    #[must_use]
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> ServerOptions {
        self.data_dir = Some(dir.into());
        self
    }

    /// Serves the files in `dir` (the app's build, say).
    #[must_use]
    pub fn web_root(mut self, dir: impl Into<PathBuf>) -> ServerOptions {
        self.web_root = Some(dir.into());
        self
    }

    /// Adds command-line flags (after `--addr`, `--metrics-addr`, `--data` and `--web-root`).
    #[must_use]
    pub fn args<I, S>(mut self, args: I) -> ServerOptions
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|arg| arg.as_ref().to_owned()));
        self
    }

    /// Sets an environment variable (`RUST_LOG` included: it overrides the default level).
    #[must_use]
    pub fn env(mut self, name: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> ServerOptions {
        self.env
            .push((name.as_ref().to_owned(), Some(value.as_ref().to_owned())));
        self
    }

    /// Removes an environment variable this process has from the server's.
    #[must_use]
    pub fn env_remove(mut self, name: impl AsRef<OsStr>) -> ServerOptions {
        self.env.push((name.as_ref().to_owned(), None));
        self
    }

    /// Logs at `RUST_LOG=trace`, appending stdout and stderr to `stdout.log` and `stderr.log`
    /// in `dir` (created if missing), across restarts.
    #[must_use]
    pub fn capture_logs(mut self, dir: impl Into<PathBuf>) -> ServerOptions {
        self.logs = Some(dir.into());
        self
    }

    /// Listens on `addr` together with other server processes (a cluster's processes share
    /// a port: `SO_REUSEPORT`), so the kernel gives each some of the connections. Needs the
    /// server's `MERPATI_DATABASE_URL`. The start counts as done once this process's own
    /// metrics answer.
    #[must_use]
    pub fn shared_addr(mut self, addr: SocketAddr) -> ServerOptions {
        self.shared_addr = Some(addr);
        self.ready = Ready::MetricsAnswer;
        self
    }

    /// Counts the start as done as soon as the port takes connections, before the server
    /// necessarily serves: for a test of what happens at that very moment.
    #[must_use]
    pub fn ready_when_port_answers(mut self) -> ServerOptions {
        self.ready = Ready::PortAnswers;
        self
    }
}

/// A running (or killed) `merpati-server` process. Dropping it kills the process.
#[derive(Debug)]
pub struct ServerProcess {
    child: Option<Child>,
    addr: SocketAddr,
    /// Where it serves `/metrics` (apart from the app, as in production).
    metrics_addr: SocketAddr,
    data_dir: PathBuf,
    web_root: PathBuf,
    options: ServerOptions,
    /// The temporary directories it made for itself, removed after the process is gone.
    _temporary: Vec<TempDir>,
}

impl ServerProcess {
    /// The binary: `target/<profile>/merpati-server` beside the running executable (see the
    /// module documentation); an error saying how to build it if it is not there.
    pub fn binary() -> Result<PathBuf, Error> {
        let exe = std::env::current_exe()?;
        let binary = binary_beside(&exe)
            .ok_or_else(|| Error::Server(format!("cannot place {}", exe.display())))?;
        if binary.is_file() {
            Ok(binary)
        } else {
            Err(Error::Server(format!(
                "{} is missing: build it first (cargo build -p merpati-server, with --release \
                 for a release build)",
                binary.display()
            )))
        }
    }

    /// Starts the server on a free loopback port and waits until it answers.
    pub async fn start(options: ServerOptions) -> Result<ServerProcess, Error> {
        let mut attempt = 1;
        loop {
            match ServerProcess::start_once(options.clone()).await {
                Err(Error::ExitedAtStart(_)) if attempt < START_ATTEMPTS => attempt += 1,
                started => return started,
            }
        }
    }

    async fn start_once(options: ServerOptions) -> Result<ServerProcess, Error> {
        let mut temporary = Vec::new();
        let mut temporary_dir = |given: &Option<PathBuf>| -> Result<PathBuf, Error> {
            match given {
                Some(dir) => Ok(dir.clone()),
                None => {
                    let dir = tempfile::tempdir()?;
                    let path = dir.path().to_owned();
                    temporary.push(dir);
                    Ok(path)
                }
            }
        };
        let data_dir = temporary_dir(&options.data_dir)?;
        let web_root = temporary_dir(&options.web_root)?;
        if let Some(logs) = &options.logs {
            std::fs::create_dir_all(logs)?;
        }
        // A port the system just handed out and took back: free unless someone else grabs it
        // in between, which the start then reports.
        let addr = match options.shared_addr {
            Some(addr) => addr,
            None => crate::ports::free_loopback_addr()?,
        };
        let metrics_addr = crate::ports::free_loopback_addr()?;
        let mut server = ServerProcess {
            child: None,
            addr,
            metrics_addr,
            data_dir,
            web_root,
            options,
            _temporary: temporary,
        };
        server.spawn().await?;
        Ok(server)
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where it serves `/metrics`.
    pub fn metrics_addr(&self) -> SocketAddr {
        self.metrics_addr
    }

    /// Its protocol endpoint.
    pub fn endpoint(&self) -> Endpoint {
        Endpoint::websocket(self.addr)
    }

    /// `ws://127.0.0.1:port/ws`.
    pub fn ws_url(&self) -> String {
        self.endpoint().url()
    }

    /// `http://127.0.0.1:port/`: the web app.
    pub fn http_url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Its data directory (the SQLite database and its WAL).
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// How the process ended, if it has (a crash it was asked for, say); `None` while it
    /// runs.
    pub fn exit_status(&mut self) -> Option<ExitStatus> {
        self.child.as_mut()?.try_wait().ok().flatten()
    }

    /// SIGKILL: no shutdown, no flush, no goodbye; every connection drops at once. Returns
    /// once the process is gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Fails only if it already exited; either way `wait` reaps it.
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills it if it runs, and starts it again on the same port, data and flags.
    pub async fn restart(&mut self) -> Result<(), Error> {
        self.kill();
        self.spawn().await
    }

    /// Kills it if it runs, and starts it again on the same port and data with `args`
    /// instead of the flags it had.
    pub async fn restart_with_args<I, S>(&mut self, args: I) -> Result<(), Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.options.args = args
            .into_iter()
            .map(|arg| arg.as_ref().to_owned())
            .collect();
        self.restart().await
    }

    /// SIGTERM, and waits for the graceful shutdown to end; its exit status.
    #[cfg(unix)]
    pub async fn terminate(&mut self) -> Result<ExitStatus, Error> {
        let mut child = self
            .child
            .take()
            .ok_or_else(|| Error::Server("terminate: the server is not running".to_owned()))?;
        rustix::process::kill_process(
            rustix::process::Pid::from_child(&child),
            rustix::process::Signal::TERM,
        )
        .map_err(std::io::Error::from)?;
        let exited = poll_until("the server to stop after SIGTERM", STOP_PATIENCE, || {
            std::future::ready(child.try_wait().ok().flatten())
        })
        .await;
        if exited.is_err() {
            let _ = child.kill();
            let _ = child.wait();
        }
        exited
    }

    /// Its `/metrics` as name → value; an error if it does not answer (it is down).
    pub async fn metrics(&self) -> Result<std::collections::HashMap<String, f64>, Error> {
        http::metrics(self.metrics_addr).await
    }

    async fn spawn(&mut self) -> Result<(), Error> {
        let binary = ServerProcess::binary()?;
        let mut command = Command::new(&binary);
        command
            .arg("--addr")
            .arg(self.addr.to_string())
            .arg("--metrics-addr")
            .arg(self.metrics_addr.to_string())
            .arg("--data")
            .arg(&self.data_dir)
            .arg("--web-root")
            .arg(&self.web_root)
            .args(&self.options.args)
            .stdin(Stdio::null());
        match &self.options.logs {
            Some(logs) => {
                command
                    .env("RUST_LOG", "trace")
                    .stdout(append(&logs.join("stdout.log"))?)
                    .stderr(append(&logs.join("stderr.log"))?);
            }
            None => {
                command.env("RUST_LOG", "error").stdout(Stdio::null());
            }
        }
        for (name, value) in &self.options.env {
            match value {
                Some(value) => command.env(name, value),
                None => command.env_remove(name),
            };
        }
        let child = command.spawn().map_err(|error| {
            Error::Server(format!("cannot start {}: {error}", binary.display()))
        })?;
        self.child = Some(child);
        self.wait_ready().await
    }

    async fn wait_ready(&mut self) -> Result<(), Error> {
        let (addr, metrics_addr, ready) = (self.addr, self.metrics_addr, self.options.ready);
        let child = self
            .child
            .as_mut()
            .ok_or_else(|| Error::Server("not started".to_owned()))?;
        let what = format!("the server to answer on {addr}");
        until_child_ready(&what, START_PATIENCE, child, || {
            answers(addr, metrics_addr, ready)
        })
        .await
    }
}

/// Whether the server at `addr` is `ready`.
async fn answers(addr: SocketAddr, metrics_addr: SocketAddr, ready: Ready) -> bool {
    match ready {
        Ready::MetricsAnswer => http::get(metrics_addr, "/metrics", &[])
            .await
            .is_ok_and(|response| response.status == 200),
        Ready::Healthy => http::get(addr, "/healthz", &[])
            .await
            .is_ok_and(|response| response.status == 200),
        Ready::PortAnswers => tokio::net::TcpStream::connect(addr).await.is_ok(),
    }
}

/// `path`, opened for appending (created if missing).
fn append(path: &Path) -> Result<File, Error> {
    Ok(OpenOptions::new().create(true).append(true).open(path)?)
}

/// Where the server binary of the build that made `exe` lies: `exe`'s directory, or its
/// parent for the `deps` and `examples` directories cargo puts tests and examples in.
fn binary_beside(exe: &Path) -> Option<PathBuf> {
    let mut dir = exe.parent()?.to_owned();
    if dir.ends_with("deps") || dir.ends_with("examples") {
        dir.pop();
    }
    Some(dir.join(format!("{BINARY}{}", std::env::consts::EXE_SUFFIX)))
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expected(profile: &str) -> PathBuf {
        Path::new(profile).join(format!("{BINARY}{}", std::env::consts::EXE_SUFFIX))
    }

    #[test]
    fn tests_examples_and_binaries_of_one_build_find_the_same_server() {
        for exe in [
            "/repo/target/debug/deps/tests-0123abcd",
            "/repo/target/debug/examples/tti",
            "/repo/target/debug/merpati-bench",
        ] {
            assert_eq!(
                binary_beside(Path::new(exe)),
                Some(expected("/repo/target/debug")),
                "{exe}"
            );
        }
        assert_eq!(
            binary_beside(Path::new("/tmp/bench-target/release/examples/tti")),
            Some(expected("/tmp/bench-target/release"))
        );
    }
}
