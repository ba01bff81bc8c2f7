//! The IndexedDB store passes the one store suite every `Store` backend passes, in Chromium.

use merpati_app::services::idb_store::IdbStore;
use merpati_core::crypto::StoreCipher;
use merpati_core::e2e::{CryptoRecord, CryptoRecordKey};
use wasm_bindgen::JsValue;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

/// A store in a database of its own, sealed under a new key.
async fn fresh_store() -> IdbStore {
    let name = format!("merpati-test-store-{}", js_sys::Math::random());
    let cipher = StoreCipher::generate().unwrap_or_else(|error| panic!("cipher: {error}"));
    IdbStore::open(&name, cipher)
        .await
        .unwrap_or_else(|error| panic!("open {name}: {error}"))
}

merpati_core::store_suite_tests!(wasm_bindgen_test, async { fresh_store().await });

/// A browser signed in before end-to-end encryption holds a version 1 database: opening it
/// adds the `crypto` store and those of version 3 (drafts, hidden messages, settings), and
/// keeps what was there.
#[wasm_bindgen_test]
async fn a_version_1_database_gains_the_later_stores_and_keeps_its_records() {
    use indexed_db_futures::database::Database;
    use indexed_db_futures::prelude::*;
    use indexed_db_futures::transaction::TransactionMode;
    use merpati_app::services::idb_store::{
        self, ACCOUNT, CHATS, CRYPTO, DRAFTS, HIDDEN, KEYS, MESSAGE_PAGES, MESSAGES, OUTBOX,
        SEARCH, SETTINGS, UPLOADS,
    };

    let name = format!("merpati-test-upgrade-{}", js_sys::Math::random());
    let old = Database::open(name.as_str())
        .with_version(1u8)
        .with_on_upgrade_needed(|_, db: Database| {
            for store in [ACCOUNT, CHATS, MESSAGES, OUTBOX, KEYS] {
                db.create_object_store(store).build()?;
            }
            Ok(())
        })
        .await
        .unwrap_or_else(|error| panic!("open version 1: {error}"));
    let tx = old
        .transaction(KEYS)
        .with_mode(TransactionMode::Readwrite)
        .build()
        .unwrap_or_else(|error| panic!("{error}"));
    tx.object_store(KEYS)
        .unwrap_or_else(|error| panic!("{error}"))
        .put("kept")
        .with_key("a key record")
        .without_key_type()
        .primitive()
        .unwrap_or_else(|error| panic!("{error}"));
    tx.commit().await.unwrap_or_else(|error| panic!("{error}"));
    old.close();

    let db = idb_store::open_database(&name)
        .await
        .unwrap_or_else(|error| panic!("upgrade: {error}"));
    let mut stores: Vec<String> = db.object_store_names().collect();
    stores.sort();
    let mut expected = vec![
        ACCOUNT,
        CHATS,
        CRYPTO,
        KEYS,
        MESSAGES,
        OUTBOX,
        DRAFTS,
        HIDDEN,
        SETTINGS,
        SEARCH,
        MESSAGE_PAGES,
        UPLOADS,
    ];
    expected.sort();
    assert_eq!(stores, expected);
    let tx = db
        .transaction(KEYS)
        .build()
        .unwrap_or_else(|error| panic!("{error}"));
    let kept: Option<String> = tx
        .object_store(KEYS)
        .unwrap_or_else(|error| panic!("{error}"))
        .get("a key record")
        .primitive()
        .unwrap_or_else(|error| panic!("{error}"))
        .await
        .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(kept.as_deref(), Some("kept"));
    drop(tx);
    db.close();
    idb_store::delete_database(&name)
        .await
        .unwrap_or_else(|error| panic!("{error}"));
}

fn record(key: CryptoRecordKey, value: &[u8]) -> CryptoRecord {
    CryptoRecord {
        key,
        value: value.to_vec(),
    }
}

