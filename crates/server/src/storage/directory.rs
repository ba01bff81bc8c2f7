//! The key directory and the key backup, as storage serves them: devices and their one-time
//! and fallback keys, to-device messages waiting for their device, and each account's sealed
//! backup entries — public keys and ciphertext only (the SQL is in `sql::keys` and
//! `sql::backup`).

use std::sync::Arc;

use merpati_protocol::UserId;
use merpati_protocol::keys::{
    BackupEntry, ClaimedKey, DeviceKey, DeviceKeys, DeviceRef, OneTimeKey, ToDeviceMessage,
    UserKeys,
};

use futures_util::future::Either;

use super::postgres::{self, transaction};
use super::{Backend, Storage, on_backend, sql};
use crate::Error;

/// The outcome of [`Storage::publish_keys`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Published {
    /// How many unclaimed one-time keys the device has now.
    pub(crate) one_time_keys: u32,
    /// Whether the device was not in the directory before.
    pub(crate) new_device: bool,
    /// Whether it took the place of the account's longest-inactive device (at the cap).
    pub(crate) replaced_stale_device: bool,
    /// Whether its fallback key has been handed out since it was published.
    pub(crate) fallback_claimed: bool,
}

/// One device's part of [`Storage::claim_keys`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Claimed {
    /// What the claimer gets.
    pub(crate) key: ClaimedKey,
    /// The device's unclaimed one-time keys after this claim.
    pub(crate) one_time_keys_left: u32,
    /// Whether this claim handed out the fallback key for the first time since it was
    /// published.
    pub(crate) fallback_claimed: bool,
}

/// What became of one message of [`Storage::queue_to_device`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ToDeviceOutcome {
    /// Queued under this id.
    Queued(u64),
    /// No such device (it may have signed out): dropped without a word.
    NoSuchDevice,
    /// Its recipient's mailbox is full, or holds the sender's share of it: refused.
    MailboxFull,
}

/// A to-device message waiting for its device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct QueuedToDevice {
    pub(crate) id: u64,
    pub(crate) sender: DeviceRef,
    pub(crate) body: Vec<u8>,
}

/// What [`Storage::to_device_waiting`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WaitingToDevice {
    /// Each message with the device it waits for, each device's oldest first.
    pub(crate) messages: Vec<(DeviceKey, QueuedToDevice)>,
    /// The newest id queued for any device (0 if none waits).
    pub(crate) newest: u64,
}

/// An account whose devices changed, and one to tell ([`Storage::devices_changed_since`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DevicesChanged {
    /// Who shares a chat with it (or it itself).
    pub(crate) told: UserId,
    /// Whose devices changed.
    pub(crate) changed: UserId,
    /// When, by the clock of the process that changed them.
    pub(crate) at_ms: u64,
}

/// Backup entries with their positions, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BackupPage {
    pub(crate) entries: Vec<(u64, BackupEntry)>,
    /// Whether more entries follow.
    pub(crate) more: bool,
}

impl Storage {
    /// An account's Ed25519 public key from registration, if the account exists.
    pub(crate) fn account_key(
        &self,
        account: UserId,
    ) -> impl Future<Output = Result<Option<[u8; 32]>, Error>> {
        on_backend!(self, read keys::account_key(account))
    }

    /// Adds or updates a device (whose signature the caller has verified) with its new keys,
    /// and notes it as the device of the session whose token hash is `session`.
    pub(crate) fn publish_keys(
        &self,
        session: [u8; 32],
        device: DeviceKeys,
        one_time_keys: Vec<OneTimeKey>,
        fallback_key: Option<OneTimeKey>,
    ) -> impl Future<Output = Result<Published, Error>> {
        match &self.backend {
            Backend::Sqlite(sqlite) => Either::Left(sqlite.write(move |conn, now| {
                let fallback = fallback_key.as_ref();
                let published =
                    sql::keys::publish_keys(conn, &device, &one_time_keys, fallback, now)?;
                sql::sessions::bind_session_device(conn, &session, &device.device.0)?;
                Ok(published)
            })),
            Backend::Postgres(pg) => Either::Right(transaction!(pg, true, |tx, now| {
                let fallback = fallback_key.as_ref();
                let published =
                    postgres::keys::publish_keys(&tx, &device, &one_time_keys, fallback, now)
                        .await?;
                postgres::sessions::bind_session_device(&tx, &session, &device.device.0).await?;
                Ok::<_, Error>(published)
            })),
        }
    }

