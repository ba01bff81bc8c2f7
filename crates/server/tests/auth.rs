//! Signing up, signing in, resuming and signing out.

use merpati_protocol::auth::AuthPurpose;
use merpati_protocol::frames::AuthMethod;
use merpati_protocol::{ChatId, ClientFrame, ErrorCode, PROTOCOL_VERSION, Seq, ServerFrame};

use vodozemac::Ed25519SecretKey;

use crate::support::{Device, TestServer, key, username};

#[tokio::test]
async fn register_then_login_from_a_new_connection() {
    let server = TestServer::start().await;
    let (_alice, me, token) = server.signed_up("alice").await;
    assert_eq!(me.username.as_str(), "alice");

    let mut again = server.connect().await;
    match again.login("alice", &key("alice")).await {
        ServerFrame::Welcome {
            me: signed_in,
            session_token: Some(new_token),
        } => {
            assert_eq!(signed_in, me);
            assert_ne!(new_token, token, "every sign-in gets its own session");
        }
        other => panic!("expected Welcome, got {other:?}"),
    }
    server.stop().await;
}

#[tokio::test]
async fn a_taken_username_is_refused() {
    let server = TestServer::start().await;
    let _alice = server.signed_up("alice").await;
    let mut impostor = server.connect().await;
    match impostor.register("alice", &key("mallory")).await {
        ServerFrame::Error { code, .. } => assert_eq!(code, ErrorCode::UsernameTaken),
        other => panic!("expected UsernameTaken, got {other:?}"),
    }
    // The refusal leaves the connection open for another try.
    assert!(matches!(
        impostor.register("mallory", &key("mallory")).await,
        ServerFrame::Welcome { .. }
    ));
    server.stop().await;
}

#[tokio::test]
async fn login_with_the_wrong_key_is_a_wrong_passphrase() {
    let server = TestServer::start().await;
    let _alice = server.signed_up("alice").await;
    let mut client = server.connect().await;
    assert!(matches!(
        client.login("alice", &key("not alice")).await,
        ServerFrame::Error {
            code: ErrorCode::WrongPassphrase,
            ..
        }
    ));
    server.stop().await;
}

#[tokio::test]
async fn a_signature_for_another_nonce_does_not_sign_in() {
    let server = TestServer::start().await;
    let _alice = server.signed_up("alice").await;
    let first = server.connect().await;
    let signature = first.signature(AuthPurpose::Login, "alice", &key("alice"));
    // Replaying it on another connection (another challenge) must fail.
    let mut second = server.connect().await;
    second
        .send(&ClientFrame::Authenticate {
            version: PROTOCOL_VERSION,
            method: AuthMethod::Login {
                username: username("alice"),
                signature,
            },
        })
        .await;
    assert_eq!(second.expect_error().await, ErrorCode::WrongPassphrase);
    server.stop().await;
}

#[tokio::test]
async fn login_as_an_unknown_user_is_no_such_user() {
    let server = TestServer::start().await;
    let mut client = server.connect().await;
    assert!(matches!(
        client.login("nobody", &key("nobody")).await,
        ServerFrame::Error {
            code: ErrorCode::NoSuchUser,
            ..
        }
    ));
    server.stop().await;
}

#[tokio::test]
async fn a_registration_with_a_bad_signature_is_refused() {
    let server = TestServer::start().await;
    let mut client = server.connect().await;
    client
        .send(&ClientFrame::Authenticate {
            version: PROTOCOL_VERSION,
            method: AuthMethod::Register {
                username: username("alice"),
                public_key: *key("alice").public_key().as_bytes(),
                signature: vec![0; 64],
            },
        })
        .await;
    assert_eq!(client.expect_error().await, ErrorCode::InvalidKey);
    // And nothing was stored: the name is still free.
    assert!(matches!(
        client.register("alice", &key("alice")).await,
        ServerFrame::Welcome { .. }
    ));
    server.stop().await;
}

#[tokio::test]
async fn resume_with_the_session_token_signs_in_without_a_new_token() {
    let server = TestServer::start().await;
    let (_alice, me, token) = server.signed_up("alice").await;
    let mut device = server.connect().await;
    assert_eq!(
        device.resume(token).await,
        ServerFrame::Welcome {
            me,
            session_token: None
        }
    );
    server.stop().await;
}

#[tokio::test]
async fn resume_with_a_bogus_token_is_session_expired_and_closes() {
    let server = TestServer::start().await;
    let mut client = server.connect().await;
    assert!(matches!(
        client.resume([42; 32]).await,
        ServerFrame::Error {
            code: ErrorCode::SessionExpired,
            ..
        }
    ));
    let (frames, close) = client.until_closed().await;
    assert!(frames.is_empty());
    assert_eq!(close.map(|close| u16::from(close.code)), Some(1008));
    server.stop().await;
}

