//! Hand-written samples of every frame, message content and name, for the seeds no device
//! exchange produces (the exchange's real keys and bodies are added to them in `main.rs`).

use merpati_protocol::content::{Attachment, FileKey, MessageContent, Preview, Quote, SystemEvent};
use merpati_protocol::frames::AuthMethod;
use merpati_protocol::keys::{
    BackupEntry, ClaimedKey, DeviceKey, DeviceKeys, DeviceRef, OneTimeKey, ToDeviceMessage,
    UserKeys,
};
use merpati_protocol::sessions::{ClientKind, SessionInfo, SessionRef};
use merpati_protocol::{
    BlobId, ChatId, ChatInfo, ChatKind, ClientFrame, ClientMsgId, Epoch, ErrorCode, Member,
    MessageFrame, NewChat, Presence, Receipt, RequestId, Seq, ServerFrame, UserId, Username,
};

fn name(text: &str) -> Username {
    // Every name below follows the rules; an invalid one is a mistake in this file.
    Username::parse(text).unwrap_or_else(|_| panic!("{text} is a valid username"))
}

fn member(id: u64, username: &str) -> Member {
    Member {
        id: UserId(id),
        username: name(username),
    }
}

fn device() -> DeviceRef {
    DeviceRef {
        user: UserId(2),
        device: DeviceKey([5; 32]),
    }
}

fn device_keys() -> DeviceKeys {
    DeviceKeys {
        user: UserId(1),
        device: DeviceKey([1; 32]),
        ed25519: [2; 32],
        signature: vec![3; 64],
    }
}

fn one_time_key() -> OneTimeKey {
    OneTimeKey {
        key: [4; 32],
        fallback: false,
        signature: vec![5; 64],
    }
}

fn message() -> MessageFrame {
    MessageFrame {
        chat_id: ChatId(1),
        seq: Seq(2),
        client_msg_id: ClientMsgId([5; 16]),
        sender: UserId(3),
        sent_at_ms: 1_700_000_000_000,
        body: vec![0, 1, 2],
    }
}

/// Every kind of client frame, with every variant of what it carries.
pub fn client_frames() -> Vec<ClientFrame> {
    let request = RequestId(7);
    let chat_id = ChatId(9);
    vec![
        ClientFrame::Authenticate {
            version: 3,
            method: AuthMethod::Register {
                username: name("alice"),
                public_key: [1; 32],
                signature: vec![2; 64],
            },
        },
        ClientFrame::Authenticate {
            version: 3,
            method: AuthMethod::Login {
                username: name("alice"),
                signature: vec![2; 64],
            },
        },
        ClientFrame::Authenticate {
            version: 3,
            method: AuthMethod::Resume {
                session_token: [3; 32],
            },
        },
        ClientFrame::Authenticate {
            version: 3,
            method: AuthMethod::SignOut { proof: [4; 32] },
        },
        ClientFrame::Authenticate {
            version: 3,
            method: AuthMethod::RegisterWithSalt {
                username: name("alice"),
                public_key: [1; 32],
                signature: vec![2; 64],
                kdf_salt: [5; 16],
            },
        },
        ClientFrame::CreateChat {
            request,
            chat: NewChat::Direct { with: name("bob") },
        },
        ClientFrame::CreateChat {
            request,
            chat: NewChat::Group {
                title: "Keluarga".into(),
                members: vec![name("alice"), name("carol")],
            },
        },
        ClientFrame::AddMember {
            request,
            chat_id,
            username: name("dewi"),
        },
        ClientFrame::Send {
            chat_id,
            client_msg_id: ClientMsgId([4; 16]),
            body: b"opaque".to_vec(),
            attachment: None,
        },
        ClientFrame::Send {
            chat_id,
            client_msg_id: ClientMsgId([6; 16]),
            body: b"opaque, with a file".to_vec(),
            attachment: Some(BlobId([0xb1; 16])),
        },
        ClientFrame::Sync {
            epoch: Some(Epoch(5)),
            positions: vec![(ChatId(1), Seq(10)), (chat_id, Seq(0))],
        },
        ClientFrame::Fetch {
            chat_id,
            after: Seq(10),
            limit: 500,
        },
        ClientFrame::History {
            chat_id,
            before: Seq(10),
            limit: 50,
        },
        ClientFrame::MarkRead {
            chat_id,
            seq: Seq(4),
        },
        ClientFrame::Logout,
        ClientFrame::Ping,
        ClientFrame::PublishKeys {
            device: device_keys(),
            device_proof: Some(vec![6; 64]),
            one_time_keys: vec![one_time_key()],
            fallback_key: Some(one_time_key()),
        },
        ClientFrame::QueryKeys {
            request,
            users: vec![UserId(1), UserId(2)],
        },
        ClientFrame::ClaimKeys {
            request,
            devices: vec![device()],
        },
        ClientFrame::SendToDevice {
            request,
            messages: vec![ToDeviceMessage {
                recipient: device(),
                body: vec![6; 40],
            }],
        },
        ClientFrame::ToDeviceDone { ids: vec![1, 300] },
        ClientFrame::PutBackup {
            request,
            entries: vec![BackupEntry {
                id: [7; 32],
                sealed: vec![8; 100],
            }],
        },
        ClientFrame::FetchBackup { request, after: 3 },
        ClientFrame::RemoveMember {
            request,
            chat_id,
            user: UserId(2),
        },
        ClientFrame::MarkDelivered {
            chat_id,
            seq: Seq(4),
        },
        ClientFrame::Typing { chat_id },
        ClientFrame::WatchPresence {
            user: Some(UserId(2)),
        },
        ClientFrame::WatchPresence { user: None },
        ClientFrame::SetPrivacy {
            share_read_receipts: false,
            share_presence: true,
        },
        ClientFrame::RenameGroup {
            request,
            chat_id,
            title: "Arisan".into(),
        },
        ClientFrame::SetAdmin {
            request,
            chat_id,
            user: UserId(2),
            admin: true,
        },
        ClientFrame::SetBlocked {
            request,
            user: UserId(2),
            blocked: true,
        },
        ClientFrame::SendDeletion {
            chat_id,
            client_msg_id: ClientMsgId([2; 16]),
            body: vec![3; 20],
            target: ClientMsgId([1; 16]),
        },
        ClientFrame::ListSessions { request },
        ClientFrame::EndSession {
            request,
            session: SessionRef([8; 16]),
        },
        ClientFrame::LookUpSalt {
            username: name("alice"),
        },
    ]
}

