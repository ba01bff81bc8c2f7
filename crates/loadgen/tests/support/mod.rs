//! The real `merpati-server` binary as a child process: started on a loopback port with a
//! data directory, killed with SIGKILL, restarted on the same port and data, stopped with
//! SIGTERM, and its `/metrics` read over HTTP. Its output is discarded (errors aside), or,
//! for tests that inspect what the server writes, captured at the chattiest log level.
//!
//! The binary is the one cargo built next to this test (`target/<profile>/merpati-server`);
//! `cargo test --workspace` and `cargo test -p merpati-server -p merpati-loadgen` build it.

#![allow(dead_code, clippy::unwrap_used, unreachable_pub)]

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The server binary beside this test executable.
fn server_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/<test> → target/<profile>/merpati-server
    let binary = exe
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .join("merpati-server");
    assert!(
        binary.is_file(),
        "{} is missing: build it first (cargo build -p merpati-server)",
        binary.display()
    );
    binary
}

/// A running (or killed) server process.
pub struct ServerProcess {
    child: Option<Child>,
    pub addr: SocketAddr,
    data: PathBuf,
    web: tempfile::TempDir,
    args: Vec<String>,
    /// Where stdout and stderr go (appended across restarts), if captured.
    logs: Option<PathBuf>,
}

impl ServerProcess {
    /// Starts the server on a free loopback port with `data` and extra flags.
    pub async fn start(data: &Path, args: &[&str]) -> ServerProcess {
        ServerProcess::start_with_logs(data, args, None).await
    }

    /// Starts the server with `RUST_LOG=trace`, its stdout and stderr appended to
    /// `stdout.log` and `stderr.log` in `logs`.
    pub async fn start_logged(data: &Path, args: &[&str], logs: &Path) -> ServerProcess {
        std::fs::create_dir_all(logs).unwrap();
        ServerProcess::start_with_logs(data, args, Some(logs.to_owned())).await
    }

    async fn start_with_logs(data: &Path, args: &[&str], logs: Option<PathBuf>) -> ServerProcess {
        let addr = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let mut server = ServerProcess {
            child: None,
            addr,
            data: data.to_owned(),
            web: tempfile::tempdir().unwrap(),
            args: args.iter().map(|arg| (*arg).to_owned()).collect(),
            logs,
        };
        server.spawn().await;
        server
    }

    async fn spawn(&mut self) {
        let mut command = Command::new(server_binary());
        command
            .arg("--addr")
            .arg(self.addr.to_string())
            .arg("--data")
            .arg(&self.data)
            .arg("--web-root")
            .arg(self.web.path())
            .args(&self.args)
            .stdin(Stdio::null());
        match &self.logs {
            Some(logs) => {
                let append = |name: &str| -> File {
                    OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(logs.join(name))
                        .unwrap()
                };
                command
                    .env("RUST_LOG", "trace")
                    .stdout(append("stdout.log"))
                    .stderr(append("stderr.log"));
            }
            None => {
                command.env("RUST_LOG", "error").stdout(Stdio::null());
            }
        }
        let child = command.spawn().unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while tokio::net::TcpStream::connect(self.addr).await.is_err() {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("the server exited at start: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "the server did not start listening"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// SIGKILL: no shutdown, no flush, no goodbye; every connection drops at once.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    /// Starts it again on the same port and data directory, with other flags if given.
    pub async fn restart(&mut self, args: Option<&[&str]>) {
        self.kill();
        if let Some(args) = args {
            self.args = args.iter().map(|arg| (*arg).to_owned()).collect();
        }
        self.spawn().await;
    }

    /// SIGTERM, and waits for the graceful shutdown to finish.
    pub async fn terminate(&mut self) -> ExitStatus {
        // The port accepts connections as soon as it is bound, before the server listens for
        // SIGTERM (it does once it serves HTTP): a signal in between would kill it outright.
        let deadline = Instant::now() + Duration::from_secs(30);
        while metrics_at(self.addr).await.is_none() {
            assert!(Instant::now() < deadline, "the server does not serve HTTP");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let mut child = self.child.take().expect("the server is running");
        rustix::process::kill_process(
            rustix::process::Pid::from_child(&child),
            rustix::process::Signal::TERM,
        )
        .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "the server did not stop");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `/metrics` as name → value; `None` if the server does not answer (it is down).
    pub async fn metrics(&self) -> Option<HashMap<String, f64>> {
        metrics_at(self.addr).await
    }
}

/// `/metrics` of the server at `addr` as name → value; `None` if it does not answer.
pub async fn metrics_at(addr: SocketAddr) -> Option<HashMap<String, f64>> {
    let fetch = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
        let request = format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.ok()?;
        let text = String::from_utf8(response).ok()?;
        let (head, body) = text.split_once("\r\n\r\n")?;
        if !head.starts_with("HTTP/1.1 200") {
            return None;
        }
        Some(
            body.lines()
                .filter(|line| !line.starts_with('#'))
                .filter_map(|line| line.split_once(' '))
                .filter_map(|(name, value)| Some((name.to_owned(), value.trim().parse().ok()?)))
                .collect(),
        )
    };
    tokio::time::timeout(Duration::from_secs(10), fetch)
        .await
        .ok()
        .flatten()
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
