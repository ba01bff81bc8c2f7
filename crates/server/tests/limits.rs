//! Bad input and limits: the session survives what it can, closes on what it must, and
//! nobody else notices.

use futures_util::SinkExt;
use merpati_protocol::{ChatId, ClientFrame, ErrorCode, MAX_FRAME_BYTES, Seq, ServerFrame};
use merpati_testkit::SplitSocket;
use merpati_testkit::raw_client::next_binary;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use crate::support::{Client, TestServer, msg_id};

#[tokio::test]
async fn a_malformed_frame_is_refused_and_the_session_goes_on() {
    let server = TestServer::start().await;
    let (mut alice, _, _) = server.signed_up("alice").await;
    let (mut bob, _, _) = server.signed_up("bob").await;
    let chat = alice.direct("bob").await.id;
    let _pushed = bob.recv().await;

    alice
        .send_raw(Message::binary(vec![0xff, 0xff, 0xff, 0xff]))
        .await;
    assert!(matches!(
        alice.recv().await,
        ServerFrame::Error {
            request: None,
            code: ErrorCode::Malformed,
            ..
        }
    ));
    alice.say(chat, msg_id(1), b"still here").await;
    assert_eq!(bob.expect_message().await.body, b"still here");
    server.stop().await;
}

#[tokio::test]
async fn a_text_frame_is_malformed() {
    let server = TestServer::start().await;
    let (mut alice, _, _) = server.signed_up("alice").await;
    alice.send_raw(Message::text("{\"hello\": 1}")).await;
    assert_eq!(alice.expect_error().await, ErrorCode::Malformed);
    // Still served.
    alice
        .send(&ClientFrame::MarkRead {
            chat_id: merpati_protocol::ChatId(1),
            seq: Seq(1),
        })
        .await;
    assert_eq!(alice.expect_error().await, ErrorCode::NoSuchChat);
    server.stop().await;
}

#[tokio::test]
async fn ten_malformed_frames_close_the_session_as_a_policy_violation() {
    let server = TestServer::start().await;
    let mut client = server.connect().await;
    for _ in 0..9 {
        client.send_raw(Message::binary(vec![0xff; 3])).await;
        assert_eq!(client.expect_error().await, ErrorCode::Malformed);
    }
    client.send_raw(Message::binary(vec![0xff; 3])).await;
    let (frames, close) = client.until_closed().await;
    assert!(matches!(
        frames.as_slice(),
        [ServerFrame::Error {
            code: ErrorCode::Malformed,
            ..
        }]
    ));
    let close = close.expect("a close frame");
    assert_eq!(u16::from(close.code), 1008);
    assert!(!close.reason.is_empty(), "the close says why");
    server.stop().await;
}

#[tokio::test]
async fn an_oversized_frame_closes_only_its_own_connection() {
    let server = TestServer::start().await;
    let (mut alice, _, _) = server.signed_up("alice").await;
    let (mut bob, _, _) = server.signed_up("bob").await;
    let chat = alice.direct("bob").await.id;
    let _pushed = bob.recv().await;
    let (mut mallory, _, _) = server.signed_up("mallory").await;

    mallory
        .send_raw(Message::binary(vec![0u8; MAX_FRAME_BYTES + 1]))
        .await;
    let (frames, close) = mallory.until_closed().await;
    let refused = frames.iter().any(|frame| {
        matches!(
            frame,
            ServerFrame::Error {
                code: ErrorCode::FrameTooLarge,
                ..
            }
        )
    });
    let closed_1009 = close
        .as_ref()
        .is_some_and(|close| u16::from(close.code) == 1009);
    assert!(refused || closed_1009, "frames {frames:?}");

    // Everyone else is still served.
    alice.say(chat, msg_id(1), b"unbothered").await;
    assert_eq!(bob.expect_message().await.body, b"unbothered");
    let _carol = server.signed_up("carol").await;
    server.stop().await;
}

#[tokio::test]
async fn a_frame_at_the_limit_is_read() {
    let server = TestServer::start().await;
    let (mut alice, _, _) = server.signed_up("alice").await;
    // Exactly MAX_FRAME_BYTES of junk: read and refused as malformed, not as too large.
    alice
        .send_raw(Message::binary(vec![0xff; MAX_FRAME_BYTES]))
        .await;
    assert_eq!(alice.expect_error().await, ErrorCode::Malformed);
    server.stop().await;
}

