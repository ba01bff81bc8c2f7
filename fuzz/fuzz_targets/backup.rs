//! Arbitrary key backup entries into a real device's import (`DeviceCrypto::import_backup`,
//! the device as `fixtures/device.postcard` has it for every input). The first byte says
//! what the rest is (`merpati_fuzz::BackupInput`): what an entry seals (the chat, the sender
//! and an exported Megolm session), which the target seals with the account's backup key so
//! that it reaches the decoders behind the seal; or a `Backup` answer as the server sends it,
//! whose entries open only if they were sealed with this account's key.
//!
//! Import must never panic, must take an entry it took once no second time (a backup read
//! twice, after a reconnect, imports nothing new), and must not put an imported session back
//! into the backup.

#![no_main]

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use merpati_core::crypto::StoreCipher;
use merpati_core::e2e::DeviceCrypto;
use merpati_fuzz::{BACKUP_CONTEXT, BackupInput, DeviceFixture, split_selector};
use merpati_protocol::keys::BackupEntry;
use merpati_protocol::{ServerFrame, decode};

static FIXTURE: LazyLock<DeviceFixture> =
    LazyLock::new(|| DeviceFixture::decode(include_bytes!("../fixtures/device.postcard")));

thread_local! {
    /// Device A as the fixture has it: rebuilding it costs far more than most inputs, so it
    /// is kept, and rebuilt after an input that changed it. Every input meets the fixture's
    /// device.
    static DEVICE: RefCell<Option<DeviceCrypto>> = const { RefCell::new(None) };
}

fuzz_target!(|data: &[u8]| {
    let Some((selector, rest)) = split_selector(data) else {
        return;
    };
    let fixture = &*FIXTURE;
    let entries = match BackupInput::from_selector(selector) {
        BackupInput::Payload => {
            let backup = StoreCipher::import_key(fixture.backup_key());
            let Ok(sealed) = backup.seal(BACKUP_CONTEXT, rest) else {
                return;
            };
            vec![BackupEntry {
                id: [0; 32],
                sealed,
            }]
        }
        BackupInput::ServerFrame => match decode::<ServerFrame>(rest) {
            Ok(ServerFrame::Backup { entries, .. }) => {
                entries.into_iter().map(|(_, entry)| entry).collect()
            }
            _ => return,
        },
    };
    DEVICE.with_borrow_mut(|kept| {
        let device = kept.get_or_insert_with(|| fixture.device());
        let pending_before = pending(device);
        let imported = device.import_backup(&entries);
        assert!(imported.len() <= entries.len());
        assert!(
            device.import_backup(&entries).is_empty(),
            "a backup read twice imports nothing new"
        );
        assert!(
            pending(device).is_subset(&pending_before),
            "imported sessions are not backed up again"
        );
        // Import changes the device only by taking sessions, and writes each one it takes.
        if !device.take_writes().is_empty() {
            *kept = None;
        }
    });
});

/// The sessions waiting to be backed up.
fn pending(device: &DeviceCrypto) -> BTreeSet<String> {
    device
        .backup_pending(usize::MAX)
        .into_iter()
        .map(|(session_id, _)| session_id)
        .collect()
}
