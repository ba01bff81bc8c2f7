//! The key directory and to-device messages in PostgreSQL: devices, one-time and fallback
//! keys, and Olm messages queued for a device, with the rules of `storage::sql::keys`.

use std::collections::{HashMap, HashSet};

use merpati_protocol::keys::{
    ClaimedKey, DeviceKey, DeviceKeys, DeviceRef, OneTimeKey, ToDeviceMessage, UserKeys,
};
use merpati_protocol::{
    ErrorCode, MAX_DEVICES, MAX_ONE_TIME_KEYS, MAX_PENDING_FROM_ONE_SENDER, MAX_PENDING_TO_DEVICE,
    UserId,
};
use tokio_postgres::Row;

use super::{Tx, key32};
use crate::Error;
use crate::storage::sql::{int, uint};
use crate::storage::{
    Claimed, DevicesChanged, Published, QueuedToDevice, ToDeviceOutcome, WaitingToDevice,
};

/// An account's Ed25519 public key from registration.
pub(crate) async fn account_key(tx: &Tx<'_>, account: UserId) -> Result<Option<[u8; 32]>, Error> {
    let statement = tx
        .prepare_cached("SELECT public_key FROM accounts WHERE id = $1")
        .await?;
    tx.query_opt(&statement, &[&int(account.0)])
        .await?
        .map(|row| key32(row.try_get(0)?))
        .transpose()
}

/// The account a device belongs to.
async fn device_owner(tx: &Tx<'_>, device: &DeviceKey) -> Result<Option<UserId>, Error> {
    let statement = tx
        .prepare_cached("SELECT account_id FROM devices WHERE device_key = $1")
        .await?;
    let owner = tx
        .query_opt(&statement, &[&&device.0[..]])
        .await?
        .map(|row| row.try_get::<_, i64>(0))
        .transpose()?;
    Ok(owner.map(|owner| UserId(uint(owner))))
}

/// The number of unclaimed one-time keys of a device.
async fn one_time_key_count(tx: &Tx<'_>, key: &[u8]) -> Result<u64, Error> {
    let statement = tx
        .prepare_cached("SELECT count(*) FROM one_time_keys WHERE device_key = $1")
        .await?;
    let count: i64 = tx.query_one(&statement, &[&key]).await?.try_get(0)?;
    Ok(uint(count))
}

