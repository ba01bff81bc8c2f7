//! One test suite for every [`Store`] implementation.
//!
//! Each function checks one behaviour against a fresh store.
//! [`store_suite_tests!`](crate::store_suite_tests) turns the whole list into test functions
//! under any async test attribute, so the in-memory store runs it under tokio natively and the
//! IndexedDB store runs it under wasm-bindgen-test in Chromium: one specification, every
//! backend.
//!
//! ```ignore
//! merpati_core::store_suite_tests!(tokio::test, async { MemoryStore::new() });
//! ```
//!
//! It is test code: compiled for this crate's own tests and, behind the `store-suite`
//! feature, for the tests of other crates' backends — never into a production build.

use merpati_protocol::{
    ChatId, ChatInfo, ChatKind, ClientMsgId, Epoch, Member, Receipt, Seq, UserId, Username,
    keys::DeviceKey,
};

use merpati_words::SkinTone;

use crate::e2e::{CryptoRecord, CryptoRecordKey};
use crate::receipts::ReadAdvance;
use crate::search::{SearchDoc, SearchSegment};
mod erasing;
mod settings;

pub use erasing::{
    a_line_the_server_wrote_is_never_erased, a_message_is_erased_by_its_id_only_for_its_sender,
    every_message_is_removed_but_those_of_its_own_batch,
};
pub use settings::{
    hidden_messages_and_settings_are_kept, this_browsers_emoji_choices_are_kept,
    this_browsers_muted_chats_are_kept,
};

use crate::store::{
    AccountRecord, AccountSecrets, ChatRecord, DeviceSettings, DraftRecord, HiddenRecord,
    MessageRecord, OutboxRecord, SettingsRecord, Store, StoreWrite,
};

fn member(id: u64, name: &str) -> Member {
    Member {
        id: UserId(id),
        username: Username::parse(name).unwrap_or_else(|error| panic!("{name}: {error}")),
    }
}

/// Account secrets for tests.
fn sample_secrets() -> AccountSecrets {
    AccountSecrets {
        account_key: [3; 32],
        backup_key: [4; 32],
    }
}

/// A chat record for tests.
fn sample_chat(id: u64, title: &str) -> ChatRecord {
    ChatRecord {
        info: ChatInfo {
            id: ChatId(id),
            kind: ChatKind::Group,
            title: title.to_owned(),
            members: vec![member(1, "alice"), member(2, "bob")],
            head: Seq(0),
            read: Seq(0),
            created_ms: 1_700_000_000_000,
            admins: vec![UserId(1)],
            receipts: Vec::new(),
        },
        floor: Seq(0),
        synced: Seq(0),
        delivered: Seq(0),
        read_log: Vec::new(),
    }
}

/// A message record for tests; its body is the text, as bytes.
pub(crate) fn sample_message(chat: u64, seq: u64, text: &str) -> MessageRecord {
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&chat.to_be_bytes());
    id[8..].copy_from_slice(&seq.to_be_bytes());
    MessageRecord {
        chat_id: ChatId(chat),
        seq: Seq(seq),
        client_msg_id: ClientMsgId(id),
        sender: UserId(1 + seq % 2),
        sent_at_ms: 1_700_000_000_000 + seq,
        body: text.as_bytes().to_vec(),
    }
}

/// An outbox entry for tests.
fn sample_outbox(order: u64, text: &str) -> OutboxRecord {
    OutboxRecord {
        chat_id: ChatId(1),
        client_msg_id: ClientMsgId([order as u8; 16]),
        body: text.as_bytes().to_vec(),
        created_ms: 1_700_000_000_000 + order,
        order,
        // One of them refused: the refusal is kept with it.
        failure: (order == 3).then_some(merpati_protocol::ErrorCode::Blocked),
        sent: order != 2,
    }
}

async fn apply<S: Store>(store: &S, batch: Vec<StoreWrite>) {
    if let Err(error) = store.apply(batch).await {
        panic!("apply failed: {error}");
    }
}

fn ok<T, E: std::fmt::Display>(result: Result<T, E>) -> T {
    result.unwrap_or_else(|error| panic!("store call failed: {error}"))
}

fn seqs(messages: &[MessageRecord]) -> Vec<u64> {
    messages.iter().map(|message| message.seq.0).collect()
}

