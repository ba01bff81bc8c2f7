//! Browser benchmarks (not tests): IndexedDB and the message list in headless Chromium, each
//! beside a baseline measured in the same run. Every function is `#[ignore]`, so
//! `scripts/test` (plain `cargo test`) compiles them but never runs them;
//! `scripts/bench-browser` runs them with `--ignored --nocapture` and reads the lines they log,
//! which start with [`PREFIX`] and carry one JSON object each:
//!
//! ```text
//! CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
//! CHROMEDRIVER=/usr/bin/chromedriver \
//!   cargo test --profile wasm-release -p merpati-app --target wasm32-unknown-unknown \
//!   --test bench_browser -- --ignored --nocapture
//! ```
//!
//! Times come from `performance.now()`. Message bodies are 200 random bytes, the size of an
//! encrypted text message; the engine cannot open them (this device holds no end-to-end keys),
//! so the list shows them as waiting for their key — the same rows, the same DOM, the same
//! rendering cost as opened ones.

use futures::channel::oneshot;
use indexed_db_futures::database::Database;
use indexed_db_futures::prelude::*;
use indexed_db_futures::transaction::TransactionMode;
use leptos::mount::mount_to;
use leptos::prelude::*;
use merpati_app::engine_view::message_rows;
use merpati_app::services::{device_key, idb_store};
use merpati_bridge::MessageRow;
use merpati_core::crypto::{AccountKey, KdfParams, StoreCipher, random_bytes};
use merpati_core::{
    AccountRecord, AccountSecrets, ChatRecord, Engine, MessageRecord, Store, StoreWrite,
    StoredState,
};
use merpati_page::views::message_list::MessageList;
use merpati_protocol::{
    ChatId, ChatInfo, ChatKind, ClientMsgId, Epoch, MAX_PAGE, Member, Seq, UserId, Username,
};
use wasm_bindgen::JsValue;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

mod support;
use support::list_box;

/// What starts every result line in the console output.
const PREFIX: &str = "MERPATI-BENCH ";
/// Runs of each figure; the report takes their median.
const RUNS: usize = 5;
/// The size of a stored body: an encrypted text message of a sentence or two.
const BODY_BYTES: usize = 200;
/// How many stored messages the app reads per chat when it opens
/// (`RESTORE_PAGE` in `src/services/connection/mod.rs`).
const RESTORE_PAGE: usize = 50;

/// The account's own id; the other member of every chat is `OTHER`.
const ME: UserId = UserId(1);
const OTHER: UserId = UserId(2);

fn report(figure: &str, side: &str, run: usize, result: serde_json::Value) {
    let line = serde_json::json!({ "figure": figure, "side": side, "run": run, "result": result });
    web_sys::console::log_1(&JsValue::from_str(&format!("{PREFIX}{line}")));
}

fn now_ms() -> f64 {
    web_sys::window()
        .and_then(|window| window.performance())
        .map(|performance| performance.now())
        .expect("performance.now()")
}

fn ok<T, E: std::fmt::Display>(result: Result<T, E>) -> T {
    result.unwrap_or_else(|error| panic!("{error}"))
}

fn user(id: UserId, name: &str) -> Member {
    Member {
        id,
        username: ok(Username::parse(name)),
    }
}

/// `count` messages of `chat` from `first_seq` on, as the server sends them: every third
/// from this account, the rest from the other member, a few seconds apart, each with a body
/// of [`BODY_BYTES`] that looks like ciphertext (no compression shrinks it).
fn received(chat: ChatId, first_seq: u64, count: usize) -> Vec<MessageRecord> {
    let mut random = Noise(u64::from_le_bytes(ok(random_bytes::<8>())) | 1);
    (0..count as u64)
        .map(|i| {
            let seq = first_seq + i;
            let mut id = [0u8; 16];
            random.fill(&mut id);
            let mut body = vec![0u8; BODY_BYTES];
            random.fill(&mut body);
            MessageRecord {
                chat_id: chat,
                seq: Seq(seq),
                client_msg_id: ClientMsgId(id),
                sender: if seq.is_multiple_of(3) { ME } else { OTHER },
                sent_at_ms: 1_790_000_000_000 + seq * 7_000,
                body,
            }
        })
        .collect()
}