#[tokio::test]
async fn a_foreign_origin_is_forbidden_and_the_same_origin_is_not() {
    let server = TestServer::start().await;
    let mut request = server.ws_url().into_client_request().unwrap();
    request
        .headers_mut()
        .insert("Origin", HeaderValue::from_static("http://evil.example"));
    match tokio_tungstenite::connect_async(request).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status().as_u16(), 403);
        }
        other => panic!(
            "expected 403, got {:?}",
            other.map(|(_, response)| response)
        ),
    }

    let mut request = server.ws_url().into_client_request().unwrap();
    let origin = format!("http://{}", server.addr);
    request
        .headers_mut()
        .insert("Origin", HeaderValue::from_str(&origin).unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let first = futures_util::StreamExt::next(&mut ws)
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(
        merpati_protocol::decode::<ServerFrame>(&first.into_data()).unwrap(),
        ServerFrame::Challenge { .. }
    ));
    server.stop().await;
}

#[tokio::test]
async fn an_allowed_origin_may_connect() {
    let data = tempfile::tempdir().unwrap();
    let web = tempfile::tempdir().unwrap();
    let mut config = merpati_server::Config::new(data.path(), web.path());
    config.allowed_origins = vec!["http://127.0.0.1:8081".into()];
    let server = TestServer::start_with(config).await;
    let mut request = server.ws_url().into_client_request().unwrap();
    request
        .headers_mut()
        .insert("Origin", HeaderValue::from_static("http://127.0.0.1:8081"));
    assert!(tokio_tungstenite::connect_async(request).await.is_ok());
    server.stop().await;
}

#[tokio::test]
async fn a_client_that_stops_reading_is_disconnected_and_others_are_not() {
    let server = TestServer::start().await;
    let (mut alice, _, _) = server.signed_up("alice").await;
    let (mut bob, _, _) = server.signed_up("bob").await;
    let chat = alice.direct("bob").await.id;
    let _pushed = bob.recv().await;
    let (mut carol, _, _) = server.signed_up("carol").await;
    let (mut dave, _, _) = server.signed_up("dave").await;
    let other_chat = carol.direct("dave").await.id;
    let _pushed = dave.recv().await;

    // Bob stops reading. Alice sends more than his socket buffers and his queue can hold,
    // reading her own acks and copies as she goes.
    let body = vec![0x42; merpati_protocol::MAX_BODY_BYTES];
    let mut next = 0;
    // About 250 frames fit in the kernel buffers here, 512 in the queue: 1200 is well past both.
    for _ in 0..12 {
        for _ in 0..100 {
            next += 1;
            alice
                .send(&ClientFrame::Send {
                    chat_id: chat,
                    client_msg_id: msg_id(next),
                    body: body.clone(),
                    attachment: None,
                })
                .await;
        }
        for _ in 0..200 {
            alice.recv().await;
        }
    }

    // Bob's connection was dropped: reading what was buffered, he reaches its end.
    let mut received = 0;
    loop {
        match bob.next_message().await {
            Some(Message::Binary(_)) => received += 1,
            Some(Message::Close(_)) | None => break,
            Some(other) => panic!("unexpected {other:?}"),
        }
    }
    assert!(
        received < next,
        "bob got all {received} frames: he was never cut off"
    );

    // Nobody else noticed.
    carol.say(other_chat, msg_id(1), b"all good").await;
    assert_eq!(dave.expect_message().await.body, b"all good");
    server.stop().await;
}

