//! Signing up, signing in, resuming and signing out.

use merpati_protocol::auth::AuthPurpose;
use merpati_protocol::frames::AuthMethod;
use merpati_protocol::{ChatId, ClientFrame, ErrorCode, PROTOCOL_VERSION, Seq, ServerFrame};

use vodozemac::Ed25519SecretKey;

use crate::support::{TestServer, key, username};

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

/// Asserts that of the guesses answered `codes`, only the account's allowance was checked:
/// its ten, and perhaps one more refilled meanwhile. How many were.
fn within_the_accounts_allowance(codes: &[ErrorCode]) -> usize {
    let wrong = codes
        .iter()
        .filter(|code| **code == ErrorCode::WrongPassphrase)
        .count();
    assert!(
        (10..=11).contains(&wrong),
        "{wrong} guesses were checked: {codes:?}"
    );
    wrong
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
    let wrong = within_the_accounts_allowance(&codes);
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

/// Guesses at one account from one address at the same moment are checked only as far as
/// its allowance goes, not each on the failure left when it started: the allowance is taken
/// before a sign-in is checked.
#[tokio::test]
async fn guesses_at_once_are_checked_only_within_the_allowance() {
    let server = TestServer::start().await;
    let _alice = server.signed_up("alice").await;
    let mut clients = Vec::new();
    for _ in 0..40 {
        clients.push(server.connect_from(2).await);
    }
    let mut guessing = tokio::task::JoinSet::new();
    for mut client in clients {
        guessing.spawn(async move { client.login("alice", &key("guess")).await });
    }
    let mut codes = Vec::new();
    for answer in guessing.join_all().await {
        match answer {
            ServerFrame::Error { code, .. } => codes.push(code),
            other => panic!("a guess signed in: {other:?}"),
        }
    }
    within_the_accounts_allowance(&codes);
    assert!(
        codes.iter().all(|code| matches!(
            code,
            ErrorCode::WrongPassphrase | ErrorCode::TooManyAttempts
        )),
        "{codes:?}"
    );
    server.stop().await;
}

/// Asks for `name`'s passphrase salt on `client`'s connection.
async fn salt_of(client: &mut crate::support::Client, name: &str) -> Option<[u8; 16]> {
    client
        .send(&ClientFrame::LookUpSalt {
            username: username(name),
        })
        .await;
    match client.recv().await {
        ServerFrame::Salt {
            username: answered,
            kdf_salt,
        } => {
            assert_eq!(answered, username(name));
            kdf_salt
        }
        other => panic!("expected a salt, got {other:?}"),
    }
}

#[tokio::test]
async fn an_accounts_random_salt_is_handed_out_and_a_name_nobody_has_gets_a_steady_one() {
    let (_dir, data) = crate::support::data_dir();
    let server = TestServer::start_in(&data).await;
    // A sign-up with a salt of its own; the server keeps it.
    let salt = [0x5a; 16];
    let mut sari = server.connect().await;
    let signature = sari.signature(AuthPurpose::Register, "sari", &key("sari"));
    sari.send(&ClientFrame::Authenticate {
        version: PROTOCOL_VERSION,
        method: AuthMethod::RegisterWithSalt {
            username: username("sari"),
            public_key: *key("sari").public_key().as_bytes(),
            signature,
            kdf_salt: salt,
        },
    })
    .await;
    assert!(matches!(sari.recv().await, ServerFrame::Welcome { .. }));
    // An account from before salts (the name alone salts its passphrase).
    let _ = server.signed_up("tomo").await;

    // Anyone may ask, before signing in: the account's salt, none for the old account, and
    // for a name nobody has one like any other — the same each time.
    let mut asker = server.connect().await;
    assert_eq!(salt_of(&mut asker, "sari").await, Some(salt));
    assert_eq!(salt_of(&mut asker, "tomo").await, None);
    let nobody = salt_of(&mut asker, "nobody").await.expect("a made-up salt");
    assert_eq!(salt_of(&mut asker, "nobody").await, Some(nobody));
    assert_ne!(salt_of(&mut asker, "noone").await, Some(nobody));
    // A few per connection: the sixth closes it.
    asker
        .send(&ClientFrame::LookUpSalt {
            username: username("sari"),
        })
        .await;
    let (frames, close) = asker.until_closed().await;
    assert!(
        matches!(
            frames.as_slice(),
            [ServerFrame::Error {
                code: ErrorCode::Malformed,
                ..
            }]
        ),
        "{frames:?}"
    );
    assert_eq!(close.map(|close| u16::from(close.code)), Some(1008));
    // After a restart the made-up salt is still the same: it does not give the name away.
    server.stop().await;
    let server = TestServer::start_in(&data).await;
    let mut asker = server.connect().await;
    assert_eq!(salt_of(&mut asker, "nobody").await, Some(nobody));
    server.stop().await;
}

/// A browser cannot send WebSocket pings: a signed-in client asks with `Ping` whether the
/// server is still there, and hears `Pong`, once a second at most. Not before signing in,
/// where only a sign-in (or a salt lookup) is answered.
#[tokio::test]
async fn a_signed_in_client_that_pings_hears_a_pong() {
    let server = TestServer::start().await;
    let mut stranger = server.connect().await;
    stranger.send(&ClientFrame::Ping).await;
    assert!(matches!(
        stranger.recv().await,
        ServerFrame::Error {
            code: ErrorCode::NotAuthenticated,
            ..
        }
    ));
    let (mut alice, _, _) = server.signed_up("alice").await;
    alice.send(&ClientFrame::Ping).await;
    assert_eq!(alice.recv().await, ServerFrame::Pong);
    // One a second at most: a Ping sent at once is not answered (and not refused). What is
    // answered next is the request after it.
    alice.send(&ClientFrame::Ping).await;
    alice
        .send(&ClientFrame::ListSessions {
            request: merpati_protocol::RequestId(7),
        })
        .await;
    assert!(matches!(alice.recv().await, ServerFrame::Sessions { .. }));
    server.stop().await;
}
