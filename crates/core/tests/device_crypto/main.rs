//! `DeviceCrypto` on its own: devices vouched for by account keys (`trust`), Olm key
//! sharing, Megolm encryption bound to chat and sender, rotation, the key backup, persistence
//! and safety numbers. The engine-level flow is in the engine's tests (`key_flow.rs`).

use std::collections::BTreeSet;

use merpati_core::crypto::{AccountKey, KdfParams};
use merpati_core::e2e::{
    CryptoRecordKey, DeviceCrypto, Opened, ROTATE_AFTER_MESSAGES, ROTATE_AFTER_MS, Refusal,
};
use merpati_protocol::{
    ChatId, ClientMsgId, MessageFrame, Seq, UserId, Username,
    content::{EncryptedBody, MessageContent},
    keys::{ClaimedKey, DeviceRef, OneTimeKey, UserKeys},
};
use proptest::prelude::*;

const CHAT: ChatId = ChatId(7);

// Whose keys a device trusts: account keys, the devices they vouch for, safety numbers.
mod trust;
// The key backup: a new device reads earlier history from it; no worse copy replaces it.
mod backup;

struct Person {
    user: UserId,
    key: AccountKey,
}

impl Person {
    fn new(id: u64, name: &str) -> Person {
        let username = Username::parse(name).expect("valid username");
        Person {
            user: UserId(id),
            key: AccountKey::derive(
                &username,
                "correct horse battery",
                None,
                KdfParams::FAST_INSECURE,
            )
            .expect("derives"),
        }
    }

    fn device(&self) -> DeviceCrypto {
        DeviceCrypto::new(self.user, &self.key.auth_key(), self.key.backup_key())
            .expect("randomness")
    }

    fn account_key(&self) -> [u8; 32] {
        *self.key.auth_key().public_key().as_bytes()
    }
}

/// What the directory would answer for these devices of one person.
fn keys_of(person: &Person, devices: &[&DeviceCrypto]) -> UserKeys {
    UserKeys {
        user: person.user,
        account_key: person.account_key(),
        devices: devices.iter().map(|device| device.device_keys()).collect(),
    }
}

/// Claims one of `device`'s published one-time keys, as the directory would.
fn claim(device: &mut DeviceCrypto, published: &mut Vec<OneTimeKey>) -> ClaimedKey {
    if published.is_empty() {
        published.extend(device.unpublished_keys().0);
    }
    ClaimedKey {
        device: device.device(),
        key: published.pop(),
    }
}

fn text(text: &str) -> MessageContent {
    MessageContent::Text { text: text.into() }
}

/// Message `seq` as the server would deliver it: `words` encrypted by `device` for CHAT.
fn written(device: &mut DeviceCrypto, sender: UserId, seq: u64, words: &str) -> MessageFrame {
    frame(
        sender,
        seq,
        device.encrypt(CHAT, &text(words)).expect("encrypts"),
    )
}

fn frame(sender: UserId, seq: u64, body: Vec<u8>) -> MessageFrame {
    MessageFrame {
        chat_id: CHAT,
        seq: Seq(seq),
        client_msg_id: ClientMsgId([seq as u8; 16]),
        sender,
        sent_at_ms: 1,
        body,
    }
}

/// `sender` shares its current session for CHAT with `receiver` over a fresh Olm session,
/// and `receiver` accepts it. Both know each other's keys.
fn share(sender: &mut DeviceCrypto, receiver: &mut DeviceCrypto) {
    let target: BTreeSet<DeviceRef> = [receiver.device()].into();
    if !sender.without_session(&target).is_empty() {
        let mut published = Vec::new();
        let claimed = claim(receiver, &mut published);
        assert!(
            sender.on_claimed(vec![claimed]).is_empty(),
            "session starts"
        );
    }
    let messages = sender.share_outbound(CHAT, &target);
    assert_eq!(messages.len(), 1);
    let key = receiver
        .open_to_device(sender.device(), &messages[0].body)
        .expect("the room key decrypts");
    assert!(receiver.is_verified_device(sender.device()));
    receiver.accept_room_key(sender.device(), &key);
}

struct Pair {
    alice: Person,
    bob: Person,
    alice_device: DeviceCrypto,
    bob_device: DeviceCrypto,
}

