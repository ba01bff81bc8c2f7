//! What IndexedDB holds is unreadable without the keys: no content, no names, no chat ids.
//!
//! Writes an account, chats, messages, an outbox entry, a draft, a hidden message, the
//! settings, a segment of the local search index and a device's end-to-end key state with
//! distinctive strings through `IdbStore`, then reads every raw record — keys and values —
//! with plain IndexedDB reads and looks for those strings, and for the key state's names,
//! pickles and public identity keys. Also checks that the device key reopens the store as a reload
//! does, and that deleting the database (signing out) leaves nothing behind.

use indexed_db_futures::database::Database;
use indexed_db_futures::prelude::*;
use merpati_app::services::device_key;
use merpati_app::services::idb_store::{self, ALL_STORES, IdbStore, KEYS};
use merpati_core::crypto::{AccountKey, KdfParams, StoreCipher};
use merpati_core::e2e::{CryptoRecord, CryptoRecordKey, DeviceCrypto};
use merpati_core::search::{SearchDoc, SearchSegment};
use merpati_core::{
    AccountRecord, AccountSecrets, ChatRecord, DraftRecord, HiddenRecord, MessageRecord,
    OutboxRecord, PrivacySettings, SettingsRecord, Store, StoreWrite,
};
use merpati_protocol::content::MessageContent;
use merpati_protocol::keys::UserKeys;
use merpati_protocol::{
    ChatId, ChatInfo, ChatKind, ClientMsgId, Epoch, Member, Seq, UserId, Username,
};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

const FAMILY_CHAT: ChatId = ChatId(987_654_321);
const WORK_CHAT: ChatId = ChatId(123_456_789_012);

/// Strings that must not appear anywhere in the database.
const SECRETS: [&str; 10] = [
    "zamrud_khatulistiwa", // my username
    "pakde_harjosuwito",   // a member
    "bude_suminahwati",    // a member
    "Arisan Keluarga Besar Harjosuwito",
    "Proyek Jembatan Merah Putih",
    "kopi luwak di teras belakang",
    "rapat dipindah ke hari kamis",
    "jangan lupa bawa payung kuning",
    "surat untuk pak lurah belum selesai", // a draft
    "luwak",                               // one word, as a search index might keep it
];

/// The account's passphrase-derived secrets, kept (sealed) so other tabs can become devices.
const ACCOUNT_SECRET: [u8; 32] = [0xa7; 32];
const BACKUP_SECRET: [u8; 32] = [0xb8; 32];

fn ok<T, E: std::fmt::Display>(result: Result<T, E>) -> T {
    result.unwrap_or_else(|error| panic!("{error}"))
}

fn member(id: u64, name: &str) -> Member {
    Member {
        id: UserId(id),
        username: ok(Username::parse(name)),
    }
}

fn chat(id: ChatId, title: &str) -> ChatRecord {
    ChatRecord {
        info: ChatInfo {
            id,
            kind: ChatKind::Group,
            title: title.to_owned(),
            members: vec![
                member(1, SECRETS[0]),
                member(2, SECRETS[1]),
                member(3, SECRETS[2]),
            ],
            head: Seq(2),
            read: Seq(1),
            created_ms: 1_700_000_000_000,
            admins: vec![UserId(1)],
            receipts: Vec::new(),
        },
        floor: Seq(1),
        synced: Seq(2),
        delivered: Seq(2),
        read_log: Vec::new(),
    }
}

fn message(chat: ChatId, seq: u64, text: &str) -> MessageRecord {
    MessageRecord {
        chat_id: chat,
        seq: Seq(seq),
        client_msg_id: ClientMsgId([seq as u8; 16]),
        sender: UserId(2),
        sent_at_ms: 1_700_000_000_000 + seq,
        body: MessageContent::Text {
            text: text.to_owned(),
        }
        .to_body(),
    }
}

fn account() -> AccountRecord {
    AccountRecord {
        me: member(1, SECRETS[0]),
        session_token: [7; 32],
        epoch: Some(Epoch(3)),
        secrets: AccountSecrets {
            account_key: ACCOUNT_SECRET,
            backup_key: BACKUP_SECRET,
        },
    }
}

fn outbox() -> OutboxRecord {
    OutboxRecord {
        chat_id: WORK_CHAT,
        client_msg_id: ClientMsgId([0xab; 16]),
        body: MessageContent::Text {
            text: SECRETS[7].to_owned(),
        }
        .to_body(),
        created_ms: 1_700_000_000_500,
        order: 1,
        failure: None,
        sent: true,
    }
}

