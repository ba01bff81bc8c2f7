//! Filling the disk: an account past its stored bytes of the day is refused with
//! `QuotaExceeded` while everyone else's messages are acknowledged in the same run, and one
//! network makes only its allowance of accounts. (The quotas kept in storage — chats,
//! backup bytes, sessions — are specified in the storage tests.)

use merpati_protocol::keys::{DeviceKey, DeviceRef, ToDeviceMessage};
use merpati_protocol::{
    ChatId, ClientFrame, ErrorCode, MAX_BODY_BYTES, MAX_TO_DEVICE_BYTES, NewChat, ServerFrame,
    UserId,
};

use crate::support::{Client, TestServer, key, msg_id, username};

/// Room for one chat and one full message a day, and half a chat more.
const ONE_MESSAGE_A_DAY: u32 = MAX_BODY_BYTES as u32 + 1024 + 512;

/// Alice's one full message of the day is acknowledged and reaches bob.
async fn the_days_one_message_still_fits(alice: &mut Client, bob: &mut Client, chat: ChatId) {
    alice
        .say(chat, msg_id(100), &vec![0x42; MAX_BODY_BYTES])
        .await;
    assert_eq!(bob.expect_message().await.client_msg_id, msg_id(100));
}

/// A server keeping `per_day` bytes a day per account, and alice and bob in a 1:1 chat.
async fn alice_and_bob(per_day: u32) -> (TestServer, Client, Client, ChatId) {
    let server =
        TestServer::start_configured(|config| config.stored_bytes_per_account_per_day = per_day)
            .await;
    let (mut alice, _, _) = server.signed_up("alice").await;
    let (mut bob, _, _) = server.signed_up("bob").await;
    let chat = alice.direct("bob").await.id;
    let _pushed = bob.expect_pushed_chat().await;
    (server, alice, bob, chat)
}

#[tokio::test]
async fn an_account_past_its_stored_bytes_of_the_day_is_refused_and_others_are_acknowledged() {
    // Room for one chat (1 KiB) and four full messages, and half a chat more: not for a fifth
    // message, nor a second chat. It refills over a day: about 50 bytes a minute.
    let per_day = 4 * MAX_BODY_BYTES as u32 + 1024 + 512;
    let server =
        TestServer::start_configured(|config| config.stored_bytes_per_account_per_day = per_day)
            .await;
    let (mut mallory, _, _) = server.signed_up("mallory").await;
    let (mut alice, _, _) = server.signed_up("alice").await;
    let (mut bob, _, _) = server.signed_up("bob").await;
    let flood = mallory.direct("alice").await.id;
    let _pushed = alice.expect_pushed_chat().await;
    let chat = alice.direct("bob").await.id;
    let _pushed = bob.expect_pushed_chat().await;

    let body = vec![0x42; MAX_BODY_BYTES];
    for n in 1..=4 {
        mallory.say(flood, msg_id(n), &body).await;
        let _delivered = alice.expect_message().await;
    }
    mallory
        .send(&ClientFrame::Send {
            chat_id: flood,
            client_msg_id: msg_id(5),
            body: body.clone(),
            attachment: None,
        })
        .await;
    match mallory.recv().await {
        ServerFrame::SendFailed {
            chat_id,
            client_msg_id,
            code,
        } => {
            assert_eq!((chat_id, client_msg_id), (flood, msg_id(5)));
            assert_eq!(code, ErrorCode::QuotaExceeded);
        }
        other => panic!("expected the message refused over quota, got {other:?}"),
    }
    // Key shares and new chats count too; the connection stays open for what costs nothing.
    let answer = mallory
        .create_chat(NewChat::Direct {
            with: username("bob"),
        })
        .await;
    assert!(
        matches!(
            answer,
            ServerFrame::Error {
                code: ErrorCode::QuotaExceeded,
                ..
            }
        ),
        "{answer:?}"
    );

    // In the same run, everyone else is served: Alice's messages are acknowledged and
    // delivered, and Mallory's refused message never reached her (the sentinel is next).
    for n in 1..=4 {
        alice.say(chat, msg_id(100 + n), &body).await;
        assert_eq!(bob.expect_message().await.client_msg_id, msg_id(100 + n));
    }
    alice.expect_nothing_before_a_sentinel().await;
    server.stop().await;
}