fn pair() -> Pair {
    let alice = Person::new(1, "alice");
    let bob = Person::new(2, "bob");
    let mut alice_device = alice.device();
    let mut bob_device = bob.device();
    let directory = vec![
        keys_of(&alice, &[&alice_device]),
        keys_of(&bob, &[&bob_device]),
    ];
    assert!(alice_device.on_keys(directory.clone(), 10).is_empty());
    assert!(bob_device.on_keys(directory, 10).is_empty());
    Pair {
        alice,
        bob,
        alice_device,
        bob_device,
    }
}

fn members(people: &[&Person]) -> BTreeSet<UserId> {
    people.iter().map(|person| person.user).collect()
}

#[test]
fn a_shared_session_decrypts_for_the_receiver_and_the_sender() {
    let Pair {
        alice,
        bob,
        mut alice_device,
        mut bob_device,
    } = pair();
    alice_device.ensure_outbound(CHAT, &members(&[&alice, &bob]), 100);
    share(&mut alice_device, &mut bob_device);
    let body = alice_device
        .encrypt(CHAT, &text("halo bob"))
        .expect("encrypts");
    let message = frame(alice.user, 1, body.clone());
    assert_eq!(bob_device.open(&message), Opened::Content(text("halo bob")));
    assert_eq!(
        alice_device.open(&message),
        Opened::Content(text("halo bob"))
    );
    // The server sees an envelope, not the words.
    assert!(EncryptedBody::from_body(&body).is_some());
    assert!(!body.windows(8).any(|window| window == b"halo bob"));
}

#[test]
fn a_device_without_the_key_waits_and_a_tampered_message_is_refused() {
    let Pair {
        alice,
        bob,
        mut alice_device,
        mut bob_device,
    } = pair();
    alice_device.ensure_outbound(CHAT, &members(&[&alice, &bob]), 100);
    let body = alice_device
        .encrypt(CHAT, &text("before the key"))
        .expect("encrypts");
    let message = frame(alice.user, 1, body);
    assert!(matches!(bob_device.open(&message), Opened::Waiting { .. }));
    share(&mut alice_device, &mut bob_device);
    // The session key was shared at a later ratchet index: the first message stays locked.
    assert!(matches!(bob_device.open(&message), Opened::Waiting { .. }));

    let body = alice_device
        .encrypt(CHAT, &text("after"))
        .expect("encrypts");
    let mut tampered = EncryptedBody::from_body(&body).expect("an envelope");
    let EncryptedBody::MegolmV1 { ciphertext, .. } = &mut tampered else {
        panic!("a Megolm envelope");
    };
    let middle = ciphertext.len() / 2;
    ciphertext[middle] ^= 0x01;
    let tampered = frame(alice.user, 2, tampered.to_body());
    assert_eq!(
        bob_device.open(&tampered),
        Opened::Refused(Refusal::Tampered)
    );
    assert_eq!(
        bob_device.open(&frame(alice.user, 2, b"not an envelope".to_vec())),
        Opened::Refused(Refusal::Unreadable)
    );
}

#[test]
fn a_message_is_refused_when_the_server_names_another_sender_or_chat() {
    let Pair {
        alice,
        bob,
        mut alice_device,
        mut bob_device,
    } = pair();
    alice_device.ensure_outbound(CHAT, &members(&[&alice, &bob]), 100);
    share(&mut alice_device, &mut bob_device);
    let body = alice_device.encrypt(CHAT, &text("mine")).expect("encrypts");
    assert_eq!(
        bob_device.open(&frame(bob.user, 1, body.clone())),
        Opened::Refused(Refusal::WrongSender)
    );
    let mut moved = frame(alice.user, 1, body);
    moved.chat_id = ChatId(8);
    assert_eq!(
        bob_device.open(&moved),
        Opened::Refused(Refusal::WrongSender)
    );
}

