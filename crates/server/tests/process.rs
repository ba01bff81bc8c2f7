//! The binary itself: on glibc it starts itself again, once, with the malloc tunable that keeps
//! the storage writer out of `madvise` (see `tune_malloc` in `src/main.rs`) — same process id,
//! still listening — and a tunable the operator set is left alone.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The server process; killed when dropped, also when a test fails.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the binary with `tunables` as `GLIBC_TUNABLES` (if any) and waits until it listens.
fn start(data: &std::path::Path, tunables: Option<&str>) -> (Running, u16) {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut command = Command::new(env!("CARGO_BIN_EXE_merpati-server"));
    command
        .args(["--addr", &format!("127.0.0.1:{port}")])
        .arg("--data")
        .arg(data)
        .env("RUST_LOG", "error")
        .env_remove("GLIBC_TUNABLES")
        .env_remove("MERPATI_MALLOC_TUNED")
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    if let Some(tunables) = tunables {
        command.env("GLIBC_TUNABLES", tunables);
    }
    let mut server = Running(command.spawn().unwrap());
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(server.0.try_wait().unwrap().is_none(), "the server exited");
        assert!(Instant::now() < deadline, "the server did not listen");
        std::thread::sleep(Duration::from_millis(20));
    }
    (server, port)
}

/// The environment of the process now running under the started process's id, as one
/// string. (glibc splits `GLIBC_TUNABLES` in place when it reads it, so its parts show as
/// entries of their own.)
fn environment_of(server: &Running) -> String {
    String::from_utf8_lossy(&std::fs::read(format!("/proc/{}/environ", server.0.id())).unwrap())
        .replace('\0', "\n")
}

#[test]
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn the_server_runs_with_the_malloc_trim_threshold_raised_under_the_same_process_id() {
    let data = tempfile::tempdir().unwrap();
    let (server, port) = start(data.path(), None);
    let environment = environment_of(&server);
    assert!(
        environment.contains("GLIBC_TUNABLES=glibc.malloc.trim_threshold=268435456\n"),
        "{environment}"
    );
    // The process that answers is the one that was started (exec keeps the id).
    assert!(
        environment.contains("MERPATI_MALLOC_TUNED=1\n"),
        "{environment}"
    );
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
}

#[test]
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn a_trim_threshold_the_operator_set_is_kept_and_other_tunables_are_added_to() {
    let data = tempfile::tempdir().unwrap();
    let (server, _) = start(data.path(), Some("glibc.malloc.trim_threshold=1048576"));
    let environment = environment_of(&server);
    assert!(
        environment.contains("GLIBC_TUNABLES=glibc.malloc.trim_threshold=1048576\n"),
        "{environment}"
    );
    assert!(
        !environment.contains("MERPATI_MALLOC_TUNED"),
        "{environment}"
    );
    drop(server);

    let (server, _) = start(data.path(), Some("glibc.malloc.arena_max=2"));
    let environment = environment_of(&server);
    assert!(
        environment.contains("GLIBC_TUNABLES=glibc.malloc.arena_max=2"),
        "{environment}"
    );
    assert!(
        environment.contains("glibc.malloc.trim_threshold=268435456\n"),
        "{environment}"
    );
}
