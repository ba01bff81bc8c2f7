//! Two server processes on one PostgreSQL database, telling each other through NATS: a
//! message sent to one reaches a member connected to the other, in order and once — also
//! while NATS is stopped, paused or restarted, when the head check (every 100 ms here) reads
//! what the wake-ups did not bring.
//!
//! Each test starts its own PostgreSQL cluster and NATS server (`merpati_testkit`). "Once" is
//! shown by a sentinel after the last message: nothing came between.

use std::net::SocketAddr;

use merpati_protocol::{ChatId, Seq, ServerFrame};
use merpati_testkit::{NatsProcess, PostgresProcess, ServerOptions, ServerProcess};

use merpati_server::Config;

use crate::support::{Client, TestServer, msg_id};

// Messages across the processes, in order and once: with and without the message in the
// wake-up, with NATS stopped, paused or restarted; read receipts and typing.
mod delivery;
// A process killed under its clients, or crashing between a commit and its wake-up.
mod crashes;
// Chats and groups made or changed on one process, and their pushes lost.
mod chats;
// Device changes and to-device messages, and a key share whose push is lost.
mod devices;
// Sessions ended on one process, and blocks, reaching the account's sessions on another
// (also when word of them is lost).
mod sessions;
// Presence across the processes (also when word of a privacy change is lost), and of an
// account whose process dies.
mod presence;
// A new storage epoch after a failover or a restore into another PostgreSQL.
mod epochs;
// Uploads on two processes sharing one blob directory.
mod blobs;
// A database that stops answering: given up on after the timeout, taken up again after.
mod database;

/// A database on the test's own PostgreSQL, and the NATS server its processes share.
struct Shared {
    postgres: PostgresProcess,
    nats: NatsProcess,
    database: String,
}

impl Shared {
    async fn start() -> Shared {
        let postgres = PostgresProcess::start().await.unwrap();
        let nats = NatsProcess::start().await.unwrap();
        let database = postgres.create_database("merpati").unwrap();
        Shared {
            postgres,
            nats,
            database,
        }
    }

    /// A connection to the shared database, for what a test does behind the processes' back.
    async fn db(&self) -> tokio_postgres::Client {
        let (db, connection) = tokio_postgres::connect(&self.database, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        db
    }

    /// A server process on the shared database and NATS.
    async fn process(&self) -> TestServer {
        self.process_checking_every(100).await
    }

    /// A server process on the shared database and NATS, checking heads every `ms`.
    async fn process_checking_every(&self, ms: u64) -> TestServer {
        self.process_with(|config| config.head_check_ms = ms).await
    }

    /// A server process on the shared database and NATS, configured by `change` too.
    async fn process_with(&self, change: impl FnOnce(&mut Config)) -> TestServer {
        let database = self.database.clone();
        let nats = self.nats.url();
        TestServer::start_configured(move |config| {
            config.database_url = Some(database);
            config.nats_url = Some(nats);
            config.head_check_ms = 100;
            change(config);
        })
        .await
    }
}

impl Shared {
    /// The server binary on the shared database and NATS, listening on `addr` with the
    /// other processes given it.
    async fn binary(&self, addr: SocketAddr) -> ServerProcess {
        self.binary_with(addr, ServerOptions::new()).await
    }

    /// The server binary on the shared database and NATS, on a port of its own (so that a
    /// test knows which process each client is on).
    async fn binary_alone(&self, options: ServerOptions) -> ServerProcess {
        let addr = merpati_testkit::free_loopback_addr().unwrap();
        self.binary_with(addr, options).await
    }

    /// Two binaries on ports of their own: one that loses its pushes to accounts
    /// (`MERPATI_FAULT_LOSE_PUSHES=lost`: `device` or `all`), and one that does not.
    async fn losing_and_plain(&self, lost: &str) -> (ServerProcess, ServerProcess) {
        let losing = ServerOptions::new().env("MERPATI_FAULT_LOSE_PUSHES", lost);
        let one = self.binary_alone(losing).await;
        let other = self.binary_alone(ServerOptions::new()).await;
        (one, other)
    }

