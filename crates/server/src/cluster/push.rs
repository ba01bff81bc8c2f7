//! What goes on an account's subject (`merpati.account.<id>`), how it is written (the
//! storage epoch, a kind byte, what the kind needs, then the encoded frame if it has one),
//! and what a process does with a push from another.

use bytes::{BufMut, Bytes, BytesMut};
use merpati_protocol::keys::{DeviceKey, DeviceRef};
use merpati_protocol::{ChatId, Epoch, Receipt, Seq, UserId};

use super::{State, u64_at};
use crate::storage::Moved;

/// What goes on an account's subject.
pub(super) enum Push {
    /// A chat created or changed, to follow from `from` on.
    Chat { from: Seq, frame: Bytes },
    /// A frame for one device's sessions.
    Device { device: DeviceKey, frame: Bytes },
    /// A frame for all the account's sessions.
    Account { frame: Bytes },
    /// A receipt that moved, for the account to see as its settings allow: the chat, the
    /// receipt before and after, and whether its owner shares read receipts.
    Receipt { receipt: Bytes },
    /// A frame from `from` (typing), for the account's sessions unless it blocks `from`.
    From { from: UserId, frame: Bytes },
    /// The account's privacy settings or block list changed: read them again.
    PrivacyChanged,
    /// A process with sessions watching the account asks where it is online
    /// (`cluster::presence`).
    PresenceAsked,
}

impl Push {
    /// The epoch, a kind byte, what the kind needs (a sequence number, a device key), then
    /// the encoded frame.
    pub(super) fn write(&self, epoch: Epoch) -> Bytes {
        let mut payload = BytesMut::new();
        payload.put_u64_le(epoch.0);
        match self {
            Push::Chat { from, frame } => {
                payload.put_u8(0);
                payload.put_u64_le(from.0);
                payload.put_slice(frame);
            }
            Push::Device { device, frame } => {
                payload.put_u8(1);
                payload.put_slice(&device.0);
                payload.put_slice(frame);
            }
            Push::Account { frame } => {
                payload.put_u8(2);
                payload.put_slice(frame);
            }
            Push::Receipt { receipt } => {
                payload.put_u8(3);
                payload.put_slice(receipt);
            }
            Push::From { from, frame } => {
                payload.put_u8(4);
                payload.put_u64_le(from.0);
                payload.put_slice(frame);
            }
            Push::PrivacyChanged => payload.put_u8(6),
            Push::PresenceAsked => payload.put_u8(7),
        }
        payload.freeze()
    }

    /// A push of this epoch, if well formed.
    pub(super) fn read(epoch: Epoch, payload: &Bytes) -> Option<Push> {
        if u64_at(payload, 0)? != epoch.0 {
            return None;
        }
        match payload.get(8)? {
            0 => Some(Push::Chat {
                from: Seq(u64_at(payload, 9)?),
                frame: payload.slice(17..),
            }),
            1 => {
                let device = DeviceKey(payload.get(9..41)?.try_into().ok()?);
                Some(Push::Device {
                    device,
                    frame: payload.slice(41..),
                })
            }
            2 => Some(Push::Account {
                frame: payload.slice(9..),
            }),
            3 => Some(Push::Receipt {
                receipt: payload.slice(9..),
            }),
            4 => Some(Push::From {
                from: UserId(u64_at(payload, 9)?),
                frame: payload.slice(17..),
            }),
            // 5 was a session's end, which goes to every process now (`ends`).
            6 => Some(Push::PrivacyChanged),
            7 => Some(Push::PresenceAsked),
            _ => None,
        }
    }
}

impl State {
    /// Another process's push to `account`, for its sessions here.
    pub(super) async fn push_woken(&mut self, account: UserId, payload: &Bytes) {
        match Push::read(self.epoch, payload) {
            Some(Push::Chat { from, frame }) => self.pushed(account, &frame, from, true).await,
            Some(Push::Device { device, frame }) => {
                let device = DeviceRef {
                    user: account,
                    device,
                };
                self.gateway.fanout().deliver_to_device(&device, &frame);
            }
            Some(Push::Account { frame }) => {
                self.gateway.fanout().deliver(&[account], &frame, None);
                self.note_told(&[account], &frame);
            }
            Some(Push::From { from, frame }) => {
                self.gateway
                    .fanout()
                    .deliver_each(&[account], None, |_, privacy| {
                        (!privacy.blocks(from)).then(|| frame.clone())
                    });
            }
            Some(Push::Receipt { receipt }) => {
                let Ok((chat_id, before, now, owner_shares_read)) =
                    merpati_protocol::decode::<(ChatId, Receipt, Receipt, bool)>(&receipt)
                else {
                    return;
                };
                let moved = Moved { before, now };
                self.gateway
                    .deliver_receipt(chat_id, &[account], moved, owner_shares_read);
            }
            Some(Push::PrivacyChanged) => self.gateway.reread_privacy(account).await,
            Some(Push::PresenceAsked) => self.answer_presence_asked(account),
            None => {}
        }
    }
}
