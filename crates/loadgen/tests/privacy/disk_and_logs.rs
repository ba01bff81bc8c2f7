//! No message text in what the server writes: a conversation on two chats and four devices
//! (alice's second signs in partway through and reads the earlier messages through the key
//! backup), then a reply, an edit, a reaction and a forward; every file under the data
//! directory and the logs is searched after a SIGKILL and again after a graceful stop.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use merpati_loadgen::{Join, Snapshot, Writing};
use merpati_protocol::ChatId;
use merpati_protocol::content::EncryptedBody;
use merpati_testkit::poll::poll_until;
use rusqlite::{Connection, OpenFlags};

use crate::{
    Conversation, Device, GROUP_TITLE, MARKER, PATIENCE, Transcript, join, reads_everything,
};

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
