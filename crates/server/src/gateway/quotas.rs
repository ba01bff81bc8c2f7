//! Quotas on what an account may make the server keep, and on how many accounts one network
//! may make: the disk is shared, and a full disk fails every writer batch for everyone.
//!
//! - **Stored bytes per day**, per account: message bodies (`Send`, `SendDeletion`),
//!   to-device bodies (`SendToDevice`: key shares) and new chats, together. The allowance
//!   refills continuously, a day's worth over a day, so a person who writes a lot in one
//!   hour is not cut off for the rest of the day, while an account writing as fast as its
//!   connections may is stopped after its day's worth. Past it the request is refused with
//!   `QuotaExceeded` (a message: `SendFailed`, shown failed for the person to retry). Kept in
//!   memory: a restart hands out a fresh allowance, which an attacker cannot cause. A
//!   message is charged as it is queued for storage (`gateway::messages`), not here with
//!   the other frames: a resend of a message stored before is given its bytes back, and is
//!   acknowledged even past the quota, since it is stored already; so is one refused (not a
//!   member, blocked, not an upload of the sender's) or not stored for a failure, and so are
//!   to-device bodies not stored (refused, or their device gone or its mailbox full) and a
//!   new chat not made.
//! - **Sign-ups per source address**: otherwise every quota above is one sign-up away from
//!   fresh. Past it a registration is refused with `TooManySignUps`, unchecked; only
//!   registrations that succeeded count, so a taken username costs nothing.
//!
//! The other quotas are kept with the data they bound, in storage: the chats an account is
//! in (`MAX_CHATS_PER_ACCOUNT`), its key backup (`MAX_BACKUP_BYTES`), its sessions
//! (`MAX_SESSIONS_PER_ACCOUNT`, the least recently used ends) and devices (`MAX_DEVICES`,
//! the longest inactive goes).

use std::net::IpAddr;

use merpati_protocol::{ClientFrame, ErrorCode, UserId};

use crate::Error;
use crate::config::Config;
use crate::throttle::{AddressKey, Rate, TABLE_CAPACITY, Throttle, try_again_in};

/// What creating a chat costs of the day's stored bytes: its rows and its members'.
const CHAT_STORED_BYTES: u32 = 1024;
/// Minutes in a day: the stored-bytes allowance refills over one.
const MINUTES_PER_DAY: u32 = 24 * 60;

/// The quotas every session shares.
#[derive(Debug)]
pub(crate) struct Quotas {
    /// `None`: no quota (configured 0).
    stored_bytes_by_account: Option<Throttle<UserId>>,
    stored_bytes_per_day: u32,
    sign_ups_by_address: Option<Throttle<AddressKey>>,
}

impl Quotas {
    pub(crate) fn new(config: &Config) -> Quotas {
        let per_day = config.stored_bytes_per_account_per_day;
        let stored_bytes_by_account = (per_day > 0).then(|| {
            let rate = Rate {
                per_minute: (per_day / MINUTES_PER_DAY).max(1),
                burst: per_day,
            };
            Throttle::new(rate, TABLE_CAPACITY)
        });
        let sign_ups = config.sign_ups_per_address;
        let sign_ups_by_address = (sign_ups > 0).then(|| {
            // The burst at once, then one a minute: a school's NAT on the day of a surge gets
            // its first hundred at once and the rest over the next hours.
            let rate = Rate {
                per_minute: 1,
                burst: sign_ups,
            };
            Throttle::new(rate, TABLE_CAPACITY)
        });
        Quotas {
            stored_bytes_by_account,
            stored_bytes_per_day: per_day,
            sign_ups_by_address,
        }
    }

    /// Takes what `frame` asks the server to keep from `account`'s stored bytes of the day,
    /// or says why not.
    pub(crate) fn take_stored(&self, account: UserId, frame: &ClientFrame) -> Result<(), Error> {
        let Some(throttle) = &self.stored_bytes_by_account else {
            return Ok(());
        };
        let bytes = stored_bytes(frame);
        if bytes == 0 {
            return Ok(());
        }
        self.take_bytes(throttle, account, bytes)
    }

    /// Takes a message body's bytes from `account`'s stored bytes of the day, or says why
    /// not. A message that turns out a resend, or is not stored, gets them back
    /// ([`Quotas::give_back_message`]).
    pub(crate) fn take_message(&self, account: UserId, body: &[u8]) -> Result<(), Error> {
        let Some(throttle) = &self.stored_bytes_by_account else {
            return Ok(());
        };
        self.take_bytes(throttle, account, byte_count(body.len()))
    }

    /// Gives back what [`Quotas::take_message`] took for a message not stored now: one stored
    /// before (a resend is not stored again), refused, or failed.
    pub(crate) fn give_back_message(&self, account: UserId, body: &[u8]) {
        self.give_back_bytes(account, body.len());
    }

    /// Gives back what [`Quotas::take_stored`] took for a new chat that was not made (refused:
    /// no such user, too many chats, a bad title).
    pub(crate) fn give_back_chat(&self, account: UserId) {
        self.give_back_bytes(account, CHAT_STORED_BYTES as usize);
    }

    /// Gives back `bytes` of what [`Quotas::take_stored`] took for to-device bodies that were
    /// not stored: the request was refused, or their device is gone or its mailbox full.
    pub(crate) fn give_back_bytes(&self, account: UserId, bytes: usize) {
        if let Some(throttle) = &self.stored_bytes_by_account {
            throttle.give_back(&account, byte_count(bytes));
        }
    }

    fn take_bytes(
        &self,
        throttle: &Throttle<UserId>,
        account: UserId,
        bytes: u32,
    ) -> Result<(), Error> {
        throttle.take_cost(&account, bytes).map_err(|wait| {
            Error::refused(
                ErrorCode::QuotaExceeded,
                format!(
                    "this account stored its {} KiB for today; {}",
                    self.stored_bytes_per_day / 1024,
                    try_again_in(wait)
                ),
            )
        })
    }

    /// Takes one of `peer`'s sign-ups for an account about to be registered, or refuses it.
    pub(crate) fn take_sign_up(&self, peer: IpAddr) -> Result<(), Error> {
        let Some(throttle) = &self.sign_ups_by_address else {
            return Ok(());
        };
        throttle.take(&AddressKey::of(peer)).map_err(|wait| {
            Error::refused(
                ErrorCode::TooManySignUps,
                format!(
                    "too many accounts were made from this network recently; {}",
                    try_again_in(wait)
                ),
            )
        })
    }

    /// Gives back the sign-up [`Quotas::take_sign_up`] took: no account was made (the name
    /// was taken, say).
    pub(crate) fn give_back_sign_up(&self, peer: IpAddr) {
        if let Some(throttle) = &self.sign_ups_by_address {
            throttle.give_back(&AddressKey::of(peer), 1);
        }
    }
}

/// The bytes `frame` asks the server to store; none for a message, which is charged as it
/// is queued ([`Quotas::take_message`]).
fn stored_bytes(frame: &ClientFrame) -> u32 {
    let bytes = match frame {
        ClientFrame::SendToDevice { messages, .. } => {
            messages.iter().map(|message| message.body.len()).sum()
        }
        ClientFrame::CreateChat { .. } => CHAT_STORED_BYTES as usize,
        _ => 0,
    };
    byte_count(bytes)
}

fn byte_count(bytes: usize) -> u32 {
    u32::try_from(bytes).unwrap_or(u32::MAX)
}
