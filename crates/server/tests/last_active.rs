//! When each session was last active, as the devices screen lists it: a session connected
//! now is active now, and one that closed was active until it closed — not only when it
//! signed in or its token last rotated, which a browser open for days does once a day at
//! most, and one connected for a month straight never.

use std::time::Duration;

use merpati_protocol::sessions::SessionInfo;
use merpati_protocol::{ClientFrame, ServerFrame};
use merpati_testkit::poll::poll_until;

use crate::support::{Client, TestServer};

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as u64)
}

/// Returns once the clock has passed `at_ms`.
async fn past(at_ms: u64) {
    while now_ms() <= at_ms {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// The other session of the account, as `client` lists its sessions.
async fn the_other_session(client: &mut Client) -> SessionInfo {
    match client
        .request(|request| ClientFrame::ListSessions { request })
        .await
    {
        ServerFrame::Sessions { sessions, .. } => sessions
            .into_iter()
            .find(|session| !session.current)
            .expect("the other session"),
        other => panic!("expected Sessions, got {other:?}"),
    }
}

#[tokio::test]
async fn a_session_is_active_now_while_connected_and_until_it_closed_after() {
    let server = TestServer::start().await;
    let (mut phone, _, _) = server.signed_up("alice").await;
    let laptop = server.logged_in("alice").await;
    let signed_in = now_ms();
    past(signed_in).await;

    // The laptop is connected: active now, not when it signed in.
    let listed_from = now_ms();
    let laptop_session = the_other_session(&mut phone).await;
    assert!(
        laptop_session.last_used_ms >= listed_from,
        "{laptop_session:?}, listed at {listed_from}"
    );

    // The laptop closes; listed later, it was last active when it closed.
    let closed_from = now_ms();
    drop(laptop);
    poll_until(
        "the laptop's connection gone",
        Duration::from_secs(10),
        || async {
            let open = server.metrics().await["merpati_connections_open"];
            (open == 1.0).then_some(())
        },
    )
    .await
    .unwrap();
    past(now_ms()).await;
    let later = now_ms();
    // Written in the background once the connection is gone: asked until it is.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let last_active = loop {
        let session = the_other_session(&mut phone).await;
        if session.last_used_ms >= closed_from {
            break session.last_used_ms;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "its close never written: {session:?}, closed at {closed_from}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(
        last_active < later,
        "not active now: {last_active}, listed at {later}"
    );
}
