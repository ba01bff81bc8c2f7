//! The key directory and to-device messages: devices vouched for by their account's key,
//! one-time keys handed out once (then the fallback key), and Olm messages queued until the
//! addressed device acknowledges them. Public keys and ciphertext only.

use std::collections::{HashMap, HashSet};

use merpati_protocol::keys::{
    ClaimedKey, DeviceKey, DeviceKeys, DeviceRef, OneTimeKey, ToDeviceMessage, UserKeys,
};
use merpati_protocol::{
    ErrorCode, MAX_DEVICES, MAX_ONE_TIME_KEYS, MAX_PENDING_FROM_ONE_SENDER, MAX_PENDING_TO_DEVICE,
    UserId,
};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{int, key32, uint};
use crate::Error;
use crate::storage::{
    Claimed, DevicesChanged, Published, QueuedToDevice, ToDeviceOutcome, WaitingToDevice,
};

/// An account's Ed25519 public key from registration.
pub(crate) fn account_key(conn: &Connection, account: UserId) -> Result<Option<[u8; 32]>, Error> {
    let key = conn
        .prepare_cached("SELECT public_key FROM accounts WHERE id = ?1")?
        .query_row([int(account.0)], |row| key32(row.get(0)?))
        .optional()?;
    Ok(key)
}

/// The account a device belongs to.
fn device_owner(conn: &Connection, device: &DeviceKey) -> Result<Option<UserId>, Error> {
    let owner = conn
        .prepare_cached("SELECT account_id FROM devices WHERE device_key = ?1")?
        .query_row([&device.0[..]], |row| Ok(UserId(uint(row.get(0)?))))
        .optional()?;
    Ok(owner)
}

/// Adds or updates a device (its signature already verified) with new one-time keys and
/// fallback key, and notes it active now. A new device of an account at [`MAX_DEVICES`]
/// replaces the account's longest-inactive one.
pub(crate) fn publish_keys(
    conn: &Connection,
    device: &DeviceKeys,
    one_time_keys: &[OneTimeKey],
    fallback_key: Option<&OneTimeKey>,
    now_ms: i64,
) -> Result<Published, Error> {
    let key = &device.device.0[..];
    let mut replaced = false;
    // Strictly later than any other device of the account, so that "longest inactive" has
    // one answer even for devices active in the same millisecond.
    let active_ms: i64 = conn
        .prepare_cached(
            "SELECT max(?2, coalesce(max(last_active_ms) + 1, 0)) FROM devices
             WHERE account_id = ?1",
        )?
        .query_row(params![int(device.user.0), now_ms], |row| row.get(0))?;
    let new_device = match device_owner(conn, &device.device)? {
        Some(owner) if owner != device.user => {
            return Err(Error::refused(
                ErrorCode::InvalidKey,
                "this device key belongs to another account",
            ));
        }
        Some(_) => {
            conn.prepare_cached(
                "UPDATE devices SET ed25519 = ?2, signature = ?3, last_active_ms = ?4
                 WHERE device_key = ?1",
            )?
            .execute(params![
                key,
                &device.ed25519[..],
                &device.signature,
                active_ms
            ])?;
            false
        }
        None => {
            let devices: i64 = conn
                .prepare_cached("SELECT count(*) FROM devices WHERE account_id = ?1")?
                .query_row([int(device.user.0)], |row| row.get(0))?;
            if uint(devices) >= MAX_DEVICES as u64 {
                // Browsers are closed without signing out, and a device never seen again
                // must not lock the account out of adding one: the one longest inactive
                // makes room (it publishes again, as a new device, if it ever comes back).
                let stalest: Vec<u8> = conn
                    .prepare_cached(
                        "SELECT device_key FROM devices WHERE account_id = ?1
                         ORDER BY last_active_ms LIMIT 1",
                    )?
                    .query_row([int(device.user.0)], |row| row.get(0))?;
                delete_device(conn, device.user, &DeviceKey(key32(stalest)?))?;
                replaced = true;
            }
            conn.prepare_cached(
                "INSERT INTO devices (device_key, account_id, ed25519, signature, created_ms,
                     last_active_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                key,
                int(device.user.0),
                &device.ed25519[..],
                &device.signature,
                now_ms,
                active_ms
            ])?;
            devices_changed(conn, device.user)?;
            true
        }
    };
    if let Some(fallback) = fallback_key {
        conn.prepare_cached(
            "UPDATE devices SET fallback_key = ?2, fallback_signature = ?3, fallback_flag = ?4,
                 fallback_claimed = 0
             WHERE device_key = ?1",
        )?
        .execute(params![
            key,
            &fallback.key[..],
            &fallback.signature,
            fallback.fallback
        ])?;
    }
    let count: i64 = conn
        .prepare_cached("SELECT count(*) FROM one_time_keys WHERE device_key = ?1")?
        .query_row([key], |row| row.get(0))?;
    let mut count = uint(count);
    let mut insert = conn.prepare_cached(
        "INSERT INTO one_time_keys (device_key, key, fallback, signature) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT DO NOTHING",
    )?;
    for one_time_key in one_time_keys {
        // Keys past the cap are dropped: the device learns the count from KeysPublished and
        // uploads more once some have been claimed.
        if count >= MAX_ONE_TIME_KEYS as u64 {
            break;
        }
        let inserted = insert.execute(params![
            key,
            &one_time_key.key[..],
            one_time_key.fallback,
            &one_time_key.signature
        ])?;
        count += inserted as u64;
    }
    let fallback_claimed: bool = conn
        .prepare_cached("SELECT fallback_claimed FROM devices WHERE device_key = ?1")?
        .query_row([key], |row| row.get(0))?;
    Ok(Published {
        one_time_keys: u32::try_from(count).unwrap_or(u32::MAX),
        new_device,
        replaced_stale_device: replaced,
        fallback_claimed,
    })
}

