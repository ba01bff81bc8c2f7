//! Arbitrary key material into a real device (`DeviceCrypto`, rebuilt from
//! `fixtures/device.postcard` for every input): what the server's key directory answers
//! (`Keys` into `on_keys`, `ClaimedKeys` into `on_claimed`: Ed25519 keys and signatures),
//! what other devices send over Olm (`ToDevice` into `open_to_device`, the `RoomKey` it
//! carries into `accept_room_key`: Megolm session keys), and the Megolm message bodies the
//! device opens with what it holds (`Message` and `Page` into `open`). The first byte says
//! which (`merpati_fuzz::KeysInput`).
//!
//! None may panic. Beyond that: a device key the account key did not sign never counts as
//! verified, a message the device could not open never shows as content of a chat other than
//! its own, and a room key the device refused leaves its state unchanged.

#![no_main]

use std::collections::BTreeSet;
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use merpati_core::e2e::{DeviceCrypto, Opened, RoomKey};
use merpati_fuzz::{DeviceFixture, KeysInput, split_selector};
use merpati_protocol::{MessageFrame, ServerFrame, decode};

static FIXTURE: LazyLock<DeviceFixture> =
    LazyLock::new(|| DeviceFixture::decode(include_bytes!("../fixtures/device.postcard")));

/// The clock the directory answers arrive at.
const NOW_MS: u64 = 1_780_000_100_000;

fuzz_target!(|data: &[u8]| {
    let Some((selector, rest)) = split_selector(data) else {
        return;
    };
    let fixture = &*FIXTURE;
    let mut device = fixture.device();
    // Rebuilding the device writes nothing: what is written below, the input changed.
    assert!(device.take_writes().is_empty());
    match KeysInput::from_selector(selector) {
        KeysInput::ServerFrame => {
            if let Ok(frame) = decode::<ServerFrame>(rest) {
                take_frame(&mut device, frame);
            }
        }
        KeysInput::RoomKey => {
            if let Ok(key) = decode::<RoomKey>(rest)
                && !device.accept_room_key(fixture.peer, &key)
            {
                assert!(device.take_writes().is_empty(), "a refused key changes nothing");
            }
        }
    }
});

fn take_frame(device: &mut DeviceCrypto, frame: ServerFrame) {
    match frame {
        ServerFrame::Keys { users, .. } => {
            let listed: BTreeSet<_> = users.iter().map(|keys| keys.user).collect();
            device.on_keys(users, NOW_MS);
            for device_ref in device.devices_of(&listed) {
                assert!(device.is_verified_device(device_ref));
            }
        }
        ServerFrame::ClaimedKeys { keys, .. } => {
            let asked = keys.len();
            let unreachable = device.on_claimed(keys);
            assert!(unreachable.len() <= asked);
        }
        ServerFrame::ToDevice { sender, body, .. } => {
            if let Ok(key) = device.open_to_device(sender, &body) {
                // The engine holds a key until its sender is verified, then takes it.
                if device.is_verified_device(sender) {
                    device.accept_room_key(sender, &key);
                }
            }
        }
        ServerFrame::Message(message) => open(device, &message),
        ServerFrame::Page { messages, .. } => {
            for message in &messages {
                open(device, message);
            }
        }
        _ => {}
    }
}

fn open(device: &mut DeviceCrypto, message: &MessageFrame) {
    match device.open(message) {
        Opened::Content(_) => assert!(
            device.is_verified_device(merpati_protocol::keys::DeviceRef {
                user: message.sender,
                device: sender_device(message),
            }),
            "content opens only from a verified sender"
        ),
        Opened::Deleted => assert!(message.body.is_empty()),
        Opened::Waiting { .. } | Opened::Refused(_) | Opened::System(_) => {}
    }
}

fn sender_device(message: &MessageFrame) -> merpati_protocol::keys::DeviceKey {
    match merpati_protocol::content::EncryptedBody::from_body(&message.body) {
        Some(merpati_protocol::content::EncryptedBody::MegolmV1 { sender_device, .. }) => {
            sender_device
        }
        _ => merpati_protocol::keys::DeviceKey([0; 32]),
    }
}