#[test]
fn the_outbound_session_rotates_on_count_age_and_departure() {
    let Pair {
        alice,
        bob,
        mut alice_device,
        bob_device: _,
    } = pair();
    let carol = Person::new(3, "carol");
    let everyone = members(&[&alice, &bob, &carol]);
    alice_device.ensure_outbound(CHAT, &everyone, 0);
    let first = alice_device.outbound_session_id(CHAT);
    // Someone joining keeps the session.
    alice_device.ensure_outbound(CHAT, &everyone, 1);
    assert_eq!(alice_device.outbound_session_id(CHAT), first);
    for _ in 0..ROTATE_AFTER_MESSAGES {
        alice_device.encrypt(CHAT, &text("x"));
    }
    alice_device.ensure_outbound(CHAT, &everyone, 2);
    let second = alice_device.outbound_session_id(CHAT);
    assert_ne!(
        second, first,
        "rotates after {ROTATE_AFTER_MESSAGES} messages"
    );
    alice_device.ensure_outbound(CHAT, &everyone, ROTATE_AFTER_MS + 3);
    let third = alice_device.outbound_session_id(CHAT);
    assert_ne!(third, second, "rotates after a week");
    alice_device.ensure_outbound(CHAT, &members(&[&alice, &bob]), ROTATE_AFTER_MS + 4);
    assert_ne!(
        alice_device.outbound_session_id(CHAT),
        third,
        "rotates when carol leaves"
    );
}

#[test]
fn a_removed_member_cannot_open_what_is_sent_after_the_removal() {
    let Pair {
        alice,
        bob,
        mut alice_device,
        mut bob_device,
    } = pair();
    let carol = Person::new(3, "carol");
    let mut carol_device = carol.device();
    let directory = vec![
        keys_of(&alice, &[&alice_device]),
        keys_of(&bob, &[&bob_device]),
        keys_of(&carol, &[&carol_device]),
    ];
    alice_device.on_keys(directory.clone(), 10);
    bob_device.on_keys(directory.clone(), 10);
    carol_device.on_keys(directory, 10);

    alice_device.ensure_outbound(CHAT, &members(&[&alice, &bob, &carol]), 10);
    share(&mut alice_device, &mut bob_device);
    share(&mut alice_device, &mut carol_device);
    let before = written(&mut alice_device, alice.user, 1, "all three");
    assert_eq!(
        carol_device.open(&before),
        Opened::Content(text("all three"))
    );

    // Carol is removed: the next message uses a new session, shared with bob only.
    alice_device.ensure_outbound(CHAT, &members(&[&alice, &bob]), 11);
    share(&mut alice_device, &mut bob_device);
    let after = written(&mut alice_device, alice.user, 2, "just us");
    assert_eq!(bob_device.open(&after), Opened::Content(text("just us")));
    assert!(matches!(carol_device.open(&after), Opened::Waiting { .. }));
}

#[test]
fn the_state_survives_a_restore_from_its_records() {
    let Pair {
        alice,
        bob,
        mut alice_device,
        mut bob_device,
    } = pair();
    alice_device.ensure_outbound(CHAT, &members(&[&alice, &bob]), 10);
    share(&mut alice_device, &mut bob_device);
    let first = written(&mut alice_device, alice.user, 1, "one");

    let mut stored = std::collections::BTreeMap::new();
    for device in [&mut alice_device, &mut bob_device] {
        for (key, value) in device.take_writes() {
            let records = stored
                .entry(device.device())
                .or_insert_with(std::collections::BTreeMap::new);
            match value {
                Some(value) => records.insert(key, value),
                None => records.remove(&key),
            };
        }
    }
    let restore = |device: DeviceRef| {
        let records = stored[&device]
            .iter()
            .map(|(key, value)| merpati_core::e2e::CryptoRecord {
                key: key.clone(),
                value: value.clone(),
            })
            .collect();
        DeviceCrypto::restore(records).expect("an account record")
    };
    let mut alice_again = restore(alice_device.device());
    let mut bob_again = restore(bob_device.device());
    assert_eq!(alice_again.device(), alice_device.device());
    assert_eq!(bob_again.open(&first), Opened::Content(text("one")));
    // What each index opened survives too: a copy under another id is still a replay.
    let mut copy = first.clone();
    copy.client_msg_id = ClientMsgId([99; 16]);
    assert_eq!(bob_again.open(&copy), Opened::Refused(Refusal::Replayed));
    // The restored outbound session continues where it was: bob still reads it.
    let second = written(&mut alice_again, alice.user, 2, "two");
    assert_eq!(bob_again.open(&second), Opened::Content(text("two")));
    // And the Olm session continues too: a new share needs no new one-time key.
    assert!(
        alice_again
            .without_session(&[bob_again.device()].into())
            .is_empty()
    );
}

