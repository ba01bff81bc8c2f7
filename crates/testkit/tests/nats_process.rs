//! The kit's NATS: a server of the test's own carries a message from one client to another;
//! paused, it holds what was sent meanwhile and delivers it once resumed; killed, it drops
//! its clients, and started again it serves new ones. Spoken in NATS's text protocol, as
//! the server sees it.

use std::time::Duration;

use merpati_testkit::NatsProcess;
use merpati_testkit::poll::poll_until;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// One NATS connection, past the greeting.
struct Client {
    lines: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
}

impl Client {
    async fn connect(nats: &NatsProcess) -> Client {
        let stream = TcpStream::connect(("127.0.0.1", nats.port()))
            .await
            .expect("connected");
        let (reader, writer) = stream.into_split();
        let mut client = Client {
            lines: BufReader::new(reader),
            writer,
        };
        assert!(client.line().await.starts_with("INFO "));
        client.send("CONNECT {\"verbose\":false}\r\n").await;
        client
    }

    async fn send(&mut self, text: &str) {
        self.writer.write_all(text.as_bytes()).await.expect("sent");
    }

    /// The next line, without its `\r\n`; empty once the server closed the connection.
    async fn line(&mut self) -> String {
        let mut line = String::new();
        self.lines.read_line(&mut line).await.expect("read");
        line.trim_end().to_owned()
    }

    /// A round trip: everything sent before it has been handled by the server.
    async fn ping(&mut self) {
        self.send("PING\r\n").await;
        assert_eq!(self.line().await, "PONG");
    }
}

/// The kernel's one-letter state of process `pid` (`T`: stopped by a signal).
fn process_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After the name, which is in parentheses and may hold spaces.
    stat.rsplit_once(") ")?.1.chars().next()
}

#[tokio::test(flavor = "current_thread")]
async fn a_paused_server_delivers_once_resumed_and_a_killed_one_serves_again_once_restarted() {
    let mut nats = NatsProcess::start().await.expect("nats-server started");
    let mut subscriber = Client::connect(&nats).await;
    subscriber.send("SUB chat.7 1\r\n").await;
    subscriber.ping().await;
    let mut publisher = Client::connect(&nats).await;
    publisher.ping().await;

    nats.pause().expect("paused");
    let pid = nats.pid().expect("running");
    poll_until(
        "the server to be stopped",
        Duration::from_secs(10),
        || async move { process_state(pid).filter(|state| *state == 'T') },
    )
    .await
    .expect("stopped");
    publisher.send("PUB chat.7 5\r\nseq=1\r\n").await;
    nats.resume().expect("resumed");
    assert_eq!(subscriber.line().await, "MSG chat.7 1 5");
    assert_eq!(subscriber.line().await, "seq=1");

    nats.kill().expect("killed");
    assert_eq!(
        subscriber.line().await,
        "",
        "the connection ends with the server"
    );
    nats.restart().await.expect("started again");
    let mut subscriber = Client::connect(&nats).await;
    subscriber.send("SUB chat.7 1\r\n").await;
    subscriber.ping().await;
    let mut publisher = Client::connect(&nats).await;
    publisher.send("PUB chat.7 5\r\nseq=2\r\n").await;
    assert_eq!(subscriber.line().await, "MSG chat.7 1 5");
    assert_eq!(subscriber.line().await, "seq=2");
}
