//! The sealed store a passphrase sign-in gets. If this browser already holds this account's
//! store (another tab of it), the store is joined; anything else is wiped and a new store key
//! is made and wrapped both ways ([`device_key::protect`]).
//!
//! Two tabs signing in at once must end with one store key: each finding none and making its
//! own, the later wrapping would replace the earlier, and whatever the earlier tab sealed
//! could never be opened again — not by the other tab, not after a reload. So the whole step
//! is one tab's at a time (a Web Lock), and the store key names the account it was made for,
//! so that the second tab joins it even before the first has stored its account record.

use merpati_core::Store;
use merpati_core::crypto::{AccountKey, StoreCipher};
use merpati_protocol::Member;

use super::idb_store::{self, IdbStore, StoreError};
use super::{device_key, web_locks};

/// The store for `me`, who just signed in with the passphrase `key` in this tab (its device
/// `slot`).
pub async fn prepare(
    db_name: &str,
    key: &AccountKey,
    me: &Member,
    slot: u32,
) -> Result<IdbStore, StoreError> {
    let _one_tab_at_a_time = web_locks::hold(&format!("merpati-store-setup/{db_name}")).await;
    let mut db = idb_store::open_database(db_name).await?;
    if let Ok(Some(cipher)) = device_key::unlock_with_device(&db).await {
        let store = IdbStore::from_parts(db, cipher.clone()).with_device_slot(slot);
        let mine = match store.account().await {
            Ok(Some(account)) => account.me.id == me.id,
            // No account record yet: the key was made for `me` by another tab signing in
            // moments ago, or for someone else by a sign-in that never finished.
            Ok(None) => device_key::made_for(store.database(), &cipher, me.id)
                .await
                .unwrap_or(false),
            Err(_) => false,
        };
        if mine {
            return Ok(store);
        }
        // Another account's data: delete it all (its other tabs sign out).
        store.close();
        idb_store::delete_database(db_name).await?;
        db = idb_store::open_database(db_name).await?;
    } else {
        idb_store::clear_all(&db).await?;
    }
    let cipher = StoreCipher::generate()?;
    device_key::protect(&db, &cipher, &key.wrapping_key(), me.id).await?;
    Ok(IdbStore::from_parts(db, cipher).with_device_slot(slot))
}