fn draft() -> DraftRecord {
    DraftRecord {
        chat_id: WORK_CHAT,
        text: SECRETS[8].to_owned(),
    }
}

fn hidden() -> HiddenRecord {
    HiddenRecord {
        chat_id: FAMILY_CHAT,
        client_msg_id: ClientMsgId([2; 16]),
    }
}

fn search_segment() -> SearchSegment {
    SearchSegment {
        id: 1,
        docs: vec![SearchDoc {
            id: ClientMsgId([0x51; 16]),
            chat_id: FAMILY_CHAT,
            seq: Seq(1),
            sender: UserId(2),
            sent_at_ms: 1_700_000_000_000,
            text: Some("kopi luwak di teras belakang".to_owned()),
        }],
    }
}

fn settings() -> SettingsRecord {
    SettingsRecord {
        privacy: PrivacySettings {
            share_read_receipts: false,
            share_presence: false,
        },
        blocked: [UserId(3)].into(),
    }
}

/// Another person's public account key, as the key directory gives it.
fn pinned_key() -> [u8; 32] {
    let key = ok(AccountKey::derive(
        &ok(Username::parse(SECRETS[1])),
        "another long passphrase",
        None,
        KdfParams::FAST_INSECURE,
    ));
    *key.auth_key().public_key().as_bytes()
}

/// A real device's end-to-end key state (its Olm account, and the pinned key of a member) as
/// the engine hands it to the store, with the device's public identity keys.
fn device_crypto() -> (Vec<CryptoRecord>, Vec<[u8; 32]>) {
    let key = account_key();
    let mut crypto = ok(DeviceCrypto::new(
        UserId(1),
        &key.auth_key(),
        key.backup_key(),
    ));
    crypto.on_keys(
        vec![UserKeys {
            user: UserId(2),
            account_key: pinned_key(),
            devices: Vec::new(),
        }],
        1_700_000_000_000,
    );
    let records = crypto
        .take_writes()
        .into_iter()
        .filter_map(|(key, value)| Some(CryptoRecord { key, value: value? }))
        .collect();
    let identity = vec![crypto.device().device.0, crypto.device_keys().ed25519];
    (records, identity)
}

fn writes(crypto: &[CryptoRecord]) -> Vec<StoreWrite> {
    let mut writes = vec![
        StoreWrite::PutAccount(account()),
        StoreWrite::PutChat(chat(FAMILY_CHAT, SECRETS[3])),
        StoreWrite::PutChat(chat(WORK_CHAT, SECRETS[4])),
        StoreWrite::PutMessages(vec![
            message(FAMILY_CHAT, 1, SECRETS[5]),
            message(FAMILY_CHAT, 2, "sampai jumpa"),
            message(WORK_CHAT, 1, SECRETS[6]),
        ]),
        StoreWrite::PutOutbox(outbox()),
        StoreWrite::PutDraft(draft()),
        StoreWrite::HideMessage(hidden()),
        StoreWrite::PutSettings(settings()),
        StoreWrite::PutSearchSegment(search_segment()),
    ];
    writes.extend(crypto.iter().cloned().map(StoreWrite::PutCrypto));
    writes
}

fn account_key() -> AccountKey {
    ok(AccountKey::derive(
        &ok(Username::parse(SECRETS[0])),
        "correct horse battery",
        None,
        KdfParams::FAST_INSECURE,
    ))
}

/// A database with every kind of record written through `IdbStore`, and both key wrappings;
/// also the crypto records written, and the device's public identity keys.
async fn populated(name: &str) -> (IdbStore, StoreCipher, Vec<CryptoRecord>, Vec<[u8; 32]>) {
    let cipher = ok(StoreCipher::generate());
    let store = ok(IdbStore::open(name, cipher.clone()).await);
    ok(device_key::protect(
        store.database(),
        &cipher,
        &account_key().wrapping_key(),
        UserId(1),
    )
    .await);
    let (crypto, identity) = device_crypto();
    ok(store.apply(writes(&crypto)).await);
    (store, cipher, crypto, identity)
}

fn unique_name(what: &str) -> String {
    format!("merpati-test-{what}-{}", js_sys::Math::random())
}

