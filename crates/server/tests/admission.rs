//! Admission control: the connection cap and the handshake rate (everyone's, and each
//! address's) refuse with 503 and
//! `Retry-After`, a session sending too fast is slowed and then closed, and through all of it
//! everyone else is served. `/metrics` counts it.

use std::time::{Duration, Instant};

use merpati_protocol::{ClientFrame, ErrorCode, ServerFrame};
use merpati_testkit::raw_client::next_message;
use merpati_testkit::raw_client::{ConnectOptions, connect_socket};
use merpati_testkit::{SourceAddress, SplitSocket};
use tokio_tungstenite::tungstenite::Message;

use crate::support::{TestServer, msg_id, refused_handshake};

#[tokio::test]
async fn the_connection_cap_refuses_the_next_handshake_while_the_connected_carry_on() {
    let server = TestServer::start_configured(|config| config.max_connections = 2).await;
    let (mut alice, _, _) = server.signed_up("alice").await;
    let (mut bob, _, _) = server.signed_up("bob").await;
    let chat = alice.direct("bob").await.id;
    let _pushed = bob.recv().await;

    let (status, retry_after) = refused_handshake(&server.ws_url()).await;
    assert_eq!(status, 503);
    let retry_after = retry_after.expect("a Retry-After in seconds");
    assert!((1..=5).contains(&retry_after), "Retry-After {retry_after}");

    // Those already connected are served as before, both ways.
    alice.say(chat, msg_id(1), b"still here").await;
    assert_eq!(bob.expect_message().await.body, b"still here");
    bob.say(chat, msg_id(2), b"me too").await;
    assert_eq!(alice.expect_message().await.body, b"me too");

    let counted = server.metrics().await;
    assert_eq!(counted["merpati_connections_open"], 2.0);
    assert_eq!(counted["merpati_connections_peak"], 2.0);
    assert_eq!(counted["merpati_connections_refused_total"], 1.0);
    assert_eq!(counted["merpati_handshakes_refused_total"], 0.0);

    // Once someone leaves there is room again.
    drop(bob);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if server.metrics().await["merpati_connections_open"] < 2.0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the closed connection is never released"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _carol = server.signed_up("carol").await;
    assert_eq!(server.metrics().await["merpati_connections_peak"], 2.0);
    server.stop().await;
}

#[tokio::test]
async fn handshakes_faster_than_the_rate_are_refused_with_retry_after() {
    let server = TestServer::start_configured(|config| {
        config.max_handshakes_per_second = 1;
        config.handshake_burst = 2;
    })
    .await;
    let _first = server.connect().await;
    let _second = server.connect().await;
    // The burst is spent; one more token comes in a second, so at least one of these fails.
    let mut refusals = 0;
    let mut kept = Vec::new();
    for _ in 0..3 {
        match tokio_tungstenite::connect_async(server.ws_url()).await {
            Ok((socket, _)) => kept.push(socket),
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                assert_eq!(response.status().as_u16(), 503);
                let retry_after: u64 = response.headers()["retry-after"]
                    .to_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                assert!((1..=3).contains(&retry_after), "Retry-After {retry_after}");
                refusals += 1;
            }
            Err(error) => panic!("unexpected {error}"),
        }
    }
    assert!(refusals >= 1, "no handshake was refused");
    let counted = server.metrics().await;
    assert_eq!(
        counted["merpati_handshakes_refused_total"],
        f64::from(refusals)
    );
    assert_eq!(counted["merpati_connections_refused_total"], 0.0);
    server.stop().await;
}

/// One address opening handshakes as fast as it can is held to its own rate, and its refused
/// handshakes take nothing of the rate everyone shares: another address still gets in.
#[tokio::test]
async fn one_address_opening_handshakes_fast_is_held_to_its_own_rate_and_others_get_in() {
    let server = TestServer::start_configured(|config| {
        config.max_handshakes_per_second = 1;
        config.handshake_burst = 10;
        config.max_handshakes_per_address_per_minute = 1;
        // The address's burst.
        config.max_connections_per_address = 4;
    })
    .await;
    let from_seven = ConnectOptions {
        source: SourceAddress::Loopback(7),
        ..ConnectOptions::default()
    };
    // More than everyone's burst, each connection dropped at once. (One dropped may still be
    // open at the server when the next comes, and be closed at accept by the address's cap of
    // connections rather than refused: neither is admitted.)
    let mut admitted = 0;
    for _ in 0..12 {
        if connect_socket(&server.endpoint(), &from_seven)
            .await
            .is_ok()
        {
            admitted += 1;
        }
    }
    assert_eq!(admitted, 4, "the address's burst");
    assert!(server.metrics().await["merpati_handshakes_refused_total"] >= 1.0);
    // What the address was refused took nothing of everyone's rate.
    let _other = server.connect_from(8).await;
    server.stop().await;
}