/// Cheap random-looking bytes (xorshift64): the bodies stand in for ciphertext, they need not
/// be secret, and asking WebCrypto for 20 MB of randomness would only slow the set-up.
struct Noise(u64);

impl Noise {
    fn fill(&mut self, bytes: &mut [u8]) {
        for chunk in bytes.chunks_mut(8) {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            chunk.copy_from_slice(&self.0.to_le_bytes()[..chunk.len()]);
        }
    }
}

fn chat_record(chat: ChatId, messages: u64) -> ChatRecord {
    ChatRecord {
        info: ChatInfo {
            id: chat,
            kind: ChatKind::Direct,
            title: String::new(),
            members: vec![user(ME, "sari"), user(OTHER, "tomo")],
            head: Seq(messages),
            read: Seq(messages),
            created_ms: 1_790_000_000_000,
            admins: Vec::new(),
            receipts: Vec::new(),
        },
        floor: Seq(1),
        synced: Seq(messages),
        delivered: Seq(messages),
        read_log: Vec::new(),
    }
}

fn account_record() -> AccountRecord {
    AccountRecord {
        me: user(ME, "sari"),
        session_token: ok(random_bytes::<32>()),
        epoch: Some(Epoch(1)),
        secrets: AccountSecrets {
            account_key: ok(random_bytes::<32>()),
            backup_key: ok(random_bytes::<32>()),
        },
    }
}

fn database_name(what: &str) -> String {
    format!("merpati-bench-{what}-{}", js_sys::Math::random())
}

/// The 10,000 received messages: 20 chats of 500, one sync page (`MAX_PAGE`) each, the way
/// a device catching up receives them.
fn ten_thousand_received() -> Vec<Vec<MessageRecord>> {
    (1..=20u64)
        .map(|chat| received(ChatId(chat), 1, MAX_PAGE as usize))
        .collect()
}

/// Store 10,000 received messages: every sync page is one batch applied by the app's sealed
/// IndexedDB store (one transaction each, as the connection's flush does) holding what the
/// engine writes for a page — the messages, the chat's record and the search index's segment
/// of the page's texts — against the same messages put unsealed into a plain object store in
/// one transaction.
#[wasm_bindgen_test]
#[ignore = "a benchmark: scripts/bench-browser runs it"]
async fn store_10000_received_messages() {
    for run in 1..=RUNS {
        let pages = ten_thousand_received();
        let count: usize = pages.iter().map(Vec::len).sum();

        let name = database_name("store");
        let store = ok(idb_store::IdbStore::open(&name, ok(StoreCipher::generate())).await);
        ok(store
            .apply(
                (1..=20u64)
                    .map(|chat| StoreWrite::PutChat(chat_record(ChatId(chat), MAX_PAGE.into())))
                    .collect(),
            )
            .await);
        let batches = pages.len();
        let writes: Vec<Vec<StoreWrite>> = pages
            .iter()
            .enumerate()
            .map(|(at, page)| page_writes(at as u64 + 1, page.clone()))
            .collect();
        let started = now_ms();
        for batch in writes {
            ok(store.apply(batch).await);
        }
        let store_ms = now_ms() - started;
        store.close();
        ok(idb_store::delete_database(&name).await);
        report(
            "store",
            "merpati",
            run,
            serde_json::json!({ "ms": store_ms, "messages": count, "transactions": batches }),
        );

        let name = database_name("plain");
        let plain_ms = put_plain(&name, pages).await;
        ok(idb_store::delete_database(&name).await);
        report(
            "store",
            "baseline",
            run,
            serde_json::json!({ "ms": plain_ms, "messages": count, "transactions": 1 }),
        );
    }
}

