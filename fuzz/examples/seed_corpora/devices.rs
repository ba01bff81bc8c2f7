//! Two real devices meeting in a chat: everything the `keys`, `backup` and `client_store`
//! seeds are cut from, and device A's stored state, which becomes the fixture.
//!
//! A (sari, user 1) and B (tomo, user 2) publish and verify each other's keys; B claims A's
//! one-time key, shares chat 7's Megolm session over Olm and writes a few messages, which A
//! opens. That is A's state as stored ([`Exchange::fixture`]). What happens next is what the
//! seeds hold: B shares chat 8's session (a to-device message A has not seen), writes in chat
//! 8, and a third device and a changed account key appear in the directory.

use std::collections::BTreeSet;
use std::error::Error;

use merpati_core::crypto::{AccountKey, KdfParams};
use merpati_core::e2e::{DeviceCrypto, Opened, RoomKey, StoredCryptoRecord};
use merpati_core::{AccountRecord, AccountSecrets, ChatRecord, MessageRecord};
use merpati_fuzz::DeviceFixture;
use merpati_protocol::content::{MessageContent, Quote};
use merpati_protocol::keys::{ClaimedKey, OneTimeKey, ToDeviceMessage, UserKeys};
use merpati_protocol::{
    ChatId, ChatInfo, ChatKind, ClientMsgId, Epoch, Member, Receipt, Seq, UserId, Username,
};

/// The chat A and B share in the fixture.
pub const CHAT: ChatId = ChatId(7);
/// The chat whose session B shares only in the seeds.
pub const LATER_CHAT: ChatId = ChatId(8);
/// The clock of the whole exchange, in milliseconds since the Unix epoch.
pub const NOW_MS: u64 = 1_780_000_000_000;

/// What the exchange produced.
pub struct Exchange {
    /// Device A's stored state after meeting B.
    pub fixture: DeviceFixture,
    /// The directory's entries for A, B, a new device C, and B under a changed account key.
    pub directory: Vec<UserKeys>,
    /// One-time and fallback keys of B, as A would claim them.
    pub claimable: Vec<ClaimedKey>,
    /// B's to-device message sharing chat 8's session with A (not in the fixture).
    pub to_device: Vec<ToDeviceMessage>,
    /// The room keys those messages carry, and chat 7's, as Olm decrypts them.
    pub room_keys: Vec<RoomKey>,
    /// B's messages: chat 7's (in the fixture) and chat 8's (whose key A lacks).
    pub messages: Vec<MessageRecord>,
    /// B's key backup entries, opened: what one entry seals.
    pub backup_payloads: Vec<Vec<u8>>,
    /// Backup entries as the server hands them to A: A's own (sealed with A's key), B's.
    pub backup_entries: Vec<merpati_protocol::keys::BackupEntry>,
    /// Records of B's and a later A's key state A's store could hold (an outbound session,
    /// a held room key).
    pub more_crypto: Vec<StoredCryptoRecord>,
    /// A's store key wrapped by A's passphrase-derived key (the `keys` object store).
    pub wrapped_store_key: Vec<u8>,
}

fn username(name: &str) -> Result<Username, Box<dyn Error>> {
    Ok(Username::parse(name)?)
}

fn account_key(name: &str, passphrase: &str) -> Result<AccountKey, Box<dyn Error>> {
    Ok(AccountKey::derive(
        &username(name)?,
        passphrase,
        None,
        KdfParams::FAST_INSECURE,
    )?)
}

/// A device with its keys published; returns it with its directory entry and its keys.
fn new_device(
    user: UserId,
    key: &AccountKey,
) -> Result<(DeviceCrypto, UserKeys, Vec<OneTimeKey>), Box<dyn Error>> {
    let mut device = DeviceCrypto::new(user, &key.auth_key(), key.backup_key())?;
    let (mut one_time, fallback) = device.unpublished_keys();
    one_time.extend(fallback);
    let entry = UserKeys {
        user,
        account_key: *key.auth_key().public_key().as_bytes(),
        devices: vec![device.device_keys()],
    };
    Ok((device, entry, one_time))
}

fn stored_records(device: &mut DeviceCrypto) -> Vec<StoredCryptoRecord> {
    device
        .take_writes()
        .into_iter()
        .filter_map(|(key, value)| {
            Some(StoredCryptoRecord::from(merpati_core::e2e::CryptoRecord {
                key,
                value: value?,
            }))
        })
        .collect()
}

fn contents() -> Vec<MessageContent> {
    let first = ClientMsgId([1; 16]);
    vec![
        MessageContent::Text {
            text: "halo, jam 7 di stasiun?".into(),
        },
        MessageContent::Reply {
            text: "ya 👍".into(),
            quote: Quote {
                target: first,
                sender: UserId(1),
                text: "halo".into(),
            },
        },
        MessageContent::Edit {
            target: first,
            text: "halo, jam 8 di stasiun?".into(),
        },
        MessageContent::Reaction {
            target: first,
            emoji: Some("🙏".into()),
        },
        MessageContent::Delete { target: first },
    ]
}