#[tokio::test]
async fn logout_forgets_the_session_and_closes() {
    let server = TestServer::start().await;
    let (mut alice, _, token) = server.signed_up("alice").await;
    alice.send(&ClientFrame::Logout).await;
    let (_, close) = alice.until_closed().await;
    assert_eq!(close.map(|close| u16::from(close.code)), Some(1000));

    let mut device = server.connect().await;
    assert!(matches!(
        device.resume(token).await,
        ServerFrame::Error {
            code: ErrorCode::SessionExpired,
            ..
        }
    ));
    server.stop().await;
}

#[tokio::test]
async fn a_request_before_signing_in_is_not_authenticated() {
    let server = TestServer::start().await;
    let mut client = server.connect().await;
    client
        .send(&ClientFrame::Fetch {
            chat_id: ChatId(1),
            after: Seq(0),
            limit: 10,
        })
        .await;
    assert_eq!(client.expect_error().await, ErrorCode::NotAuthenticated);
    // The connection stays usable: signing in still works.
    assert!(matches!(
        client.register("alice", &key("alice")).await,
        ServerFrame::Welcome { .. }
    ));
    server.stop().await;
}

#[tokio::test]
async fn another_protocol_version_is_refused_and_closed() {
    let server = TestServer::start().await;
    let mut client = server.connect().await;
    client
        .send(&ClientFrame::Authenticate {
            version: PROTOCOL_VERSION + 1,
            method: AuthMethod::Resume {
                session_token: [0; 32],
            },
        })
        .await;
    assert_eq!(client.expect_error().await, ErrorCode::UnsupportedVersion);
    let (_, close) = client.until_closed().await;
    assert_eq!(close.map(|close| u16::from(close.code)), Some(1008));
    server.stop().await;
}

#[tokio::test]
async fn repeated_failed_sign_ins_close_the_connection() {
    let server = TestServer::start().await;
    let mut client = server.connect().await;
    for _ in 0..4 {
        assert!(matches!(
            client.login("nobody", &key("nobody")).await,
            ServerFrame::Error { .. }
        ));
    }
    assert!(matches!(
        client.login("nobody", &key("nobody")).await,
        ServerFrame::Error { .. }
    ));
    let (_, close) = client.until_closed().await;
    assert_eq!(close.map(|close| u16::from(close.code)), Some(1008));
    server.stop().await;
}

/// Logins as `name` with `key` from 127.0.0.`from`, four to a connection (the fifth failure
/// closes it), until one is answered `TooManyAttempts` or `tries` run out; the codes answered.
async fn guess(
    server: &TestServer,
    from: u8,
    name: &str,
    key: &Ed25519SecretKey,
    tries: usize,
) -> Vec<ErrorCode> {
    let mut codes = Vec::new();
    while codes.len() < tries {
        let mut client = server.connect_from(from).await;
        for _ in 0..4 {
            match client.login(name, key).await {
                ServerFrame::Error { code, .. } => codes.push(code),
                other => panic!("a guess signed in: {other:?}"),
            }
            if codes.last() == Some(&ErrorCode::TooManyAttempts) || codes.len() == tries {
                return codes;
            }
        }
    }
    codes
}

#[tokio::test]
async fn failed_sign_ins_are_throttled_per_account_and_per_address_without_locking_out_the_owner() {
    let server = TestServer::start().await;
    let (_, _, token) = server.signed_up("alice").await;
    // Alice has signed in from 127.0.0.1 before.
    let _alice = server.logged_in("alice").await;
    let _bob = server.signed_up("bob").await;

    // Someone at 127.0.0.2 guesses Alice's passphrase: after the account's allowance (ten,
    // and perhaps one more refilled meanwhile) every attempt is refused unchecked.
    let codes = guess(&server, 2, "alice", &key("guess"), 40).await;
    assert_eq!(codes.last(), Some(&ErrorCode::TooManyAttempts), "{codes:?}");
    let wrong = codes
        .iter()
        .filter(|code| **code == ErrorCode::WrongPassphrase)
        .count();
    assert!(
        (10..=11).contains(&wrong),
        "{wrong} guesses were checked: {codes:?}"
    );
    // From another address too: the allowance is the account's.
    assert_eq!(
        guess(&server, 3, "alice", &key("guess"), 1).await,
        [ErrorCode::TooManyAttempts]
    );

    // Probing usernames from 127.0.0.2 stops at the address's allowance (thirty failures in
    // all, perhaps one or two more refilled meanwhile).
    let mut probes = Vec::new();
    for n in 0..40 {
        let codes = guess(&server, 2, &format!("nobody{n}"), &key("x"), 1).await;
        probes.extend(codes);
        if probes.last() == Some(&ErrorCode::TooManyAttempts) {
            break;
        }
    }
    assert_eq!(
        probes.last(),
        Some(&ErrorCode::TooManyAttempts),
        "{probes:?}"
    );
    let checked = wrong
        + probes
            .iter()
            .filter(|code| **code == ErrorCode::NoSuchUser)
            .count();
    assert!(
        (30..=32).contains(&checked),
        "{checked} attempts from one address were checked"
    );

    // Alice still signs in from where she signed in before, and resumes from anywhere (even
    // the attacker's address); Bob, from a fresh address, is untouched.
    assert!(matches!(
        server.connect().await.login("alice", &key("alice")).await,
        ServerFrame::Welcome { .. }
    ));
    assert!(matches!(
        server.connect_from(2).await.resume(token).await,
        ServerFrame::Welcome { .. }
    ));
    assert!(matches!(
        server.connect_from(4).await.login("bob", &key("bob")).await,
        ServerFrame::Welcome { .. }
    ));
    server.stop().await;
}