/// Everything the directory knows about an account, if it exists.
pub(crate) fn user_keys(conn: &Connection, user: UserId) -> Result<Option<UserKeys>, Error> {
    let Some(account_key) = account_key(conn, user)? else {
        return Ok(None);
    };
    let mut statement = conn.prepare_cached(
        "SELECT device_key, ed25519, signature FROM devices WHERE account_id = ?1
         ORDER BY device_key",
    )?;
    let devices = statement
        .query_map([int(user.0)], |row| {
            Ok(DeviceKeys {
                user,
                device: DeviceKey(key32(row.get(0)?)?),
                ed25519: key32(row.get(1)?)?,
                signature: row.get(2)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(Some(UserKeys {
        user,
        account_key,
        devices,
    }))
}

/// Takes the oldest one-time key of a device (if `one_time` allows it), or else reads its
/// fallback key, marking it handed out (`Claimed::fallback_claimed` says whether this was the
/// first time since it was published); `None` if the device does not exist (or is not
/// `device.user`'s).
pub(crate) fn claim_key(
    conn: &Connection,
    device: &DeviceRef,
    one_time: bool,
) -> Result<Option<Claimed>, Error> {
    if device_owner(conn, &device.device)? != Some(device.user) {
        return Ok(None);
    }
    let key = &device.device.0[..];
    let taken = if one_time {
        conn.prepare_cached(
            "DELETE FROM one_time_keys WHERE id =
                 (SELECT id FROM one_time_keys WHERE device_key = ?1 ORDER BY id LIMIT 1)
             RETURNING key, fallback, signature",
        )?
        .query_row([key], one_time_key)
        .optional()?
    } else {
        None
    };
    let (claimed_key, fallback_claimed) = match taken {
        Some(taken) => (Some(taken), false),
        None => {
            let fallback = conn
                .prepare_cached(
                    "SELECT fallback_key, fallback_flag, fallback_signature, fallback_claimed
                     FROM devices WHERE device_key = ?1 AND fallback_key IS NOT NULL",
                )?
                .query_row([key], |row| {
                    Ok((one_time_key(row)?, row.get::<_, bool>(3)?))
                })
                .optional()?;
            // Only the first hand-out is news to the device; the key stays the same after.
            let first_hand_out = matches!(fallback, Some((_, false)));
            if first_hand_out {
                conn.prepare_cached(
                    "UPDATE devices SET fallback_claimed = 1 WHERE device_key = ?1",
                )?
                .execute([key])?;
            }
            (fallback.map(|(fallback, _)| fallback), first_hand_out)
        }
    };
    let left: i64 = conn
        .prepare_cached("SELECT count(*) FROM one_time_keys WHERE device_key = ?1")?
        .query_row([key], |row| row.get(0))?;
    Ok(Some(Claimed {
        key: ClaimedKey {
            device: *device,
            key: claimed_key,
        },
        one_time_keys_left: u32::try_from(left).unwrap_or(u32::MAX),
        fallback_claimed,
    }))
}

fn one_time_key(row: &Row<'_>) -> rusqlite::Result<OneTimeKey> {
    Ok(OneTimeKey {
        key: key32(row.get(0)?)?,
        fallback: row.get(1)?,
        signature: row.get(2)?,
    })
}

/// Queues to-device messages from `sender`; per message what became of it. Each recipient
/// is decided on its own: its messages are refused when they would take its queue past
/// [`MAX_PENDING_TO_DEVICE`], or the sender's account's part of it past
/// [`MAX_PENDING_FROM_ONE_SENDER`] — and nobody else's are.
pub(crate) fn queue_to_device(
    conn: &Connection,
    sender: &DeviceRef,
    messages: &[ToDeviceMessage],
    now_ms: i64,
) -> Result<Vec<ToDeviceOutcome>, Error> {
    let mut owners: HashMap<DeviceKey, Option<UserId>> = HashMap::new();
    let mut adding: HashMap<DeviceKey, u64> = HashMap::new();
    let mut known = Vec::with_capacity(messages.len());
    for message in messages {
        let recipient = message.recipient;
        let owner = match owners.get(&recipient.device) {
            Some(owner) => *owner,
            None => {
                let owner = device_owner(conn, &recipient.device)?;
                owners.insert(recipient.device, owner);
                owner
            }
        };
        let is_known = owner == Some(recipient.user);
        if is_known {
            *adding.entry(recipient.device).or_default() += 1;
        }
        known.push(is_known);
    }
    let mut full = HashSet::new();
    for (device, count) in &adding {
        let (pending, from_sender): (i64, i64) = conn
            .prepare_cached(
                "SELECT count(*), count(*) FILTER (WHERE sender_account = ?2)
                 FROM to_device WHERE recipient_device = ?1",
            )?
            .query_row(params![&device.0[..], int(sender.user.0)], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })?;
        if uint(pending) + count > MAX_PENDING_TO_DEVICE as u64
            || uint(from_sender) + count > MAX_PENDING_FROM_ONE_SENDER as u64
        {
            full.insert(*device);
        }
    }
    let mut insert = conn.prepare_cached(
        "INSERT INTO to_device (recipient_account, recipient_device, sender_account,
             sender_device, body, created_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    let mut outcomes = Vec::with_capacity(messages.len());
    for (message, known) in messages.iter().zip(known) {
        if !known {
            outcomes.push(ToDeviceOutcome::NoSuchDevice);
            continue;
        }
        if full.contains(&message.recipient.device) {
            outcomes.push(ToDeviceOutcome::MailboxFull);
            continue;
        }
        insert.execute(params![
            int(message.recipient.user.0),
            &message.recipient.device.0[..],
            int(sender.user.0),
            &sender.device.0[..],
            &message.body,
            now_ms
        ])?;
        outcomes.push(ToDeviceOutcome::Queued(uint(conn.last_insert_rowid())));
    }
    Ok(outcomes)
}

/// A queued to-device message from a row of `id, sender_account, sender_device, body`.
fn queued_to_device(row: &Row<'_>) -> rusqlite::Result<QueuedToDevice> {
    Ok(QueuedToDevice {
        id: uint(row.get(0)?),
        sender: DeviceRef {
            user: UserId(uint(row.get(1)?)),
            device: DeviceKey(key32(row.get(2)?)?),
        },
        body: row.get(3)?,
    })
}

/// Up to `limit` messages waiting for `device` with an id above `after`, by id.
pub(crate) fn to_device_after(
    conn: &Connection,
    device: &DeviceKey,
    after: u64,
    limit: u32,
) -> Result<Vec<QueuedToDevice>, Error> {
    let mut statement = conn.prepare_cached(
        "SELECT id, sender_account, sender_device, body FROM to_device
         WHERE recipient_device = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
    )?;
    let queued = statement
        .query_map(params![&device.0[..], int(after), limit], queued_to_device)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(queued)
}

/// The messages waiting for `devices` with ids up to `up_to`, at most `per_device` of each
/// device's oldest, and the newest id queued for any device.
pub(crate) fn to_device_waiting(
    conn: &Connection,
    devices: &[DeviceKey],
    up_to: u64,
    per_device: u32,
) -> Result<WaitingToDevice, Error> {
    let newest = conn
        .prepare_cached("SELECT coalesce(max(id), 0) FROM to_device")?
        .query_row([], |row| row.get(0))?;
    let mut statement = conn.prepare_cached(
        "SELECT id, sender_account, sender_device, body FROM to_device
         WHERE recipient_device = ?1 AND id <= ?2 ORDER BY id LIMIT ?3",
    )?;
    let mut waiting = Vec::new();
    for device in devices {
        let rows = statement.query_map(
            params![&device.0[..], int(up_to), per_device],
            queued_to_device,
        )?;
        for queued in rows {
            waiting.push((*device, queued?));
        }
    }
    Ok(WaitingToDevice {
        messages: waiting,
        newest: uint(newest),
    })
}

/// Deletes the messages with these ids that wait for `device`; other ids are ignored.
pub(crate) fn to_device_done(
    conn: &Connection,
    device: &DeviceKey,
    ids: &[u64],
) -> Result<(), Error> {
    let mut delete =
        conn.prepare_cached("DELETE FROM to_device WHERE id = ?1 AND recipient_device = ?2")?;
    for id in ids {
        delete.execute(params![int(*id), &device.0[..]])?;
    }
    Ok(())
}

/// Deletes a device of `account` with its one-time keys and waiting messages; `true` if it
/// existed.
pub(crate) fn delete_device(
    conn: &Connection,
    account: UserId,
    device: &DeviceKey,
) -> Result<bool, Error> {
    if device_owner(conn, device)? != Some(account) {
        return Ok(false);
    }
    let key = &device.0[..];
    conn.prepare_cached("DELETE FROM one_time_keys WHERE device_key = ?1")?
        .execute([key])?;
    conn.prepare_cached("DELETE FROM to_device WHERE recipient_device = ?1")?
        .execute([key])?;
    conn.prepare_cached("DELETE FROM devices WHERE device_key = ?1")?
        .execute([key])?;
    devices_changed(conn, account)?;
    Ok(true)
}

/// Notes that `account`'s devices changed now (one published anew, or deleted): a cluster's
/// head check tells its partners again, in case the push of the change was lost.
fn devices_changed(conn: &Connection, account: UserId) -> Result<(), Error> {
    conn.prepare_cached(
        "UPDATE accounts SET devices_changed_ms = max(devices_changed_ms, ?2) WHERE id = ?1",
    )?
    .execute(params![int(account.0), int(crate::storage::now_ms())])?;
    Ok(())
}

/// The accounts whose devices changed at or after `since_ms`, with when, each with those
/// sharing a chat with it (itself included).
pub(crate) fn devices_changed_since(
    conn: &Connection,
    since_ms: u64,
) -> Result<Vec<DevicesChanged>, Error> {
    let mut statement = conn.prepare_cached(
        "SELECT id, id, devices_changed_ms FROM accounts
         WHERE devices_changed_ms >= ?1 AND devices_changed_ms > 0
         UNION
         SELECT mine.account_id, changed.id, changed.devices_changed_ms FROM accounts changed
         JOIN members theirs ON theirs.account_id = changed.id
         JOIN members mine ON mine.chat_id = theirs.chat_id
         WHERE changed.devices_changed_ms >= ?1 AND changed.devices_changed_ms > 0",
    )?;
    let changed = statement
        .query_map([int(since_ms)], |row| {
            Ok(DevicesChanged {
                told: UserId(uint(row.get(0)?)),
                changed: UserId(uint(row.get(1)?)),
                at_ms: uint(row.get(2)?),
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(changed)
}