/// Everything a raw record reveals, as bytes to search: strings and numbers as text, byte
/// arrays as they are, arrays element by element, other objects as JSON.
fn exposed(value: &JsValue, out: &mut Vec<Vec<u8>>) {
    if let Some(text) = value.as_string() {
        out.push(text.into_bytes());
    } else if let Some(number) = value.as_f64() {
        out.push(number.to_string().into_bytes());
    } else if let Some(bytes) = value.dyn_ref::<js_sys::Uint8Array>() {
        out.push(bytes.to_vec());
    } else if let Some(array) = value.dyn_ref::<js_sys::Array>() {
        array.iter().for_each(|item| exposed(&item, out));
    } else if value.is_instance_of::<web_sys::CryptoKey>() {
        // Opaque by construction; checked to be non-extractable separately.
    } else if let Ok(json) = js_sys::JSON::stringify(value) {
        out.push(String::from(json).into_bytes());
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

/// Every raw key and value of one object store, read with plain IndexedDB calls.
async fn raw_records(db: &Database, store_name: &str) -> (Vec<JsValue>, Vec<JsValue>) {
    let tx = ok(db.transaction(store_name).build());
    let store = ok(tx.object_store(store_name));
    let keys = ok(ok(store.get_all_keys::<JsValue>().primitive()).await);
    let values = ok(ok(store.get_all::<JsValue>().primitive()).await);
    (keys.map(ok).collect(), values.map(ok).collect())
}

#[wasm_bindgen_test]
async fn no_content_names_or_chat_ids_are_readable_in_indexeddb() {
    let name = unique_name("at-rest");
    let (store, _, crypto, identity) = populated(&name).await;
    store.close();
    let pinned = pinned_key();
    assert!(
        crypto
            .iter()
            .any(|record| record.key == CryptoRecordKey::Account)
            && crypto
                .iter()
                .any(|record| record.key == CryptoRecordKey::KnownUser(UserId(2))),
        "the Olm account and a pinned key are among the records"
    );

    let db = ok(Database::open(name.as_str()).await);
    let mut keys_seen = 0;
    let mut values_seen = 0;
    for store_name in ALL_STORES {
        let (keys, values) = raw_records(&db, store_name).await;
        keys_seen += keys.len();
        values_seen += values.len();
        let mut key_bytes = Vec::new();
        keys.iter().for_each(|key| exposed(key, &mut key_bytes));
        let mut value_bytes = Vec::new();
        values
            .iter()
            .for_each(|value| exposed(value, &mut value_bytes));
        for secret in SECRETS {
            for bytes in key_bytes.iter().chain(&value_bytes) {
                assert!(
                    !contains(bytes, secret.as_bytes()),
                    "`{secret}` is readable in the `{store_name}` store"
                );
            }
        }
        for bytes in key_bytes.iter().chain(&value_bytes) {
            for record in &crypto {
                let stored_key = record.key.to_stored();
                assert!(
                    !contains(bytes, stored_key.as_bytes()),
                    "the crypto record name `{stored_key}` is readable in the `{store_name}` store"
                );
                assert!(
                    record.value.len() < 16 || !contains(bytes, &record.value),
                    "the crypto record `{stored_key}` (a pickle) is readable in the `{store_name}` store"
                );
            }
            for key in &identity {
                assert!(
                    !contains(bytes, key),
                    "a device identity key is readable in the `{store_name}` store"
                );
            }
            assert!(
                !contains(bytes, &pinned),
                "a pinned account key is readable in the `{store_name}` store"
            );
            assert!(
                !contains(bytes, &ACCOUNT_SECRET) && !contains(bytes, &BACKUP_SECRET),
                "the account's secrets are readable in the `{store_name}` store"
            );
        }
        for chat_id in [FAMILY_CHAT, WORK_CHAT] {
            let decimal = chat_id.0.to_string();
            for bytes in &key_bytes {
                assert!(
                    !contains(bytes, decimal.as_bytes()),
                    "chat id {decimal} is readable in a key of the `{store_name}` store"
                );
                assert!(!contains(bytes, &chat_id.0.to_be_bytes()));
                assert!(!contains(bytes, &chat_id.0.to_le_bytes()));
            }
        }
    }
    // account 1, chats 2, message pages 2 (the family chat's two messages share one), outbox
    // 1, keys 4 (two wrappings, the device key, the account the store is for), drafts 1,
    // hidden 1, settings 1, search 1, and the crypto records.
    assert_eq!(keys_seen, 14 + crypto.len(), "every record was written");
    assert_eq!(values_seen, 14 + crypto.len());

    // The search is not vacuous: unsealed, a record's text would have been found.
    let mut plain = Vec::new();
    exposed(
        &js_sys::Uint8Array::from(message(WORK_CHAT, 1, SECRETS[6]).body.as_slice()).into(),
        &mut plain,
    );
    assert!(contains(&plain[0], SECRETS[6].as_bytes()));
    db.close();
    ok(idb_store::delete_database(&name).await);
}

#[wasm_bindgen_test]
async fn the_device_key_is_kept_non_extractable() {
    let name = unique_name("device-key");
    let (store, ..) = populated(&name).await;
    let tx = ok(store.database().transaction(KEYS).build());
    let keys = ok(tx.object_store(KEYS));
    let device_key: Option<JsValue> = ok(ok(keys.get(device_key::DEVICE_KEY).primitive()).await);
    let device_key: web_sys::CryptoKey = ok(device_key
        .expect("a device key is stored")
        .dyn_into()
        .map_err(|_| "not a CryptoKey"));
    assert!(
        !device_key.extractable(),
        "the device key must not be extractable"
    );
    drop(tx);
    store.close();
    ok(idb_store::delete_database(&name).await);
}

#[wasm_bindgen_test]
async fn a_reload_reopens_the_store_with_the_device_key() {
    let name = unique_name("reload");
    let (store, cipher, crypto, _) = populated(&name).await;
    store.close();

    // As a reload does: open the database, unwrap the store key with the device key.
    let db = ok(idb_store::open_database(&name).await);
    let reopened = ok(device_key::unlock_with_device(&db).await).expect("device wrapping exists");
    assert_eq!(reopened.export_key(), cipher.export_key());
    let store = IdbStore::from_parts(db, reopened);
    assert_eq!(ok(store.account().await), Some(account()));
    let mut chats = ok(store.chats().await);
    chats.sort_by_key(|chat| chat.info.id);
    assert_eq!(
        chats,
        vec![chat(FAMILY_CHAT, SECRETS[3]), chat(WORK_CHAT, SECRETS[4])]
    );
    assert_eq!(
        ok(store.messages_before(FAMILY_CHAT, Seq(u64::MAX), 10).await),
        vec![
            message(FAMILY_CHAT, 1, SECRETS[5]),
            message(FAMILY_CHAT, 2, "sampai jumpa")
        ]
    );
    assert_eq!(ok(store.outbox().await), vec![outbox()]);
    assert_eq!(ok(store.drafts().await), vec![draft()]);
    assert_eq!(ok(store.hidden().await), vec![hidden()]);
    assert_eq!(ok(store.settings().await), Some(settings()));
    let mut restored = ok(store.crypto().await);
    restored.sort_by(|a, b| a.key.cmp(&b.key));
    let mut written = crypto;
    written.sort_by(|a, b| a.key.cmp(&b.key));
    assert_eq!(
        restored, written,
        "the key state comes back whole, names included"
    );
    assert!(
        DeviceCrypto::restore(restored).is_some(),
        "and the device's keys restore from it"
    );

    // The passphrase opens it too, and only the right one.
    let by_passphrase = ok(device_key::unlock_with_passphrase(
        store.database(),
        &account_key().wrapping_key(),
    )
    .await)
    .expect("passphrase wrapping exists");
    assert_eq!(by_passphrase.export_key(), cipher.export_key());
    let wrong = ok(AccountKey::derive(
        &ok(Username::parse(SECRETS[0])),
        "wrong horse battery",
        None,
        KdfParams::FAST_INSECURE,
    ));
    assert!(
        device_key::unlock_with_passphrase(store.database(), &wrong.wrapping_key())
            .await
            .is_err()
    );

    store.close();
    ok(idb_store::delete_database(&name).await);
}

#[wasm_bindgen_test]
async fn signing_out_deletes_the_database_and_leaves_nothing() {
    let name = unique_name("sign-out");
    let (store, ..) = populated(&name).await;
    store.close();
    ok(idb_store::delete_database(&name).await);

    // Opening the name again finds a brand-new, empty database: no stores, no keys.
    let db = ok(Database::open(name.as_str()).await);
    assert_eq!(
        db.object_store_names().count(),
        0,
        "nothing of the old database remains"
    );
    db.close();
    ok(idb_store::delete_database(&name).await);
}
