//! The storage epoch of a PostgreSQL database: new after a failover under a running process
//! (its clients resync), and after a restore into another PostgreSQL cluster.

use merpati_protocol::ServerFrame;
use merpati_testkit::PostgresProcess;

use super::Shared;
use crate::support::TestServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_failed_over_under_a_running_process_gets_a_new_epoch_and_its_clients_resync() {
    let shared = Shared::start().await;
    let one = shared.process().await;
    let (mut alice, ..) = one.signed_up("alice").await;
    let before = alice.epoch();
    // The database now answers on another timeline than its epoch was chosen on, as after a
    // standby's promotion or a point-in-time recovery.
    let db = shared.db().await;
    let moved = db
        .execute(
            "UPDATE meta SET cluster_timeline = cluster_timeline + 1",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        moved, 1,
        "the identity was noted when the database was opened"
    );

    // The process notices at its next head check: alice is told to come back, and finds a
    // new epoch, so her app drops its positions and syncs afresh.
    let (frames, _) = alice.until_closed().await;
    assert!(
        frames.iter().any(|frame| matches!(
            frame,
            ServerFrame::Goodbye {
                code: merpati_protocol::ErrorCode::ServerBusy,
                ..
            }
        )),
        "{frames:?}"
    );
    let alice = one.logged_in("alice").await;
    assert_ne!(alice.epoch(), before);
    // Another process opening the database now finds the identity it was given: the same
    // epoch.
    let other = shared.process().await;
    assert_eq!(other.logged_in("alice").await.epoch(), alice.epoch());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_restored_into_another_postgresql_gets_a_new_epoch() {
    let shared = Shared::start().await;
    let first = shared.process().await;
    let (alice, ..) = first.signed_up("alice").await;
    let before = alice.epoch();
    drop(alice);
    first.stop().await;

    // pg_dump of the database, restored into another PostgreSQL cluster.
    let elsewhere = PostgresProcess::start().await.unwrap();
    let dump = std::process::Command::new(shared.postgres.program("pg_dump"))
        .args(["--dbname", &shared.database])
        .output()
        .unwrap();
    assert!(dump.status.success(), "{dump:?}");
    let restored = elsewhere.create_database("merpati").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("merpati.sql");
    std::fs::write(&file, &dump.stdout).unwrap();
    let restore = std::process::Command::new(elsewhere.program("psql"))
        .args([
            "--quiet",
            "--set",
            "ON_ERROR_STOP=1",
            "--dbname",
            &restored,
            "--file",
        ])
        .arg(&file)
        .output()
        .unwrap();
    assert!(restore.status.success(), "{restore:?}");

    let server = TestServer::start_configured(move |config| {
        config.database_url = Some(restored);
    })
    .await;
    let alice = server.logged_in("alice").await;
    assert_ne!(
        alice.epoch(),
        before,
        "her positions are of the database before"
    );
}
