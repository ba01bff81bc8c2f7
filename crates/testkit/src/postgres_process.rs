//! A PostgreSQL server of the test's own, as a child process: a fresh cluster (`initdb`) in a
//! temporary directory, listening on a free loopback port and on a socket in that directory —
//! never the machine's own PostgreSQL service, which is not running here. Killed with SIGKILL
//! (no shutdown: what a crash leaves), stopped with SIGINT (PostgreSQL's fast shutdown) and
//! started again on the same files and port. A start returns once `pg_isready` says the
//! server accepts connections, never after a fixed sleep; the files are removed on drop. The
//! server's log goes to a file beside them, quoted when a start fails.
//!
//! PostgreSQL refuses to run as root, and tests here run as root: then the cluster's files
//! belong to the `postgres` user and `initdb` and `postgres` run as that user (the process
//! itself, not a `su` around it, so a signal reaches the server). The binaries are found in
//! `$MERPATI_PG_BIN`, else in the newest `/usr/lib/postgresql/<version>/bin` (Debian's
//! layout; `scripts/tools.sh --services` installs PostgreSQL 15 where it is missing).
//!
//! Durability is PostgreSQL's default (`fsync` and `synchronous_commit` on): a committed
//! row must survive a SIGKILL, which is what the fault tests of a cluster rely on.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tempfile::TempDir;

use crate::Error;
use crate::poll::{poll_until, until_child_ready};

/// How long a start (or a recovery after a SIGKILL) may take until connections are accepted.
pub const PG_START_PATIENCE: Duration = Duration::from_secs(60);

/// How long a fast shutdown may take.
const PG_STOP_PATIENCE: Duration = Duration::from_secs(60);

/// The role the tests connect as: the cluster's superuser, trusted on loopback.
pub const PG_USER: &str = "merpati";

/// Who runs the cluster: this process's user, or `postgres` when that is root.
#[derive(Debug, Clone, Copy)]
struct RunAs {
    uid: u32,
    gid: u32,
}

/// A PostgreSQL cluster running for a test.
#[derive(Debug)]
pub struct PostgresProcess {
    bin: PathBuf,
    run_as: Option<RunAs>,
    port: u16,
    child: Option<Child>,
    // Last: the files go once the server is gone.
    dir: TempDir,
}

impl PostgresProcess {
    /// Creates a cluster and starts it.
    pub async fn start() -> Result<PostgresProcess, Error> {
        let bin = binaries()?;
        let run_as = if rustix::process::geteuid().is_root() {
            Some(postgres_user()?)
        } else {
            None
        };
        let dir = tempfile::Builder::new().prefix("merpati-pg-").tempdir()?;
        if let Some(user) = run_as {
            std::os::unix::fs::chown(dir.path(), Some(user.uid), Some(user.gid))?;
        }
        let status = command(&bin, "initdb", run_as)
            .args(["--auth=trust", "--encoding=UTF8", "--no-instructions"])
            .arg(format!("--username={PG_USER}"))
            .arg("--pgdata")
            .arg(data_dir(dir.path()))
            .stdout(Stdio::null())
            .status()?;
        if !status.success() {
            return Err(Error::Server(format!("initdb failed: {status}")));
        }
        let port = crate::ports::free_loopback_port()?;
        let mut process = PostgresProcess {
            bin,
            run_as,
            port,
            child: None,
            dir,
        };
        process.restart().await?;
        Ok(process)
    }

    /// The connection string (libpq's `key=value` form, as `tokio_postgres::connect` takes)
    /// of its `postgres` database.
    pub fn url(&self) -> String {
        self.database_url("postgres")
    }

    /// The connection string of its database `name`.
    pub fn database_url(&self, name: &str) -> String {
        format!(
            "host=127.0.0.1 port={} user={PG_USER} dbname={name}",
            self.port
        )
    }