/// Adds or updates a device (its signature already verified) with new one-time keys and
/// fallback key, and notes it active now; at [`MAX_DEVICES`] a new device replaces the
/// account's longest-inactive one.
pub(crate) async fn publish_keys(
    tx: &Tx<'_>,
    device: &DeviceKeys,
    one_time_keys: &[OneTimeKey],
    fallback_key: Option<&OneTimeKey>,
    now_ms: i64,
) -> Result<Published, Error> {
    let key = &device.device.0[..];
    let account = int(device.user.0);
    let mut replaced = false;
    // Strictly later than any other device of the account (see `sql::keys`).
    let statement = tx
        .prepare_cached(
            "SELECT GREATEST($2::bigint, coalesce(max(last_active_ms) + 1, 0)) FROM devices
             WHERE account_id = $1",
        )
        .await?;
    let active_ms: i64 = tx
        .query_one(&statement, &[&account, &now_ms])
        .await?
        .try_get(0)?;
    let new_device = match device_owner(tx, &device.device).await? {
        Some(owner) if owner != device.user => {
            return Err(Error::refused(
                ErrorCode::InvalidKey,
                "this device key belongs to another account",
            ));
        }
        Some(_) => {
            let statement = tx
                .prepare_cached(
                    "UPDATE devices SET ed25519 = $2, signature = $3, last_active_ms = $4
                     WHERE device_key = $1",
                )
                .await?;
            tx.execute(
                &statement,
                &[&key, &&device.ed25519[..], &device.signature, &active_ms],
            )
            .await?;
            false
        }
        None => {
            let statement = tx
                .prepare_cached("SELECT count(*) FROM devices WHERE account_id = $1")
                .await?;
            let devices: i64 = tx.query_one(&statement, &[&account]).await?.try_get(0)?;
            if uint(devices) >= MAX_DEVICES as u64 {
                // The longest-inactive device makes room (see `sql::keys`).
                let statement = tx
                    .prepare_cached(
                        "SELECT device_key FROM devices WHERE account_id = $1
                         ORDER BY last_active_ms LIMIT 1",
                    )
                    .await?;
                let stalest: Vec<u8> = tx.query_one(&statement, &[&account]).await?.try_get(0)?;
                delete_device(tx, device.user, &DeviceKey(key32(stalest)?)).await?;
                replaced = true;
            }
            let statement = tx
                .prepare_cached(
                    "INSERT INTO devices (device_key, account_id, ed25519, signature, created_ms,
                         last_active_ms)
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .await?;
            tx.execute(
                &statement,
                &[
                    &key,
                    &account,
                    &&device.ed25519[..],
                    &device.signature,
                    &now_ms,
                    &active_ms,
                ],
            )
            .await?;
            devices_changed(tx, device.user).await?;
            true
        }
    };
    if let Some(fallback) = fallback_key {
        let statement = tx
            .prepare_cached(
                "UPDATE devices SET fallback_key = $2, fallback_signature = $3,
                     fallback_flag = $4, fallback_claimed = FALSE
                 WHERE device_key = $1",
            )
            .await?;
        tx.execute(
            &statement,
            &[
                &key,
                &&fallback.key[..],
                &fallback.signature,
                &fallback.fallback,
            ],
        )
        .await?;
    }
    let mut count = one_time_key_count(tx, key).await?;
    let insert = tx
        .prepare_cached(
            "INSERT INTO one_time_keys (device_key, key, fallback, signature)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT DO NOTHING",
        )
        .await?;
    for one_time_key in one_time_keys {
        // Keys past the cap are dropped (see `sql::keys`).
        if count >= MAX_ONE_TIME_KEYS as u64 {
            break;
        }
        count += tx
            .execute(
                &insert,
                &[
                    &key,
                    &&one_time_key.key[..],
                    &one_time_key.fallback,
                    &one_time_key.signature,
                ],
            )
            .await?;
    }
    let statement = tx
        .prepare_cached("SELECT fallback_claimed FROM devices WHERE device_key = $1")
        .await?;
    let fallback_claimed: bool = tx.query_one(&statement, &[&key]).await?.try_get(0)?;
    Ok(Published {
        one_time_keys: u32::try_from(count).unwrap_or(u32::MAX),
        new_device,
        replaced_stale_device: replaced,
        fallback_claimed,
    })
}

