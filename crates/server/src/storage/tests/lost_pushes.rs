//! What a cluster's head check reads in case a push was lost: what has waited in a set of
//! devices' mailboxes up to a mark (a few of each device's oldest, and the newest id
//! queued), which of a set of sessions are gone, which chats a set of accounts joined in a
//! span of time, which of a set of accounts changed their privacy since a time, and whom to
//! tell of devices changed since a time.

use merpati_protocol::keys::{DeviceKey, DeviceKeys, DeviceRef, ToDeviceMessage};

use super::account;
use crate::auth::SessionKeys;
use crate::privacy::Privacy;
use crate::storage::{Joined, Storage};
use merpati_protocol::{Seq, UserId};

/// Publishes a device of `user` named by `n` (storage trusts its caller's signature check).
async fn device(storage: &Storage, user: merpati_protocol::UserId, n: u8) -> DeviceRef {
    let keys = DeviceKeys {
        user,
        device: DeviceKey([n; 32]),
        ed25519: [n; 32],
        signature: vec![0; 64],
    };
    storage
        .publish_keys([0; 32], keys, Vec::new(), None)
        .await
        .unwrap();
    DeviceRef {
        user,
        device: DeviceKey([n; 32]),
    }
}

/// Queues one message from `sender` to each of `recipients`; their ids.
async fn queue(storage: &Storage, sender: DeviceRef, recipients: &[(DeviceRef, &str)]) -> Vec<u64> {
    let messages = recipients
        .iter()
        .map(|(recipient, body)| ToDeviceMessage {
            recipient: *recipient,
            body: body.as_bytes().to_vec(),
        })
        .collect();
    storage
        .queue_to_device(sender, std::sync::Arc::new(messages))
        .await
        .unwrap()
        .into_iter()
        .map(|outcome| match outcome {
            crate::storage::ToDeviceOutcome::Queued(id) => id,
            other => panic!("not queued: {other:?}"),
        })
        .collect()
}

/// What waits for `devices` up to `up_to`, as (device, body), and the newest id.
async fn waiting(
    storage: &Storage,
    devices: &[DeviceRef],
    up_to: u64,
    per_device: u32,
) -> (Vec<(u8, String)>, u64) {
    let keys = devices.iter().map(|device| device.device).collect();
    let found = storage
        .to_device_waiting(keys, up_to, per_device)
        .await
        .unwrap();
    let mut messages: Vec<(u8, String)> = found
        .messages
        .into_iter()
        .map(|(device, queued)| (device.0[0], String::from_utf8(queued.body).unwrap()))
        .collect();
    messages.sort();
    (messages, found.newest)
}

pub(super) async fn a_head_check_finds_what_waited_for_its_devices_up_to_its_mark(
    storage: &Storage,
) {
    let alice = account(storage, "alice").await;
    let bob = account(storage, "bob").await;
    let carol = account(storage, "carol").await;
    let sender = device(storage, alice.id, 1).await;
    let bob_laptop = device(storage, bob.id, 2).await;
    let bob_phone = device(storage, bob.id, 3).await;
    let carols = device(storage, carol.id, 4).await;
    let (nothing, newest) = waiting(storage, &[bob_laptop], u64::MAX, 8).await;
    assert_eq!((nothing, newest), (Vec::new(), 0), "an empty mailbox");

    let ids = queue(
        storage,
        sender,
        &[
            (bob_laptop, "l1"),
            (bob_laptop, "l2"),
            (bob_laptop, "l3"),
            (bob_phone, "p1"),
            (carols, "c1"),
        ],
    )
    .await;
    let mark = *ids.iter().max().unwrap();
    // Up to a mark from before they were queued: none of them.
    let (found, newest) = waiting(storage, &[bob_laptop, bob_phone], ids[0] - 1, 8).await;
    assert_eq!((found, newest), (Vec::new(), mark));
    // Up to the mark: each asked device's oldest, at most two each; carol's is not asked for.
    let (found, _) = waiting(storage, &[bob_laptop, bob_phone], mark, 2).await;
    let expected = [(2, "l1"), (2, "l2"), (3, "p1")];
    assert_eq!(found, expected.map(|(d, b)| (d, b.to_owned())).to_vec());

    // What the laptop acknowledged is no longer there; what came after the mark waits for the
    // next.
    storage
        .to_device_done(bob_laptop.device, vec![ids[0]])
        .await
        .unwrap();
    let later = queue(storage, sender, &[(bob_phone, "p2")]).await;
    let (found, newest) = waiting(storage, &[bob_laptop, bob_phone], mark, 8).await;
    let expected = [(2, "l2"), (2, "l3"), (3, "p1")];
    assert_eq!(found, expected.map(|(d, b)| (d, b.to_owned())).to_vec());
    assert_eq!(newest, later[0], "the newest id moved on");
}

