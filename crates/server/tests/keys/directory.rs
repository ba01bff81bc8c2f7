//! Publishing, querying and claiming keys: a device listed with its account's signature, the
//! refusals of a forged or stolen device, one-time keys handed out once then the fallback, a
//! stranger who cannot drain them, a connection that has not signed in, and the directory's
//! limits.

use std::collections::HashSet;

use merpati_protocol::keys::{DeviceKey, DeviceRef, device_keys_message, one_time_key_message};
use merpati_protocol::{
    ClientFrame, ErrorCode, MAX_DEVICES, MAX_ONE_TIME_KEYS, RequestId, ServerFrame, UserId,
};
use vodozemac::{Ed25519PublicKey, Ed25519Signature};

use crate::support::{Device, TestServer, key};

fn verifies(key: &[u8; 32], message: &[u8], signature: &[u8]) -> bool {
    let key = Ed25519PublicKey::from_slice(key).unwrap();
    let signature = Ed25519Signature::from_slice(signature).unwrap();
    key.verify(message, &signature).is_ok()
}

#[tokio::test]
async fn a_published_device_is_listed_with_its_account_signature() {
    let server = TestServer::start().await;
    let (mut alice, alice_me, _) = server.signed_up("alice").await;
    let (mut bob, _, _) = server.signed_up("bob").await;
    let mut laptop = Device::new("alice", alice_me.id);
    let one_time_keys = laptop.one_time_keys(3);
    let fallback = laptop.fallback_key();
    match alice.publish(&laptop, one_time_keys, Some(fallback)).await {
        ServerFrame::KeysPublished { one_time_keys } => assert_eq!(one_time_keys, 3),
        other => panic!("expected KeysPublished, got {other:?}"),
    }

    // Strangers' keys are not handed out: Bob shares no chat with Alice yet.
    assert!(bob.query_keys(&[alice_me.id]).await.is_empty());
    alice.direct("bob").await;
    let _pushed = bob.recv().await;

    // Unknown accounts are left out; repeats are answered once.
    let users = bob
        .query_keys(&[UserId(999), alice_me.id, alice_me.id])
        .await;
    assert_eq!(users.len(), 1);
    let keys = &users[0];
    assert_eq!(keys.user, alice_me.id);
    assert_eq!(keys.account_key, *key("alice").public_key().as_bytes());
    assert_eq!(keys.devices, vec![laptop.keys()]);
    let device = &keys.devices[0];
    assert!(
        verifies(
            &keys.account_key,
            &device_keys_message(device.user, &device.device, &device.ed25519),
            &device.signature
        ),
        "the listed device verifies against the listed account key"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_device_not_signed_by_its_account_key_is_refused() {
    let server = TestServer::start().await;
    let (mut alice, alice_me, _) = server.signed_up("alice").await;
    let (_bob, bob_me, _) = server.signed_up("bob").await;
    let device = Device::new("alice", alice_me.id);

    let forged = device.keys_signed_by("mallory");
    let proof = Some(device.proof(&alice.nonce()));
    assert!(matches!(
        alice.publish_keys(forged, proof, Vec::new(), None).await,
        ServerFrame::Error {
            code: ErrorCode::InvalidSignature,
            ..
        }
    ));
    // A device may only be published into one's own account.
    let foreign = Device::new("alice", bob_me.id);
    let proof = Some(foreign.proof(&alice.nonce()));
    assert!(matches!(
        alice
            .publish_keys(foreign.keys_signed_by("alice"), proof, Vec::new(), None)
            .await,
        ServerFrame::Error {
            code: ErrorCode::InvalidKey,
            ..
        }
    ));
    let users = alice.query_keys(&[alice_me.id, bob_me.id]).await;
    assert!(users.iter().all(|user| user.devices.is_empty()));
    // Without a published device, sending to devices is refused.
    assert!(matches!(
        alice.send_to_device(Vec::new()).await,
        ServerFrame::Error {
            code: ErrorCode::NoDevice,
            ..
        }
    ));
    server.stop().await;
}

#[tokio::test]
async fn a_device_key_owned_by_another_account_is_refused() {
    let server = TestServer::start().await;
    let (mut alice, alice_me, _) = server.signed_up("alice").await;
    let (mut bob, bob_me, _) = server.signed_up("bob").await;
    let device = Device::new("alice", alice_me.id);
    alice.publish_device(&device).await;
    // Bob vouches, correctly signed, for the same Curve25519 key under his own account.
    let mut stolen = Device::new("bob", bob_me.id);
    stolen.olm = device.olm;
    assert!(matches!(
        bob.publish(&stolen, Vec::new(), None).await,
        ServerFrame::Error {
            code: ErrorCode::InvalidKey,
            ..
        }
    ));
    server.stop().await;
}

#[tokio::test]
async fn claiming_hands_out_each_one_time_key_once_then_the_fallback() {
    let server = TestServer::start().await;
    let (mut alice, alice_me, _) = server.signed_up("alice").await;
    let (mut bob, _, _) = server.signed_up("bob").await;
    let mut phone = Device::new("alice", alice_me.id);
    let one_time_keys = phone.one_time_keys(2);
    let fallback = phone.fallback_key();
    alice
        .publish(&phone, one_time_keys.clone(), Some(fallback.clone()))
        .await;
    let ed25519 = *phone.olm.ed25519_key().as_bytes();

    let nobody = DeviceRef {
        user: alice_me.id,
        device: DeviceKey([9; 32]),
    };
    let mut handed_out = HashSet::new();
    for _ in 0..2 {
        let claimed = bob.claim_keys(&[phone.at(), nobody]).await;
        assert_eq!(claimed.len(), 1, "a device that does not exist is left out");
        assert_eq!(claimed[0].device, phone.at());
        let key = claimed[0].key.clone().unwrap();
        assert!(!key.fallback);
        assert!(one_time_keys.contains(&key));
        assert!(verifies(
            &ed25519,
            &one_time_key_message(&phone.key(), &key.key, key.fallback),
            &key.signature
        ));
        assert!(
            handed_out.insert(key.key),
            "a one-time key is handed out once"
        );
    }
    // The one-time keys are gone; the fallback is handed out and kept.
    for _ in 0..2 {
        let claimed = bob.claim_keys(&[phone.at()]).await;
        assert_eq!(claimed[0].key, Some(fallback.clone()));
    }
    // The device heard each time a claim left it short, and when its fallback key was first
    // handed out (not again for the second).
    for expected in [(1, false), (0, false), (0, true)] {
        assert_eq!(alice.expect_keys_claimed().await, expected);
    }
    // Republishing reports the count left, and that the fallback key is still to replace.
    assert_eq!(alice.publish_device(&phone).await, 0);
    assert_eq!(alice.expect_keys_claimed().await, (0, true));
    server.stop().await;
}

/// Claims `device`'s keys once from `client`: `Ok(fallback?)`, or the refusal's code (the
/// `Goodbye`'s, for a connection closed instead).
async fn claim_once(
    client: &mut crate::support::Client,
    device: DeviceRef,
) -> Result<bool, ErrorCode> {
    let request = client.request_id();
    client
        .send(&ClientFrame::ClaimKeys {
            request,
            devices: vec![device],
        })
        .await;
    match client.recv().await {
        ServerFrame::ClaimedKeys { request: r, keys } if r == request => Ok(keys[0]
            .key
            .as_ref()
            .expect("a key or the fallback")
            .fallback),
        ServerFrame::Error {
            code, request: r, ..
        } if r == Some(request) => Err(code),
        ServerFrame::Goodbye { code, .. } => Err(code),
        other => panic!("expected claimed keys, got {other:?}"),
    }
}

#[tokio::test]
async fn a_stranger_cannot_drain_a_devices_one_time_keys() {
    let server = TestServer::start().await;
    let (mut victim, victim_me, _) = server.signed_up("victim").await;
    let mut phone = Device::new("victim", victim_me.id);
    let keys = phone.one_time_keys(50);
    let fallback = phone.fallback_key();
    assert!(matches!(
        victim.publish(&phone, keys, Some(fallback.clone())).await,
        ServerFrame::KeysPublished { one_time_keys: 50 }
    ));
    drop(victim);

    // A stranger, who shares no chat with the victim, claims a thousand times.
    let (mut stranger, _, _) = server.signed_up("stranger").await;
    let (mut one_time, mut fallbacks, mut refused) = (0, 0, 0);
    let mut closed = false;
    for _ in 0..1_000 {
        match claim_once(&mut stranger, phone.at()).await {
            Ok(false) => one_time += 1,
            Ok(true) => fallbacks += 1,
            Err(ErrorCode::TooManyRequests) => refused += 1,
            Err(ErrorCode::RateLimited) => {
                closed = true;
                break;
            }
            Err(other) => panic!("refused with {other:?}"),
        }
    }
    // A handful of one-time keys (the allowance, and what refilled meanwhile); the rest got
    // the fallback key or were refused outright once the stranger's own allowance ran out,
    // until the stranger, claiming on without waiting as told, was closed.
    assert!(one_time <= 10, "{one_time} one-time keys handed out");
    assert!(
        fallbacks > 0 && refused > 0 && closed,
        "{fallbacks} fallbacks, {refused} refused, closed: {closed}"
    );

    // The victim's device still has at least 40 keys, and learns on its next publish that
    // its fallback key was handed out.
    let mut victim = server.logged_in("victim").await;
    let left = victim.publish_device(&phone).await;
    assert!(left >= 40, "{left} keys left");
    assert_eq!(victim.expect_keys_claimed().await, (left, true));

    // A new fallback key replaces it: handed out from then on, and no longer news.
    let rotated = phone.fallback_key();
    assert_ne!(rotated, fallback);
    assert!(matches!(
        victim
            .publish(&phone, Vec::new(), Some(rotated.clone()))
            .await,
        ServerFrame::KeysPublished { .. }
    ));
    let (mut friend, _, _) = server.signed_up("friend").await;
    let handed_out = friend.claim_keys(&[phone.at()]).await;
    let key = handed_out[0].key.clone().expect("a key");
    assert!(
        key == rotated || !key.fallback,
        "the old fallback key is not handed out: {key:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn key_frames_need_a_signed_in_connection() {
    let server = TestServer::start().await;
    let mut client = server.connect().await;
    client
        .send(&ClientFrame::QueryKeys {
            request: RequestId(5),
            users: vec![UserId(1)],
        })
        .await;
    match client.recv().await {
        ServerFrame::Error { request, code, .. } => {
            assert_eq!(
                (request, code),
                (Some(RequestId(5)), ErrorCode::NotAuthenticated)
            )
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    server.stop().await;
}

#[tokio::test]
async fn the_directory_keeps_at_most_its_limits_of_keys_and_devices() {
    let server = TestServer::start().await;
    let (mut alice, alice_me, _) = server.signed_up("alice").await;
    let mut laptop = Device::new("alice", alice_me.id);
    let many = laptop.one_time_keys(MAX_ONE_TIME_KEYS + 20);
    match alice.publish(&laptop, many, None).await {
        ServerFrame::KeysPublished { one_time_keys } => {
            assert_eq!(
                one_time_keys as usize, MAX_ONE_TIME_KEYS,
                "extras are dropped"
            )
        }
        other => panic!("expected KeysPublished, got {other:?}"),
    }
    // Browsers come and go over the account's life, most never signing out: each new one
    // is taken, the longest inactive making room at the cap.
    let mut browsers = Vec::new();
    for n in 1..40 {
        let browser = Device::new("alice", alice_me.id);
        match alice.publish(&browser, Vec::new(), None).await {
            ServerFrame::KeysPublished { .. } => {}
            other => panic!("browser {n} was refused: {other:?}"),
        }
        browsers.push(browser);
        if n == 20 {
            // The laptop is still in use.
            assert_eq!(
                alice.publish_device(&laptop).await as usize,
                MAX_ONE_TIME_KEYS
            );
        }
    }
    let listed: Vec<DeviceKey> = alice.query_keys(&[alice_me.id]).await[0]
        .devices
        .iter()
        .map(|device| device.device)
        .collect();
    assert_eq!(listed.len(), MAX_DEVICES);
    assert!(listed.contains(&laptop.key()), "the laptop in use was kept");
    for (n, browser) in browsers.iter().enumerate() {
        // 39 browsers and the laptop, 32 places: the 8 longest inactive went.
        assert_eq!(listed.contains(&browser.key()), n >= 8, "browser {}", n + 1);
    }
    server.stop().await;
}