    /// The keys of those of `users` that exist, in the order asked.
    pub(crate) fn user_keys(
        &self,
        users: Vec<UserId>,
    ) -> impl Future<Output = Result<Vec<UserKeys>, Error>> {
        match &self.backend {
            Backend::Sqlite(sqlite) => Either::Left(sqlite.read(move |conn| {
                let mut found = Vec::with_capacity(users.len());
                for &user in &users {
                    found.extend(sql::keys::user_keys(conn, user)?);
                }
                Ok(found)
            })),
            Backend::Postgres(pg) => Either::Right(transaction!(pg, false, |tx, _now| {
                let mut found = Vec::with_capacity(users.len());
                for &user in &users {
                    found.extend(postgres::keys::user_keys(&tx, user).await?);
                }
                Ok::<_, Error>(found)
            })),
        }
    }

    /// Claims one key of each device that exists: a one-time key where its flag allows and
    /// one is left, else the fallback key.
    pub(crate) fn claim_keys(
        &self,
        devices: Vec<(DeviceRef, bool)>,
    ) -> impl Future<Output = Result<Vec<Claimed>, Error>> {
        match &self.backend {
            Backend::Sqlite(sqlite) => Either::Left(sqlite.write(move |conn, _| {
                let mut claimed = Vec::with_capacity(devices.len());
                for (device, one_time) in &devices {
                    claimed.extend(sql::keys::claim_key(conn, device, *one_time)?);
                }
                Ok(claimed)
            })),
            Backend::Postgres(pg) => Either::Right(transaction!(pg, true, |tx, _now| {
                let mut claimed = Vec::with_capacity(devices.len());
                for (device, one_time) in &devices {
                    claimed.extend(postgres::keys::claim_key(&tx, device, *one_time).await?);
                }
                Ok::<_, Error>(claimed)
            })),
        }
    }

    /// Queues to-device messages; per message what became of it.
    pub(crate) fn queue_to_device(
        &self,
        sender: DeviceRef,
        messages: Arc<Vec<ToDeviceMessage>>,
    ) -> impl Future<Output = Result<Vec<ToDeviceOutcome>, Error>> {
        on_backend!(
            self,
            write | now | keys::queue_to_device(&sender, &messages, now)
        )
    }

    /// Up to `limit` messages waiting for `device` after id `after`, by id.
    pub(crate) fn to_device_after(
        &self,
        device: DeviceKey,
        after: u64,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<QueuedToDevice>, Error>> {
        on_backend!(self, read keys::to_device_after(&device, after, limit))
    }

    /// The messages waiting for `devices` with ids up to `up_to` (at most `per_device` of
    /// each), and the newest id queued for any device: what a cluster's head check hands again
    /// to the devices connected to its process, in case a push was lost on the way.
    pub(crate) fn to_device_waiting(
        &self,
        devices: Vec<DeviceKey>,
        up_to: u64,
        per_device: u32,
    ) -> impl Future<Output = Result<WaitingToDevice, Error>> {
        on_backend!(self, read keys::to_device_waiting(&devices, up_to, per_device))
    }

    /// The accounts whose devices changed at or after `since_ms` (one published anew, or
    /// deleted), each with those sharing a chat with it, itself included: what a cluster's
    /// head check tells again, in case the push of the change was lost.
    pub(crate) fn devices_changed_since(
        &self,
        since_ms: u64,
    ) -> impl Future<Output = Result<Vec<DevicesChanged>, Error>> {
        on_backend!(self, read keys::devices_changed_since(since_ms))
    }

    /// Deletes those of `ids` that wait for `device`.
    pub(crate) fn to_device_done(
        &self,
        device: DeviceKey,
        ids: Vec<u64>,
    ) -> impl Future<Output = Result<(), Error>> {
        on_backend!(self, write | _now | keys::to_device_done(&device, &ids))
    }

    // ---- key backup ----

    /// Stores (or replaces) backup entries of `account`.
    pub(crate) fn put_backup(
        &self,
        account: UserId,
        entries: Vec<BackupEntry>,
    ) -> impl Future<Output = Result<(), Error>> {
        on_backend!(self, write | _now | backup::put_backup(account, &entries))
    }

    /// Up to `limit` backup entries of `account` after position `after`.
    pub(crate) fn backup_after(
        &self,
        account: UserId,
        after: u64,
        limit: u32,
    ) -> impl Future<Output = Result<BackupPage, Error>> {
        on_backend!(self, read backup::backup_after(account, after, limit))
    }
}
