//! Which end-to-end device this tab is: a *slot* no other open tab of this browser holds.
//!
//! Every open tab is its own end-to-end device (two tabs sharing one Olm account would fork
//! its ratchets and reuse Megolm indexes), but the tabs share one IndexedDB database. So each
//! tab claims the lowest-numbered free slot with the Web Locks API and keeps the lock until
//! the tab goes away; its key state is stored under that slot
//! ([`crate::services::idb_store::IdbStore::with_device_slot`]). A reload gives the lock back
//! and takes it again, so it stays the same device; a second tab gets the next slot and
//! becomes a second device; a tab opened after others closed reuses a free slot's device
//! instead of registering yet another. Without Web Locks every tab takes slot 0.

use super::web_locks;

/// More tabs than this share the last slot's device.
const MAX_SLOTS: u32 = 16;

/// Claims this tab's slot among the tabs using the database `db_name`, and holds it until the
/// tab closes or reloads.
pub async fn claim(db_name: &str) -> u32 {
    for slot in 0..MAX_SLOTS {
        let name = format!("merpati-device/{db_name}/{slot}");
        match web_locks::hold_for_good_if_free(&name).await {
            Some(true) => return slot,
            Some(false) => continue,
            None => return 0,
        }
    }
    MAX_SLOTS - 1
}
