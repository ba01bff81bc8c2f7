//! Flooding a device's mailbox does not make a chat unreadable.
//!
//! Strangers fill device V's to-device queue to its limit (each stranger may park only its
//! share, so it takes a hundred of them). Alice then writes in a group with Bob and V: the
//! key share for V is refused — V's mailbox is full — but Bob's is not, and Alice's app sends
//! no message before the server has accepted the key for every device it is meant for. So
//! Bob reads every message. Real engines (the app's) over the real server binary.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use merpati_core::crypto::KdfParams;
use merpati_core::reconnect::Backoff;
use merpati_core::timeline::MessageLock;
use merpati_loadgen::{ClientOptions, Join, SwarmClient};
use merpati_protocol::keys::{
    DeviceKey, DeviceKeys, DeviceRef, ToDeviceMessage, device_binding_message, device_keys_message,
};
use merpati_protocol::{
    ChatId, ClientFrame, MAX_PENDING_FROM_ONE_SENDER, MAX_PENDING_TO_DEVICE, NewChat, ServerFrame,
    UserId, Username,
};
use merpati_testkit::{
    ConnectOptions, RawClient, ServerOptions, ServerProcess, SignIn, SourceAddress,
};
use vodozemac::Ed25519SecretKey;

/// How long a device may take to read what was sent.
const PATIENCE: Duration = Duration::from_secs(60);

async fn person(url: &str, name: &str) -> SwarmClient {
    let mut client = SwarmClient::spawn(ClientOptions {
        url: url.to_owned(),
        username: Username::parse(name).unwrap(),
        passphrase: format!("{name}'s long passphrase"),
        join: Join::SignUp,
        kdf: KdfParams::FAST_INSECURE,
        backoff: Backoff::new(100, 1_000),
    });
    client.signed_in().await.unwrap();
    client
}

/// A stranger: an account with a device of its own, which parks as many to-device messages
/// for `victim` as the server takes from it; how many it took. Strangers come from
/// addresses of their own (127.0.0.2 onwards), as a hundred accounts from one address would
/// be stopped earlier, by the sign-ups each address may make.
async fn stranger_floods(server: &ServerProcess, n: usize, victim: DeviceRef) -> usize {
    let from = ConnectOptions {
        source: SourceAddress::Loopback(u8::try_from(2 + n % 250).unwrap()),
        ..ConnectOptions::default()
    };
    let mut raw = RawClient::connect(&server.endpoint(), &from).await.unwrap();
    let username = Username::parse(&format!("stranger{n}")).unwrap();
    let key = Ed25519SecretKey::new();
    let me = match raw
        .authenticate(&SignIn::Register {
            username: &username,
            key: &key,
        })
        .await
        .unwrap()
    {
        ServerFrame::Welcome { me, .. } => me,
        other => panic!("a stranger could not sign up: {other:?}"),
    };
    let olm = vodozemac::olm::Account::new();
    let device = DeviceKey(olm.curve25519_key().to_bytes());
    let ed25519 = *olm.ed25519_key().as_bytes();
    let nonce = raw.challenge().nonce;
    raw.send(&ClientFrame::PublishKeys {
        device: DeviceKeys {
            user: me.id,
            device,
            ed25519,
            signature: key
                .sign(&device_keys_message(me.id, &device, &ed25519))
                .to_bytes()
                .to_vec(),
        },
        device_proof: Some(
            olm.sign(device_binding_message(me.id, &device, &nonce))
                .to_bytes()
                .to_vec(),
        ),
        one_time_keys: Vec::new(),
        fallback_key: None,
    })
    .await
    .unwrap();
    assert!(matches!(
        raw.recv().await.unwrap(),
        ServerFrame::KeysPublished { .. }
    ));
    // More than its share, in one batch: refused whole for this recipient. Then its share.
    assert_eq!(
        park(&mut raw, victim, MAX_PENDING_FROM_ONE_SENDER + 20).await,
        [victim]
    );
    let refused = park(&mut raw, victim, MAX_PENDING_FROM_ONE_SENDER).await;
    if refused.is_empty() {
        MAX_PENDING_FROM_ONE_SENDER
    } else {
        0
    }
}

