//! Arbitrary stored records into the client's store as the app reads it back on opening: each
//! value sealed (`StoreCipher::seal`) and opened (`StoreCipher::open_value`) under its object
//! store's name, decoded as that store's record, and the engine restored from it
//! (`Engine::restore`: the chats, the timelines, the outbox, the search index, and the
//! end-to-end key state with `DeviceCrypto::restore` and the records' `CryptoRecordKey`s) and
//! read as the views read it. The first byte names the object store
//! (`merpati_fuzz::StoreKind`), the rest is the record's plaintext; the `keys` store's wrapped
//! store key is opened with `StoreCipher::unwrap_with` instead.
//!
//! The restored state is device A of `fixtures/device.postcard` (its account and chat) plus
//! the record; a key record is restored with A's account record, and an inbound Megolm
//! session with one of A's messages, which it may have to open. (Stored messages are the
//! server's `MessageFrame`s: the `keys` target opens those with A's keys.)
//!
//! Nothing may panic. Bytes never sealed under the store key never open; sealing is
//! transparent (a value opens exactly when its plaintext decodes); a decoded record encodes
//! to bytes that decode to it again.

#![no_main]

use std::fmt::Debug;
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use merpati_core::crypto::{AccountKey, KdfParams, StoreCipher, WrappingKey};
use merpati_core::e2e::{CryptoRecord, CryptoRecordKey, StoredCryptoRecord};
use merpati_core::search::SearchSegment;
use merpati_core::{
    AccountRecord, ChatRecord, DraftRecord, Engine, HiddenRecord, MessageRecord, OutboxRecord,
    SettingsRecord, StoredState,
};
use merpati_fuzz::{DeviceFixture, FIXTURE_CREDENTIALS, STORE_KEY, StoreKind, split_selector};
use merpati_protocol::Username;
use serde::Serialize;
use serde::de::DeserializeOwned;

static FIXTURE: LazyLock<DeviceFixture> =
    LazyLock::new(|| DeviceFixture::decode(include_bytes!("../fixtures/device.postcard")));

static WRAPPING: LazyLock<WrappingKey> = LazyLock::new(|| {
    let (name, passphrase) = FIXTURE_CREDENTIALS;
    let name = Username::parse(name).expect("the fixture's username is valid");
    AccountKey::derive(&name, passphrase, None, KdfParams::FAST_INSECURE)
        .expect("the fixture's passphrase derives")
        .wrapping_key()
});

fuzz_target!(|data: &[u8]| {
    let Some((selector, plaintext)) = split_selector(data) else {
        return;
    };
    let kind = StoreKind::from_selector(selector);
    let cipher = StoreCipher::import_key(STORE_KEY);
    let context = kind.name().as_bytes();
    assert!(
        cipher.open(context, plaintext).is_err(),
        "bytes never sealed under the store key do not open"
    );
    if kind == StoreKind::Keys {
        if let Ok(opened) = StoreCipher::unwrap_with(&WRAPPING, plaintext) {
            assert_eq!(opened.export_key(), STORE_KEY, "only the wrapped key opens");
        }
        return;
    }
    let Ok(sealed) = cipher.seal(context, plaintext) else {
        return;
    };
    let record = Sealed {
        cipher: &cipher,
        kind,
        sealed: &sealed,
        plaintext,
    };
    let fixture = &*FIXTURE;
    let mut state = StoredState {
        account: Some(fixture.account.clone()),
        chats: fixture.chats.clone(),
        ..StoredState::default()
    };
    let Some(()) = add_record(&mut state, fixture, &record) else {
        return;
    };
    let mut engine = Engine::new();
    engine.restore(state);
    read_back(&mut engine);
});

/// One record as the store holds it: sealed, and what was sealed.
struct Sealed<'a> {
    cipher: &'a StoreCipher,
    kind: StoreKind,
    sealed: &'a [u8],
    plaintext: &'a [u8],
}

impl Sealed<'_> {
    /// Opens and decodes the record as the store does; `None` if it does not decode.
    fn open<T: Serialize + DeserializeOwned + PartialEq + Debug>(&self) -> Option<T> {
        let opened = self
            .cipher
            .open_value::<T>(self.kind.name().as_bytes(), self.sealed);
        let decoded = postcard::from_bytes::<T>(self.plaintext);
        assert_eq!(opened.is_ok(), decoded.is_ok(), "sealing is transparent");
        let record = opened.ok()?;
        let bytes = postcard::to_allocvec(&record).expect("a record encodes");
        let again: T = postcard::from_bytes(&bytes).expect("a re-encoded record decodes");
        assert_eq!(again, record);
        Some(record)
    }
}

/// Adds the record to the state the engine restores from; `None` if it does not decode.
fn add_record(state: &mut StoredState, fixture: &DeviceFixture, record: &Sealed<'_>) -> Option<()> {
    match record.kind {
        StoreKind::Account => state.account = Some(record.open::<AccountRecord>()?),
        StoreKind::Chats => state.chats.push(record.open::<ChatRecord>()?),
        StoreKind::MessagePages => state.messages = record.open::<Vec<MessageRecord>>()?,
        StoreKind::Messages => state.messages = vec![record.open::<MessageRecord>()?],
        StoreKind::Outbox => state.outbox.push(record.open::<OutboxRecord>()?),
        StoreKind::Crypto => {
            let stored = record.open::<StoredCryptoRecord>()?;
            // The account record (a device is rebuilt only with one), and the record: restoring
            // A's other records too would double the cost of every input for nothing they read.
            state.crypto = fixture
                .crypto_records()
                .into_iter()
                .filter(|held| held.key == CryptoRecordKey::Account)
                .collect();
            // A record whose key this version does not read is skipped, as the store does.
            if let Ok(record) = CryptoRecord::try_from(stored) {
                if matches!(record.key, CryptoRecordKey::InboundGroupSession(_)) {
                    // A message for the restored session to open, if it is the one for it.
                    state.messages = fixture.messages.iter().take(1).cloned().collect();
                }
                state.crypto.retain(|held| held.key != record.key);
                state.crypto.push(record);
            }
        }
        StoreKind::Drafts => state.browser.drafts.push(record.open::<DraftRecord>()?),
        StoreKind::Hidden => state.hidden.push(record.open::<HiddenRecord>()?),
        StoreKind::Settings => state.settings = Some(record.open::<SettingsRecord>()?),
        StoreKind::Search => state.search.push(record.open::<SearchSegment>()?),
        StoreKind::Keys => return None,
    }
    Some(())
}

/// What the app reads from a restored engine before the first frame arrives.
fn read_back(engine: &mut Engine) {
    for chat in engine.chat_list() {
        let _ = engine.timeline(chat.id);
        let _ = engine.older_wanted(chat.id);
        let _ = engine.chat_title(chat.id);
    }
    let _ = engine.pending_count();
    let _ = engine.blocked_people();
    engine.index_stored(usize::MAX);
    let _ = engine.search("halo", 20);
    let _ = engine.take_step();
}
