//! Arbitrary key material into a real device (`DeviceCrypto`, as `fixtures/device.postcard`
//! has it for every input): what the server's key directory answers
//! (`Keys` into `on_keys`, `ClaimedKeys` into `on_claimed`: Ed25519 keys and signatures),
//! what other devices send over Olm (`ToDevice` into `open_to_device`, the `RoomKey` it
//! carries into `accept_room_key`: Megolm session keys), and the Megolm message bodies the
//! device opens with what it holds (`Message` and `Page` into `open`). The first byte says
//! which (`merpati_fuzz::KeysInput`).
//!
//! None may panic. Beyond that: after a `Keys` answer, every device the device trusts for the
//! people it names was listed in it under that person; content opens only from a device the
//! device trusts, and only an empty body reads as deleted; a room key the device refused
//! leaves its state unchanged; a to-device message that does not open leaves the device's
//! Olm sessions as they were.

#![no_main]

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use merpati_core::e2e::{DeviceCrypto, Opened, RoomKey};
use merpati_fuzz::{DeviceFixture, KeysInput, split_selector};
use merpati_protocol::content::EncryptedBody;
use merpati_protocol::keys::{DeviceKey, DeviceRef};
use merpati_protocol::{MessageFrame, ServerFrame, UserId, decode};

static FIXTURE: LazyLock<DeviceFixture> =
    LazyLock::new(|| DeviceFixture::decode(include_bytes!("../fixtures/device.postcard")));

thread_local! {
    /// Device A as the fixture has it: rebuilding it costs far more than most inputs (its
    /// keys are derived again), so it is kept, and rebuilt after any input that may have
    /// changed it ([`Outcome::MayHaveChanged`]). Every input meets the fixture's device.
    static DEVICE: RefCell<Option<DeviceCrypto>> = const { RefCell::new(None) };
}

/// The clock the directory answers arrive at.
const NOW_MS: u64 = 1_780_000_100_000;

/// Whether the device still is the fixture's after an input.
#[derive(PartialEq, Eq)]
enum Outcome {
    Unchanged,
    MayHaveChanged,
}

fuzz_target!(|data: &[u8]| {
    let Some((selector, rest)) = split_selector(data) else {
        return;
    };
    let input = match KeysInput::from_selector(selector) {
        KeysInput::ServerFrame => match decode::<ServerFrame>(rest) {
            Ok(frame) => Input::Frame(frame),
            Err(_) => return,
        },
        KeysInput::RoomKey => match decode::<RoomKey>(rest) {
            Ok(key) => Input::RoomKey(key),
            Err(_) => return,
        },
    };
    DEVICE.with_borrow_mut(|kept| {
        let device = kept.get_or_insert_with(|| FIXTURE.device());
        let outcome = match input {
            Input::Frame(frame) => take_frame(device, frame),
            Input::RoomKey(key) => take_room_key(device, &key),
        };
        if outcome == Outcome::MayHaveChanged || !device.take_writes().is_empty() {
            *kept = None;
        }
    });
});

/// What an input holds once decoded.
enum Input {
    Frame(ServerFrame),
    RoomKey(RoomKey),
}

fn take_room_key(device: &mut DeviceCrypto, key: &RoomKey) -> Outcome {
    if !device.accept_room_key(FIXTURE.peer, key) {
        assert!(
            device.take_writes().is_empty(),
            "a refused key changes nothing"
        );
    }
    // Accepting writes the session (the caller sees it); refusing changes nothing.
    Outcome::Unchanged
}

fn take_frame(device: &mut DeviceCrypto, frame: ServerFrame) -> Outcome {
    match frame {
        ServerFrame::Keys { users, .. } => {
            let people: BTreeSet<UserId> = users.iter().map(|keys| keys.user).collect();
            let listed: BTreeSet<DeviceRef> = users
                .iter()
                .flat_map(|keys| {
                    keys.devices.iter().map(|device| DeviceRef {
                        user: keys.user,
                        device: device.device,
                    })
                })
                .collect();
            let trusted_before = device.devices_of(&people);
            device.on_keys(users, NOW_MS);
            for trusted in device.devices_of(&people) {
                assert!(
                    listed.contains(&trusted) || trusted_before.contains(&trusted),
                    "{trusted:?} is trusted but was neither in the answer nor trusted before"
                );
            }
            // Every entry it takes is written; an entry it skips changes nothing.
            Outcome::Unchanged
        }
        ServerFrame::ClaimedKeys { keys, .. } => {
            let asked = keys.len();
            let unreachable = device.on_claimed(keys);
            assert!(unreachable.len() <= asked);
            // A session started is written.
            Outcome::Unchanged
        }
        ServerFrame::ToDevice { sender, body, .. } => {
            let sender_ref = BTreeSet::from([sender]);
            let without_session = device.without_session(&sender_ref);
            match device.open_to_device(sender, &body) {
                Ok(key) => {
                    // The engine holds a key until its sender is verified, then takes it.
                    if device.is_verified_device(sender) {
                        device.accept_room_key(sender, &key);
                    }
                }
                Err(_) => assert_eq!(
                    device.without_session(&sender_ref),
                    without_session,
                    "a to-device message that does not open leaves the sessions as they were"
                ),
            }
            // Trying a message on an Olm session steps its ratchet in memory.
            Outcome::MayHaveChanged
        }
        ServerFrame::Message(message) => open(device, &message),
        ServerFrame::Page { messages, .. } => {
            let outcomes: Vec<Outcome> = messages
                .iter()
                .map(|message| open(device, message))
                .collect();
            if outcomes.contains(&Outcome::MayHaveChanged) {
                Outcome::MayHaveChanged
            } else {
                Outcome::Unchanged
            }
        }
        _ => Outcome::Unchanged,
    }
}

fn open(device: &mut DeviceCrypto, message: &MessageFrame) -> Outcome {
    match device.open(message) {
        Opened::Content(_) => {
            assert!(
                device.is_verified_device(DeviceRef {
                    user: message.sender,
                    device: sender_device(message),
                }),
                "content opens only from a verified sender"
            );
            // Decrypting steps the session's ratchet in memory.
            Outcome::MayHaveChanged
        }
        Opened::Deleted => {
            assert!(message.body.is_empty());
            Outcome::Unchanged
        }
        // Refused before decrypting (wrong sender, unreadable envelope, bad signature), or
        // after (bad MAC, unreadable plaintext): the latter needs a validly signed message,
        // and a validly signed message may have stepped the ratchet.
        Opened::Refused(_) => Outcome::MayHaveChanged,
        Opened::Waiting { .. } | Opened::System(_) => Outcome::Unchanged,
    }
}

fn sender_device(message: &MessageFrame) -> DeviceKey {
    match EncryptedBody::from_body(&message.body) {
        Some(EncryptedBody::MegolmV1 { sender_device, .. }) => sender_device,
        _ => DeviceKey([0; 32]),
    }
}
