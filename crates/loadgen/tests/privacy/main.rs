//! The privacy test: what the server never learns.
//!
//! Three people talk through the real server binary with a real data directory: alice on two
//! devices (the second signs in with the passphrase partway through), bob and carol; a 1:1
//! chat (alice–bob) and a group of all three. Every device must read every message, the ones
//! sent before alice's second device existed included (those through the key backup). Then
//! every byte the server wrote — each file under its data directory after a SIGKILL and again
//! after a graceful stop, and its stdout and stderr at `RUST_LOG=trace` — is searched for the
//! message texts: none may appear, while the usernames and the group title (which the server
//! does store) must, so the search is known to look in the right places.
//!
//! After the texts, the conversation's other content rides in messages too: a reply (with
//! its quote), an edit, a reaction and a forward, each with words of its own — which must not
//! appear either, and each of which is one more ciphertext in the server's store.
//!
//! A second test removes carol from the group: messages sent after that are stored by the
//! server but never reach her, and when she is handed them anyway (read from the server's
//! SQLite file) she cannot open them, while everyone still in the group can.
//!
//! The first test is `disk_and_logs`, the second `removed_member`; the people, their devices
//! and chats, and the waits both use are here.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use merpati_core::crypto::KdfParams;
use merpati_core::reconnect::Backoff;
use merpati_core::timeline::MessageLock;
use merpati_loadgen::{ClientOptions, Join, Snapshot, SwarmClient};
use merpati_protocol::{ChatId, ClientMsgId, Seq, Username};
use merpati_testkit::{ServerOptions, ServerProcess};

// No message text in the server's data directory or logs.
mod disk_and_logs;
// A member removed from a group gets no key for later messages.
mod removed_member;

/// Every message text carries this; it must appear nowhere the server wrote.
const MARKER: &str = "secret-pineapple";
/// Stored by the server in the clear: the scan's positive control.
const GROUP_TITLE: &str = "tropical-fruit-club";
/// How long any device may take to read what was sent.
const PATIENCE: Duration = Duration::from_secs(60);

/// One person's device.
struct Device {
    name: &'static str,
    client: SwarmClient,
}

fn options(url: &str, name: &str, join: Join) -> ClientOptions {
    ClientOptions {
        url: url.to_owned(),
        username: Username::parse(name).unwrap(),
        passphrase: format!("{name}'s long passphrase"),
        join,
        // The same cheap parameters for sign-up and sign-in: the key must come out the same.
        kdf: KdfParams::FAST_INSECURE,
        backoff: Backoff::new(100, 1_000),
    }
}

async fn join(url: &str, name: &'static str, join: Join) -> Device {
    let mut client = SwarmClient::spawn(options(url, name, join));
    client
        .signed_in()
        .await
        .unwrap_or_else(|code| panic!("{name} could not sign in: {code:?}"));
    Device { name, client }
}

/// The people and their chats.
struct Conversation {
    server: ServerProcess,
    data: PathBuf,
    logs: PathBuf,
    alice: Device,
    bob: Device,
    carol: Device,
    direct: ChatId,
    group: ChatId,
    _dir: tempfile::TempDir,
}

/// Every message sent so far: per chat, (id, text) in the order written.
#[derive(Default)]
struct Transcript {
    sent: HashMap<ChatId, Vec<(ClientMsgId, String)>>,
}

impl Conversation {
    /// Starts a logged server, signs alice, bob and carol up, and opens the two chats.
    async fn start() -> Conversation {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let logs = dir.path().join("logs");
        let server = ServerProcess::start(ServerOptions::new().data_dir(&data).capture_logs(&logs))
            .await
            .unwrap();
        let url = server.ws_url();
        let alice = join(&url, "alice", Join::SignUp).await;
        let bob = join(&url, "bob", Join::SignUp).await;
        let carol = join(&url, "carol", Join::SignUp).await;
        let direct = alice.client.create_direct("bob").await.unwrap().unwrap();
        let group = alice
            .client
            .create_group(GROUP_TITLE, "bob,carol")
            .await
            .unwrap()
            .unwrap();
        // The server pushes a new chat to its other members; nobody can write in it before.
        knows(&bob, direct).await;
        knows(&bob, group).await;
        knows(&carol, group).await;
        Conversation {
            server,
            data,
            logs,
            alice,
            bob,
            carol,
            direct,
            group,
            _dir: dir,
        }
    }
}

impl Transcript {
    /// `device` writes a new distinctive message into `chat`.
    async fn say(&mut self, device: &Device, chat: ChatId) {
        let n = self.sent.values().map(Vec::len).sum::<usize>() + 1;
        let text = format!("{MARKER}-{n}-from-{}", device.name);
        let id = device
            .client
            .send(chat, text.clone())
            .await
            .unwrap()
            .unwrap_or_else(|error| panic!("{} cannot send: {error}", device.name));
        self.sent.entry(chat).or_default().push((id, text));
    }

    fn sent_in(&self, chat: ChatId) -> &[(ClientMsgId, String)] {
        self.sent.get(&chat).map(Vec::as_slice).unwrap_or_default()
    }

    fn texts(&self) -> Vec<String> {
        self.sent
            .values()
            .flatten()
            .map(|(_, text)| text.clone())
            .collect()
    }
}

/// Waits until `device` holds every message of `expected` in `chat`, confirmed by the server,
/// decrypted, with the text sent — and nothing else; panics with what it shows instead.
async fn reads_everything(device: &Device, chat: ChatId, expected: &[(ClientMsgId, String)]) {
    let started = Instant::now();
    loop {
        let snapshot = device.client.snapshot().await.unwrap();
        let shown = shown(&snapshot, chat);
        let mut want: Vec<(ClientMsgId, MessageLock, String)> = expected
            .iter()
            .map(|(id, text)| (*id, MessageLock::Open, text.clone()))
            .collect();
        let mut got: Vec<(ClientMsgId, MessageLock, String)> = shown
            .iter()
            .map(|(_, id, lock, text)| (*id, *lock, text.clone()))
            .collect();
        want.sort_by_key(|(id, _, _)| *id);
        got.sort_by_key(|(id, _, _)| *id);
        if got == want {
            return;
        }
        assert!(
            started.elapsed() < PATIENCE,
            "{} does not read chat {} as sent after {PATIENCE:?}:\n want {want:#?}\n got {got:#?}",
            device.name,
            chat.0
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until `device` has heard of `chat`.
async fn knows(device: &Device, chat: ChatId) {
    let started = Instant::now();
    while !device
        .client
        .snapshot()
        .await
        .unwrap()
        .chats
        .iter()
        .any(|(id, _)| *id == chat)
    {
        assert!(
            started.elapsed() < PATIENCE,
            "{} never heard of chat {}",
            device.name,
            chat.0
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The confirmed messages of `chat` that its members wrote, as the snapshot shows them:
/// (seq, id, lock, text). The lines the server writes (a group created, a member removed) are
/// left out: they are no one's text, and the server's store is checked for them apart.
fn shown(snapshot: &Snapshot, chat: ChatId) -> Vec<(Seq, ClientMsgId, MessageLock, String)> {
    snapshot
        .chats
        .iter()
        .find(|(id, _)| *id == chat)
        .map(|(_, items)| {
            items
                .iter()
                .filter(|item| item.system.is_none())
                .filter_map(|item| {
                    Some((item.seq?, item.client_msg_id, item.lock, item.text.clone()))
                })
                .collect()
        })
        .unwrap_or_default()
}
