//! The binary itself: on glibc it starts itself again, once, with the malloc tunable that keeps
//! the storage writer out of `madvise` (see `tune_malloc` in `src/main.rs`) — same process id,
//! still listening — and a tunable the operator set is left alone.

use merpati_testkit::{ServerOptions, ServerProcess};

/// Starts the binary with `tunables` as `GLIBC_TUNABLES` (if any); returns once it serves.
async fn start(data: &std::path::Path, tunables: Option<&str>) -> ServerProcess {
    let mut options = ServerOptions::new()
        .data_dir(data)
        .env_remove("GLIBC_TUNABLES")
        .env_remove("MERPATI_MALLOC_TUNED");
    if let Some(tunables) = tunables {
        options = options.env("GLIBC_TUNABLES", tunables);
    }
    ServerProcess::start(options).await.unwrap()
}

/// The environment of the process now running under the started process's id, as one
/// string. (glibc splits `GLIBC_TUNABLES` in place when it reads it, so its parts show as
/// entries of their own.)
fn environment_of(server: &ServerProcess) -> String {
    let pid = server.pid().expect("the server runs");
    String::from_utf8_lossy(&std::fs::read(format!("/proc/{pid}/environ")).unwrap())
        .replace('\0', "\n")
}

#[tokio::test]
#[cfg(all(target_os = "linux", target_env = "gnu"))]
async fn the_server_runs_with_the_malloc_trim_threshold_raised_under_the_same_process_id() {
    let data = tempfile::tempdir().unwrap();
    let server = start(data.path(), None).await;
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
    assert!(std::net::TcpStream::connect(server.addr()).is_ok());
}

#[tokio::test]
#[cfg(all(target_os = "linux", target_env = "gnu"))]
async fn a_trim_threshold_the_operator_set_is_kept_and_other_tunables_are_added_to() {
    let data = tempfile::tempdir().unwrap();
    let server = start(data.path(), Some("glibc.malloc.trim_threshold=1048576")).await;
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

    let server = start(data.path(), Some("glibc.malloc.arena_max=2")).await;
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

/// `--new-epoch`, after the data directory was brought back from a backup: the binary
/// chooses a new epoch and exits without serving, and the server started after it answers
/// the new one, so every client drops positions of the database before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_epoch_gives_a_restored_database_an_epoch_of_its_own() {
    let (_dir, data) = crate::support::data_dir();
    let server = crate::support::TestServer::start_in(&data).await;
    let (alice, ..) = server.signed_up("alice").await;
    let before = alice.epoch();
    drop(alice);
    server.stop().await;

    let output = std::process::Command::new(ServerProcess::binary().unwrap())
        .arg("--new-epoch")
        .arg("--data")
        .arg(&data)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let printed = String::from_utf8(output.stdout).unwrap();
    let chosen: u64 = printed
        .trim()
        .strip_prefix("new storage epoch: ")
        .and_then(|epoch| epoch.parse().ok())
        .unwrap_or_else(|| panic!("{printed:?}"));

    let server = crate::support::TestServer::start_in(&data).await;
    let alice = server.logged_in("alice").await;
    assert_eq!(alice.epoch().0, chosen);
    assert_ne!(alice.epoch(), before);
    server.stop().await;
}