/// What the engine writes when a sync page of `page` arrives: the messages, their chat's
/// record, and the page's texts as one segment of the search index (numbered `segment`).
fn page_writes(segment: u64, page: Vec<MessageRecord>) -> Vec<StoreWrite> {
    use merpati_core::search::{SearchDoc, SearchSegment};
    let Some(first) = page.first() else {
        return Vec::new();
    };
    let chat = first.chat_id;
    let docs = page
        .iter()
        .map(|message| SearchDoc {
            id: message.client_msg_id,
            chat_id: message.chat_id,
            seq: message.seq,
            sender: message.sender,
            sent_at_ms: message.sent_at_ms,
            text: Some(sentence(message.seq.0 as usize)),
        })
        .collect();
    vec![
        StoreWrite::PutMessages(page),
        StoreWrite::PutChat(chat_record(chat, MAX_PAGE.into())),
        StoreWrite::PutSearchSegment(SearchSegment { id: segment, docs }),
    ]
}

/// The baseline: every record postcard-encoded (no sealing, no keyed hashes) into one object
/// store keyed by `[chat, seq]`, all in one transaction. Returns the milliseconds it took.
async fn put_plain(name: &str, pages: Vec<Vec<MessageRecord>>) -> f64 {
    let db = ok(Database::open(name)
        .with_version(1u8)
        .with_on_upgrade_needed(|_, db: Database| {
            db.create_object_store("messages").build()?;
            Ok(())
        })
        .await);
    let started = now_ms();
    let tx = ok(db
        .transaction("messages")
        .with_mode(TransactionMode::Readwrite)
        .build());
    let store = ok(tx.object_store("messages"));
    for message in pages.into_iter().flatten() {
        let bytes = ok(postcard::to_allocvec(&message));
        let value: JsValue = js_sys::Uint8Array::from(bytes.as_slice()).into();
        let key: JsValue = js_sys::Array::of2(
            &JsValue::from_f64(message.chat_id.0 as f64),
            &JsValue::from_f64(message.seq.0 as f64),
        )
        .into();
        ok(store
            .put(value)
            .with_key(key)
            .without_key_type()
            .primitive());
    }
    ok(tx.commit().await);
    let elapsed = now_ms() - started;
    db.close();
    elapsed
}

/// Resolves once the browser has painted the next frame: an animation frame callback runs
/// just before the paint, and a task queued from it runs after.
async fn next_paint() {
    let (done, painted) = oneshot::channel();
    request_animation_frame(move || {
        set_timeout(
            move || {
                let _ = done.send(());
            },
            std::time::Duration::ZERO,
        );
    });
    let _ = painted.await;
}

/// Mounts the message list over `rows` into a fresh box and waits for its first paint.
/// Returns the milliseconds from `started` to that paint and how many message rows the DOM
/// then held; unmounts afterwards.
async fn mount_and_paint(rows: Vec<MessageRow>, started: f64) -> (f64, u32) {
    let root = list_box(480, 600);
    let rows = RwSignal::new(rows);
    let handle = mount_to(root.clone(), move || {
        view! { <MessageList rows on_reach_top=Callback::new(|()| {})/> }
    });
    leptos::task::tick().await;
    next_paint().await;
    let painted_ms = now_ms() - started;
    let dom_rows = ok(root
        .query_selector_all("[data-testid=message]")
        .map_err(|_| "bad selector"))
    .length();
    drop(handle);
    root.remove();
    (painted_ms, dom_rows)
}

/// Fills a database the way the app leaves it: the store key wrapped by a device key, the
/// account, one chat of `count` messages (in sync-page batches). Returns its name.
async fn fill_one_chat(chat: ChatId, count: usize) -> String {
    let name = database_name("open");
    let cipher = ok(StoreCipher::generate());
    let db = ok(idb_store::open_database(&name).await);
    let key = ok(AccountKey::derive(
        &ok(Username::parse("sari")),
        "a long and memorable passphrase",
        None,
        KdfParams::FAST_INSECURE,
    ));
    ok(device_key::protect(&db, &cipher, &key.wrapping_key(), ME).await);
    let store = idb_store::IdbStore::from_parts(db, cipher);
    ok(store
        .apply(vec![
            StoreWrite::PutAccount(account_record()),
            StoreWrite::PutChat(chat_record(chat, count as u64)),
        ])
        .await);
    let page = 1_000;
    for first in (1..=count).step_by(page) {
        let batch = received(chat, first as u64, page.min(count + 1 - first));
        ok(store.apply(vec![StoreWrite::PutMessages(batch)]).await);
    }
    store.close();
    name
}