/// Every kind of server frame.
pub fn server_frames() -> Vec<ServerFrame> {
    let request = RequestId(8);
    let chat = ChatInfo {
        id: ChatId(1),
        kind: ChatKind::Group,
        title: "Keluarga".into(),
        members: vec![member(3, "alice"), member(4, "bob")],
        head: Seq(2),
        read: Seq(1),
        created_ms: 1,
        admins: vec![UserId(3)],
        receipts: vec![Receipt {
            user: UserId(4),
            delivered: Seq(2),
            read: Seq(1),
            read_at_ms: 5,
        }],
    };
    vec![
        ServerFrame::Challenge {
            version: 3,
            nonce: [6; 32],
            epoch: Epoch(99),
        },
        ServerFrame::Welcome {
            me: member(3, "alice"),
            session_token: Some([9; 32]),
        },
        ServerFrame::Error {
            request: None,
            code: ErrorCode::Malformed,
            detail: "cannot decode the frame".into(),
        },
        ServerFrame::Chat {
            request: Some(RequestId(1)),
            chat,
        },
        ServerFrame::Ack {
            chat_id: ChatId(1),
            client_msg_id: ClientMsgId([7; 16]),
            seq: Seq(300),
            sent_at_ms: 1_700_000_000_000,
        },
        ServerFrame::SendFailed {
            chat_id: ChatId(1),
            client_msg_id: ClientMsgId([7; 16]),
            code: ErrorCode::Blocked,
        },
        ServerFrame::Message(message()),
        ServerFrame::Page {
            chat_id: ChatId(1),
            messages: vec![message()],
            more: true,
        },
        ServerFrame::SyncDone,
        ServerFrame::Receipt {
            chat_id: ChatId(1),
            receipt: Receipt::none(UserId(4)),
        },
        ServerFrame::Goodbye {
            code: ErrorCode::ShuttingDown,
            retry_after_ms: Some(1000),
        },
        ServerFrame::KeysPublished { one_time_keys: 50 },
        ServerFrame::KeysClaimed {
            one_time_keys: 12,
            fallback_claimed: true,
        },
        ServerFrame::Keys {
            request,
            users: vec![UserKeys {
                user: UserId(1),
                account_key: [9; 32],
                devices: vec![device_keys()],
            }],
        },
        ServerFrame::ClaimedKeys {
            request,
            keys: vec![ClaimedKey {
                device: device(),
                key: Some(one_time_key()),
            }],
        },
        ServerFrame::ToDeviceSent {
            request,
            refused: vec![device()],
        },
        ServerFrame::ToDevice {
            id: 4,
            sender: device(),
            body: vec![1; 10],
        },
        ServerFrame::BackupStored { request },
        ServerFrame::Backup {
            request,
            entries: vec![(
                4,
                BackupEntry {
                    id: [7; 32],
                    sealed: vec![8; 100],
                },
            )],
            more: false,
        },
        ServerFrame::DevicesChanged { user: UserId(2) },
        ServerFrame::BackupChanged,
        ServerFrame::Typing {
            chat_id: ChatId(1),
            user: UserId(4),
        },
        ServerFrame::Presence {
            user: UserId(4),
            presence: Presence::Online,
        },
        ServerFrame::Presence {
            user: UserId(4),
            presence: Presence::LastSeen { at_ms: 9 },
        },
        ServerFrame::BlockList {
            request: Some(request),
            users: vec![UserId(2)],
        },
        ServerFrame::Sessions {
            request,
            sessions: vec![SessionInfo {
                session: SessionRef([8; 16]),
                device: Some(DeviceKey([5; 32])),
                created_ms: 1_700_000_000_000,
                last_used_ms: 1_700_086_400_000,
                current: true,
                client: Some(ClientKind {
                    browser: "Firefox".into(),
                    system: "Android".into(),
                }),
            }],
        },
        ServerFrame::SessionEnded { request },
        ServerFrame::SignedOut,
        ServerFrame::Pong,
        ServerFrame::Salt {
            username: name("alice"),
            kdf_salt: Some([5; 16]),
        },
        ServerFrame::Salt {
            username: name("bob"),
            kdf_salt: None,
        },
        ServerFrame::Privacy {
            share_read_receipts: true,
            share_presence: false,
        },
    ]
}

