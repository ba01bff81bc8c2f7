//! A group with more devices than one request may name: the key flow claims their keys a
//! request at a time, and every device gets the chat's key before the message goes.

use merpati_core::crypto::{AccountKey, KdfParams};
use merpati_core::e2e::DeviceCrypto;
use merpati_protocol::{
    ChatId, ChatInfo, ChatKind, ClientFrame, MAX_DEVICES, MAX_KEY_REQUEST, Seq, ServerFrame, UserId,
};

use crate::support::alice::{ALICE, BOB, member, name, published_alice, sent_ids};

const GROUP: ChatId = ChatId(30);

#[test]
fn a_group_of_more_devices_than_one_claim_may_name_gets_the_key_on_every_one() {
    let (mut engine, mut net) = published_alice();
    // Nine more people (bob's own device aside) with every device an account may have.
    let people: Vec<UserId> = (10..19).map(UserId).collect();
    let mut devices = Vec::new();
    for &user in &people {
        let key = AccountKey::derive(
            &name(&format!("user{}", user.0)),
            "correct horse battery",
            None,
            KdfParams::FAST_INSECURE,
        )
        .expect("derives");
        net.keys
            .register(user, *key.auth_key().public_key().as_bytes());
        for _ in 0..MAX_DEVICES {
            let mut device =
                DeviceCrypto::new(user, &key.auth_key(), key.backup_key()).expect("randomness");
            let (one_time_keys, fallback_key) = device.unpublished_keys();
            net.keys.handle(
                user,
                &mut None,
                &ClientFrame::PublishKeys {
                    device: device.device_keys(),
                    device_proof: Some(device.device_proof(&[0; 32])),
                    one_time_keys,
                    fallback_key,
                },
            );
            devices.push(device.device());
        }
    }
    assert!(devices.len() > MAX_KEY_REQUEST);
    let mut members = vec![member(ALICE, "alice"), member(BOB, "bob")];
    members.extend(
        people
            .iter()
            .map(|user| member(*user, &format!("user{}", user.0))),
    );
    engine.handle_frame(ServerFrame::Chat {
        request: None,
        chat: ChatInfo {
            id: GROUP,
            kind: ChatKind::Group,
            title: "kampung".into(),
            members,
            head: Seq(0),
            read: Seq(0),
            created_ms: 1_000,
            admins: vec![ALICE],
            receipts: Vec::new(),
        },
    });
    let written = engine
        .send_text(GROUP, "halo semua", 1_000)
        .expect("a text");
    let step = net.serve(&mut engine);
    assert_eq!(sent_ids(&step.frames), [written], "{:?}", step.frames);
    for device in devices {
        assert!(
            !net.keys.queued_for(device.device).is_empty(),
            "every device was sent the key"
        );
    }
}
