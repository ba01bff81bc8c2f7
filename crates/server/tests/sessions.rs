//! Sessions: a session unused for 30 days ends; an account lists its sessions and ends one
//! from another; a resumed session's token rotates (the token before is answered with the new
//! one, the one before that is refused); and a sign-out proof ends a session — the browser
//! keeps it while offline — without being able to resume it, also the proof of the token
//! before the last rotation. Signing out (`Logout`) closes every connection of the session,
//! not only its own, and so does a session the account's cap of sessions ends; ending a
//! browser's session takes every tab's device out of the directory; a login refused for the
//! cap of open connections ends none. Each session is listed with the browser and system it
//! signed in from, and nothing more of its `User-Agent`.

use merpati_protocol::auth::sign_out_proof;
use merpati_protocol::frames::AuthMethod;
use merpati_protocol::{
    ClientFrame, ErrorCode, MAX_SESSIONS_PER_ACCOUNT, Member, PROTOCOL_VERSION, ServerFrame,
};

use merpati_protocol::sessions::ClientKind;
use merpati_testkit::ConnectOptions;
use sha2::Digest;

use crate::support::{Client, Device, TestServer, key};

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

/// Reads `client` until its connection closes: it must have been told its session ended,
/// and closed for good (1008).
async fn expect_session_ended(client: &mut Client) {
    let (frames, close) = client.until_closed().await;
    assert!(
        frames.contains(&ServerFrame::Goodbye {
            code: ErrorCode::SessionExpired,
            retry_after_ms: None
        }),
        "{frames:?}"
    );
    assert_eq!(close.map(|close| u16::from(close.code)), Some(1008));
}