/// A new store holds nothing.
pub async fn a_new_store_is_empty<S: Store>(store: S) {
    assert_eq!(ok(store.account().await), None);
    assert!(ok(store.chats().await).is_empty());
    assert!(ok(store.outbox().await).is_empty());
    assert!(ok(store.crypto().await).is_empty());
    assert!(ok(store.messages_before(ChatId(1), Seq(u64::MAX), 10).await).is_empty());
    assert!(ok(store.drafts().await).is_empty());
    assert!(ok(store.hidden().await).is_empty());
    assert_eq!(ok(store.settings().await), None);
    assert_eq!(ok(store.device_settings().await), None);
    assert!(ok(store.recent_emoji().await).is_empty());
    assert_eq!(ok(store.skin_tone().await), SkinTone::Default);
    assert!(ok(store.muted_chats().await).is_empty());
    assert!(ok(store.search_segments().await).is_empty());
}

/// One record key of every kind, for tests.
pub(crate) fn sample_crypto_keys() -> Vec<CryptoRecordKey> {
    vec![
        CryptoRecordKey::Account,
        CryptoRecordKey::OlmSessions(DeviceKey([0xf0; 32])),
        CryptoRecordKey::OutboundGroupSession(ChatId(7)),
        CryptoRecordKey::InboundGroupSession("x8v/Gm+aVtQ2w".to_owned()),
        CryptoRecordKey::HeldRoomKey(3),
        CryptoRecordKey::KnownUser(UserId(2)),
        CryptoRecordKey::SeenIndexes("x8v/Gm+aVtQ2w".to_owned()),
        CryptoRecordKey::PinsToBackUp,
        CryptoRecordKey::UnconfirmedFallbackKey,
    ]
}

fn crypto_record(key: CryptoRecordKey, value: &[u8]) -> CryptoRecord {
    CryptoRecord {
        key,
        value: value.to_vec(),
    }
}

fn olm_key() -> CryptoRecordKey {
    CryptoRecordKey::OlmSessions(DeviceKey([0x0f; 32]))
}

fn inbound_key() -> CryptoRecordKey {
    CryptoRecordKey::InboundGroupSession("abc".to_owned())
}

fn sorted(mut records: Vec<CryptoRecord>) -> Vec<CryptoRecord> {
    records.sort_by(|a, b| a.key.cmp(&b.key));
    records
}

/// Key state records are put, replaced and removed by key.
pub async fn crypto_records_are_put_replaced_and_removed<S: Store>(store: S) {
    apply(
        &store,
        vec![
            StoreWrite::PutCrypto(crypto_record(CryptoRecordKey::Account, b"one")),
            StoreWrite::PutCrypto(crypto_record(inbound_key(), b"session")),
            StoreWrite::PutCrypto(crypto_record(olm_key(), b"olm")),
        ],
    )
    .await;
    apply(
        &store,
        vec![
            StoreWrite::PutCrypto(crypto_record(CryptoRecordKey::Account, b"two")),
            StoreWrite::RemoveCrypto(olm_key()),
        ],
    )
    .await;
    assert_eq!(
        sorted(ok(store.crypto().await)),
        vec![
            crypto_record(CryptoRecordKey::Account, b"two"),
            crypto_record(inbound_key(), b"session")
        ]
    );
}

/// A record of every kind of key comes back under the same key, and is removed by it.
pub async fn crypto_records_of_every_kind_come_back_under_their_key<S: Store>(store: S) {
    let records: Vec<CryptoRecord> = sample_crypto_keys()
        .into_iter()
        .map(|key| {
            let value = key.to_stored().into_bytes();
            crypto_record(key, &value)
        })
        .collect();
    apply(
        &store,
        records.iter().cloned().map(StoreWrite::PutCrypto).collect(),
    )
    .await;
    assert_eq!(sorted(ok(store.crypto().await)), sorted(records));
    apply(
        &store,
        sample_crypto_keys()
            .into_iter()
            .map(StoreWrite::RemoveCrypto)
            .collect(),
    )
    .await;
    assert!(ok(store.crypto().await).is_empty());
}

/// The account is stored and replaced whole.
pub async fn the_account_round_trips<S: Store>(store: S) {
    let mut account = AccountRecord {
        me: member(1, "alice"),
        session_token: [9; 32],
        epoch: Some(Epoch(42)),
        secrets: sample_secrets(),
    };
    apply(&store, vec![StoreWrite::PutAccount(account.clone())]).await;
    assert_eq!(ok(store.account().await), Some(account.clone()));
    account.epoch = Some(Epoch(43));
    apply(&store, vec![StoreWrite::PutAccount(account.clone())]).await;
    assert_eq!(ok(store.account().await), Some(account));
}