/// Open a chat of 100,000 stored messages: what the app does when it opens with a stored
/// session (`Client::resume`: unwrap the store key with the device key, read the account,
/// the chats, the newest page of each chat, the outbox, the end-to-end keys, the drafts,
/// hidden messages and settings, restore the engine), then mount the chat's message list until its first rows are painted. Baseline:
/// the same list mounted over all 100,000 rows already in memory.
#[wasm_bindgen_test]
#[ignore = "a benchmark: scripts/bench-browser runs it"]
async fn open_a_chat_of_100000_stored_messages() {
    const COUNT: usize = 100_000;
    let chat = ChatId(7);
    let fill_started = now_ms();
    let name = fill_one_chat(chat, COUNT).await;
    let fill_ms = now_ms() - fill_started;
    // The baseline's rows: the same messages as the engine shows them, built in memory.
    let in_memory = {
        let mut engine = Engine::new();
        engine.restore(StoredState {
            account: Some(account_record()),
            chats: vec![chat_record(chat, COUNT as u64)],
            messages: received(chat, 1, COUNT),
            ..StoredState::default()
        });
        message_rows(&engine, chat)
    };
    assert_eq!(in_memory.len(), COUNT);

    for run in 1..=RUNS {
        let started = now_ms();
        let db = ok(idb_store::open_database(&name).await);
        let cipher = ok(device_key::unlock_with_device(&db).await).expect("a device wrapping");
        let store = idb_store::IdbStore::from_parts(db, cipher);
        let stored = ok(StoredState::read(&store, RESTORE_PAGE).await);
        let read_ms = now_ms() - started;
        let mut engine = Engine::new();
        engine.restore(stored);
        let rows = message_rows(&engine, chat);
        let restored_ms = now_ms() - started;
        let rows_loaded = rows.len();
        let (painted_ms, dom_rows) = mount_and_paint(rows, started).await;
        store.close();
        report(
            "open",
            "merpati",
            run,
            serde_json::json!({
                "ms": painted_ms,
                "store_read_ms": read_ms,
                "restored_ms": restored_ms,
                "rows_loaded": rows_loaded,
                "dom_rows": dom_rows,
                "stored_messages": COUNT,
                "fill_ms": fill_ms,
            }),
        );

        let rows = in_memory.clone();
        let started = now_ms();
        let (painted_ms, dom_rows) = mount_and_paint(rows, started).await;
        report(
            "open",
            "baseline",
            run,
            serde_json::json!({ "ms": painted_ms, "rows_loaded": COUNT, "dom_rows": dom_rows }),
        );
    }
    ok(idb_store::delete_database(&name).await);
}

/// Queries as people type them: a word, a short beginning shared by many words, two words, and
/// one that finds nothing.
const SEARCH_QUERIES: [&str; 4] = ["kopi", "ma", "rapat kam", "zzzz"];