/// A flood of `Typing` in chats that do not exist: each is a look-up in storage, so each
/// costs a read of the account's allowance. The server answers `NoSuchChat` while the
/// allowance lasts, then `TooManyRequests`, and closes the connection at the hundredth refusal
/// in a row (`Goodbye { RateLimited }`), as it does a client looping any other read. The
/// allowance refills once a minute here, so how much is served does not depend on how fast
/// this machine serves it.
#[tokio::test]
async fn a_flood_of_typing_in_unknown_chats_is_refused_past_the_read_allowance_and_closed() {
    const FLOOD: u64 = 10_000;
    let server = TestServer::start_configured(|config| config.reads_per_minute = 1).await;
    let read_burst = u64::from(merpati_server::Config::new(".", ".").read_burst);
    let (mut alice, alice_me, _) = server.signed_up("alice").await;
    let (mut bob, _, _) = server.signed_up("bob").await;
    let chat = alice.direct("bob").await.id;
    let _pushed = bob.expect_pushed_chat().await;
    let (mallory, _, _) = server.signed_up("mallory").await;

    let frames = (0..FLOOD).map(|n| ClientFrame::Typing {
        chat_id: ChatId(1_000_000 + n),
    });
    let answers = flood(mallory, frames.collect()).await;
    let (unknown, refused, closed) = (
        answers.count(ErrorCode::NoSuchChat),
        answers.count(ErrorCode::TooManyRequests),
        answers.closed,
    );
    assert_eq!(
        answers.errors.len() as u64,
        unknown + refused,
        "nothing but those: {answers:?}"
    );
    // The allowance (the minute under way counted in full), then the refusals: the hundredth
    // is the Goodbye.
    assert!(
        (read_burst..=read_burst + 2).contains(&unknown),
        "{unknown} looked up, {refused} refused, closed {closed:?}"
    );
    assert_eq!(refused, 99, "{unknown} looked up");
    assert_eq!(closed, Some(ErrorCode::RateLimited));

    // Alice's typing in her own chat still reaches Bob.
    alice.send(&ClientFrame::Typing { chat_id: chat }).await;
    assert_eq!(
        bob.recv().await,
        ServerFrame::Typing {
            chat_id: chat,
            user: alice_me.id
        }
    );
    alice.say(chat, msg_id(1), b"still here").await;
    assert_eq!(bob.expect_message().await.body, b"still here");
    server.stop().await;
}

/// Typing and receipts in one's own chats are what a person does all day: they cost nothing
/// of the read allowance (the server keeps member lists in memory), so a client with an
/// allowance of two reads may send hundreds of them and still be served a page of history.
#[tokio::test]
async fn typing_and_receipts_in_ones_own_chat_cost_nothing_of_the_read_allowance() {
    let server = TestServer::start_configured(|config| {
        config.reads_per_minute = 1;
        config.read_burst = 2;
    })
    .await;
    let (mut alice, _, _) = server.signed_up("alice").await;
    let (mut bob, _, _) = server.signed_up("bob").await;
    let chat = alice.direct("bob").await.id;
    let _pushed = bob.expect_pushed_chat().await;
    let seq = alice.say(chat, msg_id(1), b"hello").await;

    for _ in 0..200 {
        alice.send(&ClientFrame::Typing { chat_id: chat }).await;
        alice
            .send(&ClientFrame::MarkRead { chat_id: chat, seq })
            .await;
        alice
            .send(&ClientFrame::MarkDelivered { chat_id: chat, seq })
            .await;
    }
    // A page of up to 50 messages costs the two reads the allowance holds.
    assert_eq!(
        alice.history(chat, u64::MAX, 50).await,
        (vec![seq.0], false)
    );
    server.stop().await;
}

