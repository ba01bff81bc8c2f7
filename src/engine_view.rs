//! The engine's state as the page shows it: the bridge's [`View`], read from the [`Engine`].
//!
//! The page links no engine code, so everything it renders crosses the bridge in the
//! bridge's own types (`merpati_bridge::view`). This module is the one place that converts:
//! the engine's chat summaries, timeline items, members, connection phase and key changes
//! become rows in words (local times, usernames, the key-change sentence), in the language
//! the page speaks (`merpati_words`). The matches over
//! the engine's enums are exhaustive, so a new engine state fails to compile here rather than
//! showing wrongly.

use merpati_bridge::{
    AttachmentRow, ChatRow, ConnectionPhase, DeviceRow, LinkSpan, MemberRow, MessageLock,
    MessageReceipts, MessageRow, MessageStatus, Notifications, OpenChat, PreviewRow, Privacy,
    QuoteRow, ReactionRow, ReceiptRow, ReceiptState, SearchRow, View,
};
use merpati_core::search::SearchHit;
use merpati_core::{Engine, Person, ReactionSummary};
use merpati_protocol::content::Attachment;
use merpati_protocol::sessions::SessionInfo;
use merpati_protocol::{ChatId, ChatKind, ClientMsgId, UserId, Username};

use merpati_words::{Count, Text, t, tf, tn};

use crate::services::clock;

/// What the page shows, read from the engine; `open_chat` is the chat on screen, `receipts_for`
/// the message of it whose details are open, `now_ms` the clock typing signals expire by.
pub fn view_of(
    engine: &Engine,
    open_chat: Option<ChatId>,
    receipts_for: Option<ClientMsgId>,
    next_attempt_at_ms: Option<f64>,
    now_ms: u64,
) -> View {
    let privacy = engine.privacy();
    let device = engine.device_settings();
    View {
        chats: chat_rows(engine, now_ms),
        phase: phase_of(engine.connection_phase()),
        next_attempt_at_ms,
        pending: engine.pending_count(),
        me: engine.me().map(|me| me.username.to_string()),
        open_chat: open_chat.map(|chat| OpenChat {
            id: chat,
            title: engine.chat_title(chat).unwrap_or_default(),
            rows: message_rows(engine, chat),
            kind: engine.chat(chat).map(|info| info.kind),
            safety_number: engine.safety_number(chat),
            key_change: key_change_words(engine, chat),
            members: member_rows(engine, chat),
            is_member: engine.is_member(chat),
            typing: typing_names(engine, chat, now_ms),
            presence: engine.presence(chat),
            receipts: receipts_for.map(|id| receipt_rows(engine, chat, id)),
            am_admin: engine.am_admin(chat),
            blocked: direct_partner(engine, chat).is_some_and(|other| engine.is_blocked(other)),
            draft: engine.draft(chat).map(str::to_owned),
            draft_taken: engine.draft_taken(chat),
            reveal: None,
        }),
        notifications: Notifications {
            enabled: device.notify,
            hide_text: device.notify_hide_text,
            offer_declined: device.notify_offer_declined,
        },
        recent_emoji: engine.recent_emoji().to_vec(),
        skin_tone: engine.skin_tone().index(),
        privacy: Privacy {
            share_read_receipts: privacy.share_read_receipts,
            share_presence: privacy.share_presence,
        },
        devices: engine
            .devices()
            .map(|sessions| sessions.iter().map(|s| device_row(s, now_ms)).collect()),
    }
}

/// One place the account is signed in, in words: the browser and system it signed in from
/// ("Firefox on Android"), or, when its browser did not say, its device's key. The server
/// keeps when a session was last used to the day, so "today", "yesterday" or the date is
/// all there is to say.
fn device_row(session: &SessionInfo, now_ms: u64) -> DeviceRow {
    let name = match (&session.client, &session.device) {
        (Some(client), _) => tf(
            Text::BrowserOnSystem,
            &[("browser", &client.browser), ("system", &client.system)],
        ),
        (None, Some(device)) => tf(Text::BrowserDevice, &[("id", &hex_prefix(&device.0))]),
        (None, None) => t(Text::BrowserNoKeys),
    };
    let today = clock::local_date(now_ms);
    let yesterday = clock::local_date(now_ms.saturating_sub(DAY_MS));
    let last_day = clock::local_date(session.last_used_ms);
    let last_active = if session.current || last_day == today {
        t(Text::ActiveToday)
    } else if last_day == yesterday {
        t(Text::ActiveYesterday)
    } else {
        tf(Text::ActiveOn, &[("date", &last_day)])
    };
    DeviceRow {
        session: session.session,
        name,
        last_active,
        signed_in: tf(
            Text::SignedInOn,
            &[("date", &clock::local_date(session.created_ms))],
        ),
        current: session.current,
    }
}

const DAY_MS: u64 = 24 * 60 * 60 * 1000;

