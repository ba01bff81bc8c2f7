//! Hand-written samples of every message the page and the engine worker send each other
//! (`merpati_bridge`), for the `bridge` seeds.

use merpati_bridge::{
    AttachmentRow, AuthMode, ChatRow, Command, ConnectionPhase, DeviceRow, DownloadState, LinkSpan,
    MemberRow, MessageLock, MessageReceipts, MessageRow, MessageStatus, Notifications, OpenChat,
    PreviewRow, Privacy, QuoteRow, ReactionRow, ReceiptRow, ReceiptState, RowsChange, SearchRow,
    SignOutReason, Update, View,
};
use merpati_protocol::sessions::SessionRef;
use merpati_protocol::{ChatId, ChatKind, ClientMsgId, ErrorCode, Presence, Seq, UserId};

/// Every kind of command the page sends.
pub fn commands() -> Vec<Command> {
    let chat = ChatId(7);
    let target = ClientMsgId([3; 16]);
    vec![
        Command::Start {
            db_name: "merpati".into(),
            socket_url: "ws://127.0.0.1:8080/ws".into(),
            language: "id".into(),
            catalogue: "SignIn = Masuk\nSignOut = Keluar\n".into(),
        },
        Command::Authenticate {
            mode: AuthMode::Register,
            username: "hana".into(),
            passphrase: "a long passphrase".into(),
        },
        Command::SendText {
            chat,
            text: "halo 👋".into(),
        },
        Command::SendReply {
            chat,
            target,
            text: "ya".into(),
        },
        Command::Edit {
            chat,
            target,
            text: "baru".into(),
        },
        Command::DeleteForEveryone { chat, target },
        Command::DeleteForMe { chat, target },
        Command::React {
            chat,
            target,
            emoji: "👍".into(),
        },
        Command::Forward {
            from: chat,
            target,
            to: ChatId(8),
        },
        Command::SetDraft {
            chat,
            text: "nanti".into(),
        },
        Command::Typing(chat),
        Command::RetryNow,
        Command::RetryMessage(target),
        Command::CreateDirect("ilham".into()),
        Command::CreateGroup {
            name: "Keluarga".into(),
            members: "ilham, dewi".into(),
        },
        Command::AcknowledgeKeyChange(chat),
        Command::AddMember {
            chat,
            username: "carol".into(),
        },
        Command::RemoveMember {
            chat,
            user: UserId(3),
        },
        Command::LeaveChat(chat),
        Command::OpenChat(Some(chat)),
        Command::LoadOlder(chat),
        Command::SignOut,
        Command::Visible(true),
        Command::ShowReceipts(Some(target)),
        Command::Search("kopi".into()),
        Command::ShowMessage {
            chat,
            seq: Some(Seq(40)),
            id: target,
        },
        Command::SetPrivacy(Privacy {
            share_read_receipts: false,
            share_presence: true,
        }),
        Command::SetAdmin {
            chat,
            user: UserId(3),
            admin: true,
        },
        Command::RenameGroup {
            chat,
            title: "Arisan".into(),
        },
        Command::SetBlocked {
            user: UserId(3),
            blocked: true,
        },
        Command::SendFile(chat),
        Command::CancelUpload(target),
        Command::Download { chat, id: target },
        Command::SetNotifications(Notifications {
            enabled: true,
            hide_text: true,
            offer_declined: false,
        }),
        Command::EmojiUsed("🙏🏽".into()),
        Command::SetSkinTone(3),
        Command::SetMuted { chat, muted: true },
        Command::ListDevices,
        Command::EndDevice(SessionRef([8; 16])),
    ]
}

fn row(id: &str, text: &str) -> MessageRow {
    MessageRow {
        id: id.into(),
        status: MessageStatus::Read,
        lock: MessageLock::Open,
        text: text.into(),
        sender: Some("ilham".into()),
        time: "09:41".into(),
        day: None,
        unread_from_here: None,
        quote: Some(QuoteRow {
            target: "11aa".into(),
            sender: "hana".into(),
            text: "kapan?".into(),
        }),
        edited: true,
        reactions: vec![ReactionRow {
            emoji: "👍".into(),
            count: 1,
            people: vec!["hana".into()],
            mine: true,
        }],
        failure: Some(ErrorCode::Blocked),
        attachment: Some(AttachmentRow {
            name: "pantai.jpg".into(),
            size: "2.4 MB".into(),
            preview: Some(PreviewRow {
                jpeg: vec![0xff, 0xd8, 0xff, 0xd9],
                width: 1600,
                height: 1200,
            }),
            upload: Some((262_144, 2_516_624)),
        }),
        // What `merpati_core::links` finds: the address at the end of the text, if any.
        links: text
            .find("https://")
            .map(|start| LinkSpan {
                start: u32::try_from(start).unwrap_or(u32::MAX),
                end: u32::try_from(text.len()).unwrap_or(u32::MAX),
                href: text[start..].into(),
            })
            .into_iter()
            .collect(),
        ..MessageRow::default()
    }
}

