//! The key backup: a new device of the account reads earlier history from it, and a sibling
//! that got a session late does not put its worse copy in place of the better one.

use std::collections::BTreeMap;

use merpati_core::e2e::Opened;

use super::{CHAT, Pair, keys_of, members, pair, share, text, written};

#[test]
fn a_new_device_of_the_account_reads_earlier_history_from_the_backup() {
    let Pair {
        alice,
        bob,
        mut alice_device,
        mut bob_device,
    } = pair();
    bob_device.ensure_outbound(CHAT, &members(&[&alice, &bob]), 10);
    share(&mut bob_device, &mut alice_device);
    let message = written(&mut bob_device, bob.user, 1, "old news");
    assert_eq!(
        alice_device.open(&message),
        Opened::Content(text("old news"))
    );

    let backup = alice_device.backup_pending(100);
    assert!(!backup.is_empty());
    let (sessions, entries): (Vec<String>, Vec<_>) = backup.into_iter().unzip();
    alice_device.mark_backed_up(&sessions);
    assert!(alice_device.backup_pending(100).is_empty());

    let mut new_browser = alice.device();
    new_browser.on_keys(
        vec![
            keys_of(&alice, &[&alice_device]),
            keys_of(&bob, &[&bob_device]),
        ],
        20,
    );
    assert!(matches!(new_browser.open(&message), Opened::Waiting { .. }));
    assert!(!new_browser.import_backup(&entries).is_empty());
    assert_eq!(
        new_browser.open(&message),
        Opened::Content(text("old news"))
    );

    // Someone else's backup (another passphrase) does not open.
    let mut bobs_other = bob.device();
    assert!(bobs_other.import_backup(&entries).is_empty());
}

#[test]
fn a_session_a_sibling_got_later_does_not_replace_the_earlier_copy_in_the_backup() {
    let Pair {
        alice,
        bob,
        mut alice_device,
        mut bob_device,
    } = pair();
    let mut alice_tablet = alice.device();
    let everyone = vec![
        keys_of(&alice, &[&alice_device, &alice_tablet]),
        keys_of(&bob, &[&bob_device]),
    ];
    bob_device.on_keys(everyone.clone(), 20);
    alice_tablet.on_keys(everyone, 20);
    // The phone has bob's session from its first message; the tablet only from the second.
    bob_device.ensure_outbound(CHAT, &members(&[&alice, &bob]), 10);
    share(&mut bob_device, &mut alice_device);
    let first = written(&mut bob_device, bob.user, 1, "pertama");
    share(&mut bob_device, &mut alice_tablet);
    let second = written(&mut bob_device, bob.user, 2, "kedua");
    assert!(matches!(alice_tablet.open(&first), Opened::Waiting { .. }));

    // Both back the session up; the server keeps one entry per id, the later in its place.
    let mut backup = BTreeMap::new();
    for device in [&mut alice_device, &mut alice_tablet] {
        let pending = device.backup_pending(100);
        let (sessions, entries): (Vec<String>, Vec<_>) = pending.into_iter().unzip();
        device.mark_backed_up(&sessions);
        for entry in entries {
            backup.insert(entry.id, entry);
        }
    }

    // A new browser of alice's reads the backup: it opens both.
    let mut new_browser = alice.device();
    new_browser.on_keys(vec![keys_of(&bob, &[&bob_device])], 30);
    let entries: Vec<_> = backup.into_values().collect();
    assert!(!new_browser.import_backup(&entries).is_empty());
    assert_eq!(new_browser.open(&first), Opened::Content(text("pertama")));
    assert_eq!(new_browser.open(&second), Opened::Content(text("kedua")));
}

#[test]
fn an_earlier_copy_that_comes_while_a_later_one_is_being_backed_up_is_backed_up_too() {
    let Pair {
        alice,
        bob,
        mut alice_device,
        mut bob_device,
    } = pair();
    bob_device.ensure_outbound(CHAT, &members(&[&alice, &bob]), 10);
    let first = written(&mut bob_device, bob.user, 1, "pertama");
    // Alice's device gets bob's session from its second index, and writes that copy to the
    // backup.
    share(&mut bob_device, &mut alice_device);
    assert!(matches!(alice_device.open(&first), Opened::Waiting { .. }));
    let (being_written, _): (Vec<String>, Vec<_>) =
        alice_device.backup_pending(100).into_iter().unzip();

    // Meanwhile bob shares it again from its first index (owed to someone who joined).
    let alice_only = [alice_device.device()].into();
    let shared = bob_device.share_outbound_from(CHAT, &alice_only, Some(0));
    let room_key = alice_device
        .open_to_device(bob_device.device(), &shared[0].body)
        .expect("the share opens");
    assert!(alice_device.accept_room_key(bob_device.device(), &room_key));
    assert_eq!(alice_device.open(&first), Opened::Content(text("pertama")));

    // The server stored the later copy: the earlier one is still to be written, and a new
    // browser of alice's reading it opens the first message.
    alice_device.mark_backed_up(&being_written);
    let (_, entries): (Vec<String>, Vec<_>) = alice_device.backup_pending(100).into_iter().unzip();
    let mut new_browser = alice.device();
    new_browser.on_keys(vec![keys_of(&bob, &[&bob_device])], 30);
    assert!(!new_browser.import_backup(&entries).is_empty());
    assert_eq!(new_browser.open(&first), Opened::Content(text("pertama")));
}
