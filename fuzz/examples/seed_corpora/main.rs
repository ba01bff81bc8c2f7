//! Writes the fuzz targets' fixture (`fixtures/device.postcard`) and seed corpora
//! (`corpus/<target>/seed-*`): real, valid encodings of everything each target decodes.
//!
//! Run from `fuzz/` with `cargo run --release --example seed_corpora`. The fixture and the
//! seeds of `keys`, `backup` and `client_store` come from one run of two real devices
//! ([`devices`]) and only fit each other: write them together. Seeds already in a corpus are
//! replaced; what fuzzing added stays.

mod bridge_messages;
mod devices;
mod samples;

use std::error::Error;
use std::fs;
use std::path::{Path, PathBuf};

use merpati_core::search::{SearchDoc, SearchSegment};
use merpati_core::{DraftRecord, HiddenRecord, OutboxRecord, PrivacySettings, SettingsRecord};
use merpati_fuzz::{BackupInput, KeysInput, ServerRow, StoreKind};
use merpati_protocol::content::{EncryptedBody, Sealed};
use merpati_protocol::{
    ChatId, ClientFrame, ClientMsgId, RequestId, Seq, ServerFrame, UserId, encode,
};

use devices::{CHAT, Exchange, NOW_MS};

/// One target's seeds, written as `seed-<n>` files.
struct Seeds {
    directory: PathBuf,
    inputs: Vec<Vec<u8>>,
}

impl Seeds {
    fn new(root: &Path, target: &str) -> Seeds {
        Seeds {
            directory: root.join("corpus").join(target),
            inputs: Vec::new(),
        }
    }

    fn add(&mut self, input: Vec<u8>) {
        self.inputs.push(input);
    }

    /// Adds `rest` behind a selector byte.
    fn add_selected(&mut self, selector: u8, rest: &[u8]) {
        let mut input = vec![selector];
        input.extend_from_slice(rest);
        self.inputs.push(input);
    }

    fn write(self) -> Result<(), Box<dyn Error>> {
        fs::create_dir_all(&self.directory)?;
        for entry in fs::read_dir(&self.directory)? {
            let path = entry?.path();
            if path
                .file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.starts_with("seed-"))
            {
                fs::remove_file(path)?;
            }
        }
        for (n, input) in self.inputs.iter().enumerate() {
            fs::write(self.directory.join(format!("seed-{n:03}")), input)?;
        }
        println!(
            "{}: {} seeds, {} bytes",
            self.directory.display(),
            self.inputs.len(),
            self.inputs.iter().map(Vec::len).sum::<usize>()
        );
        Ok(())
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let exchange = Exchange::run()?;
    fs::create_dir_all(root.join("fixtures"))?;
    fs::write(
        root.join("fixtures/device.postcard"),
        exchange.fixture.encode(),
    )?;
    frames(root, &exchange).write()?;
    content(root, &exchange).write()?;
    identifiers(root).write()?;
    keys(root, &exchange).write()?;
    backup(root, &exchange).write()?;
    bridge(root).write()?;
    client_store(root, &exchange)?.write()?;
    server_store(root, &exchange).write()?;
    Ok(())
}

/// The frames the exchange's keys and bodies travel in.
fn real_server_frames(exchange: &Exchange) -> Vec<ServerFrame> {
    let request = RequestId(40);
    let mut frames = vec![
        ServerFrame::Keys {
            request,
            users: exchange.directory.clone(),
        },
        ServerFrame::ClaimedKeys {
            request,
            keys: exchange.claimable.clone(),
        },
        ServerFrame::Page {
            chat_id: CHAT,
            messages: exchange.messages.clone(),
            more: false,
        },
        ServerFrame::Backup {
            request,
            entries: (1..).zip(exchange.backup_entries.clone()).collect(),
            more: true,
        },
    ];
    for (id, message) in (1..).zip(&exchange.to_device) {
        frames.push(ServerFrame::ToDevice {
            id,
            sender: exchange.fixture.peer,
            body: message.body.clone(),
        });
    }
    frames.extend(exchange.messages.iter().cloned().map(ServerFrame::Message));
    frames
}

