//! Arbitrary rows of the server's SQLite tables (`merpati_fuzz::ServerRow`) into what the
//! server makes of them: stored usernames validated again (`Username::parse`), stored keys and
//! signatures parsed and checked (vodozemac's `Ed25519PublicKey::from_slice`,
//! `Ed25519Signature::from_slice` and `verify`, over `challenge_message` at sign-in and
//! `device_keys_message` for a device's keys), stored bodies checked for server lines
//! (`is_system_body`), and the frame each row is sent in.
//!
//! The server's own row conversions (`storage::sql::{int, uint, username, key32}`,
//! `messages::client_msg_id`, `chats::snapshot_head`, `auth::{public_key, verify,
//! verify_device}`) are private to the server crate, so this target repeats them (each a line
//! or two, named after the original) around the public decoders they call.
//!
//! Nothing may panic. A row either is refused, as the server refuses it (a stored key that is
//! not 32 bytes, a username that breaks the rules), or becomes a frame the app decodes back to
//! exactly what the server sent.

#![no_main]

use libfuzzer_sys::fuzz_target;
use merpati_fuzz::ServerRow;
use merpati_protocol::auth::{AuthPurpose, challenge_message};
use merpati_protocol::content::{EncryptedBody, is_system_body};
use merpati_protocol::keys::{
    BackupEntry, ClaimedKey, DeviceKey, DeviceKeys, DeviceRef, OneTimeKey, UserKeys,
    device_keys_message,
};
use merpati_protocol::{
    ChatId, ChatInfo, ChatKind, ClientMsgId, Member, MessageFrame, Receipt, RequestId, Seq,
    ServerFrame, UserId, Username, decode, encode,
};
use vodozemac::{Ed25519PublicKey, Ed25519Signature};

/// `storage::sql::uint`: an SQLite integer as a wire number.
fn uint(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// `storage::sql::key32`: a stored 32-byte key, or the row is refused.
fn key32(raw: &[u8]) -> Option<[u8; 32]> {
    raw.try_into().ok()
}

/// `storage::sql::messages::client_msg_id`.
fn client_msg_id(raw: &[u8]) -> Option<ClientMsgId> {
    Some(ClientMsgId(raw.try_into().ok()?))
}

/// `auth::public_key`, `auth::verify`: whether `signature` signs `message` with `key`.
fn verifies(key: &[u8; 32], message: &[u8], signature: &[u8]) -> bool {
    let Ok(key) = Ed25519PublicKey::from_slice(key) else {
        return false;
    };
    let Ok(signature) = Ed25519Signature::from_slice(signature) else {
        return false;
    };
    key.verify(message, &signature).is_ok()
}

/// The frame the app reads must be the frame the server wrote.
fn sent(frame: ServerFrame) {
    let bytes = encode(&frame);
    if bytes.len() > merpati_protocol::MAX_FRAME_BYTES {
        // The server cuts pages to fit a frame; a row this large is never sent whole.
        return;
    }
    assert_eq!(decode::<ServerFrame>(&bytes).ok(), Some(frame));
}

fuzz_target!(|data: &[u8]| {
    let Ok(row) = decode::<ServerRow>(data) else {
        return;
    };
    let request = RequestId(1);
    match row {
        ServerRow::Account {
            id,
            username,
            public_key,
            signature,
            nonce,
        } => {
            let (Ok(username), Some(public_key)) = (Username::parse(&username), key32(&public_key))
            else {
                return;
            };
            let challenge = challenge_message(AuthPurpose::Login, &username, &nonce);
            verifies(&public_key, &challenge, &signature);
            sent(ServerFrame::Welcome {
                me: Member {
                    id: UserId(uint(id)),
                    username,
                },
                session_token: Some(nonce),
            });
        }
        ServerRow::ChatMember {
            chat,
            kind,
            title,
            created_ms,
            head,
            user,
            username,
            admin,
            delivered,
            read,
            read_at_ms,
        } => {
            let Ok(username) = Username::parse(&username) else {
                return;
            };
            let user = UserId(uint(user));
            let receipt = Receipt {
                user,
                delivered: Seq(uint(delivered)),
                read: Seq(uint(read)),
                read_at_ms: uint(read_at_ms),
            };
            sent(ServerFrame::Chat {
                request: Some(request),
                chat: ChatInfo {
                    id: ChatId(uint(chat)),
                    kind: if kind == "group" {
                        ChatKind::Group
                    } else {
                        ChatKind::Direct
                    },
                    title,
                    members: vec![Member { id: user, username }],
                    head: Seq(uint(head)),
                    read: receipt.read,
                    created_ms: uint(created_ms),
                    admins: if admin { vec![user] } else { Vec::new() },
                    receipts: vec![receipt],
                },
            });
        }
        ServerRow::Message {
            chat,
            seq,
            client_msg_id: raw_id,
            sender,
            sent_at_ms,
            body,
        } => {
            let Some(client_msg_id) = client_msg_id(&raw_id) else {
                return;
            };
            assert_eq!(
                is_system_body(&body),
                matches!(
                    EncryptedBody::from_body(&body),
                    Some(EncryptedBody::System(_))
                ),
                "what the server refuses as a forged line is what the app shows as one"
            );
            let message = MessageFrame {
                chat_id: ChatId(uint(chat)),
                seq: Seq(uint(seq)),
                client_msg_id,
                sender: UserId(uint(sender)),
                sent_at_ms: uint(sent_at_ms),
                body,
            };
            sent(ServerFrame::Page {
                chat_id: message.chat_id,
                messages: vec![message.clone()],
                more: false,
            });
            sent(ServerFrame::Message(message));
        }
        ServerRow::Device {
            user,
            account_key,
            device,
            ed25519,
            signature,
        } => {
            let (Some(account_key), Some(device), Some(ed25519)) =
                (key32(&account_key), key32(&device), key32(&ed25519))
            else {
                return;
            };
            let device = DeviceKeys {
                user: UserId(uint(user)),
                device: DeviceKey(device),
                ed25519,
                signature,
            };
            let message = device_keys_message(device.user, &device.device, &device.ed25519);
            verifies(&account_key, &message, &device.signature);
            sent(ServerFrame::Keys {
                request,
                users: vec![UserKeys {
                    user: device.user,
                    account_key,
                    devices: vec![device],
                }],
            });
        }
        ServerRow::OneTimeKey {
            user,
            device,
            key,
            fallback,
            signature,
        } => {
            let (Some(device), Some(key)) = (key32(&device), key32(&key)) else {
                return;
            };
            // The server hands one-time keys out as stored; devices check their signatures.
            let device = DeviceKey(device);
            sent(ServerFrame::ClaimedKeys {
                request,
                keys: vec![ClaimedKey {
                    device: DeviceRef {
                        user: UserId(uint(user)),
                        device,
                    },
                    key: Some(OneTimeKey {
                        key,
                        fallback,
                        signature,
                    }),
                }],
            });
        }
        ServerRow::ToDevice {
            id,
            sender,
            sender_device,
            body,
        } => {
            let Some(sender_device) = key32(&sender_device) else {
                return;
            };
            sent(ServerFrame::ToDevice {
                id: uint(id),
                sender: DeviceRef {
                    user: UserId(uint(sender)),
                    device: DeviceKey(sender_device),
                },
                body,
            });
        }
        ServerRow::Backup {
            position,
            entry_id,
            sealed,
        } => {
            let Some(id) = key32(&entry_id) else {
                return;
            };
            sent(ServerFrame::Backup {
                request,
                entries: vec![(uint(position), BackupEntry { id, sealed })],
                more: false,
            });
        }
    }
});