fn session(id: &str) -> CryptoRecordKey {
    CryptoRecordKey::InboundGroupSession(id.to_owned())
}

/// Two tabs share the database but are two devices: each reads and clears only its own slot.
#[wasm_bindgen_test]
async fn each_device_slot_keeps_its_own_key_state() {
    use merpati_app::services::idb_store;
    use merpati_core::{Store, StoreWrite};

    let name = format!("merpati-test-slots-{}", js_sys::Math::random());
    let cipher = StoreCipher::generate().unwrap_or_else(|error| panic!("cipher: {error}"));
    let open = |slot: u32| {
        let (name, cipher) = (name.clone(), cipher.clone());
        async move {
            IdbStore::open(&name, cipher)
                .await
                .unwrap_or_else(|error| panic!("open: {error}"))
                .with_device_slot(slot)
        }
    };
    let first = open(0).await;
    let second = open(1).await;
    let ok = |result: Result<(), idb_store::StoreError>| {
        result.unwrap_or_else(|error| panic!("{error}"));
    };
    ok(first
        .apply(vec![
            StoreWrite::PutCrypto(record(CryptoRecordKey::Account, b"first tab")),
            StoreWrite::PutCrypto(record(session("s1"), b"session")),
        ])
        .await);
    assert!(
        second.crypto().await.unwrap_or_default().is_empty(),
        "a new tab finds no device"
    );
    ok(second
        .apply(vec![StoreWrite::PutCrypto(record(
            CryptoRecordKey::Account,
            b"second tab",
        ))])
        .await);

    let mut mine = first.crypto().await.unwrap_or_default();
    mine.sort_by(|a, b| a.key.cmp(&b.key));
    assert_eq!(
        mine,
        [
            record(CryptoRecordKey::Account, b"first tab"),
            record(session("s1"), b"session")
        ]
    );
    assert_eq!(
        second.crypto().await.unwrap_or_default(),
        [record(CryptoRecordKey::Account, b"second tab")]
    );

    ok(second.clear_device_slot().await);
    assert!(second.crypto().await.unwrap_or_default().is_empty());
    assert_eq!(first.crypto().await.unwrap_or_default().len(), 2);
    first.close();
    second.close();
    ok(idb_store::delete_database(&name).await);
}

/// Key state written before record keys were typed — sealed `{ key, value }` under the hash
/// of the key's string — reads back under its typed key; a record of a kind this version does
/// not know (a newer one wrote it) is skipped, and the rest still comes back.
#[wasm_bindgen_test]
async fn earlier_key_state_reads_back_and_an_unknown_kind_of_record_is_skipped() {
    use indexed_db_futures::prelude::*;
    use indexed_db_futures::transaction::TransactionMode;
    use merpati_app::services::idb_store::{self, CRYPTO};
    use merpati_core::Store;

    let name = format!("merpati-test-earlier-{}", js_sys::Math::random());
    let cipher = StoreCipher::generate().unwrap_or_else(|error| panic!("cipher: {error}"));
    let store = IdbStore::open(&name, cipher.clone())
        .await
        .unwrap_or_else(|error| panic!("open {name}: {error}"));
    let hex =
        |bytes: [u8; 32]| -> String { bytes.iter().map(|byte| format!("{byte:02x}")).collect() };
    // Written as `IdbStore` always laid a record out: in device slot 0, under the keyed hash
    // of the key's stored form, the key and value sealed together.
    let slot = hex(cipher.keyed_hash(b"device-slot", &0u32.to_be_bytes()));
    let tx = store
        .database()
        .transaction(CRYPTO)
        .with_mode(TransactionMode::Readwrite)
        .build()
        .unwrap_or_else(|error| panic!("{error}"));
    let object_store = tx
        .object_store(CRYPTO)
        .unwrap_or_else(|error| panic!("{error}"));
    for (key, value) in [
        ("in/s1", b"kept".as_slice()),
        ("later/1", b"from a newer version"),
    ] {
        let index_key = js_sys::Array::of2(
            &JsValue::from_str(&slot),
            &JsValue::from_str(&hex(cipher.keyed_hash(CRYPTO.as_bytes(), key.as_bytes()))),
        );
        let sealed = cipher
            .seal_value(CRYPTO.as_bytes(), &(key, value.to_vec()))
            .unwrap_or_else(|error| panic!("{error}"));
        object_store
            .put(JsValue::from(js_sys::Uint8Array::from(sealed.as_slice())))
            .with_key(JsValue::from(index_key))
            .without_key_type()
            .primitive()
            .unwrap_or_else(|error| panic!("{error}"));
    }
    drop(object_store);
    tx.commit().await.unwrap_or_else(|error| panic!("{error}"));

    let read = store
        .crypto()
        .await
        .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(read, [record(session("s1"), b"kept")]);
    // The typed key reaches the same record: once it is removed, only the skipped one is left.
    store
        .apply(vec![merpati_core::StoreWrite::RemoveCrypto(session("s1"))])
        .await
        .unwrap_or_else(|error| panic!("{error}"));
    assert!(store.crypto().await.unwrap_or_default().is_empty());
    store.close();
    idb_store::delete_database(&name)
        .await
        .unwrap_or_else(|error| panic!("{error}"));
}