/// Sends `count` junk to-device messages to `victim` in one batch; the devices refused.
async fn park(raw: &mut RawClient, victim: DeviceRef, count: usize) -> Vec<DeviceRef> {
    let request = raw.next_request_id();
    let messages = (0..count)
        .map(|_| ToDeviceMessage {
            recipient: victim,
            body: vec![0x55; 200],
        })
        .collect();
    raw.send(&ClientFrame::SendToDevice { request, messages })
        .await
        .unwrap();
    match raw.recv().await.unwrap() {
        ServerFrame::ToDeviceSent { refused, .. } => refused,
        other => panic!("expected ToDeviceSent, got {other:?}"),
    }
}

/// The texts `client` shows in `chat`, opened.
async fn opened(client: &SwarmClient, chat: ChatId) -> Vec<String> {
    let snapshot = client.snapshot().await.unwrap();
    snapshot
        .chats
        .iter()
        .filter(|(id, _)| *id == chat)
        .flat_map(|(_, items)| items)
        .filter(|item| item.lock == MessageLock::Open && item.text.starts_with("rahasia"))
        .map(|item| item.text.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooded_mailbox_leaves_everyone_else_reading_every_message() {
    let server = ServerProcess::start(ServerOptions::new()).await.unwrap();
    let url = server.ws_url();
    let alice = person(&url, "alice").await;
    let bob = person(&url, "bob").await;
    let victim = person(&url, "victim").await;

    // V's device, as the directory lists it.
    let victim_id: UserId = victim.snapshot().await.unwrap().me.unwrap().id;
    let mut raw = RawClient::connect(&server.endpoint(), &ConnectOptions::default())
        .await
        .unwrap();
    let looker = Username::parse("looker").unwrap();
    raw.authenticate(&SignIn::Register {
        username: &looker,
        key: &Ed25519SecretKey::new(),
    })
    .await
    .unwrap();
    // Keys are handed out only to people who share a chat: the stranger starts one.
    let request = raw.next_request_id();
    raw.send(&ClientFrame::CreateChat {
        request,
        chat: NewChat::Direct {
            with: Username::parse("victim").unwrap(),
        },
    })
    .await
    .unwrap();
    assert!(matches!(
        raw.recv().await.unwrap(),
        ServerFrame::Chat { .. }
    ));
    let request = raw.next_request_id();
    raw.send(&ClientFrame::QueryKeys {
        request,
        users: vec![victim_id],
    })
    .await
    .unwrap();
    let device = match raw.recv().await.unwrap() {
        ServerFrame::Keys { users, .. } => users[0].devices[0].device,
        other => panic!("expected Keys, got {other:?}"),
    };
    let victim_device = DeviceRef {
        user: victim_id,
        device,
    };
    // V's own app is offline meanwhile, so nothing drains the queue.
    victim.stop();

    // One stranger parks only its share; a hundred fill the mailbox.
    let mut parked = 0;
    for n in 0..MAX_PENDING_TO_DEVICE / MAX_PENDING_FROM_ONE_SENDER {
        parked += stranger_floods(&server, n, victim_device).await;
    }
    assert_eq!(parked, MAX_PENDING_TO_DEVICE, "V's mailbox is full");

    // Alice writes in a group with Bob and V.
    let group = alice
        .create_group("bersama", "bob,victim")
        .await
        .unwrap()
        .unwrap();
    let texts: Vec<String> = (0..5).map(|n| format!("rahasia {n}")).collect();
    for text in &texts {
        alice.send(group, text.clone()).await.unwrap().unwrap();
    }

    // Bob reads every one of them.
    let started = Instant::now();
    loop {
        let mut shown = opened(&bob, group).await;
        shown.sort();
        if shown == texts {
            break;
        }
        assert!(
            started.elapsed() < PATIENCE,
            "bob reads only {shown:?} of {texts:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(server);
}
