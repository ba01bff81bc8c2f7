//! To-device messages and who hears of devices: queued and live delivery, a mailbox longer
//! than the write burst acknowledged, oversized and unaddressable messages, a chat partner
//! told of a new device, keys and queues across a restart, signing out, and a session that
//! cannot act as a device it does not hold.

use merpati_protocol::keys::{DeviceKey, DeviceRef, ToDeviceMessage};
use merpati_protocol::{
    ClientFrame, ErrorCode, MAX_PENDING_FROM_ONE_SENDER, MAX_TO_DEVICE_BATCH, MAX_TO_DEVICE_BYTES,
    ServerFrame,
};

use crate::support::{Device, TestServer, data_dir, msg_id};

fn to(device: DeviceRef, body: &[u8]) -> ToDeviceMessage {
    ToDeviceMessage {
        recipient: device,
        body: body.to_vec(),
    }
}

#[tokio::test]
async fn a_queued_to_device_message_comes_once_per_connection_until_done() {
    let server = TestServer::start().await;
    let (mut alice, alice_me, _) = server.signed_up("alice").await;
    let (mut bob, bob_me, _) = server.signed_up("bob").await;
    let alice_laptop = Device::new("alice", alice_me.id);
    alice.publish_device(&alice_laptop).await;
    drop(alice);
    let bob_phone = Device::new("bob", bob_me.id);
    bob.publish_device(&bob_phone).await;

    let sent = bob
        .send_to_device(vec![
            to(alice_laptop.at(), b"olm one"),
            to(alice_laptop.at(), b"olm two"),
        ])
        .await;
    assert!(matches!(sent, ServerFrame::ToDeviceSent { .. }), "{sent:?}");

    let mut ids = Vec::new();
    for _ in 0..2 {
        let mut alice = server.logged_in("alice").await;
        alice.publish_device(&alice_laptop).await;
        let first = alice.expect_to_device().await;
        let second = alice.expect_to_device().await;
        assert_eq!(
            (first.1, first.2.as_slice()),
            (bob_phone.at(), &b"olm one"[..])
        );
        assert_eq!(second.2, b"olm two");
        assert!(first.0 < second.0, "in id order");
        // Those two were all.
        alice.expect_nothing_before_a_sentinel().await;
        // More keys published on the same connection do not send the queue again.
        alice.publish_device(&alice_laptop).await;
        alice.expect_nothing_before_a_sentinel().await;
        ids = vec![first.0, second.0];
    }

    let mut alice = server.logged_in("alice").await;
    alice.publish_device(&alice_laptop).await;
    let _ = alice.expect_to_device().await;
    let _ = alice.expect_to_device().await;
    alice.send(&ClientFrame::ToDeviceDone { ids }).await;
    alice.expect_nothing_before_a_sentinel().await;
    drop(alice);

    let mut alice = server.logged_in("alice").await;
    alice.publish_device(&alice_laptop).await;
    alice.expect_nothing_before_a_sentinel().await;
    server.stop().await;
}

/// A device back to more messages than the account's write burst, acknowledging them as the
/// app does, 64 ids a `ToDeviceDone` (each costs a write per started 64 ids), has them all
/// dropped, and is neither refused nor closed. One a frame, it would be refused past the burst
/// and then closed, and meet the same mailbox on every connection.
#[tokio::test]
async fn a_mailbox_longer_than_the_write_burst_is_acknowledged_64_ids_a_frame() {
    let server = TestServer::start_configured(|config| {
        config.write_burst = 40;
        config.writes_per_minute = 1;
    })
    .await;
    let (mut alice, alice_me, _) = server.signed_up("alice").await;
    let (mut bob, bob_me, _) = server.signed_up("bob").await;
    let laptop = Device::new("alice", alice_me.id);
    alice.publish_device(&laptop).await;
    drop(alice);
    bob.publish_device(&Device::new("bob", bob_me.id)).await;
    let waiting = MAX_PENDING_FROM_ONE_SENDER;
    let messages = (0..waiting)
        .map(|n| to(laptop.at(), format!("olm {n}").as_bytes()))
        .collect();
    let sent = bob.send_to_device(messages).await;
    assert!(
        matches!(&sent, ServerFrame::ToDeviceSent { refused, .. } if refused.is_empty()),
        "{sent:?}"
    );

    let mut alice = server.logged_in("alice").await;
    alice.publish_device(&laptop).await;
    let mut ids = Vec::new();
    for _ in 0..waiting {
        ids.push(alice.expect_to_device().await.0);
    }
    for batch in ids.chunks(64) {
        alice
            .send(&ClientFrame::ToDeviceDone {
                ids: batch.to_vec(),
            })
            .await;
    }
    // Not refused: the sentinel's answer is the next frame.
    alice.expect_nothing_before_a_sentinel().await;
    drop(alice);

    let mut alice = server.logged_in("alice").await;
    alice.publish_device(&laptop).await;
    alice.expect_nothing_before_a_sentinel().await;
    server.stop().await;
}