#[tokio::test]
async fn a_resend_of_a_stored_message_costs_no_quota_and_is_acked_past_it() {
    // Room for one chat and two full messages, and half a chat more.
    let per_day = 2 * MAX_BODY_BYTES as u32 + 1024 + 512;
    let (server, mut alice, _bob, chat) = alice_and_bob(per_day).await;
    let body = vec![0x42; MAX_BODY_BYTES];

    let first = alice.say(chat, msg_id(1), &body).await;
    // Its Ack lost, again and again: each resend is the stored message, and costs nothing...
    for _ in 0..3 {
        assert_eq!(alice.send_text(chat, msg_id(1), &body).await, first);
    }
    // ...so the day's second message still fits.
    let second = alice.say(chat, msg_id(2), &body).await;
    alice
        .send(&ClientFrame::Send {
            chat_id: chat,
            client_msg_id: msg_id(3),
            body: body.clone(),
            attachment: None,
        })
        .await;
    assert_eq!(
        alice.recv().await,
        ServerFrame::SendFailed {
            chat_id: chat,
            client_msg_id: msg_id(3),
            code: ErrorCode::QuotaExceeded
        }
    );
    // Past the quota, a resend of a stored message is still acknowledged: it is stored.
    assert_eq!(alice.send_text(chat, msg_id(2), &body).await, second);
    alice.expect_nothing_before_a_sentinel().await;
    server.stop().await;
}

#[tokio::test]
async fn a_refused_message_costs_no_quota() {
    let (server, mut alice, mut bob, chat) = alice_and_bob(ONE_MESSAGE_A_DAY).await;
    let body = vec![0x42; MAX_BODY_BYTES];

    // Full messages to a chat she is not in: each refused, none stored.
    for n in 1..=3 {
        alice
            .send(&ClientFrame::Send {
                chat_id: ChatId(chat.0 + 1_000),
                client_msg_id: msg_id(n),
                body: body.clone(),
                attachment: None,
            })
            .await;
        assert!(
            matches!(
                alice.recv().await,
                ServerFrame::SendFailed {
                    code: ErrorCode::NoSuchChat,
                    ..
                }
            ),
            "message {n} refused"
        );
    }
    the_days_one_message_still_fits(&mut alice, &mut bob, chat).await;
    server.stop().await;
}

#[tokio::test]
async fn key_shares_not_stored_cost_no_quota() {
    let (server, mut alice, mut bob, chat) = alice_and_bob(ONE_MESSAGE_A_DAY).await;
    // Key shares as large as the day's bytes, from a device that has published no keys:
    // refused, and none stored.
    let share = ToDeviceMessage {
        recipient: DeviceRef {
            user: UserId(2),
            device: DeviceKey([7; 32]),
        },
        body: vec![0x42; MAX_TO_DEVICE_BYTES],
    };
    for n in 0..3 {
        let messages = vec![share.clone(); MAX_BODY_BYTES / MAX_TO_DEVICE_BYTES];
        let answer = alice
            .request(|request| ClientFrame::SendToDevice { request, messages })
            .await;
        assert!(
            matches!(
                answer,
                ServerFrame::Error {
                    code: ErrorCode::NoDevice,
                    ..
                }
            ),
            "share {n}: {answer:?}"
        );
    }
    the_days_one_message_still_fits(&mut alice, &mut bob, chat).await;
    server.stop().await;
}