/// The first four bytes of a key in hex: enough to tell a person's few devices apart.
fn hex_prefix(bytes: &[u8]) -> String {
    bytes
        .iter()
        .take(4)
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// What a search found, as the results list shows it: chat, sender, time, and the text in
/// pieces marked where the query matched.
pub fn search_rows(engine: &Engine, hits: Vec<SearchHit>) -> Vec<SearchRow> {
    let me = engine.me().map(|me| me.id);
    hits.into_iter()
        .map(|hit| {
            let mut pieces = Vec::new();
            let mut at = 0;
            for matched in &hit.matched {
                if matched.start > at {
                    pieces.push((hit.text[at..matched.start].to_owned(), false));
                }
                pieces.push((hit.text[matched.clone()].to_owned(), true));
                at = matched.end;
            }
            if at < hit.text.len() {
                pieces.push((hit.text[at..].to_owned(), false));
            }
            SearchRow {
                chat: hit.chat_id,
                chat_title: engine.chat_title(hit.chat_id).unwrap_or_default(),
                seq: hit.seq,
                id: hit.id,
                sender: if Some(hit.sender) == me {
                    t(Text::You)
                } else {
                    name_in(engine, hit.chat_id, hit.sender)
                },
                time: clock::local_time(hit.sent_at_ms),
                pieces,
            }
        })
        .collect()
}

/// Who is typing in a chat at `now_ms`, by username.
pub fn typing_names(engine: &Engine, chat: ChatId, now_ms: u64) -> Vec<String> {
    engine
        .typing_in(chat, now_ms)
        .iter()
        .map(Username::to_string)
        .collect()
}

/// The other person of a 1:1 chat.
pub fn direct_partner(engine: &Engine, chat: ChatId) -> Option<UserId> {
    let me = engine.me().map(|me| me.id);
    let info = engine
        .chat(chat)
        .filter(|info| info.kind == ChatKind::Direct)?;
    info.members
        .iter()
        .map(|member| member.id)
        .find(|id| Some(*id) != me)
}

/// Each other member's receipt for one of this account's messages (its details).
pub fn receipt_rows(engine: &Engine, chat: ChatId, id: ClientMsgId) -> MessageReceipts {
    MessageReceipts {
        id: id.to_hex(),
        members: engine
            .message_receipts(chat, id)
            .into_iter()
            .map(|receipt| ReceiptRow {
                username: receipt
                    .person
                    .username
                    .map(|name| name.to_string())
                    .unwrap_or_else(|| t(Text::Someone)),
                state: match (receipt.delivered, receipt.read) {
                    (_, true) => ReceiptState::Read,
                    (true, false) => ReceiptState::Delivered,
                    (false, false) => ReceiptState::Sent,
                },
                read_at: receipt.read_at_ms.map(clock::local_time),
            })
            .collect(),
    }
}

/// The chats as the chat list shows them, latest activity first; `now_ms` times typing.
pub fn chat_rows(engine: &Engine, now_ms: u64) -> Vec<ChatRow> {
    let days = clock::ListDays::now();
    engine
        .chat_list()
        .into_iter()
        .map(|summary| ChatRow {
            typing: typing_names(engine, summary.id, now_ms),
            id: summary.id,
            title: summary.title,
            // Left or taken out, the row says so rather than the last line heard before: one
            // taken out hears no line of it, and the list is where they see it first.
            last_text: if summary.kind == ChatKind::Group && !engine.is_member(summary.id) {
                Some(t(Text::NoLongerMember))
            } else {
                summary.last_text
            },
            last_time: match summary.last_activity_ms {
                0 => String::new(),
                at => days.time_of(at),
            },
            last_received_from: summary
                .last_received
                .as_ref()
                .filter(|_| summary.kind == ChatKind::Group)
                .map(|(sender, _)| name_in(engine, summary.id, *sender)),
            last_received: summary.last_received.map(|(_, text)| text),
            unread: summary.unread,
            draft: summary.draft,
            muted: engine.is_muted(summary.id),
        })
        .collect()
}

/// A chat's messages as the message list shows them, each day's first with its day, and the
/// first that was unread when the chat came on screen with the unread divider.
pub fn message_rows(engine: &Engine, chat: ChatId) -> Vec<MessageRow> {
    let group = engine
        .chat(chat)
        .is_some_and(|info| info.kind == ChatKind::Group);
    let days = clock::ListDays::now();
    let mut previous_day = None;
    let mut unread_divider = engine.unread_divider(chat);
    engine
        .timeline(chat)
        .into_iter()
        .map(|item| {
            let (time, day) = days.message_time(item.sent_at_ms);
            MessageRow {
                day: (previous_day.replace(day) != Some(day)).then(|| days.day_of(item.sent_at_ms)),
                // Above the first message that was unread, or the next one should it be gone.
                unread_from_here: unread_divider
                    .take_if(|divider| item.seq.is_some_and(|seq| seq >= divider.first))
                    .map(|divider| tn(Count::Unread, divider.count as u64, &[])),
                links: if item.lock == merpati_core::MessageLock::Open
                    && !item.deleted
                    && item.system.is_none()
                {
                    links_in(&item.text)
                } else {
                    Vec::new()
                },
                // A copy the server delivered again carries the id of the message it copies:
                // a row of its own, named apart, or the list would take one for the other.
                id: match item.seq {
                    Some(seq) if engine.is_replayed_copy(chat, seq) => {
                        format!("{}-{}", item.client_msg_id.to_hex(), seq.0)
                    }
                    _ => item.client_msg_id.to_hex(),
                },
                status: status_of(item.status),
                own: item.own,
                sender: (group && !item.own && item.system.is_none())
                    .then(|| name_in(engine, chat, item.sender)),
                time,
                lock: lock_of(item.lock),
                text: item.text,
                quote: item.quote.map(|quote| QuoteRow {
                    target: quote.target.to_hex(),
                    sender: name_in(engine, chat, quote.sender),
                    text: quote.text,
                }),
                forwarded: item.forwarded,
                edited: item.edited,
                deleted: item.deleted,
                reactions: item.reactions.into_iter().map(reaction_row).collect(),
                failure: item.failure,
                system: item.system.is_some(),
                attachment: item
                    .attachment
                    .map(|(_, attachment)| attachment_row(attachment)),
            }
        })
        .collect()
}

/// A file as its message shows it (the worker adds the upload's progress).
fn attachment_row(attachment: Attachment) -> AttachmentRow {
    AttachmentRow {
        size: merpati_words::sizes::file_size(attachment.size),
        name: attachment.name,
        preview: attachment.preview.map(|preview| PreviewRow {
            jpeg: preview.jpeg,
            width: preview.width,
            height: preview.height,
        }),
        upload: None,
    }
}

/// What a chat calls a member: their username, or "Someone" for an account this device
/// never learnt the name of.
fn name_in(engine: &Engine, chat: ChatId, user: UserId) -> String {
    engine
        .member_name(chat, user)
        .map(Username::to_string)
        .unwrap_or_else(|| t(Text::Someone))
}

/// The web addresses in a message's text, as the page shows them.
fn links_in(text: &str) -> Vec<LinkSpan> {
    merpati_core::links::find_links(text)
        .into_iter()
        .filter_map(|link| {
            Some(LinkSpan {
                start: u32::try_from(link.range.start).ok()?,
                end: u32::try_from(link.range.end).ok()?,
                href: link.href,
            })
        })
        .collect()
}

/// One emoji under a message, with who chose it by name.
fn reaction_row(reaction: ReactionSummary) -> ReactionRow {
    ReactionRow {
        emoji: reaction.emoji,
        count: reaction.count,
        people: reaction
            .people
            .into_iter()
            .map(|Person { username, .. }| {
                username.map_or_else(|| t(Text::Someone), |name| name.to_string())
            })
            .collect(),
        mine: reaction.mine,
    }
}

/// The key-change banner's words for a chat, while a member's key change is unacknowledged.
pub fn key_change_words(engine: &Engine, chat: ChatId) -> Option<String> {
    let (name, at_ms) = engine.key_change(chat)?;
    Some(tf(
        Text::KeyChanged,
        &[
            ("name", &name.to_string()),
            ("date", &clock::local_date(at_ms)),
        ],
    ))
}

/// A chat's members as the members panel shows them.
pub fn member_rows(engine: &Engine, chat: ChatId) -> Vec<MemberRow> {
    let me = engine.me().map(|me| me.id);
    engine
        .chat(chat)
        .map(|info| {
            info.members
                .iter()
                .map(|member| MemberRow {
                    id: member.id.0,
                    username: member.username.to_string(),
                    me: Some(member.id) == me,
                    admin: info.admins.contains(&member.id),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The page's name for where the engine's connection stands.
pub fn phase_of(phase: merpati_core::ConnectionPhase) -> ConnectionPhase {
    match phase {
        merpati_core::ConnectionPhase::Offline => ConnectionPhase::Offline,
        merpati_core::ConnectionPhase::Connecting => ConnectionPhase::Connecting,
        merpati_core::ConnectionPhase::Online => ConnectionPhase::Online,
    }
}

/// The page's name for how far a message has come.
pub fn status_of(status: merpati_core::MessageStatus) -> MessageStatus {
    match status {
        merpati_core::MessageStatus::Pending => MessageStatus::Pending,
        merpati_core::MessageStatus::Sent => MessageStatus::Sent,
        merpati_core::MessageStatus::Delivered => MessageStatus::Delivered,
        merpati_core::MessageStatus::Read => MessageStatus::Read,
        merpati_core::MessageStatus::Failed => MessageStatus::Failed,
    }
}

/// The page's name for whether a message's content could be opened.
pub fn lock_of(lock: merpati_core::MessageLock) -> MessageLock {
    match lock {
        merpati_core::MessageLock::Open => MessageLock::Open,
        merpati_core::MessageLock::Waiting => MessageLock::Waiting,
        merpati_core::MessageLock::Refused => MessageLock::Refused,
    }
}