#[tokio::test]
async fn a_live_to_device_message_reaches_only_the_addressed_device() {
    let server = TestServer::start().await;
    let (mut alice_laptop, alice_me, _) = server.signed_up("alice").await;
    let mut alice_phone = server.logged_in("alice").await;
    let mut alice_fresh_tab = server.logged_in("alice").await;
    let (mut bob, bob_me, _) = server.signed_up("bob").await;
    let laptop = Device::new("alice", alice_me.id);
    let phone = Device::new("alice", alice_me.id);
    let changed = ServerFrame::DevicesChanged { user: alice_me.id };
    alice_laptop.publish_device(&laptop).await;
    // Alice's other sessions hear of each new device of hers.
    for tab in [&mut alice_phone, &mut alice_fresh_tab] {
        assert_eq!(tab.recv().await, changed);
    }
    alice_phone.publish_device(&phone).await;
    for tab in [&mut alice_laptop, &mut alice_fresh_tab] {
        assert_eq!(tab.recv().await, changed);
    }
    let bob_device = Device::new("bob", bob_me.id);
    bob.publish_device(&bob_device).await;

    let sent = bob
        .send_to_device(vec![to(laptop.at(), b"for the laptop")])
        .await;
    assert!(matches!(sent, ServerFrame::ToDeviceSent { .. }), "{sent:?}");
    let (_, sender, body) = alice_laptop.expect_to_device().await;
    assert_eq!(
        (sender, body.as_slice()),
        (bob_device.at(), &b"for the laptop"[..])
    );
    // Not to alice's other sessions: a sentinel bob's session sends after it, the chat it opens
    // with alice, is their next frame.
    let chat = bob.direct("alice").await;
    for tab in [&mut alice_phone, &mut alice_fresh_tab] {
        assert_eq!(tab.expect_pushed_chat().await.id, chat.id);
    }
    server.stop().await;
}

#[tokio::test]
async fn oversized_and_unaddressable_to_device_messages() {
    let server = TestServer::start().await;
    let (mut alice, alice_me, _) = server.signed_up("alice").await;
    let (mut bob, bob_me, _) = server.signed_up("bob").await;
    let laptop = Device::new("alice", alice_me.id);
    alice.publish_device(&laptop).await;
    bob.publish_device(&Device::new("bob", bob_me.id)).await;

    let too_big = vec![0u8; MAX_TO_DEVICE_BYTES + 1];
    assert!(matches!(
        bob.send_to_device(vec![to(laptop.at(), &too_big)]).await,
        ServerFrame::Error {
            code: ErrorCode::MessageTooLarge,
            ..
        }
    ));
    let too_many = vec![to(laptop.at(), b"x"); MAX_TO_DEVICE_BATCH + 1];
    assert!(matches!(
        bob.send_to_device(too_many).await,
        ServerFrame::Error {
            code: ErrorCode::Malformed,
            ..
        }
    ));
    // A device that does not exist, or exists under another account: dropped silently.
    let nowhere = DeviceRef {
        user: alice_me.id,
        device: DeviceKey([7; 32]),
    };
    let misaddressed = DeviceRef {
        user: bob_me.id,
        device: laptop.key(),
    };
    assert!(matches!(
        bob.send_to_device(vec![to(nowhere, b"lost"), to(misaddressed, b"lost")])
            .await,
        ServerFrame::ToDeviceSent { .. }
    ));
    // Nothing of the refused or dropped messages reached the laptop: a sentinel bob's session
    // sends after them, the chat it opens with alice, is the laptop's next frame.
    let chat = bob.direct("alice").await;
    assert_eq!(alice.expect_pushed_chat().await.id, chat.id);
    // Nor waits for it: the laptop on a new connection is sent no queue.
    drop(alice);
    let mut alice = server.logged_in("alice").await;
    alice.publish_device(&laptop).await;
    alice.expect_nothing_before_a_sentinel().await;
    server.stop().await;
}

#[tokio::test]
async fn a_chat_partner_hears_of_a_new_device_and_a_stranger_does_not() {
    let server = TestServer::start().await;
    let (mut alice, _, _) = server.signed_up("alice").await;
    let (mut bob, bob_me, _) = server.signed_up("bob").await;
    let (mut carol, _, _) = server.signed_up("carol").await;
    let chat = alice.direct("bob").await;
    let _chat = bob.recv().await;

    let device = Device::new("bob", bob_me.id);
    bob.publish_device(&device).await;
    assert_eq!(
        alice.recv().await,
        ServerFrame::DevicesChanged { user: bob_me.id }
    );
    // Not carol: a sentinel bob's session sends after publishing, the chat it opens with her,
    // is her next frame.
    let with_carol = bob.direct("carol").await;
    assert_eq!(carol.expect_pushed_chat().await.id, with_carol.id);
    // Publishing the same device again changes nothing: bob's next message is alice's next
    // frame.
    bob.publish_device(&device).await;
    let seq = bob.say(chat.id, msg_id(1), b"sentinel").await;
    assert_eq!(alice.expect_message().await.seq, seq);
    server.stop().await;
}