fn frames(root: &Path, exchange: &Exchange) -> Seeds {
    let mut seeds = Seeds::new(root, "frames");
    for frame in samples::client_frames() {
        seeds.add(encode(&frame));
    }
    for frame in samples::server_frames()
        .into_iter()
        .chain(real_server_frames(exchange))
    {
        seeds.add(encode(&frame));
    }
    seeds.add(encode(&ClientFrame::SendToDevice {
        request: RequestId(41),
        messages: exchange.to_device.clone(),
    }));
    seeds
}

fn content(root: &Path, exchange: &Exchange) -> Seeds {
    let mut seeds = Seeds::new(root, "content");
    for message in &exchange.messages {
        seeds.add(message.body.clone());
    }
    for event in samples::system_events() {
        seeds.add(event.to_body());
    }
    for content in samples::contents() {
        seeds.add(content.to_body());
        seeds.add(encode(&Sealed {
            chat_id: CHAT,
            content,
        }));
    }
    seeds.add(
        EncryptedBody::MegolmV1 {
            sender_device: exchange.fixture.peer.device,
            session_id: "c2Vzc2lvbg".into(),
            ciphertext: vec![3; 40],
        }
        .to_body(),
    );
    for text in samples::texts() {
        seeds.add(text.into_bytes());
    }
    seeds
}

fn identifiers(root: &Path) -> Seeds {
    let mut seeds = Seeds::new(root, "identifiers");
    for text in samples::texts() {
        seeds.add(text.into_bytes());
    }
    seeds
}

fn keys(root: &Path, exchange: &Exchange) -> Seeds {
    let mut seeds = Seeds::new(root, "keys");
    for frame in real_server_frames(exchange) {
        seeds.add_selected(KeysInput::ServerFrame.selector(), &encode(&frame));
    }
    for key in &exchange.room_keys {
        seeds.add_selected(KeysInput::RoomKey.selector(), &encode(key));
    }
    seeds
}

fn backup(root: &Path, exchange: &Exchange) -> Seeds {
    let mut seeds = Seeds::new(root, "backup");
    for payload in &exchange.backup_payloads {
        seeds.add_selected(BackupInput::Payload.selector(), payload);
    }
    let frame = ServerFrame::Backup {
        request: RequestId(1),
        entries: (1..).zip(exchange.backup_entries.clone()).collect(),
        more: false,
    };
    seeds.add_selected(BackupInput::ServerFrame.selector(), &encode(&frame));
    seeds
}

fn bridge(root: &Path) -> Seeds {
    let mut seeds = Seeds::new(root, "bridge");
    for command in bridge_messages::commands() {
        seeds.add(merpati_bridge::encode(&command));
    }
    for update in bridge_messages::updates() {
        seeds.add(merpati_bridge::encode(&update));
    }
    seeds
}

fn client_store(root: &Path, exchange: &Exchange) -> Result<Seeds, Box<dyn Error>> {
    let mut seeds = Seeds::new(root, "client_store");
    let fixture = &exchange.fixture;
    let mut add =
        |kind: StoreKind, plaintext: Vec<u8>| seeds.add_selected(kind.selector(), &plaintext);
    add(StoreKind::Account, encode(&fixture.account));
    for chat in &fixture.chats {
        let mut group = chat.clone();
        group.info.id = ChatId(9);
        group.info.kind = merpati_protocol::ChatKind::Group;
        group.info.title = "Arisan".into();
        group.info.admins = vec![UserId(1)];
        group.read_log = vec![merpati_core::receipts::ReadAdvance {
            read: Seq(4),
            user: UserId(2),
            at_ms: NOW_MS,
        }];
        add(StoreKind::Chats, encode(chat));
        add(StoreKind::Chats, encode(&group));
    }
    add(StoreKind::MessagePages, encode(&exchange.messages));
    for message in &exchange.messages {
        add(StoreKind::Messages, encode(message));
    }
    let first = exchange
        .messages
        .first()
        .ok_or("the exchange wrote messages")?;
    add(
        StoreKind::Outbox,
        encode(&OutboxRecord {
            chat_id: CHAT,
            client_msg_id: ClientMsgId([0x42; 16]),
            body: first.body.clone(),
            created_ms: NOW_MS,
            order: 3,
            failure: Some(merpati_protocol::ErrorCode::Blocked),
            sent: true,
        }),
    );
    for record in fixture.crypto.iter().chain(&exchange.more_crypto) {
        add(StoreKind::Crypto, encode(record));
    }
    add(
        StoreKind::Drafts,
        encode(&DraftRecord {
            chat_id: CHAT,
            text: "nanti ya".into(),
        }),
    );
    add(
        StoreKind::Hidden,
        encode(&HiddenRecord {
            chat_id: CHAT,
            client_msg_id: first.client_msg_id,
        }),
    );
    add(
        StoreKind::Settings,
        encode(&SettingsRecord {
            privacy: PrivacySettings {
                share_read_receipts: false,
                share_presence: true,
            },
            blocked: [UserId(3)].into(),
        }),
    );
    add(
        StoreKind::Search,
        encode(&SearchSegment {
            id: 2,
            docs: vec![
                SearchDoc {
                    id: first.client_msg_id,
                    chat_id: CHAT,
                    seq: first.seq,
                    sender: first.sender,
                    sent_at_ms: first.sent_at_ms,
                    text: Some("halo, jam 7 di stasiun?".into()),
                },
                SearchDoc {
                    id: ClientMsgId([2; 16]),
                    chat_id: CHAT,
                    seq: Seq(2),
                    sender: UserId(2),
                    sent_at_ms: NOW_MS,
                    text: None,
                },
            ],
        }),
    );
    add(StoreKind::Keys, exchange.wrapped_store_key.clone());
    Ok(seeds)
}