/// Every line the server writes into a group.
pub fn system_events() -> Vec<SystemEvent> {
    let by = member(1, "sari");
    let user = member(2, "tomo");
    vec![
        SystemEvent::Created {
            by: by.clone(),
            title: "Arisan".into(),
        },
        SystemEvent::Added {
            by: by.clone(),
            user: user.clone(),
        },
        SystemEvent::Removed {
            by: by.clone(),
            user: user.clone(),
        },
        SystemEvent::Left { user: user.clone() },
        SystemEvent::Renamed {
            by: by.clone(),
            title: "Arisan 2027".into(),
        },
        SystemEvent::AdminChanged {
            by,
            user,
            admin: true,
        },
    ]
}

/// A photo as a message carries it: its blob, key, hash, name, type, size and thumbnail.
fn photo() -> Attachment {
    Attachment {
        blob: BlobId([0xb1; 16]),
        key: FileKey([0x4b; 32]),
        sha256: [0x5a; 32],
        name: "pantai.jpg".into(),
        media_type: "image/jpeg".into(),
        size: 2_516_480,
        preview: Some(Preview {
            width: 1600,
            height: 1200,
            jpeg: vec![0xff, 0xd8, 0xff, 0xd9],
        }),
    }
}

/// Every kind of message content.
pub fn contents() -> Vec<MessageContent> {
    let target = ClientMsgId([7; 16]);
    vec![
        MessageContent::AesGcmAttachment(photo()),
        MessageContent::Attachment(Attachment {
            name: "catatan.pdf".into(),
            media_type: "application/pdf".into(),
            size: 48_213,
            preview: None,
            ..photo()
        }),
        MessageContent::Text {
            text: "halo 👋".into(),
        },
        MessageContent::Reply {
            text: "ya".into(),
            quote: Quote {
                target,
                sender: UserId(3),
                text: "jam 7?".into(),
            },
        },
        MessageContent::Forwarded { text: "fw".into() },
        MessageContent::Edit {
            target,
            text: "baru".into(),
        },
        MessageContent::Delete { target },
        MessageContent::Reaction {
            target,
            emoji: Some("👍🏽".into()),
        },
        MessageContent::Reaction {
            target,
            emoji: None,
        },
    ]
}

/// Texts people type and names stored as text.
pub fn texts() -> Vec<String> {
    let mut texts: Vec<String> = [
        "sari",
        "  Alice_2 ",
        "al",
        "1alice",
        "älice",
        "a_very_long_username_of_32_chars",
        "account",
        "out/7",
        "in/ab/cd+ef",
        "held/18446744073709551615",
        "user/2",
        "  halo 👋\n",
    ]
    .iter()
    .map(|text| (*text).to_owned())
    .collect();
    texts.push(format!("olm/{}", "ab".repeat(32)));
    texts.push(ClientMsgId([0xa7; 16]).to_hex());
    texts
}