    /// Creates the database `name` (with `createdb`); its connection string.
    pub fn create_database(&self, name: &str) -> Result<String, Error> {
        let status = Command::new(self.program("createdb"))
            .args(["--host", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--username", PG_USER, name])
            .status()?;
        if !status.success() {
            return Err(Error::Io(std::io::Error::other(format!(
                "createdb {name}: {status}"
            ))));
        }
        Ok(self.database_url(name))
    }

    /// The loopback port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// One of PostgreSQL's client programs (`pg_dump`, `psql`), of the same version.
    pub fn program(&self, name: &str) -> PathBuf {
        self.bin.join(name)
    }

    /// Starts the server again on the same files and port (after [`PostgresProcess::kill`]
    /// or [`PostgresProcess::stop`]; it recovers from its log after a kill).
    pub async fn restart(&mut self) -> Result<(), Error> {
        if self.child.is_some() {
            return Err(Error::Server("PostgreSQL is already running".into()));
        }
        let socket_dir = self.dir.path().display().to_string();
        let child = command(&self.bin, "postgres", self.run_as)
            .arg("-D")
            .arg(data_dir(self.dir.path()))
            .args(["-c", "listen_addresses=127.0.0.1"])
            .args(["-c", &format!("port={}", self.port)])
            .args(["-c", &format!("unix_socket_directories={socket_dir}")])
            // A group of its own, so a kill takes the server's every process at once.
            .process_group(0)
            .stdout(Stdio::null())
            // Its log goes to a file beside the cluster, not into the tests' output; a start
            // that fails quotes it.
            .stderr(
                std::fs::File::options()
                    .create(true)
                    .append(true)
                    .open(self.log())?,
            )
            .spawn()?;
        let (bin, port) = (self.bin.clone(), self.port);
        let child = self.child.insert(child);
        let started = until_child_ready(
            "PostgreSQL to accept connections",
            PG_START_PATIENCE,
            child,
            || {
                let ready = Command::new(bin.join("pg_isready"))
                    .args([
                        "-q",
                        "-h",
                        "127.0.0.1",
                        "-U",
                        PG_USER,
                        "-p",
                        &port.to_string(),
                    ])
                    .status()
                    .is_ok_and(|status| status.success());
                std::future::ready(ready)
            },
        )
        .await;
        if let Err(error) = started {
            // Timed out or exited: nothing of this start may stay behind.
            let _ = self.kill();
            let log = std::fs::read_to_string(self.log()).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(10).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            return Err(Error::Server(format!(
                "PostgreSQL did not start: {error}; its log ends:\n{}",
                tail.join("\n")
            )));
        }
        Ok(())
    }

    /// Kills the server with SIGKILL: no shutdown, no checkpoint; only what was committed
    /// (and so flushed) is there when it starts again.
    pub fn kill(&mut self) -> Result<(), Error> {
        if let Some(mut child) = self.child.take() {
            // Every process of the server: a backend outliving its postmaster would hold the
            // shared memory the next start needs. Its group, and its children, each of which
            // is a session of its own (one paused stays stopped until it is killed).
            let group = rustix::process::Pid::from_child(&child);
            for backend in children_of(group.as_raw_nonzero().get())? {
                if let Some(pid) = rustix::process::Pid::from_raw(backend) {
                    let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
                }
            }
            match rustix::process::kill_process_group(group, rustix::process::Signal::KILL) {
                // No such group: it had already exited.
                Ok(()) | Err(rustix::io::Errno::SRCH) => {}
                Err(error) => return Err(std::io::Error::from(error).into()),
            }
            child.wait()?;
        }
        Ok(())
    }

    /// Stops the server and every backend with SIGSTOP: connections stay open, nothing is
    /// answered — a database host that hangs, or a network that drops its packets.
    pub fn pause(&self) -> Result<(), Error> {
        self.signal_all(rustix::process::Signal::STOP)
    }

    /// Lets a paused server go on (SIGCONT).
    pub fn resume(&self) -> Result<(), Error> {
        self.signal_all(rustix::process::Signal::CONT)
    }

    /// Sends `signal` to the postmaster, then to each of its children. They are not in its
    /// process group: every backend PostgreSQL starts makes a session of its own.
    fn signal_all(&self, signal: rustix::process::Signal) -> Result<(), Error> {
        let child = self
            .child
            .as_ref()
            .ok_or_else(|| Error::Server("PostgreSQL is not running".into()))?;
        let postmaster = rustix::process::Pid::from_child(child);
        rustix::process::kill_process(postmaster, signal).map_err(std::io::Error::from)?;
        for backend in children_of(postmaster.as_raw_nonzero().get())? {
            let Some(pid) = rustix::process::Pid::from_raw(backend) else {
                continue;
            };
            match rustix::process::kill_process(pid, signal) {
                // Exited since the list was read.
                Ok(()) | Err(rustix::io::Errno::SRCH) => {}
                Err(error) => return Err(std::io::Error::from(error).into()),
            }
        }
        Ok(())
    }

    /// Stops the server with a fast shutdown (SIGINT): sessions end, a checkpoint is written.
    pub async fn stop(&mut self) -> Result<(), Error> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        rustix::process::kill_process(
            rustix::process::Pid::from_child(&child),
            rustix::process::Signal::INT,
        )
        .map_err(std::io::Error::from)?;
        poll_until("PostgreSQL to shut down", PG_STOP_PATIENCE, || {
            let exited = child.try_wait().ok().flatten().is_some();
            async move { exited.then_some(()) }
        })
        .await
    }
}

impl Drop for PostgresProcess {
    fn drop(&mut self) {
        // A test that ended early must not leave a server behind; the files go after.
        let _ = self.kill();
    }
}

impl PostgresProcess {
    /// The server's log, beside the cluster's files.
    fn log(&self) -> PathBuf {
        self.dir.path().join("postgres.log")
    }
}

/// Where the cluster's files are, inside the directory of the test's own.
fn data_dir(dir: &Path) -> PathBuf {
    dir.join("data")
}

/// `program` from PostgreSQL's binaries, run as `run_as` when given.
fn command(bin: &Path, program: &str, run_as: Option<RunAs>) -> Command {
    let mut command = Command::new(bin.join(program));
    if let Some(user) = run_as {
        command.uid(user.uid).gid(user.gid).env("HOME", "/");
    }
    command
}

/// The directory of PostgreSQL's programs.
fn binaries() -> Result<PathBuf, Error> {
    if let Some(bin) = std::env::var_os("MERPATI_PG_BIN") {
        return Ok(PathBuf::from(bin));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .map_err(|_| missing())?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("postgres").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin).ok_or_else(missing)
}

fn missing() -> Error {
    Error::Server(
        "PostgreSQL is not installed: run scripts/tools.sh --services (or set MERPATI_PG_BIN)"
            .into(),
    )
}

/// The `postgres` user's ids, from `/etc/passwd`.
fn postgres_user() -> Result<RunAs, Error> {
    let passwd = std::fs::read_to_string("/etc/passwd")?;
    passwd
        .lines()
        .map(|line| line.split(':').collect::<Vec<_>>())
        .find(|fields| fields.first() == Some(&"postgres"))
        .and_then(|fields| {
            Some(RunAs {
                uid: fields.get(2)?.parse().ok()?,
                gid: fields.get(3)?.parse().ok()?,
            })
        })
        .ok_or_else(|| {
            Error::Server("PostgreSQL cannot run as root, and there is no postgres user".into())
        })
}

/// The processes whose parent is `parent`, from `/proc`.
fn children_of(parent: i32) -> Result<Vec<i32>, Error> {
    let mut children = Vec::new();
    for entry in std::fs::read_dir("/proc")? {
        let entry = entry?;
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|name| name.parse::<i32>().ok())
        else {
            continue;
        };
        // `pid (command) state ppid ...`; the command may hold spaces and parentheses.
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|ppid| ppid.parse::<i32>().ok());
        if ppid == Some(parent) {
            children.push(pid);
        }
    }
    Ok(children)
}