#[tokio::test]
async fn keys_and_queued_messages_survive_a_restart() {
    let (_dir, data) = data_dir();
    let server = TestServer::start_in(&data).await;
    let (mut alice, alice_me, _) = server.signed_up("alice").await;
    let (mut bob, bob_me, _) = server.signed_up("bob").await;
    let mut laptop = Device::new("alice", alice_me.id);
    let one_time_keys = laptop.one_time_keys(1);
    alice.publish(&laptop, one_time_keys.clone(), None).await;
    drop(alice);
    // Partners, so that Bob may read Alice's keys.
    bob.direct("alice").await;
    bob.publish_device(&Device::new("bob", bob_me.id)).await;
    let sent = bob.send_to_device(vec![to(laptop.at(), b"kept")]).await;
    assert!(matches!(sent, ServerFrame::ToDeviceSent { .. }), "{sent:?}");
    drop(bob);
    server.stop().await;

    let server = TestServer::start_in(&data).await;
    let mut bob = server.logged_in("bob").await;
    let users = bob.query_keys(&[alice_me.id]).await;
    assert_eq!(users[0].devices, vec![laptop.keys()]);
    let mut alice = server.logged_in("alice").await;
    assert_eq!(alice.publish_device(&laptop).await, 1);
    let (_, _, body) = alice.expect_to_device().await;
    assert_eq!(body, b"kept");
    let claimed = bob.claim_keys(&[laptop.at()]).await;
    assert_eq!(claimed[0].key.as_ref(), one_time_keys.first());
    server.stop().await;
}

#[tokio::test]
async fn signing_out_removes_the_device_from_the_directory() {
    let server = TestServer::start().await;
    let (mut alice, alice_me, _) = server.signed_up("alice").await;
    let (mut bob, _, _) = server.signed_up("bob").await;
    alice.direct("bob").await;
    let _chat = bob.recv().await;
    let laptop = Device::new("alice", alice_me.id);
    alice.publish_device(&laptop).await;
    let _ = bob.recv().await;

    alice.send(&ClientFrame::Logout).await;
    let (_, close) = alice.until_closed().await;
    assert!(close.is_some());
    assert_eq!(
        bob.recv().await,
        ServerFrame::DevicesChanged { user: alice_me.id }
    );
    let users = bob.query_keys(&[alice_me.id]).await;
    assert!(users[0].devices.is_empty());
    assert!(bob.claim_keys(&[laptop.at()]).await.is_empty());
    server.stop().await;
}

#[tokio::test]
async fn a_session_without_the_devices_own_key_cannot_act_as_that_device() {
    let server = TestServer::start().await;
    let (mut alice, alice_me, token) = server.signed_up("alice").await;
    let laptop = Device::new("alice", alice_me.id);
    alice.publish_device(&laptop).await;
    let earlier_nonce = alice.nonce();
    drop(alice);
    // A room key for the laptop waits in its queue.
    let (mut bob, bob_me, _) = server.signed_up("bob").await;
    bob.publish_device(&Device::new("bob", bob_me.id)).await;
    assert!(matches!(
        bob.send_to_device(vec![to(laptop.at(), b"room key")]).await,
        ServerFrame::ToDeviceSent { .. }
    ));

    // Someone with Alice's session token — not her passphrase, not the laptop — replays the
    // laptop's keys as the directory lists them (signed by Alice's account key, as they are).
    let mut thief = server.connect().await;
    assert!(matches!(
        thief.resume(token).await,
        ServerFrame::Welcome { .. }
    ));
    let listed = thief.query_keys(&[alice_me.id]).await[0].devices[0].clone();
    assert_eq!(listed, laptop.keys());
    let proofs = [
        None,
        // Made by another device's key for this connection.
        Some(Device::new("alice", alice_me.id).proof(&thief.nonce())),
        // The laptop's own proof, captured from an earlier connection.
        Some(laptop.proof(&earlier_nonce)),
    ];
    for proof in proofs {
        assert!(
            matches!(
                thief
                    .publish_keys(listed.clone(), proof, Vec::new(), None)
                    .await,
                ServerFrame::Error {
                    code: ErrorCode::InvalidSignature,
                    ..
                }
            ),
            "a replayed device was bound"
        );
    }
    // Not bound, it can neither acknowledge the laptop's queue away nor send as the laptop.
    thief
        .send(&ClientFrame::ToDeviceDone { ids: vec![1] })
        .await;
    assert_eq!(thief.expect_error().await, ErrorCode::NoDevice);
    assert!(matches!(
        thief.send_to_device(vec![to(laptop.at(), b"forged")]).await,
        ServerFrame::Error {
            code: ErrorCode::NoDevice,
            ..
        }
    ));

    // The laptop's queue is untouched: the laptop itself gets its room key.
    let mut laptop_session = server.logged_in("alice").await;
    assert_eq!(laptop_session.publish_device(&laptop).await, 0);
    let (_, sender, body) = laptop_session.expect_to_device().await;
    assert_eq!(sender.user, bob_me.id);
    assert_eq!(body, b"room key");
    server.stop().await;
}
