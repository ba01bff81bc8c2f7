//! Whose keys a device trusts: devices its account key vouches for, account keys pinned on
//! first sight and announced when they change, the account's own key never taken from the
//! server, and safety numbers.

use merpati_core::e2e::{CryptoRecord, CryptoRecordKey, DeviceCrypto, safety_number};
use merpati_protocol::{UserId, keys::UserKeys};

use super::{Pair, Person, keys_of, members, pair};

#[test]
fn a_device_not_vouched_for_by_the_account_key_is_not_trusted() {
    let Pair {
        alice,
        bob,
        alice_device: _,
        mut bob_device,
    } = pair();
    // A device the server invents for alice: signed by some other account key.
    let mallory = Person::new(1, "mallory");
    let forged = mallory.device();
    bob_device.on_keys(
        vec![UserKeys {
            user: alice.user,
            account_key: alice.account_key(),
            devices: vec![forged.device_keys()],
        }],
        20,
    );
    assert!(!bob_device.is_verified_device(forged.device()));
    assert!(bob_device.devices_of(&members(&[&alice])).is_empty());
    let _ = bob;
}

#[test]
fn a_changed_account_key_is_reported_and_changes_the_safety_number() {
    let Pair {
        alice,
        bob,
        mut alice_device,
        bob_device,
    } = pair();
    let before = alice_device
        .safety_number(bob.user)
        .expect("bob's keys are known");
    let impostor = Person::new(2, "impostor");
    let changes = alice_device.on_keys(vec![keys_of(&impostor, &[])], 99);
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].user, bob.user);
    assert_eq!(alice_device.key_changed(bob.user), Some(99));
    assert_ne!(alice_device.safety_number(bob.user), Some(before));
    alice_device.acknowledge_key_change(bob.user);
    assert_eq!(alice_device.key_changed(bob.user), None);
    let _ = (alice, bob_device);
}

#[test]
fn both_sides_compute_the_same_safety_number() {
    let Pair {
        alice,
        bob,
        alice_device,
        bob_device,
    } = pair();
    let seen_by_alice = alice_device.safety_number(bob.user).expect("known");
    let seen_by_bob = bob_device.safety_number(alice.user).expect("known");
    assert_eq!(seen_by_alice, seen_by_bob);
    assert_eq!(seen_by_alice.split(' ').count(), 12);
    assert!(
        seen_by_alice
            .split(' ')
            .all(|group| group.len() == 5 && group.bytes().all(|b| b.is_ascii_digit()))
    );
}

#[test]
fn safety_numbers_do_not_depend_on_argument_order() {
    let a = (UserId(1), [1; 32]);
    let b = (UserId(2), [2; 32]);
    assert_eq!(safety_number(a, b), safety_number(b, a));
    assert_ne!(safety_number(a, b), safety_number(a, (UserId(2), [3; 32])));
}

#[test]
fn the_server_cannot_give_the_account_another_key_or_devices_it_did_not_sign() {
    let Pair {
        alice,
        bob,
        mut alice_device,
        bob_device,
    } = pair();
    let alice_tablet = alice.device();
    // The server answers for alice herself with a key of its own, vouching for a device of
    // its own that it says is hers.
    let server_made = Person::new(alice.user.0, "mallory");
    let planted = server_made.device();
    let changes = alice_device.on_keys(vec![keys_of(&server_made, &[&planted])], 30);
    assert!(
        changes.is_empty(),
        "her own key is not the server's to change"
    );
    assert!(
        alice_device.devices_of(&members(&[&alice])).is_empty(),
        "no device of the server's is taken for one of hers"
    );
    // Her real key, vouching for her tablet, is taken as ever.
    alice_device.on_keys(vec![keys_of(&alice, &[&alice_device, &alice_tablet])], 40);
    assert_eq!(
        alice_device.devices_of(&members(&[&alice])).len(),
        1,
        "her tablet"
    );
    let _ = (bob, bob_device);
}

#[test]
fn another_key_for_the_account_kept_from_before_is_forgotten_on_restore() {
    let Pair {
        alice,
        bob,
        mut alice_device,
        bob_device,
    } = pair();
    // Alice's device keeps what the directory said of bob; a device of a version that took
    // any key for its own account kept such a record for alice herself.
    let mut records: Vec<CryptoRecord> = alice_device
        .take_writes()
        .into_iter()
        .filter_map(|(key, value)| Some(CryptoRecord { key, value: value? }))
        .collect();
    let bobs = records
        .iter()
        .find(|record| record.key == CryptoRecordKey::KnownUser(bob.user))
        .map(|record| record.value.clone())
        .expect("bob's keys are kept");
    records.retain(|record| record.key != CryptoRecordKey::KnownUser(alice.user));
    records.push(CryptoRecord {
        key: CryptoRecordKey::KnownUser(alice.user),
        value: bobs,
    });
    let restored = DeviceCrypto::restore(records).expect("an account record");
    assert!(
        restored.devices_of(&members(&[&alice])).is_empty(),
        "no device another key vouched for counts as the account's"
    );
    let _ = bob_device;
}
