//! Search in a tab whose device's index was written in an earlier tab, in Chromium: a message
//! deleted (for everyone, or for this account) by another tab while this device's tab was
//! closed is only erased in the store the tabs share. The engine worker checks a result for a
//! message not in memory against the store before showing it, and forgets one whose text the
//! store no longer holds.

use merpati_app::services::device_key;
use merpati_app::services::idb_store::IdbStore;
use merpati_bridge::{Command, Update};
use merpati_core::crypto::{AccountKey, KdfParams, StoreCipher};
use merpati_core::search::{SearchDoc, SearchSegment};
use merpati_core::{AccountRecord, AccountSecrets, ChatRecord, Store, StoreWrite};
use merpati_protocol::{
    ChatId, ChatInfo, ChatKind, ClientMsgId, Member, MessageFrame, Seq, UserId, Username,
};
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

#[path = "support/worker.rs"]
mod worker;
use worker::started_worker;

const CHAT: ChatId = ChatId(41);
const ME: UserId = UserId(1);
const BOB: UserId = UserId(2);
/// The chat's newest message: the first 50 below it are read at start, the rest are not.
const HEAD: u64 = 60;

fn ok<T, E: std::fmt::Display>(result: Result<T, E>) -> T {
    result.unwrap_or_else(|error| panic!("{error}"))
}

fn member(id: UserId, name: &str) -> Member {
    Member {
        id,
        username: ok(Username::parse(name)),
    }
}

fn id(seq: u64) -> ClientMsgId {
    ClientMsgId([u8::try_from(seq).unwrap_or(u8::MAX); 16])
}

/// Message `seq` as stored: its body emptied where `erased` (deleted in another tab).
fn stored(seq: u64, erased: bool) -> MessageFrame {
    MessageFrame {
        chat_id: CHAT,
        seq: Seq(seq),
        client_msg_id: id(seq),
        sender: BOB,
        sent_at_ms: 1_000 + seq,
        body: if erased { Vec::new() } else { vec![7; 40] },
    }
}

/// What this device's index held of message `seq` when its tab closed.
fn indexed(seq: u64, text: &str) -> SearchDoc {
    SearchDoc {
        id: id(seq),
        chat_id: CHAT,
        seq: Seq(seq),
        sender: BOB,
        sent_at_ms: 1_000 + seq,
        text: Some(text.to_owned()),
    }
}

/// A signed-in browser's store: the chat read to its head, message 1 deleted by another tab
/// since this device indexed it, message 2 still there, and an entry for a message no longer
/// at its place.
async fn store_with_a_stale_index(name: &str) {
    let cipher = ok(StoreCipher::generate());
    let store = ok(IdbStore::open(name, cipher.clone()).await);
    let key = ok(AccountKey::derive(
        &ok(Username::parse("sari")),
        "a long and memorable passphrase",
        None,
        KdfParams::FAST_INSECURE,
    ));
    ok(device_key::protect(store.database(), &cipher, &key.wrapping_key(), ME).await);
    let info = ChatInfo {
        id: CHAT,
        kind: ChatKind::Direct,
        title: String::new(),
        members: vec![member(ME, "sari"), member(BOB, "budi")],
        head: Seq(HEAD),
        read: Seq(HEAD),
        created_ms: 1_000,
        admins: Vec::new(),
        receipts: Vec::new(),
    };
    ok(store
        .apply(vec![
            StoreWrite::PutAccount(AccountRecord {
                me: member(ME, "sari"),
                session_token: [5; 32],
                epoch: None,
                secrets: AccountSecrets {
                    account_key: [8; 32],
                    backup_key: [9; 32],
                },
            }),
            StoreWrite::PutChat(ChatRecord {
                info,
                floor: Seq(1),
                synced: Seq(HEAD),
                delivered: Seq(HEAD),
                read_log: Vec::new(),
            }),
            StoreWrite::PutMessages((1..=HEAD).map(|seq| stored(seq, seq == 1)).collect()),
            StoreWrite::PutSearchSegment(SearchSegment {
                id: 1,
                docs: vec![
                    indexed(1, "rahasia lama"),
                    indexed(2, "rahasia baru"),
                    // Indexed before the server's storage started over: another message is
                    // stored at its place now.
                    SearchDoc {
                        id: ClientMsgId([0xee; 16]),
                        ..indexed(3, "rahasia dulu")
                    },
                ],
            }),
        ])
        .await);
    store.close();
}

#[wasm_bindgen_test]
async fn a_result_deleted_in_another_tab_while_this_devices_tab_was_closed_is_not_shown() {
    let name = format!("merpati-test-stale-index-{}", js_sys::Math::random());
    store_with_a_stale_index(&name).await;
    let (worker, heard) = started_worker(name);
    let resumed = worker::heard(&heard, "whether it resumed", |update| match update {
        Update::Resumed(resumed) => Some(*resumed),
        _ => None,
    })
    .await;
    assert!(resumed, "the stored session is resumed");

    worker.handle(Command::Search("rahasia".to_owned()));
    let rows = worker::heard(&heard, "the results", |update| match update {
        Update::SearchResults { query, rows } if query == "rahasia" => Some(rows.clone()),
        _ => None,
    })
    .await;
    let ids: Vec<ClientMsgId> = rows.iter().map(|row| row.id).collect();
    assert_eq!(ids, [id(2)], "only the message the store still holds");
}