/// Sets when `name`'s one session was last used to `days_ago`, in the stopped server's
/// database.
fn last_used(data: &std::path::Path, name: &str, days_ago: i64) {
    let db = rusqlite::Connection::open(data.join("merpati.db")).unwrap();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let changed = db
        .execute(
            "UPDATE sessions SET last_used_ms = ?2
             WHERE account_id = (SELECT id FROM accounts WHERE username = ?1)",
            rusqlite::params![name, now_ms - days_ago * 24 * 60 * 60 * 1000],
        )
        .unwrap();
    assert_eq!(changed, 1);
}

#[tokio::test]
async fn a_session_unused_for_thirty_days_ends_and_one_in_use_goes_on() {
    let (_dir, data) = crate::support::data_dir();
    let server = TestServer::start_in(&data).await;
    let (_, _, idle_token) = server.signed_up("idle").await;
    let (_, _, busy_token) = server.signed_up("busy").await;
    server.stop().await;
    last_used(&data, "idle", 31);
    last_used(&data, "busy", 29);

    let server = TestServer::start_in(&data).await;
    let mut idle = server.connect().await;
    assert!(matches!(
        idle.resume(idle_token).await,
        ServerFrame::Error {
            code: ErrorCode::SessionExpired,
            ..
        }
    ));
    let mut busy = server.connect().await;
    assert!(matches!(
        busy.resume(busy_token).await,
        ServerFrame::Welcome { .. }
    ));
    drop(busy);
    server.stop().await;

    // The idle session is gone for good; the busy one's use was noted, so another 29 days
    // from now it is still young.
    let db = rusqlite::Connection::open(data.join("merpati.db")).unwrap();
    let sessions: Vec<(String, i64)> = db
        .prepare(
            "SELECT a.username, s.last_used_ms FROM sessions s
             JOIN accounts a ON a.id = s.account_id ORDER BY a.username",
        )
        .unwrap()
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(sessions.len(), 1, "{sessions:?}");
    assert_eq!(sessions[0].0, "busy");
    let day_ms = 24 * 60 * 60 * 1000;
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    assert!(now_ms - sessions[0].1 < day_ms, "{sessions:?}");
}

#[tokio::test]
async fn an_account_lists_its_sessions_and_ends_one_from_another() {
    let server = TestServer::start().await;
    let (mut phone, me, phone_token) = server.signed_up("alice").await;
    let phone_device = Device::new("alice", me.id);
    phone.publish_device(&phone_device).await;
    let mut laptop = server.logged_in("alice").await;
    let laptop_device = Device::new("alice", me.id);
    laptop.publish_device(&laptop_device).await;
    // The phone hears of the laptop's new device.
    assert!(matches!(
        phone.recv().await,
        ServerFrame::DevicesChanged { .. }
    ));

    let sessions = match laptop
        .request(|request| ClientFrame::ListSessions { request })
        .await
    {
        ServerFrame::Sessions { sessions, .. } => sessions,
        other => panic!("expected Sessions, got {other:?}"),
    };
    assert_eq!(sessions.len(), 2, "{sessions:?}");
    let (current, other): (Vec<_>, Vec<_>) = sessions.into_iter().partition(|s| s.current);
    assert_eq!(current[0].device, Some(laptop_device.key()));
    assert_eq!(other[0].device, Some(phone_device.key()));

    // The laptop signs the phone out.
    let session = other[0].session;
    assert!(matches!(
        laptop
            .request(|request| ClientFrame::EndSession { request, session })
            .await,
        ServerFrame::SessionEnded { .. }
    ));
    // The phone is told, for good, and closed.
    let (frames, close) = phone.until_closed().await;
    assert!(
        frames.contains(&ServerFrame::Goodbye {
            code: ErrorCode::SessionExpired,
            retry_after_ms: None
        }),
        "{frames:?}"
    );
    assert_eq!(close.map(|close| u16::from(close.code)), Some(1008));
    // Its token is refused, and its device has left the directory.
    assert!(matches!(
        server.connect().await.resume(phone_token).await,
        ServerFrame::Error {
            code: ErrorCode::SessionExpired,
            ..
        }
    ));
    let devices = laptop.query_keys(&[me.id]).await[0].devices.clone();
    assert_eq!(devices, vec![laptop_device.keys()]);
    match laptop
        .request(|request| ClientFrame::ListSessions { request })
        .await
    {
        ServerFrame::Sessions { sessions, .. } => assert_eq!(sessions.len(), 1),
        other => panic!("expected Sessions, got {other:?}"),
    }
    server.stop().await;
}