/// Chats are stored by id; putting a chat again replaces it.
pub async fn chats_are_stored_and_replaced<S: Store>(store: S) {
    let mut family = sample_chat(1, "Keluarga 👨‍👩‍👧");
    let work = sample_chat(2, "Kantor");
    apply(
        &store,
        vec![
            StoreWrite::PutChat(family.clone()),
            StoreWrite::PutChat(work.clone()),
        ],
    )
    .await;
    family.synced = Seq(5);
    family.info.head = Seq(5);
    // What receipts add: the members' positions and the read advances observed.
    family.delivered = Seq(5);
    family.info.receipts = vec![Receipt {
        user: UserId(2),
        delivered: Seq(5),
        read: Seq(4),
        read_at_ms: 1_700_000_000_400,
    }];
    family.read_log = vec![
        ReadAdvance {
            read: Seq(2),
            user: UserId(2),
            at_ms: 1_700_000_000_200,
        },
        ReadAdvance {
            read: Seq(4),
            user: UserId(2),
            at_ms: 1_700_000_000_400,
        },
    ];
    apply(&store, vec![StoreWrite::PutChat(family.clone())]).await;
    let mut chats = ok(store.chats().await);
    chats.sort_by_key(|chat| chat.info.id);
    assert_eq!(chats, vec![family, work]);
}

/// History pages come newest-first from the end, each returned oldest first, per chat.
pub async fn messages_page_backwards_by_sequence<S: Store>(store: S) {
    let mut batch: Vec<MessageRecord> = (1..=25)
        .map(|seq| sample_message(1, seq, &format!("pesan {seq}")))
        .collect();
    batch.extend((1..=5).map(|seq| sample_message(2, seq, "other chat")));
    apply(&store, vec![StoreWrite::PutMessages(batch)]).await;

    let newest = ok(store.messages_before(ChatId(1), Seq(u64::MAX), 10).await);
    assert_eq!(seqs(&newest), (16..=25).collect::<Vec<_>>());
    assert_eq!(newest[9].body, b"pesan 25");
    let older = ok(store.messages_before(ChatId(1), Seq(16), 10).await);
    assert_eq!(seqs(&older), (6..=15).collect::<Vec<_>>());
    let oldest = ok(store.messages_before(ChatId(1), Seq(6), 10).await);
    assert_eq!(seqs(&oldest), (1..=5).collect::<Vec<_>>());
    assert!(ok(store.messages_before(ChatId(1), Seq(1), 10).await).is_empty());
    assert_eq!(
        seqs(&ok(store.messages_before(ChatId(2), Seq(100), 100).await)),
        vec![1, 2, 3, 4, 5]
    );
    assert!(ok(store.messages_before(ChatId(3), Seq(100), 100).await).is_empty());
}

/// Pages are right wherever they start and end, across long runs and holes of positions,
/// and chats never mix.
pub async fn messages_page_across_long_runs_and_holes<S: Store>(store: S) {
    let held: Vec<u64> = (1..=300).chain(1_000..=1_010).chain([5_000]).collect();
    let batch: Vec<MessageRecord> = held
        .iter()
        .map(|seq| sample_message(9, *seq, "m"))
        .collect();
    // Two batches, the second overlapping the first: stored once each.
    apply(&store, vec![StoreWrite::PutMessages(batch[..200].to_vec())]).await;
    apply(&store, vec![StoreWrite::PutMessages(batch[150..].to_vec())]).await;
    apply(
        &store,
        vec![StoreWrite::PutMessages(vec![sample_message(
            10, 1_005, "x",
        )])],
    )
    .await;
    for (before, limit) in [
        (u64::MAX, 3),
        (5_000, 12),
        (1_000, 70),
        (129, 128),
        (300, 500),
        (2, 5),
    ] {
        let expected: Vec<u64> = {
            let older: Vec<u64> = held.iter().copied().filter(|seq| *seq < before).collect();
            older[older.len().saturating_sub(limit)..].to_vec()
        };
        let page = ok(store.messages_before(ChatId(9), Seq(before), limit).await);
        assert_eq!(seqs(&page), expected, "before {before}, limit {limit}");
        assert!(page.iter().all(|message| message.chat_id == ChatId(9)));
    }
}