/// Reads the push that another device of the account was published.
async fn expect_devices_changed(client: &mut Client) {
    match client.recv().await {
        ServerFrame::DevicesChanged { .. } => {}
        other => panic!("expected DevicesChanged, got {other:?}"),
    }
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
    expect_session_ended(&mut phone).await;
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

/// Makes every session of `name` due to rotate at its next resume (its token a day and more
/// old), in the stopped server's database.
fn rotation_due(data: &std::path::Path, name: &str) {
    let db = rusqlite::Connection::open(data.join("merpati.db")).unwrap();
    db.execute(
        "UPDATE sessions SET rotated_ms = rotated_ms - 2 * 24 * 60 * 60 * 1000
         WHERE account_id = (SELECT id FROM accounts WHERE username = ?1)",
        [name],
    )
    .unwrap();
}

/// Resumes with `token` on a new connection; the token `Welcome` hands over, if any.
async fn resume(server: &TestServer, token: [u8; 32]) -> Result<Option<[u8; 32]>, ErrorCode> {
    match server.connect().await.resume(token).await {
        ServerFrame::Welcome { session_token, .. } => Ok(session_token),
        ServerFrame::Error { code, .. } => Err(code),
        other => panic!("expected Welcome or Error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_resumed_sessions_token_rotates_and_the_one_before_is_answered_with_the_new_one() {
    let (_dir, data) = crate::support::data_dir();
    let server = TestServer::start_in(&data).await;
    let (_, _, first) = server.signed_up("alice").await;
    // A young token does not rotate: resuming stays a read.
    assert_eq!(resume(&server, first).await, Ok(None));
    server.stop().await;
    rotation_due(&data, "alice");

    let server = TestServer::start_in(&data).await;
    let second = resume(&server, first)
        .await
        .unwrap()
        .expect("a day-old token rotates");
    assert_ne!(second, first);
    assert_eq!(resume(&server, second).await, Ok(None));
    // Another tab of the browser, or a Welcome lost in flight: the token before is taken and
    // answered with the current one, the same every time.
    assert_eq!(resume(&server, first).await, Ok(Some(second)));
    assert_eq!(resume(&server, first).await, Ok(Some(second)));
    server.stop().await;
    rotation_due(&data, "alice");

    let server = TestServer::start_in(&data).await;
    let third = resume(&server, second)
        .await
        .unwrap()
        .expect("rotates again");
    assert!(third != first && third != second);
    // Two rotations old: refused. One: answered with the current token.
    assert_eq!(resume(&server, first).await, Err(ErrorCode::SessionExpired));
    assert_eq!(resume(&server, second).await, Ok(Some(third)));
    assert_eq!(resume(&server, third).await, Ok(None));
    server.stop().await;
}

/// alice signs up in a browser with two tabs on its one session, each an end-to-end device of
/// its own: (the first tab, the other, alice, the session's token).
async fn a_browser_of_two_tabs(server: &TestServer) -> (Client, Client, Member, [u8; 32]) {
    let (mut tab, me, token) = server.signed_up("alice").await;
    let mut other_tab = server.connect().await;
    assert!(matches!(
        other_tab.resume(token).await,
        ServerFrame::Welcome { .. }
    ));
    tab.publish_device(&Device::new("alice", me.id)).await;
    expect_devices_changed(&mut other_tab).await;
    other_tab.publish_device(&Device::new("alice", me.id)).await;
    (tab, other_tab, me, token)
}

#[tokio::test]
async fn signing_out_closes_every_connection_of_the_session_not_only_its_own() {
    let server = TestServer::start().await;
    // The browser's other tab shares the session, as a device of its own; so would whoever
    // copied its token.
    let (mut tab, mut other_tab, me, token) = a_browser_of_two_tabs(&server).await;
    let (_, _, bob_token) = server.signed_up("bob").await;

    tab.send(&ClientFrame::Logout).await;
    let (_, close) = tab.until_closed().await;
    assert_eq!(close.map(|close| u16::from(close.code)), Some(1000));
    expect_session_ended(&mut other_tab).await;
    assert_eq!(resume(&server, token).await, Err(ErrorCode::SessionExpired));
    // Both tabs' devices left the directory.
    let mut again = server.logged_in("alice").await;
    assert!(again.query_keys(&[me.id]).await[0].devices.is_empty());
    // Another account's session goes on.
    assert_eq!(resume(&server, bob_token).await, Ok(None));
    server.stop().await;
}

#[tokio::test]
async fn ending_a_browsers_session_takes_every_tabs_device_out_of_the_directory() {
    let server = TestServer::start().await;
    let (mut tab, mut other_tab, me, _) = a_browser_of_two_tabs(&server).await;
    let mut laptop = server.logged_in("alice").await;
    let laptop_device = Device::new("alice", me.id);
    laptop.publish_device(&laptop_device).await;
    let browser = match laptop
        .request(|request| ClientFrame::ListSessions { request })
        .await
    {
        ServerFrame::Sessions { sessions, .. } => sessions
            .into_iter()
            .find(|session| !session.current)
            .map(|session| session.session)
            .expect("the browser's session is listed"),
        other => panic!("expected Sessions, got {other:?}"),
    };
    assert_eq!(laptop.query_keys(&[me.id]).await[0].devices.len(), 3);

    assert!(matches!(
        laptop
            .request(|request| ClientFrame::EndSession {
                request,
                session: browser
            })
            .await,
        ServerFrame::SessionEnded { .. }
    ));
    expect_session_ended(&mut tab).await;
    expect_session_ended(&mut other_tab).await;
    // Nobody is to encrypt for either tab again: only the laptop is left.
    let devices = laptop.query_keys(&[me.id]).await[0].devices.clone();
    assert_eq!(devices, vec![laptop_device.keys()]);
    server.stop().await;
}

/// Signs alice up in `data` and logs her in until she holds the account's cap of stored
/// sessions, her first one the least recently used; the first session's token.
async fn sessions_at_the_cap_the_first_least_recently_used(data: &std::path::Path) -> [u8; 32] {
    let server = TestServer::start_in(data).await;
    let (_, _, token) = server.signed_up("alice").await;
    for _ in 1..MAX_SESSIONS_PER_ACCOUNT {
        server.logged_in("alice").await;
    }
    server.stop().await;
    // By hours: not so long that resuming it rotates its token (which counts as a use).
    let db = rusqlite::Connection::open(data.join("merpati.db")).unwrap();
    let changed = db
        .execute(
            "UPDATE sessions SET last_used_ms = last_used_ms - 2 * 60 * 60 * 1000
             WHERE token_hash = ?1",
            // A session is named by its first token's SHA-256.
            [&sha2::Sha256::digest(token)[..]],
        )
        .unwrap();
    assert_eq!(changed, 1);
    token
}

/// The sessions `client`'s account has stored, and which is `client`'s own.
async fn stored_sessions(client: &mut Client) -> Vec<bool> {
    match client
        .request(|request| ClientFrame::ListSessions { request })
        .await
    {
        ServerFrame::Sessions { sessions, .. } => sessions
            .into_iter()
            .map(|session| session.current)
            .collect(),
        other => panic!("expected Sessions, got {other:?}"),
    }
}

#[tokio::test]
async fn a_session_ended_by_the_accounts_cap_closes_its_open_connection() {
    let (_dir, data) = crate::support::data_dir();
    let token = sessions_at_the_cap_the_first_least_recently_used(&data).await;

    let server = TestServer::start_in(&data).await;
    let mut tab = server.connect().await;
    assert!(matches!(
        tab.resume(token).await,
        ServerFrame::Welcome {
            session_token: None,
            ..
        }
    ));
    // One more sign-in ends the least recently used session: the open tab's.
    let mut newest = server.logged_in("alice").await;
    expect_session_ended(&mut tab).await;
    assert_eq!(resume(&server, token).await, Err(ErrorCode::SessionExpired));
    assert_eq!(
        stored_sessions(&mut newest).await.len(),
        MAX_SESSIONS_PER_ACCOUNT
    );
    server.stop().await;
}

#[tokio::test]
async fn a_login_refused_for_the_open_connections_cap_ends_no_stored_session() {
    let (_dir, data) = crate::support::data_dir();
    let token = sessions_at_the_cap_the_first_least_recently_used(&data).await;
    let web = tempfile::tempdir().unwrap();
    let mut config = merpati_server::Config::new(&data, web.path());
    config.max_sessions_per_account = 1;
    let server = TestServer::start_with(config).await;
    // The account's one open connection, on its least recently used stored session.
    let mut tab = server.connect().await;
    assert!(matches!(
        tab.resume(token).await,
        ServerFrame::Welcome { .. }
    ));

    let mut refused = server.connect().await;
    match refused.login("alice", &key("alice")).await {
        ServerFrame::Error {
            code: ErrorCode::LimitReached,
            ..
        } => {}
        other => panic!("expected LimitReached, got {other:?}"),
    }
    // The refused login made no session, so it ended none: the tab goes on, its session
    // and the other stored ones all kept.
    tab.expect_nothing_before_a_sentinel().await;
    let mut sessions = stored_sessions(&mut tab).await;
    assert_eq!(sessions.len(), MAX_SESSIONS_PER_ACCOUNT);
    sessions.retain(|current| *current);
    assert_eq!(sessions, vec![true]);
    server.stop().await;
}

/// Sends a sign-out proof on a new connection; what the server said, and how it closed.
async fn sign_out(
    server: &TestServer,
    proof: [u8; 32],
) -> (
    Vec<ServerFrame>,
    Option<tokio_tungstenite::tungstenite::protocol::CloseFrame>,
) {
    let mut sender = server.connect().await;
    sender
        .send(&ClientFrame::Authenticate {
            version: PROTOCOL_VERSION,
            method: AuthMethod::SignOut { proof },
        })
        .await;
    sender.until_closed().await
}

#[tokio::test]
async fn a_sign_out_proof_ends_its_session_and_cannot_resume_it() {
    let server = TestServer::start().await;
    let (mut tab, me, token) = server.signed_up("alice").await;
    let device = Device::new("alice", me.id);
    tab.publish_device(&device).await;
    let (mut other, _, other_token) = server.signed_up("bob").await;
    let proof = sign_out_proof(&token);

    // The proof is not a token.
    assert_eq!(resume(&server, proof).await, Err(ErrorCode::SessionExpired));
    // Sent on a connection of its own, before any sign-in: the session ends.
    let (frames, close) = sign_out(&server, proof).await;
    assert_eq!(frames, vec![ServerFrame::SignedOut]);
    assert_eq!(close.map(|close| u16::from(close.code)), Some(1000));
    // Its open connection is told and closed; its token is refused; its device is gone.
    expect_session_ended(&mut tab).await;
    assert_eq!(resume(&server, token).await, Err(ErrorCode::SessionExpired));
    let mut again = server.logged_in("alice").await;
    assert!(again.query_keys(&[me.id]).await[0].devices.is_empty());
    // Sent again (the browser did not hear the answer): answered the same, nothing else ends.
    assert_eq!(
        sign_out(&server, proof).await.0,
        vec![ServerFrame::SignedOut]
    );
    assert_eq!(resume(&server, other_token).await, Ok(None));
    other.expect_nothing_before_a_sentinel().await;
    server.stop().await;
}

#[tokio::test]
async fn the_proof_of_a_token_one_rotation_old_still_ends_its_session() {
    let (_dir, data) = crate::support::data_dir();
    let server = TestServer::start_in(&data).await;
    let (_, _, first) = server.signed_up("alice").await;
    server.stop().await;
    rotation_due(&data, "alice");

    let server = TestServer::start_in(&data).await;
    // Another tab resumed and was given the next token; this tab (or one whose `Welcome`
    // was lost) still holds the first, which still resumes the session: it must end it too.
    let second = resume(&server, first)
        .await
        .unwrap()
        .expect("a day-old token rotates");
    let mut tab = server.connect().await;
    tab.resume(second).await;
    assert_eq!(
        sign_out(&server, sign_out_proof(&first)).await.0,
        vec![ServerFrame::SignedOut]
    );
    expect_session_ended(&mut tab).await;
    assert_eq!(
        resume(&server, second).await,
        Err(ErrorCode::SessionExpired)
    );
    assert_eq!(resume(&server, first).await, Err(ErrorCode::SessionExpired));
    server.stop().await;
}

#[tokio::test]
async fn a_resume_refused_at_the_session_cap_keeps_its_session_even_when_its_token_rotated() {
    let (_dir, data) = crate::support::data_dir();
    let web = tempfile::tempdir().unwrap();
    let with_cap_of_one = || {
        let mut config = merpati_server::Config::new(&data, web.path());
        config.max_sessions_per_account = 1;
        config
    };
    let server = TestServer::start_with(with_cap_of_one()).await;
    let (_, _, token) = server.signed_up("alice").await;
    server.stop().await;
    rotation_due(&data, "alice");

    // Another browser holds the account's one connection; this one's resume rotates its
    // token and is then refused for the cap.
    let server = TestServer::start_with(with_cap_of_one()).await;
    let other = server.logged_in("alice").await;
    assert_eq!(resume(&server, token).await, Err(ErrorCode::LimitReached));
    // Once the other browser has gone, it resumes: its session was kept.
    drop(other);
    let mut resumed = None;
    for _ in 0..200 {
        match resume(&server, token).await {
            Err(ErrorCode::LimitReached) => {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            outcome => {
                resumed = Some(outcome);
                break;
            }
        }
    }
    let outcome = resumed.expect("the other browser's connection was never seen to go");
    assert!(matches!(outcome, Ok(Some(_))), "{outcome:?}");
    server.stop().await;
}

#[tokio::test]
async fn a_session_is_listed_with_the_browser_and_system_it_signed_in_from() {
    let (_dir, data) = crate::support::data_dir();
    let server = TestServer::start_in(&data).await;
    let (mut first, _, _) = server.signed_up("alice").await;
    let phone = ConnectOptions {
        user_agent: Some(
            "Mozilla/5.0 (Android 14; Mobile; rv:132.0) Gecko/132.0 Firefox/132.0".to_owned(),
        ),
        ..ConnectOptions::default()
    };
    let mut on_phone = Client::connect_with(&server.endpoint(), &phone).await;
    assert!(matches!(
        on_phone.login("alice", &key("alice")).await,
        ServerFrame::Welcome { .. }
    ));
    let sessions = match first
        .request(|request| ClientFrame::ListSessions { request })
        .await
    {
        ServerFrame::Sessions { sessions, .. } => sessions,
        other => panic!("expected Sessions, got {other:?}"),
    };
    let clients: Vec<(bool, Option<ClientKind>)> = sessions
        .into_iter()
        .map(|session| (session.current, session.client))
        .collect();
    assert_eq!(
        clients,
        vec![
            // Newest use first: the phone, then this connection, whose client sent no
            // User-Agent and so is not named.
            (
                false,
                Some(ClientKind {
                    browser: "Firefox".to_owned(),
                    system: "Android".to_owned(),
                })
            ),
            (true, None),
        ]
    );
    // The header itself is not kept: only the two words are in the database.
    server.stop().await;
    for entry in std::fs::read_dir(&data).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap_or_default();
        assert!(
            !bytes
                .windows(b"Gecko/132".len())
                .any(|window| window == b"Gecko/132"),
            "the User-Agent was written to disk"
        );
    }
}
