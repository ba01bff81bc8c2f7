//! Wire-format tests: every frame survives a round trip, the encoding of a few frames is
//! pinned byte for byte (a change there breaks deployed clients), and no input makes the
//! decoder panic.

use merpati_protocol::{
    BlobId, ChatId, ChatInfo, ChatKind, ClientFrame, ClientMsgId, DecodeError, Epoch, ErrorCode,
    MAX_FRAME_BYTES, Member, MessageFrame, NewChat, Presence, Receipt, RequestId, Seq, ServerFrame,
    UserId, Username, decode, encode,
    frames::AuthMethod,
    keys::{
        BackupEntry, ClaimedKey, DeviceKey, DeviceKeys, DeviceRef, OneTimeKey, ToDeviceMessage,
        UserKeys,
    },
};
use proptest::prelude::*;

fn alice() -> Username {
    Username::parse("alice").expect("valid username")
}

fn sample_client_frames() -> Vec<ClientFrame> {
    vec![
        ClientFrame::Authenticate {
            version: 1,
            method: AuthMethod::Register {
                username: alice(),
                public_key: [1; 32],
                signature: vec![2; 64],
            },
        },
        ClientFrame::Authenticate {
            version: 1,
            method: AuthMethod::Resume {
                session_token: [3; 32],
            },
        },
        ClientFrame::Authenticate {
            version: 3,
            method: AuthMethod::SignOut { proof: [6; 32] },
        },
        ClientFrame::CreateChat {
            request: RequestId(7),
            chat: NewChat::Group {
                title: "Keluarga".into(),
                members: vec![alice()],
            },
        },
        ClientFrame::Send {
            chat_id: ChatId(9),
            client_msg_id: ClientMsgId([4; 16]),
            body: b"opaque".to_vec(),
            attachment: None,
        },
        ClientFrame::Send {
            chat_id: ChatId(9),
            client_msg_id: ClientMsgId([5; 16]),
            body: b"a photo".to_vec(),
            attachment: Some(BlobId([6; 16])),
        },
        ClientFrame::Sync {
            epoch: Some(Epoch(5)),
            positions: vec![(ChatId(1), Seq(10))],
        },
        ClientFrame::History {
            chat_id: ChatId(1),
            before: Seq(10),
            limit: 50,
        },
        ClientFrame::Logout,
        ClientFrame::Ping,
        ClientFrame::ListSessions {
            request: RequestId(18),
        },
        ClientFrame::EndSession {
            request: RequestId(19),
            session: merpati_protocol::sessions::SessionRef([3; 16]),
        },
        ClientFrame::PublishKeys {
            device: device_keys(),
            device_proof: Some(vec![7; 64]),
            one_time_keys: vec![one_time_key()],
            fallback_key: Some(one_time_key()),
        },
        ClientFrame::QueryKeys {
            request: RequestId(8),
            users: vec![UserId(1), UserId(2)],
        },
        ClientFrame::ClaimKeys {
            request: RequestId(9),
            devices: vec![bob_device()],
        },
        ClientFrame::SendToDevice {
            request: RequestId(10),
            messages: vec![ToDeviceMessage {
                recipient: bob_device(),
                body: vec![6; 40],
            }],
        },
        ClientFrame::ToDeviceDone { ids: vec![1, 2] },
        ClientFrame::PutBackup {
            request: RequestId(11),
            entries: vec![backup_entry()],
        },
        ClientFrame::FetchBackup {
            request: RequestId(12),
            after: 3,
        },
        ClientFrame::RemoveMember {
            request: RequestId(13),
            chat_id: ChatId(9),
            user: UserId(2),
        },
        ClientFrame::MarkDelivered {
            chat_id: ChatId(9),
            seq: Seq(4),
        },
        ClientFrame::Typing { chat_id: ChatId(9) },
        ClientFrame::WatchPresence {
            user: Some(UserId(2)),
        },
        ClientFrame::SetPrivacy {
            share_read_receipts: false,
            share_presence: true,
        },
        ClientFrame::RenameGroup {
            request: RequestId(14),
            chat_id: ChatId(9),
            title: "Arisan".into(),
        },
        ClientFrame::SetAdmin {
            request: RequestId(15),
            chat_id: ChatId(9),
            user: UserId(2),
            admin: true,
        },
        ClientFrame::SetBlocked {
            request: RequestId(16),
            user: UserId(2),
            blocked: true,
        },
        ClientFrame::SendDeletion {
            chat_id: ChatId(9),
            client_msg_id: ClientMsgId([2; 16]),
            body: vec![3; 20],
            target: ClientMsgId([1; 16]),
        },
    ]
}