fn server_store(root: &Path, exchange: &Exchange) -> Seeds {
    let mut seeds = Seeds::new(root, "server_store");
    let peer = exchange.fixture.peer;
    let int = |value: u64| i64::try_from(value).unwrap_or(i64::MAX);
    let mut rows = vec![
        ServerRow::ChatMember {
            chat: 7,
            kind: "direct".into(),
            title: String::new(),
            created_ms: int(NOW_MS),
            head: 5,
            user: 2,
            username: "tomo".into(),
            admin: false,
            delivered: 5,
            read: 4,
            read_at_ms: int(NOW_MS),
        },
        ServerRow::ChatMember {
            chat: 9,
            kind: "group".into(),
            title: "Arisan".into(),
            created_ms: 0,
            head: 0,
            user: 1,
            username: "sari".into(),
            admin: true,
            delivered: 0,
            read: 0,
            read_at_ms: 0,
        },
    ];
    for entry in &exchange.directory {
        for device in &entry.devices {
            rows.push(ServerRow::Device {
                user: int(entry.user.0),
                account_key: entry.account_key.to_vec(),
                device: device.device.0.to_vec(),
                ed25519: device.ed25519.to_vec(),
                signature: device.signature.clone(),
            });
        }
        rows.push(ServerRow::Account {
            id: int(entry.user.0),
            username: ["sari", "tomo", "wulan"]
                .get(usize::try_from(entry.user.0).unwrap_or(0).saturating_sub(1))
                .unwrap_or(&"someone")
                .to_string(),
            public_key: entry.account_key.to_vec(),
            signature: vec![7; 64],
            nonce: [9; 32],
        });
    }
    for claimed in &exchange.claimable {
        if let Some(key) = &claimed.key {
            rows.push(ServerRow::OneTimeKey {
                user: int(claimed.device.user.0),
                device: claimed.device.device.0.to_vec(),
                key: key.key.to_vec(),
                fallback: key.fallback,
                signature: key.signature.clone(),
            });
        }
    }
    for message in &exchange.messages {
        rows.push(ServerRow::Message {
            chat: int(message.chat_id.0),
            seq: int(message.seq.0),
            client_msg_id: message.client_msg_id.0.to_vec(),
            sender: int(message.sender.0),
            sent_at_ms: int(message.sent_at_ms),
            body: message.body.clone(),
        });
    }
    if let Some(event) = samples::system_events().first() {
        rows.push(ServerRow::Message {
            chat: 9,
            seq: 1,
            client_msg_id: vec![0; 16],
            sender: 1,
            sent_at_ms: 0,
            body: event.to_body(),
        });
    }
    for (id, message) in (1..).zip(&exchange.to_device) {
        rows.push(ServerRow::ToDevice {
            id,
            sender: int(peer.user.0),
            sender_device: peer.device.0.to_vec(),
            body: message.body.clone(),
        });
    }
    for (position, entry) in (1..).zip(&exchange.backup_entries) {
        rows.push(ServerRow::Backup {
            position,
            entry_id: entry.id.to_vec(),
            sealed: entry.sealed.clone(),
        });
    }
    for row in rows {
        seeds.add(encode(&row));
    }
    seeds
}
