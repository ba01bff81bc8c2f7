//! The kit's PostgreSQL: a cluster of the test's own takes connections, and a row committed
//! before a SIGKILL is there when it starts again (and one in a transaction never committed
//! is not); a fast stop and a start keep it too.

use merpati_testkit::PostgresProcess;
use tokio_postgres::{Client, NoTls};

async fn connect(postgres: &PostgresProcess) -> Client {
    let (client, connection) = tokio_postgres::connect(&postgres.url(), NoTls)
        .await
        .expect("connected");
    tokio::spawn(async move {
        // Ends with an error when the server is killed under it: expected here.
        let _ = connection.await;
    });
    client
}

async fn stored(client: &Client) -> Vec<String> {
    client
        .query("SELECT body FROM messages ORDER BY seq", &[])
        .await
        .expect("read")
        .iter()
        .map(|row| row.get(0))
        .collect()
}

#[tokio::test(flavor = "current_thread")]
async fn a_committed_row_outlives_a_kill_and_an_uncommitted_one_does_not() {
    let mut postgres = PostgresProcess::start().await.expect("PostgreSQL started");
    let client = connect(&postgres).await;
    client
        .batch_execute(
            "CREATE TABLE messages (seq BIGINT PRIMARY KEY, body TEXT NOT NULL);
             INSERT INTO messages VALUES (1, 'committed');",
        )
        .await
        .expect("committed");
    client
        .batch_execute("BEGIN; INSERT INTO messages VALUES (2, 'in flight');")
        .await
        .expect("written, not committed");

    postgres.kill().expect("killed");
    assert!(
        client.simple_query("SELECT 1").await.is_err(),
        "the old session is gone with the server"
    );
    postgres.restart().await.expect("recovered");
    let client = connect(&postgres).await;
    assert_eq!(stored(&client).await, vec!["committed".to_owned()]);

    client
        .execute("INSERT INTO messages VALUES (3, 'before a stop')", &[])
        .await
        .expect("written");
    postgres.stop().await.expect("stopped");
    postgres.restart().await.expect("started");
    let client = connect(&postgres).await;
    assert_eq!(
        stored(&client).await,
        vec!["committed".to_owned(), "before a stop".to_owned()]
    );
}
