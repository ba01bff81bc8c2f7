//! Device changes and to-device messages across the processes, and a key share whose push is
//! lost, handed from the device's mailbox.

use merpati_protocol::ServerFrame;

use super::Shared;
use crate::support::{Client, Device};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_changes_and_to_device_messages_reach_accounts_on_another_process() {
    let shared = Shared::start().await;
    let one = shared.process().await;
    let other = shared.process().await;
    let (mut alice, alice_me, _) = one.signed_up("alice").await;
    let (mut bob, bob_me, _) = other.signed_up("bob").await;
    let chat = alice.direct("bob").await.id;
    assert_eq!(bob.expect_pushed_chat().await.id, chat);
    // Each hears of the other's new device, across the processes.
    let alice_device = Device::new("alice", alice_me.id);
    alice.publish_device(&alice_device).await;
    let alice_changed = ServerFrame::DevicesChanged { user: alice_me.id };
    assert_eq!(bob.recv().await, alice_changed);
    let bob_device = Device::new("bob", bob_me.id);
    bob.publish_device(&bob_device).await;
    let bob_changed = ServerFrame::DevicesChanged { user: bob_me.id };
    assert_eq!(alice.recv().await, bob_changed);

    // A key share (say) from alice's device to bob's, sent to alice's process.
    let sent = alice
        .send_to_device(vec![merpati_protocol::keys::ToDeviceMessage {
            recipient: bob_device.at(),
            body: b"olm".to_vec(),
        }])
        .await;
    assert!(matches!(sent, ServerFrame::ToDeviceSent { .. }), "{sent:?}");
    let (_, sender, body) = bob.expect_to_device().await;
    assert_eq!((sender, body.as_slice()), (alice_device.at(), &b"olm"[..]));
    bob.expect_nothing_before_a_sentinel().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_share_whose_push_is_lost_reaches_its_device_from_its_mailbox() {
    let shared = Shared::start().await;
    // alice's process stores her key shares and acknowledges them, but never pushes them
    // to the other processes: what NATS dropping them, or a crash before publishing, leaves.
    let (one, other) = shared.losing_and_plain("device").await;
    let (mut alice, alice_me, _) = Client::signed_up(&one.endpoint(), "alice").await;
    let (mut bob, bob_me, _) = Client::signed_up(&other.endpoint(), "bob").await;
    let chat = alice.direct("bob").await.id;
    assert_eq!(bob.expect_pushed_chat().await.id, chat);
    let alice_device = Device::new("alice", alice_me.id);
    alice.publish_device(&alice_device).await;
    assert_eq!(
        bob.recv().await,
        ServerFrame::DevicesChanged { user: alice_me.id }
    );
    let bob_device = Device::new("bob", bob_me.id);
    bob.publish_device(&bob_device).await;
    // His session has read his (empty) mailbox once it answers the sentinel: what comes
    // after cannot have come from that first read.
    bob.expect_nothing_before_a_sentinel().await;
    assert_eq!(
        alice.recv().await,
        ServerFrame::DevicesChanged { user: bob_me.id }
    );

    let sent = alice
        .send_to_device(vec![merpati_protocol::keys::ToDeviceMessage {
            recipient: bob_device.at(),
            body: b"olm".to_vec(),
        }])
        .await;
    assert!(matches!(sent, ServerFrame::ToDeviceSent { .. }), "{sent:?}");
    // No push carried it: bob's process hands it from his mailbox at a head check.
    let (id, sender, body) = bob.expect_to_device().await;
    assert_eq!((sender, body.as_slice()), (alice_device.at(), &b"olm"[..]));
    let handed = other.metrics().await.unwrap()["merpati_to_device_handed_again_total"];
    assert!(handed >= 1.0, "it came from the mailbox: {handed}");
    // Once bob has it, it is gone from his mailbox: a check that read it just before may
    // hand it once more, with the same id, and nothing else comes.
    bob.send(&merpati_protocol::ClientFrame::ToDeviceDone { ids: vec![id] })
        .await;
    let sentinel = bob.request_id();
    bob.send(&merpati_protocol::ClientFrame::QueryKeys {
        request: sentinel,
        users: Vec::new(),
    })
    .await;
    loop {
        match bob.recv().await {
            ServerFrame::ToDevice { id: again, .. } => assert_eq!(again, id),
            ServerFrame::Keys { request, .. } if request == sentinel => break,
            other => panic!("expected the sentinel, got {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_change_whose_push_is_lost_reaches_the_partners_at_a_head_check() {
    let shared = Shared::start().await;
    // alice's process never pushes to the other processes (NATS dropped every push).
    let (one, other) = shared.losing_and_plain("all").await;
    let (mut alice, alice_me, _) = Client::signed_up(&one.endpoint(), "alice").await;
    let (mut bob, _, _) = Client::signed_up(&other.endpoint(), "bob").await;
    let chat = alice.direct("bob").await.id;
    assert_eq!(bob.expect_pushed_chat().await.id, chat, "from a head check");
    // alice's new device: bob must query her keys again before he encrypts for her, or her
    // new device could not read what he writes.
    alice
        .publish_device(&Device::new("alice", alice_me.id))
        .await;
    assert_eq!(
        bob.recv().await,
        ServerFrame::DevicesChanged { user: alice_me.id },
        "told at a head check"
    );
}
