//! The store a passphrase sign-in gets, in Chromium: tabs signing in at once share one store
//! key, and a sign-in of another account starts a store of its own.

use merpati_app::services::idb_store::{self, IdbStore};
use merpati_app::services::{device_key, sign_in_store};
use merpati_core::crypto::{AccountKey, KdfParams};
use merpati_core::{AccountRecord, AccountSecrets, Store, StoreWrite};
use merpati_protocol::{Member, UserId, Username};
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

fn ok<T, E: std::fmt::Display>(result: Result<T, E>) -> T {
    result.unwrap_or_else(|error| panic!("{error}"))
}

fn person(id: u64, name: &str) -> (Member, AccountKey) {
    let username = ok(Username::parse(name));
    let key = ok(AccountKey::derive(
        &username,
        "a long and memorable passphrase",
        None,
        KdfParams::FAST_INSECURE,
    ));
    let member = Member {
        id: UserId(id),
        username,
    };
    (member, key)
}

fn account(me: &Member) -> AccountRecord {
    AccountRecord {
        me: me.clone(),
        session_token: [7; 32],
        epoch: None,
        secrets: AccountSecrets {
            account_key: [8; 32],
            backup_key: [9; 32],
        },
    }
}

/// The store as a reload opens it: with the key the device key unwraps.
async fn reopened(name: &str) -> IdbStore {
    let db = ok(idb_store::open_database(name).await);
    let cipher = ok(device_key::unlock_with_device(&db).await).expect("a device wrapping");
    IdbStore::from_parts(db, cipher)
}

fn unique_name(what: &str) -> String {
    format!("merpati-test-{what}-{}", js_sys::Math::random())
}

/// Two tabs whose sign-ins come back together: the one that sets the store up second joins
/// the first's store (whose account record is not stored yet), and what either seals, the
/// other and a reload read.
#[wasm_bindgen_test]
async fn two_tabs_signing_in_at_once_share_one_store() {
    let name = unique_name("sign-in-at-once");
    let (sari, key) = person(1, "sari");
    let (first, second) = futures::join!(
        sign_in_store::prepare(&name, &key, &sari, 0),
        sign_in_store::prepare(&name, &key, &sari, 1),
    );
    let (first, second) = (ok(first), ok(second));
    ok(first
        .apply(vec![StoreWrite::PutAccount(account(&sari))])
        .await);

    assert_eq!(
        ok(second.account().await),
        Some(account(&sari)),
        "the second tab reads what the first sealed"
    );
    let reloaded = reopened(&name).await;
    assert_eq!(ok(reloaded.account().await), Some(account(&sari)));
    for store in [first, second, reloaded] {
        store.close();
    }
    ok(idb_store::delete_database(&name).await);
}

/// A store made for one account, whose sign-in never stored its account record, is not
/// joined by another account: that one starts a store under a key of its own.
#[wasm_bindgen_test]
async fn a_sign_in_of_another_account_does_not_join_a_store_made_for_someone_else() {
    let name = unique_name("sign-in-another");
    let (sari, sari_key) = person(1, "sari");
    let (budi, budi_key) = person(2, "budi");
    let sari_store = ok(sign_in_store::prepare(&name, &sari_key, &sari, 0).await);
    ok(sari_store
        .apply(vec![StoreWrite::PutDraft(merpati_core::DraftRecord {
            chat_id: merpati_protocol::ChatId(5),
            text: "sari's draft".to_owned(),
        })])
        .await);
    sari_store.close();

    let budi_store = ok(sign_in_store::prepare(&name, &budi_key, &budi, 0).await);
    assert_eq!(
        ok(budi_store.drafts().await),
        Vec::new(),
        "nothing of sari's"
    );
    assert!(
        ok(
            device_key::unlock_with_passphrase(budi_store.database(), &budi_key.wrapping_key())
                .await
        )
        .is_some(),
        "the store key is wrapped with budi's passphrase"
    );
    budi_store.close();
    ok(idb_store::delete_database(&name).await);
}