/// A message put again at the same position (its body emptied: deleted for everyone) is
/// replaced, and its neighbours stay.
pub async fn a_message_put_again_is_replaced<S: Store>(store: S) {
    let messages: Vec<MessageRecord> = (1..=3).map(|seq| sample_message(1, seq, "asli")).collect();
    apply(&store, vec![StoreWrite::PutMessages(messages.clone())]).await;
    let mut emptied = messages[1].clone();
    emptied.body = Vec::new();
    apply(&store, vec![StoreWrite::PutMessages(vec![emptied.clone()])]).await;
    assert_eq!(
        ok(store.messages_before(ChatId(1), Seq(10), 10).await),
        vec![messages[0].clone(), emptied, messages[2].clone()]
    );
}

/// Drafts are kept per chat, replaced, and removed.
pub async fn drafts_are_put_replaced_and_removed<S: Store>(store: S) {
    let draft = |chat: u64, text: &str| DraftRecord {
        chat_id: ChatId(chat),
        text: text.to_owned(),
    };
    apply(
        &store,
        vec![
            StoreWrite::PutDraft(draft(1, "belum sel")),
            StoreWrite::PutDraft(draft(2, "nanti")),
            StoreWrite::PutDraft(draft(1, "belum selesai")),
        ],
    )
    .await;
    let mut drafts = ok(store.drafts().await);
    drafts.sort_by_key(|draft| draft.chat_id);
    assert_eq!(drafts, vec![draft(1, "belum selesai"), draft(2, "nanti")]);
    apply(&store, vec![StoreWrite::RemoveDraft(ChatId(1))]).await;
    assert_eq!(ok(store.drafts().await), vec![draft(2, "nanti")]);
}

/// Storing a message twice at the same position keeps one copy.
pub async fn a_message_stored_twice_is_kept_once<S: Store>(store: S) {
    let message = sample_message(1, 1, "sekali saja");
    apply(&store, vec![StoreWrite::PutMessages(vec![message.clone()])]).await;
    apply(
        &store,
        vec![StoreWrite::PutMessages(vec![
            message.clone(),
            message.clone(),
        ])],
    )
    .await;
    assert_eq!(
        ok(store.messages_before(ChatId(1), Seq(10), 10).await),
        vec![message]
    );
}

/// The outbox keeps sending order and forgets removed entries.
pub async fn the_outbox_keeps_order_and_removes<S: Store>(store: S) {
    let entries: Vec<OutboxRecord> = [3, 1, 2]
        .iter()
        .map(|order| sample_outbox(*order, &format!("#{order}")))
        .collect();
    apply(
        &store,
        entries.iter().cloned().map(StoreWrite::PutOutbox).collect(),
    )
    .await;
    let orders: Vec<u64> = ok(store.outbox().await)
        .iter()
        .map(|entry| entry.order)
        .collect();
    assert_eq!(orders, vec![1, 2, 3]);
    apply(&store, vec![StoreWrite::RemoveOutbox(ClientMsgId([2; 16]))]).await;
    let left: Vec<OutboxRecord> = ok(store.outbox().await);
    assert_eq!(left, vec![sample_outbox(1, "#1"), sample_outbox(3, "#3")]);
}

/// One batch may mix every kind of write.
pub async fn a_mixed_batch_applies_every_write<S: Store>(store: S) {
    let account = AccountRecord {
        me: member(1, "alice"),
        session_token: [1; 32],
        epoch: None,
        secrets: sample_secrets(),
    };
    apply(
        &store,
        vec![
            StoreWrite::PutAccount(account.clone()),
            StoreWrite::PutChat(sample_chat(1, "Keluarga")),
            StoreWrite::PutMessages(vec![sample_message(1, 1, "halo")]),
            StoreWrite::PutOutbox(sample_outbox(1, "nanti")),
            StoreWrite::RemoveOutbox(ClientMsgId([1; 16])),
            StoreWrite::PutOutbox(sample_outbox(2, "lagi")),
        ],
    )
    .await;
    assert_eq!(ok(store.account().await), Some(account));
    assert_eq!(ok(store.chats().await).len(), 1);
    assert_eq!(
        ok(store.messages_before(ChatId(1), Seq(2), 5).await).len(),
        1
    );
    assert_eq!(ok(store.outbox().await), vec![sample_outbox(2, "lagi")]);
}

fn sample_segment(id: u64, text: &str) -> SearchSegment {
    SearchSegment {
        id,
        docs: vec![SearchDoc {
            id: ClientMsgId([id as u8; 16]),
            chat_id: ChatId(1),
            seq: Seq(id),
            sender: UserId(2),
            sent_at_ms: 1_000 * id,
            text: Some(text.to_owned()),
        }],
    }
}