#[tokio::test]
async fn a_burst_over_the_send_rate_is_slowed_down_and_all_of_it_is_stored() {
    let server = TestServer::start_configured(|config| {
        config.send_rate = 20;
        config.send_burst = 5;
        config.send_hold_limit_ms = 20_000;
    })
    .await;
    let (mut alice, _, _) = server.signed_up("alice").await;
    let _bob = server.signed_up("bob").await;
    let chat = alice.direct("bob").await.id;

    let started = Instant::now();
    for n in 0..30 {
        alice
            .send(&ClientFrame::Send {
                chat_id: chat,
                client_msg_id: msg_id(n),
                body: format!("quick {n}").into_bytes(),
                attachment: None,
            })
            .await;
    }
    let mut acked = 0;
    while acked < 30 {
        match alice.recv().await {
            ServerFrame::Ack { .. } => acked += 1,
            ServerFrame::Message(_) => {}
            other => panic!("expected acks, got {other:?}"),
        }
    }
    // 5 at once, then 20 a second: the last 25 take at least 1.25 s.
    assert!(started.elapsed() >= Duration::from_millis(1_200));
    let counted = server.metrics().await;
    assert_eq!(counted["merpati_messages_stored_total"], 30.0);
    assert!(counted["merpati_sends_held_total"] >= 1.0);
    assert_eq!(counted["merpati_sessions_rate_limited_total"], 0.0);
    server.stop().await;
}

#[tokio::test]
async fn a_flooding_session_is_closed_while_another_session_s_messages_still_flow() {
    let server = TestServer::start_configured(|config| {
        config.send_rate = 20;
        config.send_burst = 5;
        config.send_hold_limit_ms = 1_000;
    })
    .await;
    let (mut mallory, _, _) = server.signed_up("mallory").await;
    let _victim = server.signed_up("victim").await;
    let flood_chat = mallory.direct("victim").await.id;
    let (mut carol, _, _) = server.signed_up("carol").await;
    let (mut dave, _, _) = server.signed_up("dave").await;
    let chat = carol.direct("dave").await.id;
    let _pushed = dave.recv().await;

    // Far more than the rate allows, without reading anything back.
    let flood = 2_000;
    let SplitSocket {
        writer: mut sink,
        reader: mut stream,
    } = mallory.into_split();
    let flooding = tokio::spawn(async move {
        for n in 0..flood {
            let frame = ClientFrame::Send {
                chat_id: flood_chat,
                client_msg_id: msg_id(1_000_000 + n),
                body: vec![b'x'; 200],
                attachment: None,
            };
            let message = Message::binary(merpati_protocol::encode(&frame));
            if futures_util::SinkExt::send(&mut sink, message)
                .await
                .is_err()
            {
                break;
            }
        }
        sink
    });

    // Meanwhile carol and dave talk as usual.
    for n in 0..10 {
        carol
            .say(chat, msg_id(n), format!("hello {n}").as_bytes())
            .await;
        assert_eq!(
            dave.expect_message().await.body,
            format!("hello {n}").as_bytes()
        );
    }

    // Mallory got a few acks, then Goodbye { RateLimited } and a 1008 close.
    let mut acks = 0;
    let mut goodbye = None;
    let close = loop {
        let next = tokio::time::timeout(Duration::from_secs(30), next_message(&mut stream))
            .await
            .expect("the flooder is closed in time");
        match next {
            Some(Message::Binary(bytes)) => match merpati_protocol::decode(&bytes).unwrap() {
                ServerFrame::Ack { .. } => acks += 1,
                ServerFrame::Message(_) => {}
                ServerFrame::Goodbye {
                    code,
                    retry_after_ms,
                } => goodbye = Some((code, retry_after_ms)),
                other => panic!("unexpected {other:?}"),
            },
            Some(Message::Close(close)) => break close,
            Some(_) => {}
            None => panic!("the connection ended without a Close"),
        }
    };
    assert_eq!(close.map(|close| u16::from(close.code)), Some(1008));
    let (code, retry_after_ms) = goodbye.expect("a Goodbye before the Close");
    assert_eq!(code, ErrorCode::RateLimited);
    assert!(retry_after_ms.is_some_and(|ms| ms >= 1_000));
    assert!(acks >= 5 && acks < flood, "{acks} acks");
    flooding.abort();

    // And carol still gets through afterwards.
    carol.say(chat, msg_id(99), b"after the flood").await;
    assert_eq!(dave.expect_message().await.body, b"after the flood");
    let counted = server.metrics().await;
    assert_eq!(counted["merpati_sessions_rate_limited_total"], 1.0);
    assert!(counted["merpati_sends_held_total"] >= 1.0);
    server.stop().await;
}

#[tokio::test]
async fn metrics_count_connections_stored_messages_and_commits() {
    let server = TestServer::start().await;
    let (mut alice, _, _) = server.signed_up("alice").await;
    let _bob = server.signed_up("bob").await;
    let chat = alice.direct("bob").await.id;
    for n in 0..3 {
        alice.say(chat, msg_id(n), b"counted").await;
    }
    // A resend is acknowledged again but not stored again.
    alice.send_text(chat, msg_id(0), b"counted").await;
    let counted = server.metrics().await;
    assert_eq!(counted["merpati_connections_open"], 2.0);
    assert_eq!(counted["merpati_connections_peak"], 2.0);
    assert_eq!(counted["merpati_messages_stored_total"], 3.0);
    // Accounts, the chat and the messages were committed: at least one transaction each.
    assert!(counted["merpati_commits_total"] >= 3.0);
    server.stop().await;
}