/// Everything the directory knows about an account, if it exists.
pub(crate) async fn user_keys(tx: &Tx<'_>, user: UserId) -> Result<Option<UserKeys>, Error> {
    let Some(account_key) = account_key(tx, user).await? else {
        return Ok(None);
    };
    // BYTEA sorts byte by byte, as SQLite's BLOB does.
    let statement = tx
        .prepare_cached(
            "SELECT device_key, ed25519, signature FROM devices WHERE account_id = $1
             ORDER BY device_key",
        )
        .await?;
    let devices = tx
        .query(&statement, &[&int(user.0)])
        .await?
        .into_iter()
        .map(|row| {
            Ok(DeviceKeys {
                user,
                device: DeviceKey(key32(row.try_get(0)?)?),
                ed25519: key32(row.try_get(1)?)?,
                signature: row.try_get(2)?,
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
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
pub(crate) async fn claim_key(
    tx: &Tx<'_>,
    device: &DeviceRef,
    one_time: bool,
) -> Result<Option<Claimed>, Error> {
    if device_owner(tx, &device.device).await? != Some(device.user) {
        return Ok(None);
    }
    let key = &device.device.0[..];
    let taken = if one_time {
        let statement = tx
            .prepare_cached(
                "DELETE FROM one_time_keys WHERE id =
                     (SELECT id FROM one_time_keys WHERE device_key = $1 ORDER BY id LIMIT 1)
                 RETURNING key, fallback, signature",
            )
            .await?;
        tx.query_opt(&statement, &[&key])
            .await?
            .map(|row| one_time_key(&row))
            .transpose()?
    } else {
        None
    };
    let (claimed_key, fallback_claimed) = match taken {
        Some(taken) => (Some(taken), false),
        None => {
            let statement = tx
                .prepare_cached(
                    "SELECT fallback_key, fallback_flag, fallback_signature, fallback_claimed
                     FROM devices WHERE device_key = $1 AND fallback_key IS NOT NULL",
                )
                .await?;
            let fallback = tx
                .query_opt(&statement, &[&key])
                .await?
                .map(|row| Ok::<_, Error>((one_time_key(&row)?, row.try_get::<_, bool>(3)?)))
                .transpose()?;
            // Only the first hand-out is news to the device; the key stays the same after.
            let first_hand_out = matches!(fallback, Some((_, false)));
            if first_hand_out {
                let statement = tx
                    .prepare_cached(
                        "UPDATE devices SET fallback_claimed = TRUE WHERE device_key = $1",
                    )
                    .await?;
                tx.execute(&statement, &[&key]).await?;
            }
            (fallback.map(|(fallback, _)| fallback), first_hand_out)
        }
    };
    let left = one_time_key_count(tx, key).await?;
    Ok(Some(Claimed {
        key: ClaimedKey {
            device: *device,
            key: claimed_key,
        },
        one_time_keys_left: u32::try_from(left).unwrap_or(u32::MAX),
        fallback_claimed,
    }))
}

/// A one-time (or fallback) key from a row of key, flag, signature.
fn one_time_key(row: &Row) -> Result<OneTimeKey, Error> {
    Ok(OneTimeKey {
        key: key32(row.try_get(0)?)?,
        fallback: row.try_get(1)?,
        signature: row.try_get(2)?,
    })
}

/// Queues to-device messages from `sender`; per message what became of it. Each recipient
/// is decided on its own: its messages are refused when they would take its queue past
/// [`MAX_PENDING_TO_DEVICE`], or the sender's account's part of it past
/// [`MAX_PENDING_FROM_ONE_SENDER`] — and nobody else's are.
pub(crate) async fn queue_to_device(
    tx: &Tx<'_>,
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
                let owner = device_owner(tx, &recipient.device).await?;
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
    let pending = tx
        .prepare_cached(
            "SELECT count(*), count(*) FILTER (WHERE sender_account = $2)
             FROM to_device WHERE recipient_device = $1",
        )
        .await?;
    for (device, count) in &adding {
        let row = tx
            .query_one(&pending, &[&&device.0[..], &int(sender.user.0)])
            .await?;
        let (waiting, from_sender): (i64, i64) = (row.try_get(0)?, row.try_get(1)?);
        if uint(waiting) + count > MAX_PENDING_TO_DEVICE as u64
            || uint(from_sender) + count > MAX_PENDING_FROM_ONE_SENDER as u64
        {
            full.insert(*device);
        }
    }
    // The id comes back from the insert itself: PostgreSQL has no `last_insert_rowid()`.
    let insert = tx
        .prepare_cached(
            "INSERT INTO to_device (recipient_account, recipient_device, sender_account,
                 sender_device, body, created_ms)
             VALUES ($1, $2, $3, $4, $5, $6)
             RETURNING id",
        )
        .await?;
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
        let id: i64 = tx
            .query_one(
                &insert,
                &[
                    &int(message.recipient.user.0),
                    &&message.recipient.device.0[..],
                    &int(sender.user.0),
                    &&sender.device.0[..],
                    &message.body,
                    &now_ms,
                ],
            )
            .await?
            .try_get(0)?;
        outcomes.push(ToDeviceOutcome::Queued(uint(id)));
    }
    Ok(outcomes)
}

/// A queued to-device message from a row holding `id, sender_account, sender_device, body`
/// from column `first` on.
fn queued_to_device(row: &Row, first: usize) -> Result<QueuedToDevice, Error> {
    Ok(QueuedToDevice {
        id: uint(row.try_get(first)?),
        sender: DeviceRef {
            user: UserId(uint(row.try_get(first + 1)?)),
            device: DeviceKey(key32(row.try_get(first + 2)?)?),
        },
        body: row.try_get(first + 3)?,
    })
}

/// Up to `limit` messages waiting for `device` with an id above `after`, by id.
pub(crate) async fn to_device_after(
    tx: &Tx<'_>,
    device: &DeviceKey,
    after: u64,
    limit: u32,
) -> Result<Vec<QueuedToDevice>, Error> {
    let statement = tx
        .prepare_cached(
            "SELECT id, sender_account, sender_device, body FROM to_device
             WHERE recipient_device = $1 AND id > $2 ORDER BY id LIMIT $3",
        )
        .await?;
    tx.query(
        &statement,
        &[&&device.0[..], &int(after), &i64::from(limit)],
    )
    .await?
    .into_iter()
    .map(|row| queued_to_device(&row, 0))
    .collect()
}

/// The messages waiting for `devices` with ids up to `up_to`, at most `per_device` of each
/// device's oldest, and the newest id queued for any device.
pub(crate) async fn to_device_waiting(
    tx: &Tx<'_>,
    devices: &[DeviceKey],
    up_to: u64,
    per_device: u32,
) -> Result<WaitingToDevice, Error> {
    let newest = tx
        .query_one("SELECT coalesce(max(id), 0) FROM to_device", &[])
        .await?
        .try_get(0)?;
    // One round trip for every device: each device's oldest, by its index.
    let statement = tx
        .prepare_cached(
            "SELECT device.key, waiting.id, waiting.sender_account, waiting.sender_device,
                    waiting.body
             FROM unnest($1::bytea[]) AS device (key)
             CROSS JOIN LATERAL (
                 SELECT id, sender_account, sender_device, body FROM to_device
                 WHERE recipient_device = device.key AND id <= $2 ORDER BY id LIMIT $3
             ) AS waiting",
        )
        .await?;
    let keys: Vec<&[u8]> = devices.iter().map(|device| &device.0[..]).collect();
    let messages = tx
        .query(&statement, &[&keys, &int(up_to), &i64::from(per_device)])
        .await?
        .into_iter()
        .map(|row| {
            let queued = queued_to_device(&row, 1)?;
            Ok((DeviceKey(key32(row.try_get(0)?)?), queued))
        })
        .collect::<Result<_, Error>>()?;
    Ok(WaitingToDevice {
        messages,
        newest: uint(newest),
    })
}

/// Deletes the messages with these ids that wait for `device`; other ids are ignored.
pub(crate) async fn to_device_done(
    tx: &Tx<'_>,
    device: &DeviceKey,
    ids: &[u64],
) -> Result<(), Error> {
    if ids.is_empty() {
        return Ok(());
    }
    // One statement for all the ids rather than one per id: each is a round trip here.
    let ids: Vec<i64> = ids.iter().map(|id| int(*id)).collect();
    let statement = tx
        .prepare_cached("DELETE FROM to_device WHERE id = ANY($1) AND recipient_device = $2")
        .await?;
    tx.execute(&statement, &[&ids, &&device.0[..]]).await?;
    Ok(())
}

/// Deletes a device of `account` with its one-time keys and waiting messages; `true` if it
/// existed.
pub(crate) async fn delete_device(
    tx: &Tx<'_>,
    account: UserId,
    device: &DeviceKey,
) -> Result<bool, Error> {
    if device_owner(tx, device).await? != Some(account) {
        return Ok(false);
    }
    let key = &device.0[..];
    for sql in [
        "DELETE FROM one_time_keys WHERE device_key = $1",
        "DELETE FROM to_device WHERE recipient_device = $1",
        "DELETE FROM devices WHERE device_key = $1",
    ] {
        let statement = tx.prepare_cached(sql).await?;
        tx.execute(&statement, &[&key]).await?;
    }
    devices_changed(tx, account).await?;
    Ok(true)
}

/// Notes that `account`'s devices changed now (see `sql::keys`).
async fn devices_changed(tx: &Tx<'_>, account: UserId) -> Result<(), Error> {
    let statement = tx
        .prepare_cached(
            "UPDATE accounts SET devices_changed_ms = GREATEST(devices_changed_ms, $2)
             WHERE id = $1",
        )
        .await?;
    let now = int(crate::storage::now_ms());
    tx.execute(&statement, &[&int(account.0), &now]).await?;
    Ok(())
}

/// The accounts whose devices changed at or after `since_ms`, each with those sharing a chat
/// with it (see `sql::keys`).
pub(crate) async fn devices_changed_since(
    tx: &Tx<'_>,
    since_ms: u64,
) -> Result<Vec<DevicesChanged>, Error> {
    let statement = tx
        .prepare_cached(
            "SELECT id, id, devices_changed_ms FROM accounts
             WHERE devices_changed_ms >= $1 AND devices_changed_ms > 0
             UNION
             SELECT mine.account_id, changed.id, changed.devices_changed_ms FROM accounts changed
             JOIN members theirs ON theirs.account_id = changed.id
             JOIN members mine ON mine.chat_id = theirs.chat_id
             WHERE changed.devices_changed_ms >= $1 AND changed.devices_changed_ms > 0",
        )
        .await?;
    let rows = tx.query(&statement, &[&int(since_ms)]).await?;
    rows.iter()
        .map(|row| {
            Ok(DevicesChanged {
                told: UserId(uint(row.try_get(0)?)),
                changed: UserId(uint(row.try_get(1)?)),
                at_ms: uint(row.try_get(2)?),
            })
        })
        .collect()
}