/// The search index's segments are put, replaced by id and removed by id.
pub async fn search_segments_are_put_and_removed<S: Store>(store: S) {
    let sorted = |mut segments: Vec<SearchSegment>| {
        segments.sort_by_key(|segment| segment.id);
        segments
    };
    apply(
        &store,
        vec![
            StoreWrite::PutSearchSegment(sample_segment(1, "kopi")),
            StoreWrite::PutSearchSegment(sample_segment(2, "teh")),
            StoreWrite::PutSearchSegment(sample_segment(3, "susu")),
        ],
    )
    .await;
    assert_eq!(
        sorted(ok(store.search_segments().await)),
        vec![
            sample_segment(1, "kopi"),
            sample_segment(2, "teh"),
            sample_segment(3, "susu")
        ]
    );
    // A rewrite: the old ones go and the new one comes in one batch.
    apply(
        &store,
        vec![
            StoreWrite::RemoveSearchSegments(vec![1, 2]),
            StoreWrite::PutSearchSegment(sample_segment(4, "kopi teh")),
        ],
    )
    .await;
    assert_eq!(
        sorted(ok(store.search_segments().await)),
        vec![sample_segment(3, "susu"), sample_segment(4, "kopi teh")]
    );
}

/// Clearing (signing out) deletes everything.
pub async fn clear_deletes_everything<S: Store>(store: S) {
    apply(
        &store,
        vec![
            StoreWrite::PutAccount(AccountRecord {
                me: member(1, "alice"),
                session_token: [1; 32],
                epoch: None,
                secrets: sample_secrets(),
            }),
            StoreWrite::PutChat(sample_chat(1, "Keluarga")),
            StoreWrite::PutMessages(vec![sample_message(1, 1, "halo")]),
            StoreWrite::PutOutbox(sample_outbox(1, "nanti")),
            StoreWrite::PutCrypto(crypto_record(CryptoRecordKey::Account, b"keys")),
            StoreWrite::PutDraft(DraftRecord {
                chat_id: ChatId(1),
                text: "draf".to_owned(),
            }),
            StoreWrite::HideMessage(HiddenRecord {
                chat_id: ChatId(1),
                client_msg_id: ClientMsgId([1; 16]),
            }),
            StoreWrite::PutSettings(SettingsRecord::default()),
            StoreWrite::PutDeviceSettings(DeviceSettings {
                notify: true,
                ..DeviceSettings::default()
            }),
            StoreWrite::PutRecentEmoji(vec!["🎉".to_owned()]),
            StoreWrite::PutSkinTone(SkinTone::Dark),
            StoreWrite::PutMutedChats(vec![ChatId(1)]),
            StoreWrite::PutSearchSegment(sample_segment(1, "halo")),
        ],
    )
    .await;
    ok(store.clear().await);
    a_new_store_is_empty(store).await;
}

/// Expands to one test function per suite case, each given a fresh store from `$make`
/// (an expression evaluating to a future of the store) and run under `#[$attr]`.
#[macro_export]
macro_rules! store_suite_tests {
    ($attr:meta, $make:expr) => {
        $crate::store_suite_tests!(@cases $attr, $make;
            a_new_store_is_empty,
            the_account_round_trips,
            chats_are_stored_and_replaced,
            messages_page_backwards_by_sequence,
            messages_page_across_long_runs_and_holes,
            a_message_put_again_is_replaced,
            a_message_stored_twice_is_kept_once,
            a_message_is_erased_by_its_id_only_for_its_sender,
            a_line_the_server_wrote_is_never_erased,
            every_message_is_removed_but_those_of_its_own_batch,
            the_outbox_keeps_order_and_removes,
            a_mixed_batch_applies_every_write,
            clear_deletes_everything,
            crypto_records_are_put_replaced_and_removed,
            crypto_records_of_every_kind_come_back_under_their_key,
            drafts_are_put_replaced_and_removed,
            hidden_messages_and_settings_are_kept,
            this_browsers_emoji_choices_are_kept,
            this_browsers_muted_chats_are_kept,
            search_segments_are_put_and_removed,
        );
    };
    (@cases $attr:meta, $make:expr; $($case:ident),* $(,)?) => {
        $(
            #[$attr]
            async fn $case() {
                $crate::store_suite::$case($make.await).await;
            }
        )*
    };
}