impl Exchange {
    /// Runs the exchange; fails if any step does not do what the seeds rely on.
    pub fn run() -> Result<Exchange, Box<dyn Error>> {
        let (a_name, a_passphrase) = merpati_fuzz::FIXTURE_CREDENTIALS;
        let a_key = account_key(a_name, a_passphrase)?;
        let b_key = account_key("tomo", "tomo's long passphrase")?;
        let (mut a, a_entry, a_keys) = new_device(UserId(1), &a_key)?;
        let (mut b, b_entry, b_keys) = new_device(UserId(2), &b_key)?;
        a.on_keys(vec![b_entry.clone()], NOW_MS);
        b.on_keys(vec![a_entry.clone()], NOW_MS);

        let unreachable = b.on_claimed(vec![ClaimedKey {
            device: a.device(),
            key: a_keys.first().cloned(),
        }]);
        check(unreachable.is_empty(), "B reaches A")?;
        let members = BTreeSet::from([UserId(1), UserId(2)]);
        let to_a = BTreeSet::from([a.device()]);
        b.ensure_outbound(CHAT, &members, NOW_MS);
        let mut room_keys = Vec::new();
        for message in b.share_outbound(CHAT, &to_a) {
            let key = a.open_to_device(b.device(), &message.body)?;
            check(a.accept_room_key(b.device(), &key), "A takes chat 7's key")?;
            room_keys.push(key);
        }
        let mut messages = Vec::new();
        for content in contents() {
            messages.push(message(&mut b, CHAT, messages.len(), &content)?);
        }
        for message in &messages {
            check(
                matches!(a.open(message), Opened::Content(_)),
                "A opens B's messages",
            )?;
        }
        let fixture = DeviceFixture {
            account: AccountRecord {
                me: Member {
                    id: UserId(1),
                    username: username("sari")?,
                },
                session_token: [0x11; 32],
                epoch: Some(Epoch(3)),
                secrets: AccountSecrets {
                    account_key: *a_key.auth_key().to_bytes(),
                    backup_key: a_key.backup_key(),
                },
            },
            crypto: stored_records(&mut a),
            chats: vec![chat_record(&a_entry, &b_entry)?],
            messages: messages.clone(),
            peer: b.device(),
        };

        // What A has not seen yet.
        b.ensure_outbound(LATER_CHAT, &members, NOW_MS);
        let to_device = b.share_outbound(LATER_CHAT, &to_a);
        for content in contents().iter().take(2) {
            messages.push(message(&mut b, LATER_CHAT, messages.len(), content)?);
        }
        let mut later_a = fixture.device();
        for message in &to_device {
            let key = later_a.open_to_device(b.device(), &message.body)?;
            check(
                later_a.accept_room_key(b.device(), &key),
                "the fixture's A takes chat 8's key",
            )?;
            later_a.hold(b.device(), key.clone());
            room_keys.push(key);
        }
        let mut more_crypto = stored_records(&mut later_a);
        more_crypto.extend(stored_records(&mut b));

        let (_, c_entry, _) = new_device(UserId(3), &account_key("wulan", "wulan's long one")?)?;
        let (_, b_changed, _) = new_device(UserId(2), &account_key("tomo", "a new passphrase")?)?;
        let directory = vec![a_entry, b_entry, c_entry, b_changed];
        let claimable = b_keys
            .into_iter()
            .map(|key| ClaimedKey {
                device: b.device(),
                key: Some(key),
            })
            .collect();

        let b_backup = merpati_core::crypto::StoreCipher::import_key(b_key.backup_key());
        let mut backup_payloads = Vec::new();
        let mut backup_entries = Vec::new();
        for (_, entry) in b.backup_pending(usize::MAX) {
            // The backup also holds B's pin of A's account key, sealed under a context of
            // its own: only the sessions open as what the `Payload` seeds are.
            if let Ok(payload) = b_backup.open(merpati_fuzz::BACKUP_CONTEXT, &entry.sealed) {
                backup_payloads.push(payload);
            }
            backup_entries.push(entry);
        }
        backup_entries.extend(
            later_a
                .backup_pending(usize::MAX)
                .into_iter()
                .map(|(_, entry)| entry),
        );
        check(
            backup_payloads.len() >= 2 && backup_entries.len() >= 3,
            "both devices have sessions to back up",
        )?;

        let wrapped_store_key =
            merpati_core::crypto::StoreCipher::import_key(merpati_fuzz::STORE_KEY)
                .wrap(&a_key.wrapping_key())?;
        Ok(Exchange {
            fixture,
            directory,
            claimable,
            to_device,
            room_keys,
            messages,
            backup_payloads,
            backup_entries,
            more_crypto,
            wrapped_store_key,
        })
    }
}

fn message(
    sender: &mut DeviceCrypto,
    chat: ChatId,
    index: usize,
    content: &MessageContent,
) -> Result<MessageRecord, Box<dyn Error>> {
    let n = u8::try_from(index)?;
    Ok(MessageRecord {
        chat_id: chat,
        seq: Seq(u64::from(n) + 1),
        client_msg_id: ClientMsgId([n + 1; 16]),
        sender: sender.user(),
        sent_at_ms: NOW_MS + u64::from(n) * 1_000,
        body: sender
            .encrypt(chat, content)
            .ok_or("B has chat's session")?,
    })
}

fn chat_record(a: &UserKeys, b: &UserKeys) -> Result<ChatRecord, Box<dyn Error>> {
    Ok(ChatRecord {
        info: ChatInfo {
            id: CHAT,
            kind: ChatKind::Direct,
            title: String::new(),
            members: vec![
                Member {
                    id: a.user,
                    username: username("sari")?,
                },
                Member {
                    id: b.user,
                    username: username("tomo")?,
                },
            ],
            head: Seq(5),
            read: Seq(2),
            created_ms: NOW_MS - 60_000,
            admins: Vec::new(),
            receipts: vec![Receipt {
                user: b.user,
                delivered: Seq(5),
                read: Seq(4),
                read_at_ms: NOW_MS + 5_000,
            }],
        },
        floor: Seq(1),
        synced: Seq(5),
        delivered: Seq(5),
        read_log: Vec::new(),
    })
}

fn check(ok: bool, what: &str) -> Result<(), Box<dyn Error>> {
    if ok {
        Ok(())
    } else {
        Err(format!("the exchange went wrong: {what}").into())
    }
}
