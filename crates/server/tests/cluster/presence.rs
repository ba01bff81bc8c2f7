//! Presence across the processes, as each side allows (also when word of a privacy change is
//! lost), and of an account whose process dies without a word.

use merpati_protocol::{ClientFrame, Presence, ServerFrame};
use merpati_testkit::ServerOptions;

use super::Shared;
use crate::support::Client;

/// Reads `watcher`'s frames until `user`'s presence is `wanted`, passing over the presence
/// frames `passable` allows (what the watcher may see again, or on the way) and nothing else.
async fn until_presence(
    watcher: &mut Client,
    user: merpati_protocol::UserId,
    wanted: impl Fn(&Presence) -> bool,
    passable: impl Fn(&Presence) -> bool,
) -> Presence {
    loop {
        match watcher.recv().await {
            ServerFrame::Presence { user: of, presence } if of == user && wanted(&presence) => {
                return presence;
            }
            ServerFrame::Presence { user: of, presence } if of == user && passable(&presence) => {}
            other => panic!("expected {user:?}'s presence, got {other:?}"),
        }
    }
}

fn online(presence: &Presence) -> bool {
    *presence == Presence::Online
}

fn last_seen(presence: &Presence) -> bool {
    matches!(presence, Presence::LastSeen { .. })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_crosses_processes_as_each_side_allows() {
    let shared = Shared::start().await;
    // Head checks a minute apart: what arrives comes from the presence news alone.
    let one = shared.process_checking_every(60_000).await;
    let other = shared.process_checking_every(60_000).await;
    let (mut alice, alice_me, _) = one.signed_up("alice").await;
    let (mut bob, ..) = other.signed_up("bob").await;
    let chat = alice.direct("bob").await.id;
    assert_eq!(bob.expect_pushed_chat().await.id, chat);

    // bob opens their chat: alice is online, on the other process. His process may answer
    // before alice's has told it (as last seen), never anything else.
    bob.send(&ClientFrame::WatchPresence {
        user: Some(alice_me.id),
    })
    .await;
    until_presence(&mut bob, alice_me.id, online, last_seen).await;

    // alice closes her app: bob sees when she was last seen.
    drop(alice);
    let gone = until_presence(&mut bob, alice_me.id, last_seen, online).await;
    assert!(
        matches!(gone, Presence::LastSeen { at_ms } if at_ms > 0),
        "{gone:?}"
    );

    // She comes back, on her process, and then stops sharing her presence.
    let mut alice = one.logged_in("alice").await;
    until_presence(&mut bob, alice_me.id, online, |_| false).await;
    alice.set_privacy(true, false).await;
    let hidden = |presence: &Presence| *presence == Presence::Hidden;
    until_presence(&mut bob, alice_me.id, hidden, |_| false).await;
    bob.expect_nothing_before_a_sentinel().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_on_a_process_that_dies_is_last_seen_after_a_few_head_checks() {
    let shared = Shared::start().await;
    let mut doomed = shared.binary_alone(ServerOptions::new()).await;
    let survivor = shared.binary_alone(ServerOptions::new()).await;
    let (mut alice, alice_me, _) = Client::signed_up(&doomed.endpoint(), "alice").await;
    let (mut bob, ..) = Client::signed_up(&survivor.endpoint(), "bob").await;
    let chat = alice.direct("bob").await.id;
    assert_eq!(bob.expect_pushed_chat().await.id, chat);
    bob.send(&ClientFrame::WatchPresence {
        user: Some(alice_me.id),
    })
    .await;
    until_presence(&mut bob, alice_me.id, online, last_seen).await;

    // Her process dies without a word: it stops answering the survivor's head checks, and
    // after a few of them she no longer counts as online.
    doomed.kill();
    until_presence(&mut bob, alice_me.id, last_seen, online).await;
    bob.expect_nothing_before_a_sentinel().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_hidden_on_a_process_whose_word_was_lost_is_hidden_after_a_head_check() {
    let shared = Shared::start().await;
    // alice's process never pushes to accounts, nor says that her privacy changed: bob's
    // process learns of it only from the database, at a head check.
    let (one, other) = shared.losing_and_plain("all").await;
    let (mut alice, alice_me, _) = Client::signed_up(&one.endpoint(), "alice").await;
    let (mut bob, ..) = Client::signed_up(&other.endpoint(), "bob").await;
    let chat = bob.direct("alice").await.id;
    assert_eq!(alice.expect_pushed_chat().await.id, chat);
    bob.send(&ClientFrame::WatchPresence {
        user: Some(alice_me.id),
    })
    .await;
    until_presence(&mut bob, alice_me.id, online, last_seen).await;

    alice.set_privacy(true, false).await;
    // No word came: bob's process reads the change at a head check and tells him what he
    // may see now (passing over her being online again, which his process may have told him
    // twice, as its answer and as news from hers).
    let hidden = |presence: &Presence| *presence == Presence::Hidden;
    until_presence(&mut bob, alice_me.id, hidden, online).await;
    bob.expect_nothing_before_a_sentinel().await;
    alice.expect_nothing_before_a_sentinel().await;
}