/// A connection's receipts: what it reported already is not run again (an engine reports the
/// delivery of what it has just read, and reads again what it shows again), and those that
/// move nothing all the same — past the chat's newest message, say — are paced as its sends
/// are: past that, refused, and a connection sending on is closed. A reader's receipts, which
/// move, cost nothing.
#[tokio::test]
async fn receipts_that_move_nothing_are_paced_per_connection_and_a_readers_cost_nothing() {
    const SEND_BURST: u32 = 20;
    let server = TestServer::start_configured(|config| {
        config.send_rate = 10;
        config.send_burst = SEND_BURST;
    })
    .await;
    let (mut alice, _, _) = server.signed_up("alice").await;
    let (mut bob, bob_me, _) = server.signed_up("bob").await;
    let chat = alice.direct("bob").await.id;
    let _pushed = bob.expect_pushed_chat().await;

    // More messages than the pace's burst, each read as an engine reads one on screen.
    for n in 1..=u64::from(SEND_BURST) + 10 {
        let seq = alice.say(chat, msg_id(n), b"hello").await;
        assert_eq!(bob.expect_message().await.seq, seq);
        for frame in [
            ClientFrame::MarkRead { chat_id: chat, seq },
            ClientFrame::MarkDelivered { chat_id: chat, seq },
            ClientFrame::MarkRead { chat_id: chat, seq },
        ] {
            bob.send(&frame).await;
        }
        match alice.recv().await {
            ServerFrame::Receipt { receipt, .. } if receipt.user == bob_me.id => {
                assert_eq!((receipt.delivered, receipt.read), (seq, seq));
            }
            other => panic!("expected bob's receipt, got {other:?}"),
        }
    }

    // Past the newest message, each new to the connection, each moving nothing; then a
    // request that is answered: the refusals, and the connection closed, come before.
    let mut frames: Vec<ClientFrame> = (1..=2_000)
        .map(|n| ClientFrame::MarkRead {
            chat_id: chat,
            seq: Seq(1_000 + n),
        })
        .collect();
    frames.push(ClientFrame::History {
        chat_id: chat,
        before: Seq(u64::MAX),
        limit: 1,
    });
    let answers = flood(bob, frames).await;
    assert_eq!(answers.count(ErrorCode::TooManyRequests), 99, "{answers:?}");
    assert_eq!(answers.closed, Some(ErrorCode::RateLimited));
    server.stop().await;
}

/// A `Sync` reads every chat of the account with its members, the costliest read there is,
/// and costs a read per ten chats. An account syncing again and again past its allowance is
/// refused before each read, by what its last sync found — not after reading, which would
/// let one that keeps its first read refilled have all its chats read for one read each —
/// and closed at the hundredth refusal like any client asking on past its allowance. The
/// allowance refills once a minute here: what is served does not depend on how fast.
#[tokio::test]
async fn syncs_past_the_allowance_are_refused_before_the_chats_are_read_and_closed() {
    const CHATS: usize = 40;
    const FLOOD: usize = 150;
    // One full sync costs 1 + 40 / 10 = 5 reads: three are left after it, each of the next
    // three syncs takes its first, and none may read the chats.
    let server = TestServer::start_configured(|config| {
        config.reads_per_minute = 1;
        config.read_burst = 8;
    })
    .await;
    let (mut mallory, _, _) = server.signed_up("mallory").await;
    for n in 0..CHATS {
        mallory.group(&format!("g{n}"), &[]).await;
    }
    let synced = mallory.sync(None, Vec::new()).await;
    assert_eq!(synced.chats.len(), CHATS);
    let read_before = server.metrics().await["merpati_syncs_read_total"];

    let sync = ClientFrame::Sync {
        epoch: None,
        positions: Vec::new(),
    };
    let answers = flood(mallory, vec![sync; FLOOD]).await;
    let (refused, closed) = (answers.count(ErrorCode::TooManyRequests), answers.closed);
    assert_eq!(
        answers.errors.len() as u64,
        refused,
        "nothing but refusals: {answers:?}"
    );
    assert_eq!(
        server.metrics().await["merpati_syncs_read_total"],
        read_before,
        "no refused sync read the account's chats"
    );
    assert_eq!(refused, 99, "every refusal counts toward closing");
    assert_eq!(closed, Some(ErrorCode::RateLimited));
    server.stop().await;
}

/// What the server answered a flood of frames: each error's code, in order, and the
/// `Goodbye` that closed the connection, if one did.
#[derive(Debug, Default)]
struct Answers {
    errors: Vec<ErrorCode>,
    /// Claims answered with keys.
    claimed: u64,
    closed: Option<ErrorCode>,
}

impl Answers {
    fn count(&self, code: ErrorCode) -> u64 {
        self.errors.iter().filter(|error| **error == code).count() as u64
    }
}