    /// The server binary on a port of its own, checking heads `head_check_ms` apart, that
    /// holds back the first `what` (`follow`: a session's `Follow` in the cluster's task;
    /// `resume`: a `Resume` that read its session, before it goes online) until the test
    /// lets it go ([`Hold`]).
    async fn holding_first(&self, what: &str, head_check_ms: u64) -> (ServerProcess, Hold) {
        let dir = tempfile::tempdir().unwrap();
        let options = ServerOptions::new()
            .env("MERPATI_FAULT_HOLD_FIRST", what)
            .env("MERPATI_FAULT_HOLD_DIR", dir.path());
        let addr = merpati_testkit::free_loopback_addr().unwrap();
        let process = self.binary_checking(addr, options, head_check_ms).await;
        (process, Hold { dir })
    }

    async fn binary_with(&self, addr: SocketAddr, options: ServerOptions) -> ServerProcess {
        self.binary_checking(addr, options, 100).await
    }

    async fn binary_checking(
        &self,
        addr: SocketAddr,
        options: ServerOptions,
        head_check_ms: u64,
    ) -> ServerProcess {
        let options = options
            .shared_addr(addr)
            .env("MERPATI_DATABASE_URL", &self.database)
            .env("MERPATI_NATS_URL", self.nats.url())
            .env("MERPATI_HEAD_CHECK_MS", head_check_ms.to_string());
        ServerProcess::start(options).await.unwrap()
    }
}

/// A binary's fault hold (`MERPATI_FAULT_HOLD_FIRST`): the file it writes once it holds what
/// it was asked to, and the one that lets it go.
struct Hold {
    dir: tempfile::TempDir,
}

impl Hold {
    /// Waits until the process holds it.
    async fn held(&self) {
        let held = self.dir.path().join("held");
        merpati_testkit::poll::poll_until("the hold", HOLD_PATIENCE, || {
            let held = held.exists();
            async move { held.then_some(()) }
        })
        .await
        .unwrap();
    }

    /// Lets it go.
    fn release(&self) {
        std::fs::write(self.dir.path().join("release"), b"").unwrap();
    }
}

/// How long a test waits for a process to hold what it was asked to hold.
const HOLD_PATIENCE: std::time::Duration = std::time::Duration::from_secs(30);

/// alice says `from..=to`; bob receives exactly those, in order.
async fn said_and_received(alice: &mut Client, bob: &mut Client, chat: ChatId, from: u64, to: u64) {
    for n in from..=to {
        let seq = alice.say(chat, msg_id(n), format!("m{n}").as_bytes()).await;
        assert_eq!(seq, Seq(n), "sequence numbers are dense");
    }
    for n in from..=to {
        let message = bob.expect_message().await;
        assert_eq!(message.chat_id, chat);
        assert_eq!(message.seq, Seq(n), "bob receives the chat in order");
        assert_eq!(message.body, format!("m{n}").into_bytes());
    }
}

/// Sends message `n` and reads until its acknowledgement, passing over the messages pushed
/// meanwhile (the sender's own copies, and what others send): its sequence number.
async fn sent(client: &mut Client, chat: ChatId, n: u64) -> Seq {
    client
        .send(&merpati_protocol::ClientFrame::Send {
            chat_id: chat,
            client_msg_id: msg_id(n),
            body: format!("m{n}").into_bytes(),
            attachment: None,
        })
        .await;
    loop {
        match client.recv().await {
            ServerFrame::Ack {
                client_msg_id, seq, ..
            } if client_msg_id == msg_id(n) => return seq,
            ServerFrame::Message(_) | ServerFrame::Chat { request: None, .. } => {}
            other => panic!("expected the ack of message {n}, got {other:?}"),
        }
    }
}
