//! A NATS server of the test's own, as a child process: `nats-server` (Debian's package;
//! `scripts/tools.sh --services` installs it) on a free loopback port — never the machine's
//! service. Killed with SIGKILL, paused with SIGSTOP and resumed with SIGCONT (a server that
//! stops answering without closing anything, the fault the cluster must ride out), started
//! again on the same port. A start returns once the port greets a client with NATS's `INFO`
//! line, never after a fixed sleep. Its monitoring port says which subjects its clients
//! subscribe to, for a test that must know a subscription is in place before it pauses NATS.
//!
//! Core NATS keeps nothing: what it carries in the cluster design is a wake-up, never the
//! only copy, so a kill loses only wake-ups.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tokio::io::AsyncReadExt;

use crate::Error;
use crate::poll::until_child_ready;

/// How long a start may take until the port greets a client.
pub const NATS_START_PATIENCE: Duration = Duration::from_secs(30);

/// A NATS server running for a test.
#[derive(Debug)]
pub struct NatsProcess {
    bin: PathBuf,
    port: u16,
    /// Its HTTP monitoring port (`/connz`).
    monitor_port: u16,
    child: Option<Child>,
}

impl NatsProcess {
    /// Starts a server on a free loopback port.
    pub async fn start() -> Result<NatsProcess, Error> {
        let bin = std::env::var_os("MERPATI_NATS_BIN")
            .map(PathBuf::from)
            .or_else(|| {
                ["/usr/sbin/nats-server", "/usr/bin/nats-server"]
                    .iter()
                    .map(PathBuf::from)
                    .find(|path| path.is_file())
            })
            .ok_or_else(|| {
                Error::Server(
                    "nats-server is not installed: run scripts/tools.sh --services \
                     (or set MERPATI_NATS_BIN)"
                        .into(),
                )
            })?;
        let port = crate::ports::free_loopback_port()?;
        let monitor_port = crate::ports::free_loopback_port()?;
        let mut process = NatsProcess {
            bin,
            port,
            monitor_port,
            child: None,
        };
        process.restart().await?;
        Ok(process)
    }

    /// Where clients connect: `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The loopback port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// How many subscriptions its clients hold to exactly `subject`, as its monitoring port
    /// lists them: once a client's `SUB` is counted, what is published there reaches it.
    pub async fn subscriptions_to(&self, subject: &str) -> Result<usize, Error> {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], self.monitor_port));
        let answer = crate::http::get(addr, "/connz?subs=1", &[]).await?;
        let listed = String::from_utf8_lossy(&answer.body);
        Ok(listed.matches(&format!("\"{subject}\"")).count())
    }

    /// The server's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Starts the server again on the same port (after [`NatsProcess::kill`]).
    pub async fn restart(&mut self) -> Result<(), Error> {
        if self.child.is_some() {
            return Err(Error::Server("nats-server is already running".into()));
        }
        let child = Command::new(&self.bin)
            .args(["--addr", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--http_port", &self.monitor_port.to_string()])
            // It logs every start and client at info level, the lowest it has: not into
            // the tests' output. A start that fails says so by its exit.
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let port = self.port;
        let child = self.child.insert(child);
        let started = until_child_ready(
            "nats-server to greet a client",
            NATS_START_PATIENCE,
            child,
            || greets(port),
        )
        .await;
        if started.is_err() {
            let _ = self.kill();
        }
        started
    }

    /// Kills the server with SIGKILL: every connection drops, every subscription is gone.
    pub fn kill(&mut self) -> Result<(), Error> {
        if let Some(mut child) = self.child.take() {
            child.kill()?;
            child.wait()?;
        }
        Ok(())
    }

    /// Stops the server with SIGSTOP: connections stay open, nothing is answered.
    pub fn pause(&self) -> Result<(), Error> {
        self.signal(rustix::process::Signal::STOP)
    }

    /// Lets a paused server go on (SIGCONT).
    pub fn resume(&self) -> Result<(), Error> {
        self.signal(rustix::process::Signal::CONT)
    }

    fn signal(&self, signal: rustix::process::Signal) -> Result<(), Error> {
        let child = self
            .child
            .as_ref()
            .ok_or_else(|| Error::Server("nats-server is not running".into()))?;
        rustix::process::kill_process(rustix::process::Pid::from_child(child), signal)
            .map_err(std::io::Error::from)?;
        Ok(())
    }
}

impl Drop for NatsProcess {
    fn drop(&mut self) {
        // A paused server does not die of SIGKILL any less; a test that ended early must not
        // leave one behind.
        let _ = self.kill();
    }
}

/// Whether the port answers a new connection with NATS's greeting (`INFO {...}`).
async fn greets(port: u16) -> bool {
    let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
        return false;
    };
    let mut greeting = [0u8; 4];
    stream.read_exact(&mut greeting).await.is_ok() && &greeting == b"INFO"
}