pub(super) async fn a_head_check_finds_which_of_its_sessions_are_gone(storage: &Storage) {
    let kept = SessionKeys::of(&[1; 32]);
    let ended = SessionKeys::of(&[2; 32]);
    let name = |n: u8| merpati_protocol::Username::parse(&format!("user{n}")).unwrap();
    let alice = storage
        .register(name(1), [7; 32], None, kept, None)
        .await
        .unwrap();
    storage
        .register(name(2), [8; 32], None, ended, None)
        .await
        .unwrap();
    let never = [3; 32];
    let asked = vec![kept.token_hash, ended.token_hash, never];
    let gone = storage.sessions_gone(asked.clone()).await.unwrap();
    assert_eq!(gone, vec![never], "only the one that never was");

    let mut prefix = [0; 16];
    prefix.copy_from_slice(&kept.token_hash[..16]);
    let signed_out = storage.end_session(alice.id, prefix).await.unwrap();
    assert!(signed_out.is_some());
    let mut gone = storage.sessions_gone(asked).await.unwrap();
    gone.sort_unstable();
    let mut expected = vec![kept.token_hash, never];
    expected.sort_unstable();
    assert_eq!(gone, expected, "the ended one is gone too");
    assert!(storage.sessions_gone(Vec::new()).await.unwrap().is_empty());
}

pub(super) async fn a_head_check_finds_the_chats_its_accounts_joined_in_a_time(storage: &Storage) {
    let alice = account(storage, "alice").await;
    let bob = account(storage, "bob").await;
    let carol = account(storage, "carol").await;
    let (early, _) = storage.create_direct(alice.id, bob.id).await.unwrap();
    let joined = |account, chat, head| Joined {
        account,
        chat,
        head: Seq(head),
    };
    let mut found = storage
        .joined_between(vec![alice.id, bob.id, carol.id], 0, u64::MAX)
        .await
        .unwrap();
    found.sort_unstable();
    let expected = vec![joined(alice.id, early.id, 0), joined(bob.id, early.id, 0)];
    assert_eq!(found, expected);

    // Later than anything joined: nothing. Then carol is added to a group that has said
    // something: she joined at the head before the line her joining wrote.
    let later = crate::storage::now_ms() + 1;
    let none = storage
        .joined_between(vec![alice.id, bob.id], later, u64::MAX)
        .await;
    assert!(none.unwrap().is_empty());
    while crate::storage::now_ms() < later {
        tokio::task::yield_now().await;
    }
    let group = storage
        .create_group(alice.clone(), "Trip".into(), vec![bob.id])
        .await
        .unwrap();
    let group = group.chat.id;
    super::append(storage, group, 1, alice.id, b"hello".to_vec()).await;
    let added = storage
        .add_member(group, alice.id, carol.clone())
        .await
        .unwrap();
    let line = added.lines.first().map(|line| line.seq).unwrap();
    let found = storage
        .joined_between(vec![carol.id], later, u64::MAX)
        .await;
    assert_eq!(found.unwrap(), vec![joined(carol.id, group, line.0 - 1)]);
    // Nor before a time it joined after.
    let before = storage
        .joined_between(vec![carol.id], 0, later)
        .await
        .unwrap();
    assert!(before.is_empty(), "{before:?}");
}

