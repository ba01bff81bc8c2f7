//! The registry specified: delivery, devices, eviction, queues, presence and the caches.

use super::*;
use merpati_protocol::{Presence, ServerFrame};

#[test]
fn a_frame_reaches_every_session_of_every_member_but_the_skipped_one() {
    let fanout = FanOut::new();
    let (alice, bob) = (UserId(1), UserId(2));
    let (a1, a2, b1) = (
        fanout.next_session_id(),
        fanout.next_session_id(),
        fanout.next_session_id(),
    );
    let mut alice_tab1 = fanout.join(alice, a1, [0; 32], Privacy::default());
    let mut alice_tab2 = fanout.join(alice, a2, [0; 32], Privacy::default());
    let mut bob_tab = fanout.join(bob, b1, [0; 32], Privacy::default());
    let frame = Bytes::from_static(b"frame");
    fanout.deliver(&[alice, bob], &frame, Some(a1));
    assert_eq!(alice_tab1.frames.try_recv(), None);
    assert_eq!(alice_tab2.frames.try_recv(), Some(Some(frame.clone())));
    assert_eq!(bob_tab.frames.try_recv(), Some(Some(frame)));
}

#[test]
fn a_to_device_frame_reaches_only_the_sessions_bound_to_its_device() {
    let fanout = FanOut::new();
    let alice = UserId(1);
    let (phone, laptop) = (DeviceKey([1; 32]), DeviceKey([2; 32]));
    let (s1, s2, s3) = (
        fanout.next_session_id(),
        fanout.next_session_id(),
        fanout.next_session_id(),
    );
    let mut phone_tab = fanout.join(alice, s1, [0; 32], Privacy::default());
    let mut laptop_tab = fanout.join(alice, s2, [0; 32], Privacy::default());
    let mut unbound_tab = fanout.join(alice, s3, [0; 32], Privacy::default());
    fanout.bind_device(alice, s1, phone);
    fanout.bind_device(alice, s2, laptop);
    let frame = Bytes::from_static(b"olm");
    fanout.deliver_to_device(
        &DeviceRef {
            user: alice,
            device: phone,
        },
        &frame,
    );
    assert_eq!(phone_tab.frames.try_recv(), Some(Some(frame)));
    assert_eq!(laptop_tab.frames.try_recv(), None);
    assert_eq!(unbound_tab.frames.try_recv(), None);
}

#[test]
fn a_session_that_cannot_keep_up_is_evicted() {
    let fanout = FanOut::new();
    let user = UserId(1);
    let slow = fanout.join(user, fanout.next_session_id(), [0; 32], Privacy::default());
    let frame = Bytes::from_static(b"x");
    for _ in 0..SESSION_QUEUE {
        fanout.deliver(&[user], &frame, None);
    }
    assert!(!slow.evicted.is_cancelled());
    fanout.deliver(&[user], &frame, None);
    assert!(slow.evicted.is_cancelled());
}

#[tokio::test]
async fn a_waiting_session_wakes_for_each_frame_in_order_and_hears_when_it_was_let_go() {
    let fanout = FanOut::new();
    let user = UserId(7);
    let Subscription {
        mut frames, guard, ..
    } = fanout.join(user, fanout.next_session_id(), [0; 32], Privacy::default());
    let waiting = tokio::spawn(async move {
        let mut got = Vec::new();
        while let Some(frame) = frames.recv().await {
            got.push(frame);
        }
        got
    });
    tokio::task::yield_now().await;
    for text in [&b"one"[..], b"two", b"three"] {
        fanout.deliver(&[user], &Bytes::from_static(text), None);
        tokio::task::yield_now().await;
    }
    // Leaving the registry ends the stream after what was queued.
    fanout.deliver(&[user], &Bytes::from_static(b"four"), None);
    drop(guard);
    let got = waiting.await.expect("the session task ends");
    assert_eq!(got, [&b"one"[..], b"two", b"three", b"four"]);
}

#[test]
fn an_idle_queue_holds_no_frames_memory_and_gives_a_burst_back() {
    let fanout = FanOut::new();
    let user = UserId(8);
    let mut subscription = fanout.join(user, fanout.next_session_id(), [0; 32], Privacy::default());
    assert_eq!(lock(&subscription.frames.queue.state).frames.capacity(), 0);
    for _ in 0..200 {
        fanout.deliver(&[user], &Bytes::from_static(b"x"), None);
    }
    while let Some(Some(_)) = subscription.frames.try_recv() {}
    assert!(lock(&subscription.frames.queue.state).frames.capacity() <= KEPT_QUEUE_SLOTS);
}

#[test]
fn dropping_the_guard_takes_the_session_offline() {
    let fanout = FanOut::new();
    let subscription = fanout.join(
        UserId(5),
        fanout.next_session_id(),
        [0; 32],
        Privacy::default(),
    );
    assert!(fanout.is_online(UserId(5)));
    drop(subscription);
    assert!(!fanout.is_online(UserId(5)));
}

#[test]
fn the_last_session_leaving_hands_over_its_time_before_a_watcher_hears_it() {
    // A watcher that asks again the moment it hears must find the time where the caller
    // stored it: the registry no longer holds the account by then.
    let fanout = FanOut::new();
    let (alice, bob) = (UserId(1), UserId(2));
    let alice_session = fanout.next_session_id();
    let mut alice_tab = fanout.join(alice, alice_session, [0; 32], Privacy::default());
    let bob_tab = fanout.join(bob, fanout.next_session_id(), [0; 32], Privacy::default());
    assert_eq!(
        fanout.watch(alice, alice_session, Some(bob)),
        Some(Presence::Online)
    );

    let mut handed = None;
    bob_tab.guard.leave(|at_ms| {
        handed = Some((at_ms, alice_tab.frames.try_recv()));
    });
    let Some((at_ms, heard_before)) = handed else {
        panic!("the last session's leaving handed over no time");
    };
    assert_eq!(
        heard_before, None,
        "the watcher heard before the time was handed over"
    );
    let Some(Some(frame)) = alice_tab.frames.try_recv() else {
        panic!("the watcher was not told");
    };
    assert_eq!(
        merpati_protocol::decode::<ServerFrame>(&frame).ok(),
        Some(ServerFrame::Presence {
            user: bob,
            presence: Presence::LastSeen { at_ms }
        })
    );
}

#[test]
fn a_session_leaving_while_another_stays_hands_over_no_time() {
    let fanout = FanOut::new();
    let bob = UserId(2);
    let phone = fanout.join(bob, fanout.next_session_id(), [0; 32], Privacy::default());
    let _laptop = fanout.join(bob, fanout.next_session_id(), [0; 32], Privacy::default());
    let mut handed = false;
    phone.guard.leave(|_| handed = true);
    assert!(!handed);
    assert!(fanout.is_online(bob));
}
