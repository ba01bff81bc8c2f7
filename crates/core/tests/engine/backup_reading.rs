//! A device new to the account reads the key backup through — the account's pins with it —
//! before it asks the server whose keys are whose: a read lost with its connection, cut off
//! by a reload or refused by the server is read again, never given up on, and a later read
//! starts where the last one ended.

use merpati_core::{Engine, MemoryStore};
use merpati_protocol::{ClientFrame, Epoch, ErrorCode, ServerFrame};

use crate::support::alice::{
    CHAT, Net, apply, caught_up_alice, published_alice, reconnect, reload, sent_ids,
};

/// Serves `engine` but for its backup reads, and returns the one it asked for.
fn held_backup_read(net: &mut Net, engine: &mut Engine) -> merpati_protocol::RequestId {
    let held = net.serve_holding(engine, |frame| {
        matches!(frame, ClientFrame::FetchBackup { .. })
    });
    held.frames
        .iter()
        .find_map(|frame| match frame {
            ClientFrame::FetchBackup { request, .. } => Some(*request),
            _ => None,
        })
        .expect("the backup is read first")
}

fn asks_keys(frames: &[ClientFrame]) -> bool {
    frames
        .iter()
        .any(|frame| matches!(frame, ClientFrame::QueryKeys { .. }))
}

#[test]
fn a_backup_read_lost_with_its_connection_is_read_again_and_then_messages_go_out() {
    let mut engine = caught_up_alice();
    let mut net = Net::new();
    held_backup_read(&mut net, &mut engine);

    reconnect(&mut engine, Epoch(7));
    engine.handle_frame(ServerFrame::SyncDone);
    let id = engine.send_text(CHAT, "halo", 10).expect("a text");
    assert_eq!(sent_ids(&net.serve(&mut engine).frames), [id]);
}

#[test]
fn a_backup_read_refused_by_the_server_is_read_again_later_before_anyones_keys_are_asked() {
    let (mut phone, mut net) = published_alice();
    phone.send_text(CHAT, "halo", 10).expect("a text");
    assert_eq!(sent_ids(&net.serve(&mut phone).frames).len(), 1);
    // The phone pinned bob's key and backed the pin up. The server now hands out another key
    // for bob, and refuses alice's new laptop its first read of the backup.
    let other_key = vodozemac::Ed25519SecretKey::new().public_key();
    net.keys
        .swap_account_key(crate::support::alice::BOB, *other_key.as_bytes());
    let mut laptop = caught_up_alice();
    net.alice_device = None;
    laptop.send_text(CHAT, "dari laptop", 20).expect("a text");
    let fetch = held_backup_read(&mut net, &mut laptop);
    laptop.handle_frame(ServerFrame::Error {
        request: Some(fetch),
        code: ErrorCode::TooManyRequests,
        detail: "too many requests".to_owned(),
    });
    let step = net.serve_holding(&mut laptop, |frame| {
        matches!(frame, ClientFrame::QueryKeys { .. })
    });
    assert!(
        !asks_keys(&step.frames) && sent_ids(&step.frames).is_empty(),
        "nobody's keys are taken from the server before the pins: {:?}",
        step.frames
    );

    // Later the read is tried again: the pin comes, and the other key is caught.
    laptop.advance_clock(120_000);
    let step = net.serve(&mut laptop);
    assert!(sent_ids(&step.frames).is_empty(), "{:?}", step.frames);
    assert!(
        laptop.key_change(CHAT).is_some(),
        "bob's new key is a change"
    );
}

#[tokio::test]
async fn a_reload_half_way_through_the_first_backup_read_reads_it_again_from_where_it_was() {
    let mut engine = caught_up_alice();
    let mut net = Net::new();
    held_backup_read(&mut net, &mut engine);
    let store = MemoryStore::new();
    apply(&store, net.alice_writes.clone()).await;

    let mut reloaded = reload(&store).await;
    reconnect(&mut reloaded, Epoch(7));
    reloaded.handle_frame(ServerFrame::SyncDone);
    let step = net.serve_holding(&mut reloaded, |frame| {
        matches!(
            frame,
            ClientFrame::QueryKeys { .. } | ClientFrame::FetchBackup { .. }
        )
    });
    assert!(
        step.frames
            .iter()
            .any(|frame| matches!(frame, ClientFrame::FetchBackup { after: 0, .. })),
        "{:?}",
        step.frames
    );
    assert!(!asks_keys(&step.frames), "{:?}", step.frames);
}
