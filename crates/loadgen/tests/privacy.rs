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

#![allow(clippy::unwrap_used)]

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use merpati_core::crypto::KdfParams;
use merpati_core::reconnect::Backoff;
use merpati_core::timeline::MessageLock;
use merpati_loadgen::{ClientOptions, Join, Snapshot, SwarmClient, Writing};
use merpati_protocol::content::EncryptedBody;
use merpati_protocol::{ChatId, ClientMsgId, MessageFrame, Seq, ServerFrame, UserId, Username};
use merpati_testkit::poll::poll_until;
use merpati_testkit::{ServerOptions, ServerProcess};
use rusqlite::{Connection, OpenFlags};

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

/// Waits until `name`'s key backup on the server holds as many entries as there are Megolm
/// sessions among the stored messages, read from the server's SQLite file. (An entry is one
/// session's key under a keyed hash of its id, which only the account can compute: the counts
/// are what the server's record lets a test compare.)
async fn backup_covers_every_session(data: &Path, name: &str) {
    let counts = || -> (usize, usize) {
        let db =
            Connection::open_with_flags(data.join("merpati.db"), OpenFlags::SQLITE_OPEN_READ_ONLY)
                .unwrap();
        let mut bodies = db.prepare("SELECT body FROM messages").unwrap();
        let sessions: HashSet<String> = bodies
            .query_map([], |row| row.get::<_, Vec<u8>>(0))
            .unwrap()
            .filter_map(|body| match EncryptedBody::from_body(&body.unwrap()) {
                Some(EncryptedBody::MegolmV1 { session_id, .. }) => Some(session_id),
                // The server's own lines (a group created, a member removed) are not
                // encrypted: there is no key to back up.
                Some(EncryptedBody::System(_)) => None,
                None => panic!("a stored body is not an encrypted envelope"),
            })
            .collect();
        let backed_up: i64 = db
            .query_row(
                "SELECT count(*) FROM backup JOIN accounts ON accounts.id = backup.account_id \
                 WHERE accounts.username = ?1",
                [name],
                |row| row.get(0),
            )
            .unwrap();
        (sessions.len(), usize::try_from(backed_up).unwrap())
    };
    let covered = poll_until("the key backup to cover every session", PATIENCE, || {
        let (sessions, backed_up) = counts();
        std::future::ready((backed_up >= sessions).then_some(()))
    })
    .await;
    if let Err(error) = covered {
        let (sessions, backed_up) = counts();
        panic!("{error}: {backed_up} entries for {sessions} sessions");
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

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut todo = vec![dir.to_owned()];
    while let Some(dir) = todo.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                todo.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

/// Reads every file under the data directory and the logs; panics if any holds a message
/// text, or if the positive controls are missing. Returns the files scanned, for the record.
fn scan(conversation: &Conversation, texts: &[String], when: &str) -> Vec<(PathBuf, usize)> {
    let mut scanned = Vec::new();
    let mut data_bytes = Vec::new();
    let mut log_bytes = Vec::new();
    for (root, into) in [
        (&conversation.data, &mut data_bytes),
        (&conversation.logs, &mut log_bytes),
    ] {
        for file in files_under(root) {
            let bytes = std::fs::read(&file).unwrap();
            for needle in std::iter::once(MARKER).chain(texts.iter().map(String::as_str)) {
                assert!(
                    !contains(&bytes, needle.as_bytes()),
                    "{when}: {} holds the message text {needle:?}",
                    file.display()
                );
            }
            scanned.push((file, bytes.len()));
            // Kept apart per file in `scanned`; joined with a separator so no needle can
            // straddle two files.
            into.extend_from_slice(&bytes);
            into.push(0);
        }
    }
    // Positive controls: the same search finds what the server does keep in the clear.
    for needle in ["alice", "bob", "carol", GROUP_TITLE] {
        assert!(
            contains(&data_bytes, needle.as_bytes()),
            "{when}: the scan of the data directory missed {needle:?}: it is not looking"
        );
    }
    for needle in ["alice", "bob", "carol", "TRACE"] {
        assert!(
            contains(&log_bytes, needle.as_bytes()),
            "{when}: the scan of the logs missed {needle:?}: they are not captured"
        );
    }
    scanned
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_message_text_reaches_the_servers_disk_or_logs() {
    let started = Instant::now();
    let mut talk = Conversation::start().await;
    let mut said = Transcript::default();
    let (direct, group) = (talk.direct, talk.group);
    let set_up = started.elapsed();

    // Before alice's second device exists.
    for _ in 0..3 {
        said.say(&talk.alice, direct).await;
        said.say(&talk.bob, direct).await;
        said.say(&talk.alice, group).await;
        said.say(&talk.bob, group).await;
        said.say(&talk.carol, group).await;
    }
    reads_everything(&talk.alice, direct, said.sent_in(direct)).await;
    reads_everything(&talk.bob, direct, said.sent_in(direct)).await;
    for device in [&talk.alice, &talk.bob, &talk.carol] {
        reads_everything(device, group, said.sent_in(group)).await;
    }
    let first_round = started.elapsed();

    // alice's second device: a new browser, signed in with the passphrase. It has no Olm
    // session with anyone yet, so what was sent before it existed opens only through the key
    // backup alice's first device wrote — once the backup holds every session's key.
    backup_covers_every_session(&talk.data, "alice").await;
    let alice2 = join(&talk.server.ws_url(), "alice", Join::SignIn).await;
    reads_everything(&alice2, direct, said.sent_in(direct)).await;
    reads_everything(&alice2, group, said.sent_in(group)).await;
    let second_device_caught_up = started.elapsed();

    // After it joined: everyone, both of alice's devices too, writes more.
    for _ in 0..3 {
        said.say(&talk.alice, direct).await;
        said.say(&alice2, direct).await;
        said.say(&talk.bob, direct).await;
        said.say(&alice2, group).await;
        said.say(&talk.alice, group).await;
        said.say(&talk.bob, group).await;
        said.say(&talk.carol, group).await;
    }
    for device in [&talk.alice, &alice2, &talk.bob] {
        reads_everything(device, direct, said.sent_in(direct)).await;
    }
    for device in [&talk.alice, &alice2, &talk.bob, &talk.carol] {
        reads_everything(device, group, said.sent_in(group)).await;
    }
    let conversation_done = started.elapsed();
    let texts = said.texts();
    assert_eq!(texts.len(), 3 * 5 + 3 * 7);
    let annotations = reply_edit_react_forward(&talk, &said).await;
    let secrets: Vec<String> = texts.iter().cloned().chain(annotations.clone()).collect();

    // The server's record agrees: every message is stored, as ciphertext. Beside them it
    // holds only the lines it writes itself (the group's creation), which name no text.
    {
        let db = Connection::open_with_flags(
            talk.data.join("merpati.db"),
            OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap();
        let mut bodies = db.prepare("SELECT body FROM messages").unwrap();
        let (mut encrypted, mut system) = (0, 0);
        for body in bodies
            .query_map([], |row| row.get::<_, Vec<u8>>(0))
            .unwrap()
        {
            match EncryptedBody::from_body(&body.unwrap()) {
                Some(EncryptedBody::MegolmV1 { .. }) => encrypted += 1,
                Some(EncryptedBody::System(_)) => system += 1,
                None => panic!("a stored body is neither ciphertext nor the server's line"),
            }
        }
        assert_eq!(
            encrypted,
            texts.len() + 4,
            "each text, reply, edit, reaction, forward"
        );
        assert_eq!(system, 1, "the group's creation is its only line");
    }

    for device in [&talk.alice, &alice2, &talk.bob, &talk.carol] {
        device.client.stop();
    }
    // SIGKILL first: the write-ahead log and shared-memory files stay as they were.
    talk.server.kill();
    let after_kill = scan(&talk, &secrets, "after SIGKILL");
    // Then a graceful stop after recovery: the log is checkpointed into the database.
    talk.server.restart().await.unwrap();
    let status = talk.server.terminate().await.unwrap();
    assert!(status.success(), "the server stopped with {status}");
    let after_stop = scan(&talk, &secrets, "after a graceful stop");

    let describe = |scanned: &[(PathBuf, usize)]| {
        scanned
            .iter()
            .map(|(path, len)| {
                format!(
                    "{} ({len} B)",
                    path.file_name().unwrap_or_default().to_string_lossy()
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    eprintln!(
        "privacy test: {} messages in 2 chats, 4 devices; set up in {set_up:?}, first round \
         read by all at {first_round:?}, second device caught up at \
         {second_device_caught_up:?}, all read at {conversation_done:?}; no text in [{}] \
         after SIGKILL, nor in [{}] after a graceful stop; {:?} in all",
        texts.len(),
        describe(&after_kill),
        describe(&after_stop),
        started.elapsed()
    );
}

/// bob replies to alice's first message, alice edits it, carol reacts to bob's first group
/// message and alice forwards it to bob; waits until each shows where it should. Returns the
/// words they carried that no text had: the reply, the new text and the reaction.
async fn reply_edit_react_forward(talk: &Conversation, said: &Transcript) -> Vec<String> {
    let (direct, group) = (talk.direct, talk.group);
    let (original, _) = said.sent_in(direct)[0].clone();
    let (bobs, bobs_text) = said.sent_in(group)[1].clone();
    let reply = format!("{MARKER}-reply-from-bob");
    let edited = format!("{MARKER}-edited-by-alice");
    let reaction = "🍍🥭🍍";
    let (reply_text, edit_text) = (reply.clone(), edited.clone());
    let writings: Vec<(&Device, Writing)> = vec![
        (
            &talk.bob,
            Box::new(move |engine, now| engine.send_reply(direct, original, &reply_text, now)),
        ),
        (
            &talk.alice,
            Box::new(move |engine, now| engine.edit_message(direct, original, &edit_text, now)),
        ),
        (
            &talk.carol,
            Box::new(move |engine, now| engine.react(group, bobs, reaction, now)),
        ),
        (
            &talk.alice,
            Box::new(move |engine, now| engine.forward(group, bobs, direct, now)),
        ),
    ];
    for (device, writing) in writings {
        device
            .client
            .write(writing)
            .await
            .unwrap()
            .unwrap_or_else(|error| panic!("{} cannot write: {error}", device.name));
    }

    // bob reads all of it; alice sees carol's reaction.
    let items = |snapshot: &Snapshot, chat: ChatId| {
        snapshot
            .chats
            .iter()
            .find(|(id, _)| *id == chat)
            .map(|(_, items)| items.clone())
            .unwrap_or_default()
    };
    poll_until(
        "bob to read the reply, the edit and the forward",
        PATIENCE,
        || async {
            let snapshot = talk.bob.client.snapshot().await.unwrap();
            let shown = items(&snapshot, direct);
            let edit_shows = shown
                .iter()
                .any(|item| item.client_msg_id == original && item.text == edited && item.edited);
            let reply_shows = shown
                .iter()
                .any(|item| item.text == reply && item.quote.is_some());
            let forward_shows = shown
                .iter()
                .any(|item| item.text == bobs_text && item.forwarded && item.client_msg_id != bobs);
            (edit_shows && reply_shows && forward_shows).then_some(())
        },
    )
    .await
    .unwrap();
    poll_until("alice to see carol's reaction", PATIENCE, || async {
        let snapshot = talk.alice.client.snapshot().await.unwrap();
        items(&snapshot, group)
            .iter()
            .any(|item| {
                item.client_msg_id == bobs
                    && item.reactions.iter().any(|shown| shown.emoji == reaction)
            })
            .then_some(())
    })
    .await
    .unwrap();
    vec![reply, edited, reaction.to_owned()]
}

/// The group's stored messages after `after`, as the server would deliver them (its own
/// lines included).
fn stored_after(data: &Path, chat: ChatId, after: Seq) -> Vec<MessageFrame> {
    let db = Connection::open_with_flags(data.join("merpati.db"), OpenFlags::SQLITE_OPEN_READ_ONLY)
        .unwrap();
    let mut statement = db
        .prepare(
            "SELECT seq, client_msg_id, sender, sent_at_ms, body FROM messages \
             WHERE chat_id = ?1 AND seq > ?2 ORDER BY seq",
        )
        .unwrap();
    statement
        .query_map(
            [
                i64::try_from(chat.0).unwrap(),
                i64::try_from(after.0).unwrap(),
            ],
            |row| {
                let seq: i64 = row.get(0)?;
                let id: Vec<u8> = row.get(1)?;
                let sender: i64 = row.get(2)?;
                let sent_at_ms: i64 = row.get(3)?;
                Ok(MessageFrame {
                    chat_id: chat,
                    seq: Seq(u64::try_from(seq).unwrap()),
                    client_msg_id: ClientMsgId(id.try_into().unwrap()),
                    sender: UserId(u64::try_from(sender).unwrap()),
                    sent_at_ms: u64::try_from(sent_at_ms).unwrap(),
                    body: row.get(4)?,
                })
            },
        )
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// Waits until `device` sees `chat` without `user` among its members.
async fn sees_removed(device: &Device, chat: ChatId, user: UserId) {
    let started = Instant::now();
    loop {
        let snapshot = device.client.snapshot().await.unwrap();
        let members = snapshot
            .members
            .iter()
            .find(|(id, _)| *id == chat)
            .map(|(_, members)| members.clone())
            .unwrap_or_default();
        if !members.is_empty() && !members.contains(&user) {
            return;
        }
        assert!(
            started.elapsed() < PATIENCE,
            "{} still sees user {} in chat {}",
            device.name,
            user.0,
            chat.0
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_member_gets_no_key_for_later_messages() {
    let started = Instant::now();
    let talk = Conversation::start().await;
    let mut said = Transcript::default();
    let group = talk.group;
    let (alice, bob, carol) = (&talk.alice, &talk.bob, &talk.carol);

    // While carol is a member, she reads everything.
    for device in [alice, bob, carol] {
        said.say(device, group).await;
    }
    for device in [alice, bob, carol] {
        reads_everything(device, group, said.sent_in(group)).await;
    }
    let before = said.sent_in(group).to_vec();
    let carol_id = carol.client.snapshot().await.unwrap().me.unwrap().id;
    // Where the group's log stood at the removal: the newest position of what was said before
    // (the group's lines take positions too).
    let removed_after = shown(&alice.client.snapshot().await.unwrap(), group)
        .iter()
        .filter(|(_, id, _, _)| before.iter().any(|(said, _)| said == id))
        .map(|(seq, _, _, _)| *seq)
        .max()
        .unwrap();

    alice
        .client
        .remove_member(group, carol_id)
        .await
        .unwrap()
        .expect("alice removes carol");
    // Everyone encrypts for the members they know of; wait until the removal reached all,
    // carol included (she learns it too, and keeps the group read-only).
    for device in [alice, bob, carol] {
        sees_removed(device, group, carol_id).await;
    }

    // After the removal: alice and bob talk on.
    for _ in 0..3 {
        said.say(alice, group).await;
        said.say(bob, group).await;
    }
    let after: Vec<(ClientMsgId, String)> = said.sent_in(group)[before.len()..].to_vec();
    for device in [alice, bob] {
        reads_everything(device, group, said.sent_in(group)).await;
    }

    // The server stored them (alice's and bob's in whatever order they arrived), and did
    // not send them to carol. Beside them it wrote its own line saying she was removed, which
    // carries no key and which she was sent.
    let (system, frames): (Vec<MessageFrame>, Vec<MessageFrame>) =
        stored_after(&talk.data, group, removed_after)
            .into_iter()
            .partition(|frame| {
                matches!(
                    EncryptedBody::from_body(&frame.body),
                    Some(EncryptedBody::System(_))
                )
            });
    assert_eq!(system.len(), 1, "the removal's line: {system:?}");
    let mut stored: Vec<ClientMsgId> = frames.iter().map(|frame| frame.client_msg_id).collect();
    let mut written: Vec<ClientMsgId> = after.iter().map(|(id, _)| *id).collect();
    stored.sort();
    written.sort();
    assert_eq!(stored, written, "the server's log after the removal");
    reads_everything(carol, group, &before).await;

    // Hand carol the ciphertext anyway, as a curious server (or a leaked database) could:
    // she holds no key for it, and none arrives. Sentinels show that whatever could bring one
    // has come: her own request after the feed is answered after the backup she asks for on
    // meeting a locked message, and a chat that alice and bob each open with her afterwards
    // reaches her after anything their devices sent her before.
    for frame in frames {
        carol
            .client
            .feed(ServerFrame::Message(frame))
            .await
            .unwrap();
    }
    carol.client.create_direct("alice").await.unwrap().unwrap();
    for (title, opener) in [("sentinel-alice", alice), ("sentinel-bob", bob)] {
        let chat = opener
            .client
            .create_group(title, "carol")
            .await
            .unwrap()
            .unwrap();
        knows(carol, chat).await;
    }
    let snapshot = carol.client.snapshot().await.unwrap();
    let shown = shown(&snapshot, group);
    for (id, text) in &after {
        let (_, _, lock, shown_text) = shown
            .iter()
            .find(|(_, held, _, _)| held == id)
            .unwrap_or_else(|| panic!("carol was handed {id:?} but does not hold it"));
        assert_eq!(
            *lock,
            MessageLock::Waiting,
            "carol, removed, opened a later message"
        );
        assert!(!shown_text.contains(MARKER), "carol shows {shown_text:?}");
        assert_ne!(shown_text, text);
    }
    // What she read while a member, she still reads.
    for (id, text) in &before {
        assert!(
            shown.iter().any(|(_, held, lock, shown_text)| held == id
                && *lock == MessageLock::Open
                && shown_text == text),
            "carol lost a message from before her removal"
        );
    }

    for device in [alice, bob, carol] {
        device.client.stop();
    }
    eprintln!(
        "removal test: {} messages before carol's removal, {} after (stored, not opened by \
         her); {:?} in all",
        before.len(),
        after.len(),
        started.elapsed()
    );
}