/// A page holds its slot: asking again (another tab would) gets the next one.
#[wasm_bindgen_test]
async fn a_second_tab_claims_the_next_device_slot() {
    let name = format!("merpati-test-claim-{}", js_sys::Math::random());
    let first = merpati_app::services::device_slot::claim(&name).await;
    let second = merpati_app::services::device_slot::claim(&name).await;
    assert_eq!((first, second), (0, 1));
}

/// A browser of schema 4 stored one record per message in `messages`; opened by this version,
/// those messages are still read (newest first, beside those written since into
/// `message_pages`), a message written again since wins over its old record, and one deleted
/// for everyone loses its body there too.
#[wasm_bindgen_test]
async fn messages_stored_one_per_record_by_schema_4_are_still_read() {
    use indexed_db_futures::prelude::*;
    use indexed_db_futures::transaction::TransactionMode;
    use merpati_app::services::idb_store::{self, MESSAGES};
    use merpati_core::{MessageRecord, Store, StoreWrite};
    use merpati_protocol::{ChatId, ClientMsgId, Seq, UserId};

    let message = |seq: u64, text: &str| MessageRecord {
        chat_id: ChatId(9),
        seq: Seq(seq),
        client_msg_id: ClientMsgId([seq as u8; 16]),
        sender: UserId(2),
        sent_at_ms: 1_000 * seq,
        body: text.as_bytes().to_vec(),
    };
    let name = format!("merpati-test-legacy-{}", js_sys::Math::random());
    let cipher = StoreCipher::generate().unwrap_or_else(|error| panic!("cipher: {error}"));
    let db = idb_store::open_database(&name)
        .await
        .unwrap_or_else(|error| panic!("open: {error}"));
    // As schema 4 wrote them: sealed alone, under [keyed hash of the chat, seq].
    let chat_hash: String = cipher
        .keyed_hash(b"chat", &9u64.to_be_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    let tx = db
        .transaction(MESSAGES)
        .with_mode(TransactionMode::Readwrite)
        .build()
        .unwrap_or_else(|error| panic!("{error}"));
    for seq in 1..=3 {
        let sealed = cipher
            .seal_value(MESSAGES.as_bytes(), &message(seq, "lama"))
            .unwrap_or_else(|error| panic!("{error}"));
        let key: JsValue = js_sys::Array::of2(
            &JsValue::from_str(&chat_hash),
            &JsValue::from_f64(seq as f64),
        )
        .into();
        tx.object_store(MESSAGES)
            .unwrap_or_else(|error| panic!("{error}"))
            .put(JsValue::from(js_sys::Uint8Array::from(sealed.as_slice())))
            .with_key(key)
            .without_key_type()
            .primitive()
            .unwrap_or_else(|error| panic!("{error}"));
    }
    tx.commit().await.unwrap_or_else(|error| panic!("{error}"));

    let store = IdbStore::from_parts(db, cipher);
    store
        .apply(vec![StoreWrite::PutMessages(vec![
            message(3, "diganti"),
            message(4, "baru"),
        ])])
        .await
        .unwrap_or_else(|error| panic!("{error}"));
    let read = store
        .messages_before(ChatId(9), Seq(u64::MAX), 10)
        .await
        .unwrap_or_else(|error| panic!("{error}"));
    let texts: Vec<(u64, String)> = read
        .iter()
        .map(|message| {
            (
                message.seq.0,
                String::from_utf8_lossy(&message.body).into_owned(),
            )
        })
        .collect();
    assert_eq!(
        texts,
        [
            (1, "lama".to_owned()),
            (2, "lama".to_owned()),
            (3, "diganti".to_owned()),
            (4, "baru".to_owned())
        ]
    );
    let newest_two = store
        .messages_before(ChatId(9), Seq(u64::MAX), 2)
        .await
        .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(newest_two, vec![message(3, "diganti"), message(4, "baru")]);

    // Its sender deleted message 2 for everyone: its ciphertext is kept nowhere.
    store
        .apply(vec![StoreWrite::EraseMessage {
            chat_id: ChatId(9),
            client_msg_id: ClientMsgId([2; 16]),
            sender: UserId(2),
        }])
        .await
        .unwrap_or_else(|error| panic!("{error}"));
    let read = store
        .messages_before(ChatId(9), Seq(3), 10)
        .await
        .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(read, vec![message(1, "lama"), message(2, "")]);
    let tx = store
        .database()
        .transaction(MESSAGES)
        .build()
        .unwrap_or_else(|error| panic!("{error}"));
    let kept = tx
        .object_store(MESSAGES)
        .unwrap_or_else(|error| panic!("{error}"))
        .count()
        .primitive()
        .unwrap_or_else(|error| panic!("{error}"))
        .await
        .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(kept, 2, "the old record of message 2 is gone");
    drop(tx);
    store.close();
    idb_store::delete_database(&name)
        .await
        .unwrap_or_else(|error| panic!("{error}"));
}

/// A file's kept ciphertext stays through other writes and goes with the batch that names it
/// (`StoreWrite::RemoveUpload`, written when its message leaves the outbox); another file's
/// stays.
#[wasm_bindgen_test]
async fn a_kept_upload_goes_with_the_write_that_names_it() {
    use merpati_core::{Store, StoreWrite};
    use merpati_protocol::{BlobId, ClientMsgId};

    let store = fresh_store().await;
    let (sent, other) = (BlobId([1; 16]), BlobId([2; 16]));
    for blob in [sent, other] {
        let parts = js_sys::Array::of1(&js_sys::Uint8Array::from(&blob.0[..]));
        let ciphertext = web_sys::Blob::new_with_u8_array_sequence(&parts)
            .unwrap_or_else(|error| panic!("a blob: {error:?}"));
        store
            .put_upload(blob, &ciphertext)
            .await
            .unwrap_or_else(|error| panic!("kept: {error}"));
    }
    let kept = |blob| {
        let store = &store;
        async move {
            store
                .upload(blob)
                .await
                .unwrap_or_else(|error| panic!("read: {error}"))
                .is_some()
        }
    };
    store
        .apply(vec![
            StoreWrite::RemoveOutbox(ClientMsgId([1; 16])),
            StoreWrite::RemoveUpload(sent),
        ])
        .await
        .unwrap_or_else(|error| panic!("applied: {error}"));
    assert!(!kept(sent).await, "gone with its message");
    assert!(kept(other).await, "another file's copy stays");
}

/// A new store, opened twice as two tabs of one browser open it: its name, and the two.
async fn two_tabs(prefix: &str) -> (String, IdbStore, IdbStore) {
    let name = format!("{prefix}-{}", js_sys::Math::random());
    let cipher = StoreCipher::generate().unwrap_or_else(|error| panic!("cipher: {error}"));
    let open = || {
        let (name, cipher) = (name.clone(), cipher.clone());
        async move {
            IdbStore::open(&name, cipher)
                .await
                .unwrap_or_else(|error| panic!("open: {error}"))
        }
    };
    let (first, second) = (open().await, open().await);
    (name, first, second)
}

/// Message `[n; 16]` of `chat` in the outbox (its body `[n]`, its order `n`), `sent` or
/// waiting.
fn outbox_record(chat: merpati_protocol::ChatId, n: u8, sent: bool) -> merpati_core::OutboxRecord {
    merpati_core::OutboxRecord {
        chat_id: chat,
        client_msg_id: merpati_protocol::ClientMsgId([n; 16]),
        body: vec![n],
        created_ms: 1,
        order: u64::from(n),
        failure: None,
        sent,
    }
}

/// What a store call answered, or a panic naming `what` failed.
fn done<T>(what: &str, result: Result<T, merpati_app::services::idb_store::StoreError>) -> T {
    result.unwrap_or_else(|error| panic!("{what}: {error}"))
}

/// Message `id` of `chat` heard stored in `tab`: in one batch, it leaves the outbox and enters
/// the chat's stored messages, as the engine writes an acknowledgement.
async fn heard_stored(
    tab: &IdbStore,
    chat: merpati_protocol::ChatId,
    id: merpati_protocol::ClientMsgId,
) {
    use merpati_core::{MessageRecord, Store, StoreWrite};
    let delivered = MessageRecord {
        chat_id: chat,
        seq: merpati_protocol::Seq(1),
        client_msg_id: id,
        sender: merpati_protocol::UserId(1),
        sent_at_ms: 2,
        body: vec![1],
    };
    let acknowledged = tab
        .apply(vec![
            StoreWrite::RemoveOutbox(id),
            StoreWrite::PutMessages(vec![delivered]),
        ])
        .await;
    done("acknowledged", acknowledged);
}

/// Two tabs share the outbox, and decide there, one transaction each, whether a message with
/// a file goes or is taken back: once one tab claimed it for sending, the other cannot take
/// it back, and once one took it back, the other cannot claim it. A message gone from the
/// outbox was delivered if its chat's stored messages hold it, and taken back otherwise.
#[wasm_bindgen_test]
async fn a_file_is_claimed_for_sending_or_taken_back_once_whichever_tab_asks() {
    use merpati_app::services::idb_store::{self, Standing, TakingBack};
    use merpati_core::{OutboxRecord, Store, StoreWrite};
    use merpati_protocol::{ChatId, ClientMsgId};

    let (name, sending_tab, other_tab) = two_tabs("merpati-test-shared-outbox").await;
    let chat = ChatId(7);
    let id = |n: u8| ClientMsgId([n; 16]);
    let waiting = |n: u8| outbox_record(chat, n, false);
    let writes = (1..=3).map(|n| StoreWrite::PutOutbox(waiting(n))).collect();
    done("queued", sending_tab.apply(writes).await);

    // Claimed in one tab: the other cannot take it back.
    let claimed = sending_tab.claim_for_sending(chat, id(1), None).await;
    assert_eq!(done("claim", claimed), Standing::Claimed);
    let refused = other_tab.take_back_unsent(chat, id(1)).await;
    assert_eq!(done("take back", refused), TakingBack::AlreadySent);

    // Taken back in one tab: the other cannot claim it, and finds it gone.
    let taken = other_tab.take_back_unsent(chat, id(2)).await;
    assert_eq!(done("take back", taken), TakingBack::TakenBack);
    let claimed = sending_tab.claim_for_sending(chat, id(2), None).await;
    assert_eq!(
        done("claim", claimed),
        Standing::TakenBack,
        "claimed after it was taken back"
    );
    let again = sending_tab.take_back_unsent(chat, id(2)).await;
    assert_eq!(done("take back", again), TakingBack::Gone);

    // Claimed with the record the step sending it wrote: that record is kept.
    let as_sent = OutboxRecord {
        sent: true,
        ..waiting(3)
    };
    let claimed = sending_tab
        .claim_for_sending(chat, id(3), Some(&as_sent))
        .await;
    assert_eq!(done("claim", claimed), Standing::Claimed);

    // Acknowledged in the sending tab: it leaves the outbox as it enters the chat's messages.
    heard_stored(&sending_tab, chat, id(1)).await;
    let refused = other_tab.take_back_unsent(chat, id(1)).await;
    assert_eq!(done("take back", refused), TakingBack::AlreadySent);

    let mut left = done("outbox", other_tab.outbox().await);
    left.sort_by_key(|record| record.order);
    assert_eq!(left, [as_sent]);
    sending_tab.close();
    other_tab.close();
    done("deleted", idb_store::delete_database(&name).await);
}

/// A tab whose copy of the outbox still holds a message another tab sent asks the shared one
/// where it stands: waiting for its upload, claimed, delivered (gone into its chat's stored
/// messages) or taken back (gone). Claimed once delivered, it is found delivered — it may go
/// again, the server acknowledging it once more — and its record is not put back; a record
/// rewritten only where it is held is not put back either, once taken back.
#[wasm_bindgen_test]
async fn a_file_delivered_from_another_tab_reads_as_delivered_and_is_not_put_back() {
    use merpati_app::services::idb_store::{self, Standing};
    use merpati_core::{Store, StoreWrite};
    use merpati_protocol::{ChatId, ClientMsgId};

    let (name, sending_tab, other_tab) = two_tabs("merpati-test-delivered").await;
    let chat = ChatId(7);
    let id = |n: u8| ClientMsgId([n; 16]);
    let record = |n: u8, sent: bool| outbox_record(chat, n, sent);
    let writes = (1..=3)
        .map(|n| StoreWrite::PutOutbox(record(n, false)))
        .collect();
    done("queued", sending_tab.apply(writes).await);
    let standing = |n: u8| other_tab.standing(chat, id(n));
    assert_eq!(done("standing", standing(1).await), Standing::Waiting);

    // Claimed and sent from one tab, then heard stored there.
    let claimed = sending_tab.claim_for_sending(chat, id(1), None).await;
    assert_eq!(done("claim", claimed), Standing::Claimed);
    assert_eq!(done("standing", standing(1).await), Standing::Claimed);
    heard_stored(&sending_tab, chat, id(1)).await;
    assert_eq!(done("standing", standing(1).await), Standing::Delivered);

    // The other tab, sending it too from its copy, finds it delivered, and writes nothing.
    let claimed = other_tab
        .claim_for_sending(chat, id(1), Some(&record(1, true)))
        .await;
    assert_eq!(done("claim", claimed), Standing::Delivered);
    let rewritten = other_tab.rewrite_if_held(&record(1, true)).await;
    assert!(!done("rewrite", rewritten), "a delivered message put back");

    // Taken back in one tab: the other's record of it is not put back.
    let taken = other_tab.take_back_unsent(chat, id(2)).await;
    done("take back", taken);
    assert_eq!(done("standing", standing(2).await), Standing::TakenBack);
    let rewritten = sending_tab.rewrite_if_held(&record(2, true)).await;
    assert!(!done("rewrite", rewritten), "a message taken back put back");

    // Still held: rewritten.
    let rewritten = sending_tab.rewrite_if_held(&record(3, true)).await;
    assert!(done("rewrite", rewritten));
    let left = done("outbox", other_tab.outbox().await);
    assert_eq!(left, [record(3, true)]);
    sending_tab.close();
    other_tab.close();
    done("deleted", idb_store::delete_database(&name).await);
}