/// A sentence of 6 to 14 words: common words, and made-up words from syllables so that the
/// vocabulary runs to thousands, as a real history's does.
fn sentence(seed: usize) -> String {
    const COMMON: [&str; 24] = [
        "kopi", "rapat", "kamis", "makan", "malam", "besok", "pagi", "nanti", "sampai", "jumpa",
        "Kafé", "stasiun", "kantor", "rumah", "jalan", "macet", "hujan", "payung", "terima",
        "kasih", "maaf", "telat", "sudah", "belum",
    ];
    const SYLLABLES: [&str; 16] = [
        "ba", "ka", "ma", "ra", "si", "tu", "lo", "ne", "pi", "du", "ga", "ho", "je", "wi", "yu",
        "ze",
    ];
    let mut state = (seed as u64)
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(1);
    let mut next = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) as usize
    };
    let words = 6 + next() % 9;
    (0..words)
        .map(|_| {
            if next() % 3 == 0 {
                COMMON[next() % COMMON.len()].to_owned()
            } else {
                (0..2 + next() % 2)
                    .map(|_| SYLLABLES[next() % SYLLABLES.len()])
                    .collect()
            }
        })
        .collect::<Vec<String>>()
        .join(" ")
}

#[wasm_bindgen_test]
#[ignore = "a benchmark: scripts/bench-browser runs it"]
async fn search_100000_stored_messages() {
    use merpati_core::search::{SearchDoc, SearchIndex, SearchSegment, words};
    const COUNT: usize = 100_000;
    let docs: Vec<SearchDoc> = (0..COUNT)
        .map(|n| SearchDoc {
            id: ClientMsgId((n as u128).to_be_bytes()),
            chat_id: ChatId(1 + (n % 20) as u64),
            seq: Seq(1 + (n / 20) as u64),
            sender: if n % 2 == 0 { ME } else { OTHER },
            sent_at_ms: 1_700_000_000_000 + n as u64 * 1_000,
            text: Some(sentence(n)),
        })
        .collect();
    // As the engine stores it: segments of what each step indexed, here 100 of 1,000.
    let segments: Vec<SearchSegment> = docs
        .chunks(1_000)
        .enumerate()
        .map(|(at, chunk)| SearchSegment {
            id: at as u64 + 1,
            docs: chunk.to_vec(),
        })
        .collect();
    // Opening reads the segments back and sorts them out; the words are split a batch at a
    // time afterwards (the app does it between other work), all of it timed here.
    let started = now_ms();
    let mut index = SearchIndex::restore(segments);
    let restore_ms = now_ms() - started;
    while index.index_pending(2_000) {}
    let build_ms = now_ms() - started;
    assert_eq!(index.len(), COUNT);

    for run in 1..=RUNS {
        let mut merpati = serde_json::Map::new();
        let mut slowest = 0.0_f64;
        for query in SEARCH_QUERIES {
            let started = now_ms();
            let hits = index.search(query, 50);
            let took = now_ms() - started;
            slowest = slowest.max(took);
            merpati.insert(
                query.to_owned(),
                serde_json::json!({ "ms": took, "hits": hits.len() }),
            );
        }
        report(
            "search",
            "merpati",
            run,
            serde_json::json!({
                "ms": slowest,
                "queries": merpati,
                "restore_ms": restore_ms,
                "build_ms": build_ms,
                "messages": COUNT,
            }),
        );

        // The baseline: the same rule (every query word begins a word of the text, case and
        // accents aside, newest 50) by scanning every message, without an index.
        let mut baseline = serde_json::Map::new();
        let mut slowest = 0.0_f64;
        for query in SEARCH_QUERIES {
            let started = now_ms();
            let wanted: Vec<String> = words::words(query).collect();
            let mut hits: Vec<&SearchDoc> = docs
                .iter()
                .filter(|doc| {
                    let text: Vec<String> =
                        words::words(doc.text.as_deref().unwrap_or_default()).collect();
                    wanted
                        .iter()
                        .all(|want| text.iter().any(|word| word.starts_with(want.as_str())))
                })
                .collect();
            hits.sort_by_key(|doc| std::cmp::Reverse(doc.sent_at_ms));
            hits.truncate(50);
            let took = now_ms() - started;
            slowest = slowest.max(took);
            baseline.insert(
                query.to_owned(),
                serde_json::json!({ "ms": took, "hits": hits.len() }),
            );
        }
        report(
            "search",
            "baseline",
            run,
            serde_json::json!({ "ms": slowest, "queries": baseline }),
        );
    }
}