/// Every kind of update the worker sends.
pub fn updates() -> Vec<Update> {
    let view = View {
        chats: vec![ChatRow {
            id: ChatId(7),
            title: "Keluarga".into(),
            last_text: Some("sampai".into()),
            last_time: "Yesterday".into(),
            last_received: None,
            last_received_from: None,
            unread: 2,
            typing: vec!["ilham".into()],
            draft: Some("nanti".into()),
            muted: true,
        }],
        phase: ConnectionPhase::Online,
        next_attempt_at_ms: Some(1.5e12),
        pending: 1,
        me: Some("hana".into()),
        open_chat: Some(OpenChat {
            id: ChatId(7),
            title: "Keluarga".into(),
            rows: Vec::new(),
            kind: Some(ChatKind::Group),
            safety_number: Some("12345 ".repeat(12)),
            key_change: Some("changed".into()),
            members: vec![MemberRow {
                id: 3,
                username: "ilham".into(),
                me: false,
                admin: true,
            }],
            is_member: true,
            typing: Vec::new(),
            presence: Some(Presence::LastSeen { at_ms: 1 }),
            receipts: Some(MessageReceipts {
                id: "00ff".into(),
                members: vec![ReceiptRow {
                    username: "ilham".into(),
                    state: ReceiptState::Read,
                    read_at: Some("09:42".into()),
                }],
            }),
            am_admin: false,
            blocked: false,
            draft: None,
            draft_taken: 2,
            reveal: Some("00ff".into()),
        }),
        privacy: Privacy::default(),
        notifications: Notifications {
            enabled: true,
            hide_text: false,
            offer_declined: false,
        },
        recent_emoji: vec!["👍".into(), "🙏🏽".into()],
        skin_tone: 3,
        devices: Some(vec![
            DeviceRow {
                session: SessionRef([8; 16]),
                name: "Firefox on Android".into(),
                last_active: "Active today".into(),
                signed_in: "Signed in 3 Dec".into(),
                current: true,
            },
            DeviceRow {
                session: SessionRef([9; 16]),
                name: "a7a7a7a7".into(),
                last_active: "Active 1 Dec".into(),
                signed_in: "Signed in 1 Dec 2025".into(),
                current: false,
            },
        ]),
    };
    vec![
        Update::Ready,
        Update::Resumed(true),
        Update::Contacting,
        Update::AuthError("A passphrase needs at least 10 characters".into()),
        Update::SignedIn,
        Update::AuthFailed(ErrorCode::WrongPassphrase),
        Update::ChatReady(ChatId(7)),
        Update::RequestFailed(ErrorCode::NoSuchUser),
        Update::RequestError("offline".into()),
        Update::ActionError("That message is not here any more".into()),
        Update::SearchResults {
            query: "kopi".into(),
            rows: vec![SearchRow {
                chat: ChatId(7),
                chat_title: "Keluarga".into(),
                seq: Seq(3),
                id: ClientMsgId([3; 16]),
                sender: "ilham".into(),
                time: "09:41".into(),
                pieces: vec![("beli ".into(), false), ("kopi".into(), true)],
            }],
        },
        Update::SignedOut(SignOutReason::Rejected(ErrorCode::SessionExpired)),
        Update::Download {
            id: ClientMsgId([3; 16]),
            state: DownloadState::Progress {
                done: 262_144,
                total: 10_002_448,
            },
        },
        Update::Download {
            id: ClientMsgId([3; 16]),
            state: DownloadState::Failed("changed on its way".into()),
        },
        Update::View {
            view: Box::new(view.clone()),
            rows: RowsChange::All(vec![row("00ff", "halo"), row("0100", "ya")]),
        },
        Update::View {
            view: Box::new(view),
            rows: RowsChange::Patch {
                removed: vec!["00ff".into()],
                changed: vec![row("0100", "ya, jam 8")],
                before: vec![row("00fe", "dulu")],
                after: vec![
                    row("0101", "nanti"),
                    row("0102", "peta: https://merpati.example/peta"),
                ],
            },
        },
        Update::View {
            view: Box::default(),
            rows: RowsChange::Same,
        },
    ]
}
