//! What every device must show, computed from the server's log and what each message said by
//! the rules written out again (`expected_view`), and the status the server's receipts give
//! each own message; and the check that every device converged to it.

use std::collections::BTreeMap;

use merpati_core::{MessageLock, MessageStatus};
use merpati_protocol::{ClientMsgId, MessageFrame, Receipt, Seq, UserId, content::MessageContent};
use merpati_words::Text;

use crate::CHAT;
use crate::world::World;

/// A message as the rules make it of the server's log: (id, text, edited, deleted, reactions
/// as (emoji, who) sorted).
type Expected = (ClientMsgId, String, bool, bool, Vec<(String, Vec<UserId>)>);

/// What every device must show, computed from the server's log and what each message said —
/// the rules of `merpati_core::annotations` written out again, by a different route: per
/// target, the log in sequence order.
fn expected_view(world: &World) -> Vec<Expected> {
    let log = &world.server.log;
    let content = |message: &MessageFrame| world.contents.get(&message.client_msg_id);
    let mut shown = Vec::new();
    for target in log {
        let Some(MessageContent::Text { text }) = content(target) else {
            continue;
        };
        let (mut text, mut edited, mut deleted) = (text.clone(), false, false);
        let mut reactions: BTreeMap<UserId, String> = BTreeMap::new();
        for later in log.iter().filter(|later| later.seq > target.seq) {
            let by_sender = later.sender == target.sender;
            match content(later) {
                _ if deleted => {}
                Some(MessageContent::Edit {
                    target: id,
                    text: new,
                }) if *id == target.client_msg_id && by_sender => {
                    text = new.clone();
                    edited = true;
                }
                Some(MessageContent::Delete { target: id })
                    if *id == target.client_msg_id && by_sender =>
                {
                    deleted = true;
                }
                Some(MessageContent::Reaction { target: id, emoji })
                    if *id == target.client_msg_id =>
                {
                    match emoji {
                        Some(emoji) => reactions.insert(later.sender, emoji.clone()),
                        None => reactions.remove(&later.sender),
                    };
                }
                _ => {}
            }
        }
        if deleted {
            (text, edited) = (Text::MessageDeleted.english().to_owned(), false);
            reactions.clear();
        }
        let mut by_emoji: BTreeMap<String, Vec<UserId>> = BTreeMap::new();
        for (user, emoji) in reactions {
            by_emoji.entry(emoji).or_default().push(user);
        }
        shown.push((
            target.client_msg_id,
            text,
            edited,
            deleted,
            by_emoji.into_iter().collect(),
        ));
    }
    shown
}

/// The status the server's receipts give a message of `sender`'s at `seq`.
fn expected_status(world: &World, sender: UserId, seq: Seq) -> MessageStatus {
    let others: Vec<Receipt> = world
        .server
        .members
        .iter()
        .filter(|member| member.id != sender)
        .map(|member| {
            world
                .server
                .receipts
                .get(&member.id)
                .copied()
                .unwrap_or(Receipt::none(member.id))
        })
        .collect();
    if others.iter().all(|receipt| receipt.read >= seq) {
        MessageStatus::Read
    } else if others.iter().all(|receipt| receipt.delivered >= seq) {
        MessageStatus::Delivered
    } else {
        MessageStatus::Sent
    }
}

pub(crate) fn check_converged(world: &World) {
    let server_ids: Vec<ClientMsgId> = world
        .server
        .log
        .iter()
        .map(|m| m.client_msg_id)
        .filter(|id| world.texts.contains_key(id))
        .collect();
    let mut written = world.written.clone();
    written.sort();
    let mut stored = server_ids.clone();
    stored.sort();
    assert_eq!(
        stored, written,
        "every message written is stored exactly once"
    );
    assert_eq!(
        world.server.log.len(),
        world.contents.len(),
        "every action too"
    );
    let expected = expected_view(world);
    for (index, device) in world.devices.iter().enumerate() {
        let items = device.engine.timeline(CHAT);
        let ids: Vec<ClientMsgId> = items.iter().map(|item| item.client_msg_id).collect();
        assert_eq!(
            ids, server_ids,
            "device {index} shows the server's order, once each, and no action as a message"
        );
        let seqs: Vec<Option<Seq>> = items.iter().map(|item| item.seq).collect();
        let expected_seqs: Vec<Option<Seq>> = world
            .server
            .log
            .iter()
            .filter(|message| world.texts.contains_key(&message.client_msg_id))
            .map(|message| Some(message.seq))
            .collect();
        assert_eq!(seqs, expected_seqs);
        assert!(
            items
                .iter()
                .all(|item| item.status != MessageStatus::Pending),
            "nothing pending"
        );
        let shown: Vec<Expected> = items
            .iter()
            .map(|item| {
                (
                    item.client_msg_id,
                    item.text.clone(),
                    item.edited,
                    item.deleted,
                    item.reactions
                        .iter()
                        .map(|reaction| {
                            let mut who: Vec<UserId> =
                                reaction.people.iter().map(|person| person.id).collect();
                            who.sort();
                            (reaction.emoji.clone(), who)
                        })
                        .collect::<BTreeMap<_, _>>()
                        .into_iter()
                        .collect(),
                )
            })
            .collect();
        assert_eq!(
            shown, expected,
            "device {index} folds every action the same way"
        );
        for item in &items {
            assert_eq!(
                item.lock,
                MessageLock::Open,
                "device {index} opened {item:?}"
            );
            if item.own {
                let seq = item.seq.expect("confirmed");
                assert_eq!(
                    item.status,
                    expected_status(world, device.me.id, seq),
                    "device {index}: the receipts of {:?}",
                    item.client_msg_id
                );
            }
        }
        assert_eq!(device.engine.pending_count(), 0);
    }
}