fn bob_device() -> DeviceRef {
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

fn backup_entry() -> BackupEntry {
    BackupEntry {
        id: [7; 32],
        sealed: vec![8; 100],
    }
}

fn sample_server_frames() -> Vec<ServerFrame> {
    let message = MessageFrame {
        chat_id: ChatId(1),
        seq: Seq(2),
        client_msg_id: ClientMsgId([5; 16]),
        sender: UserId(3),
        sent_at_ms: 1_700_000_000_000,
        body: vec![0, 1, 2],
    };
    vec![
        ServerFrame::Challenge {
            version: 1,
            nonce: [6; 32],
            epoch: Epoch(99),
        },
        ServerFrame::Chat {
            request: Some(RequestId(1)),
            chat: ChatInfo {
                id: ChatId(1),
                kind: ChatKind::Group,
                title: "Keluarga".into(),
                members: vec![Member {
                    id: UserId(3),
                    username: alice(),
                }],
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
            },
        },
        ServerFrame::Message(message.clone()),
        ServerFrame::Page {
            chat_id: ChatId(1),
            messages: vec![message],
            more: true,
        },
        ServerFrame::Error {
            request: None,
            code: ErrorCode::Malformed,
            detail: "x".into(),
        },
        ServerFrame::Goodbye {
            code: ErrorCode::ShuttingDown,
            retry_after_ms: Some(1000),
        },
        ServerFrame::KeysPublished { one_time_keys: 50 },
        ServerFrame::Keys {
            request: RequestId(8),
            users: vec![UserKeys {
                user: UserId(1),
                account_key: [9; 32],
                devices: vec![device_keys()],
            }],
        },
        ServerFrame::ClaimedKeys {
            request: RequestId(9),
            keys: vec![ClaimedKey {
                device: bob_device(),
                key: Some(one_time_key()),
            }],
        },
        ServerFrame::ToDeviceSent {
            request: RequestId(10),
            refused: vec![bob_device()],
        },
        ServerFrame::ToDevice {
            id: 4,
            sender: bob_device(),
            body: vec![1; 10],
        },
        ServerFrame::BackupStored {
            request: RequestId(11),
        },
        ServerFrame::Backup {
            request: RequestId(12),
            entries: vec![(4, backup_entry())],
            more: false,
        },
        ServerFrame::DevicesChanged { user: UserId(2) },
        ServerFrame::BackupChanged,
        ServerFrame::Error {
            request: Some(RequestId(13)),
            code: ErrorCode::LimitReached,
            detail: String::new(),
        },
        ServerFrame::Receipt {
            chat_id: ChatId(1),
            receipt: Receipt::none(UserId(4)),
        },
        ServerFrame::Typing {
            chat_id: ChatId(1),
            user: UserId(4),
        },
        ServerFrame::Presence {
            user: UserId(4),
            presence: Presence::LastSeen { at_ms: 9 },
        },
        ServerFrame::Presence {
            user: UserId(4),
            presence: Presence::Hidden,
        },
        ServerFrame::BlockList {
            request: Some(RequestId(16)),
            users: vec![UserId(2)],
        },
        ServerFrame::Error {
            request: None,
            code: ErrorCode::NotYourMessage,
            detail: String::new(),
        },
        ServerFrame::KeysClaimed {
            one_time_keys: 39,
            fallback_claimed: true,
        },
        ServerFrame::Sessions {
            request: RequestId(18),
            sessions: vec![merpati_protocol::sessions::SessionInfo {
                session: merpati_protocol::sessions::SessionRef([3; 16]),
                device: Some(bob_device().device),
                created_ms: 1,
                last_used_ms: 2,
                current: true,
                client: Some(merpati_protocol::sessions::ClientKind {
                    browser: "Firefox".to_owned(),
                    system: "Android".to_owned(),
                }),
            }],
        },
        ServerFrame::SessionEnded {
            request: RequestId(19),
        },
        ServerFrame::Error {
            request: Some(RequestId(17)),
            code: ErrorCode::TooManyRequests,
            detail: String::new(),
        },
        ServerFrame::Error {
            request: None,
            code: ErrorCode::TooManyAttempts,
            detail: String::new(),
        },
        ServerFrame::SignedOut,
        ServerFrame::Pong,
        ServerFrame::SendFailed {
            chat_id: ChatId(1),
            client_msg_id: ClientMsgId([4; 16]),
            code: ErrorCode::QuotaExceeded,
        },
        ServerFrame::Error {
            request: None,
            code: ErrorCode::TooManySignUps,
            detail: String::new(),
        },
        ServerFrame::SendFailed {
            chat_id: ChatId(1),
            client_msg_id: ClientMsgId([5; 16]),
            code: ErrorCode::NoSuchBlob,
        },
    ]
}

#[test]
fn every_sample_frame_round_trips() {
    for frame in sample_client_frames() {
        assert_eq!(decode::<ClientFrame>(&encode(&frame)).ok(), Some(frame));
    }
    for frame in sample_server_frames() {
        assert_eq!(decode::<ServerFrame>(&encode(&frame)).ok(), Some(frame));
    }
}

/// Pins the encoding. If this fails, the wire format changed: bump `PROTOCOL_VERSION` and
/// update docs/protocol.md along with the expected bytes.
#[test]
fn wire_format_snapshot() {
    let send = ClientFrame::Send {
        chat_id: ChatId(300),
        client_msg_id: ClientMsgId([0xaa; 16]),
        body: b"hi".to_vec(),
        attachment: None,
    };
    assert_eq!(
        hex::encode(encode(&send)),
        format!("03ac02{}02686900", "aa".repeat(16))
    );
    // Protocol version 5: an attachment is an option after the body, the id's 16 bytes.
    let with_file = ClientFrame::Send {
        chat_id: ChatId(300),
        client_msg_id: ClientMsgId([0xaa; 16]),
        body: b"hi".to_vec(),
        attachment: Some(BlobId([0xbb; 16])),
    };
    assert_eq!(
        hex::encode(encode(&with_file)),
        format!("03ac02{}02686901{}", "aa".repeat(16), "bb".repeat(16))
    );

    let ack = ServerFrame::Ack {
        chat_id: ChatId(1),
        client_msg_id: ClientMsgId([0; 16]),
        seq: Seq(2),
        sent_at_ms: 3,
    };
    assert_eq!(
        hex::encode(encode(&ack)),
        format!("0401{}0203", "00".repeat(16))
    );

    let done = ClientFrame::ToDeviceDone { ids: vec![1, 300] };
    assert_eq!(hex::encode(encode(&done)), "0d0201ac02");

    // Added after the rest, at the end of their enums: an older peer answers `Malformed`.
    assert_eq!(hex::encode(encode(&ClientFrame::Ping)), "1c");
    assert_eq!(hex::encode(encode(&ServerFrame::Pong)), "1d");
}

/// The bytes tools count frames by without decoding them (`merpati-bench`): each exported tag
/// is the first byte of its frame's encoding, and no other sample frame starts with it.
#[test]
fn the_exported_wire_tags_are_the_first_byte_of_their_frames() {
    let mut frames = sample_server_frames();
    frames.push(ServerFrame::Ack {
        chat_id: ChatId(1),
        client_msg_id: ClientMsgId([7; 16]),
        seq: Seq(300),
        sent_at_ms: 1_700_000_000_000,
    });
    let tags = [ServerFrame::ACK_TAG, ServerFrame::MESSAGE_TAG];
    let mut tagged = 0;
    for frame in &frames {
        let first = encode(frame).first().copied();
        match frame {
            ServerFrame::Ack { .. } => assert_eq!(first, Some(ServerFrame::ACK_TAG)),
            ServerFrame::Message(_) => assert_eq!(first, Some(ServerFrame::MESSAGE_TAG)),
            other => {
                assert!(
                    first.is_some_and(|byte| !tags.contains(&byte)),
                    "{other:?} starts with another frame's tag"
                );
                continue;
            }
        }
        tagged += 1;
    }
    assert_eq!(tagged, 2, "an Ack and a Message were checked");
}

#[test]
fn oversized_input_is_refused_before_decoding() {
    let bytes = vec![0u8; MAX_FRAME_BYTES + 1];
    assert!(matches!(
        decode::<ClientFrame>(&bytes),
        Err(DecodeError::TooLarge(_))
    ));
}

#[test]
fn trailing_bytes_are_malformed() {
    let mut bytes = encode(&ClientFrame::Logout);
    bytes.push(0);
    assert!(matches!(
        decode::<ClientFrame>(&bytes),
        Err(DecodeError::Malformed(_))
    ));
}

#[test]
fn unknown_variant_is_malformed() {
    assert!(matches!(
        decode::<ClientFrame>(&[200]),
        Err(DecodeError::Malformed(_))
    ));
}

proptest! {
    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = decode::<ClientFrame>(&bytes);
        let _ = decode::<ServerFrame>(&bytes);
    }

    #[test]
    fn send_frames_round_trip(chat in any::<u64>(), id in any::<[u8; 16]>(), body in proptest::collection::vec(any::<u8>(), 0..4096), attachment in any::<Option<[u8; 16]>>()) {
        let frame = ClientFrame::Send { chat_id: ChatId(chat), client_msg_id: ClientMsgId(id), body, attachment: attachment.map(BlobId) };
        prop_assert_eq!(decode::<ClientFrame>(&encode(&frame)).ok(), Some(frame));
    }
}