#[tokio::test]
async fn a_chat_not_made_costs_no_quota() {
    let (server, mut alice, mut bob, chat) = alice_and_bob(ONE_MESSAGE_A_DAY).await;
    for n in 0..3 {
        let answer = alice
            .create_chat(NewChat::Direct {
                with: username(&format!("nobody{n}")),
            })
            .await;
        assert!(
            matches!(
                answer,
                ServerFrame::Error {
                    code: ErrorCode::NoSuchUser,
                    ..
                }
            ),
            "chat {n}: {answer:?}"
        );
    }
    the_days_one_message_still_fits(&mut alice, &mut bob, chat).await;
    server.stop().await;
}

#[tokio::test]
async fn one_address_makes_its_allowance_of_accounts_and_another_is_unaffected() {
    let server = TestServer::start_configured(|config| config.sign_ups_per_address = 3).await;

    for name in ["one", "two", "three"] {
        let mut client = server.connect_from(7).await;
        let answer = client.register(name, &key(name)).await;
        assert!(matches!(answer, ServerFrame::Welcome { .. }), "{answer:?}");
    }
    let mut client = server.connect_from(7).await;
    let answer = client.register("four", &key("four")).await;
    assert!(
        matches!(
            answer,
            ServerFrame::Error {
                code: ErrorCode::TooManySignUps,
                ..
            }
        ),
        "{answer:?}"
    );
    // Signing in to an account made there is not a sign-up.
    let mut one = server.connect_from(7).await;
    let welcome = one.login("one", &key("one")).await;
    assert!(
        matches!(welcome, ServerFrame::Welcome { .. }),
        "{welcome:?}"
    );
    // Another address signs up as usual.
    let mut other = server.connect_from(8).await;
    let answer = other.register("four", &key("four")).await;
    assert!(matches!(answer, ServerFrame::Welcome { .. }), "{answer:?}");
    server.stop().await;
}

#[tokio::test]
async fn a_taken_name_costs_nothing_of_an_addresses_sign_ups() {
    let server = TestServer::start_configured(|config| config.sign_ups_per_address = 2).await;
    let mut first = server.connect_from(9).await;
    assert!(matches!(
        first.register("first", &key("first")).await,
        ServerFrame::Welcome { .. }
    ));
    let mut client = server.connect_from(9).await;
    for _ in 0..3 {
        let answer = client.register("first", &key("first")).await;
        assert!(
            matches!(
                answer,
                ServerFrame::Error {
                    code: ErrorCode::UsernameTaken,
                    ..
                }
            ),
            "{answer:?}"
        );
    }
    let answer = client.register("second", &key("second")).await;
    assert!(matches!(answer, ServerFrame::Welcome { .. }), "{answer:?}");
    server.stop().await;
}

/// Registrations from one address at the same moment make its allowance of accounts, not one
/// each: the allowance is taken before an account is made, not counted after.
#[tokio::test]
async fn registrations_at_once_from_one_address_make_only_its_allowance_of_accounts() {
    let server = TestServer::start_configured(|config| config.sign_ups_per_address = 3).await;
    let mut clients = Vec::new();
    for _ in 0..20 {
        clients.push(server.connect_from(7).await);
    }
    let mut registering = tokio::task::JoinSet::new();
    for (n, mut client) in clients.into_iter().enumerate() {
        registering.spawn(async move {
            let name = format!("racer{n}");
            client.register(&name, &key(&name)).await
        });
    }
    let answers = registering.join_all().await;
    let made = answers
        .iter()
        .filter(|answer| matches!(answer, ServerFrame::Welcome { .. }))
        .count();
    assert_eq!(made, 3, "accounts made of {} registrations", answers.len());
    for answer in &answers {
        assert!(
            matches!(
                answer,
                ServerFrame::Welcome { .. }
                    | ServerFrame::Error {
                        code: ErrorCode::TooManySignUps,
                        ..
                    }
            ),
            "{answer:?}"
        );
    }
    server.stop().await;
}
