//! Group administration as the engine checks it before asking the server: only admins add,
//! remove, rename and promote, with words for everyone else; anyone may leave. And a group
//! left or lost while the device was away is held as such once a sync no longer names it.

use merpati_core::{Engine, MemoryStore, RequestError};
use merpati_protocol::{ChatId, ChatInfo, ChatKind, ClientFrame, Epoch, ServerFrame, UserId};

use crate::support::alice::{
    ALICE, BOB, CHAT, apply, chat_info, member, online_alice, reconnect, reload, take_frames,
};

const GROUP: ChatId = ChatId(11);
const CAROL: UserId = UserId(3);

/// Alice, bob and carol's group, run by `admins`.
fn group(admins: Vec<UserId>) -> ChatInfo {
    let mut group = chat_info(1);
    group.id = GROUP;
    group.kind = ChatKind::Group;
    group.title = "keluarga".into();
    group.members.push(member(CAROL, "carol"));
    group.admins = admins;
    group
}

fn alice_in_group(admins: Vec<UserId>) -> Engine {
    let mut engine = online_alice();
    engine.handle_frame(ServerFrame::Chat {
        request: None,
        chat: group(admins),
    });
    let _ = engine.take_step();
    engine
}

#[test]
fn a_member_who_is_not_an_admin_is_refused_with_words_and_nothing_is_sent() {
    let mut engine = alice_in_group(vec![BOB]);
    assert!(!engine.am_admin(GROUP));
    assert!(engine.is_admin(GROUP, BOB));
    let refused = [
        engine.add_member(GROUP, "dewi"),
        engine.remove_member(GROUP, CAROL),
        engine.rename_group(GROUP, "keluarga besar"),
        engine.set_admin(GROUP, CAROL, true),
        engine.set_admin(GROUP, ALICE, true),
        engine.set_admin(GROUP, BOB, false),
    ];
    for result in refused {
        assert_eq!(result, Err(RequestError::NotAdmin));
    }
    assert_eq!(
        RequestError::NotAdmin.to_string(),
        "Only the group's admins can do that"
    );
    assert!(
        engine.take_step().is_empty(),
        "nothing sent, stored or shown"
    );

    // Leaving is everyone's to do.
    let request = engine.leave(GROUP).expect("allowed");
    assert_eq!(
        take_frames(&mut engine),
        vec![ClientFrame::RemoveMember {
            request,
            chat_id: GROUP,
            user: ALICE
        }]
    );
}

#[test]
fn an_admin_runs_the_group_until_the_role_is_taken_back() {
    let mut engine = alice_in_group(vec![BOB]);
    engine.handle_frame(ServerFrame::Chat {
        request: None,
        chat: group(vec![BOB, ALICE]),
    });
    let _ = engine.take_step();
    assert!(engine.am_admin(GROUP));
    let rename = engine
        .rename_group(GROUP, "  keluarga besar ")
        .expect("an admin");
    let promote = engine.set_admin(GROUP, CAROL, true).expect("an admin");
    assert_eq!(
        take_frames(&mut engine),
        vec![
            ClientFrame::RenameGroup {
                request: rename,
                chat_id: GROUP,
                title: "keluarga besar".into()
            },
            ClientFrame::SetAdmin {
                request: promote,
                chat_id: GROUP,
                user: CAROL,
                admin: true
            }
        ]
    );
    // Still checked, with words, for what the server would refuse anyway.
    assert_eq!(
        engine.add_member(GROUP, "carol"),
        Err(RequestError::AlreadyMember)
    );
    assert_eq!(
        engine.remove_member(GROUP, UserId(9)),
        Err(RequestError::NotInGroup)
    );
    assert_eq!(
        engine.rename_group(GROUP, "   "),
        Err(RequestError::EmptyTitle)
    );

    engine.handle_frame(ServerFrame::Chat {
        request: None,
        chat: group(vec![BOB]),
    });
    assert_eq!(
        engine.rename_group(GROUP, "lagi"),
        Err(RequestError::NotAdmin)
    );
}

#[test]
fn a_one_to_one_chat_has_no_admins_and_a_former_member_cannot_act() {
    let mut engine = alice_in_group(vec![ALICE]);
    assert_eq!(
        engine.rename_group(CHAT, "kami"),
        Err(RequestError::NotAGroup)
    );
    assert!(!engine.am_admin(CHAT));
    let mut without_alice = group(vec![ALICE]);
    without_alice.members.retain(|member| member.id != ALICE);
    engine.handle_frame(ServerFrame::Chat {
        request: None,
        chat: without_alice,
    });
    let _ = engine.take_step();
    assert_eq!(engine.leave(GROUP), Err(RequestError::NotAMember));
    assert_eq!(
        engine.add_member(GROUP, "dewi"),
        Err(RequestError::NotAMember)
    );
    assert!(take_frames(&mut engine).is_empty());
}

#[tokio::test]
async fn a_group_lost_while_away_is_held_as_left_once_a_sync_no_longer_names_it() {
    let store = MemoryStore::new();
    let mut engine = alice_in_group(vec![ALICE]);
    engine.handle_frame(ServerFrame::Chat {
        request: None,
        chat: group(vec![ALICE]),
    });
    apply(&store, engine.take_step().writes).await;
    assert!(engine.is_member(GROUP) && engine.am_admin(GROUP));

    // Bob took her out while her device was away: only the sessions online then were told.
    // The next sync names her 1:1 chat and not the group.
    reconnect(&mut engine, Epoch(7));
    engine.handle_frame(ServerFrame::Chat {
        request: None,
        chat: chat_info(0),
    });
    engine.handle_frame(ServerFrame::SyncDone);
    assert!(!engine.is_member(GROUP), "held as left");
    assert!(!engine.am_admin(GROUP));
    assert!(engine.is_member(CHAT), "the chat it named stays");
    apply(&store, engine.take_step().writes).await;
    assert!(!reload(&store).await.is_member(GROUP), "and so it stays");

    // A sync that names it again (added back meanwhile) makes her a member again.
    reconnect(&mut engine, Epoch(7));
    for chat in [chat_info(0), group(vec![BOB])] {
        engine.handle_frame(ServerFrame::Chat {
            request: None,
            chat,
        });
    }
    engine.handle_frame(ServerFrame::SyncDone);
    assert!(engine.is_member(GROUP));
}