pub(super) async fn a_head_check_finds_the_accounts_whose_privacy_changed_since_a_time(
    storage: &Storage,
) {
    let alice = account(storage, "alice").await;
    let bob = account(storage, "bob").await;
    let carol = account(storage, "carol").await;
    let dave = account(storage, "dave").await;
    let everyone = vec![alice.id, bob.id, carol.id, dave.id];
    // Each account changed, with its privacy now; each change at or after `since`.
    let changed_since = |since: u64| {
        let asked = everyone.clone();
        async move {
            let changed = storage.privacy_changed_since(asked, since).await.unwrap();
            let mut changed: Vec<(UserId, Privacy)> = changed
                .into_iter()
                .map(|read| {
                    assert!(read.changed_ms >= since, "{read:?}");
                    (read.account, read.privacy)
                })
                .collect();
            changed.sort_unstable_by_key(|(account, _)| *account);
            changed
        }
    };
    let privacy = |share_read_receipts, share_presence, blocked: &[UserId]| Privacy {
        share_read_receipts,
        share_presence,
        blocked: blocked.into(),
    };
    // Signing up is no change: nothing since the suite began.
    let start = crate::storage::now_ms();
    assert!(changed_since(start).await.is_empty());

    // alice blocks bob, carol stops sharing read receipts; dave does nothing.
    storage.set_blocked(alice.id, bob.id, true).await.unwrap();
    storage.set_privacy(carol.id, false, true).await.unwrap();
    let expected = vec![
        (alice.id, privacy(true, true, &[bob.id])),
        (carol.id, privacy(false, true, &[])),
    ];
    assert_eq!(changed_since(start).await, expected);

    // Later, bob blocks alice, and alice blocks bob again, which changes nothing: only bob
    // changed since then, and the changes before are not read again.
    let later = crate::storage::now_ms() + 1;
    wait_past(later).await;
    storage.set_blocked(bob.id, alice.id, true).await.unwrap();
    storage.set_blocked(alice.id, bob.id, true).await.unwrap();
    assert_eq!(
        changed_since(later).await,
        vec![(bob.id, privacy(true, true, &[alice.id]))]
    );

    // Unblocking is a change too.
    let last = crate::storage::now_ms() + 1;
    wait_past(last).await;
    storage.set_blocked(alice.id, bob.id, false).await.unwrap();
    assert_eq!(
        changed_since(last).await,
        vec![(alice.id, privacy(true, true, &[]))]
    );
    // Only the accounts asked about are read.
    let asked = storage
        .privacy_changed_since(vec![carol.id, dave.id], start)
        .await
        .unwrap();
    let asked: Vec<UserId> = asked.iter().map(|read| read.account).collect();
    assert_eq!(asked, vec![carol.id]);
}

pub(super) async fn a_head_check_finds_whom_to_tell_of_devices_changed_since_a_time(
    storage: &Storage,
) {
    let alice = account(storage, "alice").await;
    let bob = account(storage, "bob").await;
    let carol = account(storage, "carol").await;
    storage.create_direct(alice.id, bob.id).await.unwrap();
    let changed_since = |since: u64| async move {
        let mut told: Vec<(UserId, UserId)> = storage
            .devices_changed_since(since)
            .await
            .unwrap()
            .into_iter()
            .map(|changed| {
                assert!(changed.at_ms >= since, "{changed:?}");
                (changed.told, changed.changed)
            })
            .collect();
        told.sort_unstable();
        told
    };
    // Signing up and making a chat change no devices.
    let start = crate::storage::now_ms();
    assert!(changed_since(start).await.is_empty());

    // alice publishes a device: she and bob, who share a chat, are to be told; carol not.
    device(storage, alice.id, 1).await;
    let mut expected = vec![(alice.id, alice.id), (bob.id, alice.id)];
    expected.sort_unstable();
    assert_eq!(changed_since(start).await, expected);

    // Later, alice publishes the same device again (no change), and carol a new one, whom
    // no one shares a chat with: only she is to be told.
    let later = crate::storage::now_ms() + 1;
    wait_past(later).await;
    device(storage, alice.id, 1).await;
    device(storage, carol.id, 2).await;
    assert_eq!(changed_since(later).await, vec![(carol.id, carol.id)]);
}

/// Waits until the clock has reached `at_ms`: what is written afterwards is written at or
/// after it.
async fn wait_past(at_ms: u64) {
    while crate::storage::now_ms() < at_ms {
        tokio::task::yield_now().await;
    }
}