#[test]
fn a_one_time_key_with_a_bad_signature_starts_no_session() {
    let Pair {
        alice: _,
        bob: _,
        mut alice_device,
        mut bob_device,
    } = pair();
    let mut published = Vec::new();
    let mut claimed = claim(&mut bob_device, &mut published);
    if let Some(key) = claimed.key.as_mut() {
        key.key[0] ^= 1;
    }
    let unreachable = alice_device.on_claimed(vec![claimed]);
    assert_eq!(unreachable, vec![bob_device.device()]);
    assert!(
        !alice_device
            .without_session(&[bob_device.device()].into())
            .is_empty()
    );
}

/// Found by `fuzz/fuzz_targets/keys.rs`: a to-device message that did not decrypt left an
/// empty list of Olm sessions behind for its sender, which then counted as a session: the
/// sender's keys were never claimed, and the chat's key never reached it.
#[test]
fn a_to_device_message_that_does_not_open_leaves_no_session_behind() {
    let Pair {
        alice: _,
        bob,
        mut alice_device,
        mut bob_device,
    } = pair();
    let carol = Person::new(3, "carol");
    let mut carol_device = carol.device();
    bob_device.on_keys(vec![keys_of(&carol, &[&carol_device])], 10);
    let mut published = Vec::new();
    let claimed = claim(&mut carol_device, &mut published);
    assert!(bob_device.on_claimed(vec![claimed]).is_empty());
    bob_device.ensure_outbound(CHAT, &members(&[&bob, &carol]), 0);
    let to_carol = bob_device.share_outbound(CHAT, &[carol_device.device()].into());
    let bob_ref: BTreeSet<DeviceRef> = [bob_device.device()].into();

    let opened = alice_device.open_to_device(bob_device.device(), &to_carol[0].body);
    assert!(
        opened.is_err(),
        "a message for Carol does not open for Alice"
    );
    assert_eq!(
        alice_device.without_session(&bob_ref),
        vec![bob_device.device()],
        "Alice still has no session with Bob"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Whatever order messages arrive in, and whenever the key arrives, every message opens
    /// to what was written, exactly once the key is there.
    #[test]
    fn messages_open_in_any_order_once_the_key_arrives(
        count in 1usize..20,
        order in proptest::collection::vec(any::<prop::sample::Index>(), 20),
        key_after in 0usize..20,
    ) {
        let Pair { alice, bob, mut alice_device, mut bob_device } = pair();
        alice_device.ensure_outbound(CHAT, &members(&[&alice, &bob]), 0);
        let target: BTreeSet<DeviceRef> = [bob_device.device()].into();
        let mut published = Vec::new();
        let claimed = claim(&mut bob_device, &mut published);
        prop_assert!(alice_device.on_claimed(vec![claimed]).is_empty());
        let share = alice_device.share_outbound(CHAT, &target);
        let mut messages: Vec<(String, MessageFrame)> = (0..count)
            .map(|n| {
                let words = format!("message {n}");
                let body = alice_device.encrypt(CHAT, &text(&words)).expect("encrypts");
                (words, frame(alice.user, n as u64 + 1, body))
            })
            .collect();
        for (position, index) in order.iter().enumerate().take(count) {
            let other = index.index(count);
            messages.swap(position, other);
        }
        for (delivered, (words, message)) in messages.iter().enumerate() {
            if delivered == key_after.min(count) {
                let key = bob_device.open_to_device(alice_device.device(), &share[0].body).expect("decrypts");
                bob_device.accept_room_key(alice_device.device(), &key);
            }
            let opened = bob_device.open(message);
            if delivered >= key_after.min(count) {
                prop_assert_eq!(opened, Opened::Content(text(words)));
            } else {
                let waiting = matches!(opened, Opened::Waiting { .. });
                prop_assert!(waiting);
            }
        }
    }
}

#[test]
fn a_printed_crypto_record_shows_no_key_material() {
    let alice = Person::new(1, "alice");
    let mut device = alice.device();
    let (key, value) = device
        .take_writes()
        .into_iter()
        .find(|(key, _)| *key == CryptoRecordKey::Account)
        .expect("the account record");
    let value = value.expect("a value");
    let printed = format!(
        "{:?}",
        merpati_core::e2e::CryptoRecord {
            key,
            value: value.clone()
        }
    );
    assert!(printed.contains("account"));
    assert!(printed.contains(&format!("<{} bytes>", value.len())));
    let leading_bytes = format!("{:?}", &value[..4]);
    assert!(
        !printed.contains(leading_bytes.trim_end_matches(']')),
        "{printed}"
    );
}