/// `QueryKeys` looks each account named up in a chat shared with the asker: for a partner
/// that ends at the first shared chat, for a stranger it reads every chat of the asker's. So
/// a stranger named costs a read more: a client asking about 32 strangers spends 33 reads,
/// where asking about a partner spends the query's one.
#[tokio::test]
async fn asking_for_the_keys_of_strangers_costs_a_read_each() {
    let server = TestServer::start_configured(|config| {
        config.reads_per_minute = 1;
        config.read_burst = 40;
    })
    .await;
    let (mut alice, _, _) = server.signed_up("alice").await;
    let (_bob, bob_me, _) = server.signed_up("bob").await;
    alice.direct("bob").await;
    for _ in 0..5 {
        assert_eq!(alice.query_keys(&[bob_me.id]).await.len(), 1, "bob's keys");
    }
    let strangers: Vec<merpati_protocol::UserId> =
        (1_000..1_032).map(merpati_protocol::UserId).collect();
    assert!(
        alice.query_keys(&strangers).await.is_empty(),
        "strangers left out"
    );
    // 5 + 33 of 40 spent: the next query about strangers is refused once it has looked.
    let refused = alice
        .request(|request| ClientFrame::QueryKeys {
            request,
            users: strangers.clone(),
        })
        .await;
    assert!(
        matches!(
            refused,
            ServerFrame::Error {
                code: ErrorCode::TooManyRequests,
                ..
            }
        ),
        "{refused:?}"
    );
}

/// A flood of key claims of 256 devices each: the account's claim allowance (512 devices at
/// once) serves two, then `TooManyRequests`, and the hundredth refusal in a row closes the
/// connection, as for any other request past an allowance. Claims of more devices than one
/// may name are refused as malformed frames are, the tenth closing the connection.
#[tokio::test]
async fn a_flood_of_key_claims_is_closed_past_the_allowance_and_oversized_ones_as_malformed() {
    let server = TestServer::start().await;
    let claim = |request: u32, devices: usize| ClientFrame::ClaimKeys {
        request: merpati_protocol::RequestId(request),
        devices: (0..devices)
            .map(|n| merpati_protocol::keys::DeviceRef {
                user: merpati_protocol::UserId(1),
                device: merpati_protocol::keys::DeviceKey([n as u8; 32]),
            })
            .collect(),
    };
    let (mallory, _, _) = server.signed_up("mallory").await;
    let answers = flood(mallory, (0..300).map(|n| claim(n, 256)).collect()).await;
    assert_eq!(answers.claimed, 2, "{answers:?}");
    assert_eq!(answers.count(ErrorCode::TooManyRequests), 99, "{answers:?}");
    assert_eq!(answers.closed, Some(ErrorCode::RateLimited));

    let (mut oscar, _, _) = server.signed_up("oscar").await;
    for n in 0..9 {
        oscar.send(&claim(n, 257)).await;
        assert_eq!(oscar.expect_error().await, ErrorCode::Malformed);
    }
    oscar.send(&claim(9, 257)).await;
    let (frames, close) = oscar.until_closed().await;
    assert!(
        matches!(
            frames[..],
            [ServerFrame::Error {
                code: ErrorCode::Malformed,
                ..
            }]
        ),
        "{frames:?}"
    );
    assert_eq!(close.map(|close| u16::from(close.code)), Some(1008));
}

/// Sends every one of `frames` without waiting for answers (the server closes the connection
/// part of the way through, perhaps) and reads the answers, errors and a `Goodbye`, until one
/// per frame came or the connection closed.
async fn flood(client: Client, frames: Vec<ClientFrame>) -> Answers {
    let total = frames.len();
    let SplitSocket {
        mut writer,
        mut reader,
    } = client.into_split();
    let flooding = tokio::spawn(async move {
        for frame in frames {
            let bytes = merpati_protocol::encode(&frame);
            if writer.send(Message::Binary(bytes.into())).await.is_err() {
                return;
            }
        }
    });
    let mut answers = Answers::default();
    while answers.errors.len() as u64 + answers.claimed < total as u64 {
        let Some(bytes) = next_binary(&mut reader).await else {
            break;
        };
        match merpati_protocol::decode::<ServerFrame>(&bytes).unwrap() {
            ServerFrame::Error { code, .. } => answers.errors.push(code),
            ServerFrame::ClaimedKeys { .. } => answers.claimed += 1,
            ServerFrame::Goodbye { code, .. } => {
                answers.closed = Some(code);
                break;
            }
            other => panic!("expected an error or a Goodbye, got {other:?}"),
        }
    }
    flooding.await.unwrap();
    answers
}
