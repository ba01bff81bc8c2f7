//! A session's end-to-end encryption frames: the key directory, to-device messages and the
//! key backup.
//!
//! The server is a directory and a mailbox here, nothing more: it checks that the account key
//! vouches for each device (so it cannot be tricked into listing a stranger's device under
//! someone's account), hands out one-time keys once, queues Olm messages until the addressed
//! device says it has processed them, and keeps sealed backup entries it cannot open. Every
//! write is committed before it is answered, like a chat message.

use std::collections::HashSet;
use std::sync::Arc;

use bytes::Bytes;
use merpati_protocol::keys::{
    BackupEntry, DeviceKey, DeviceKeys, DeviceRef, OneTimeKey, ToDeviceMessage,
};
use merpati_protocol::{
    ErrorCode, MAX_BACKUP_BATCH, MAX_BACKUP_ENTRY_BYTES, MAX_FRAME_BYTES, MAX_KEY_REQUEST,
    MAX_PENDING_TO_DEVICE, MAX_TO_DEVICE_BATCH, MAX_TO_DEVICE_BYTES, Member, ONE_TIME_KEYS_LOW,
    RequestId, ServerFrame, UserId,
};

use super::session::{Flow, Gone, Session};
use super::socket::FrameSocket;
use super::{Gateway, encode};
use crate::fanout::SessionId;
use crate::storage::ToDeviceOutcome;
use crate::{Error, auth};

/// How many waiting to-device messages are read from storage at a time when a device
/// publishes its keys: the queue may hold thousands, and they need not all be in memory.
const TO_DEVICE_PAGE: u32 = 64;

/// The length of an Ed25519 signature.
const SIGNATURE_BYTES: usize = 64;

impl Gateway {
    /// Tells every account sharing a chat with `user`, and `user`'s other sessions, that
    /// `user`'s devices changed, so they query its keys again before encrypting for it.
    pub(super) async fn devices_changed(&self, user: UserId, skip: SessionId) {
        match self.storage.chat_partners(user).await {
            Ok(partners) => {
                let frame = encode(&ServerFrame::DevicesChanged { user });
                self.deliver_to_accounts(&partners, frame, Some(skip));
            }
            // The change is stored all the same; partners see it at their next query.
            Err(error) => tracing::warn!(%error, "cannot announce a device change"),
        }
    }

    /// Checks that a device's keys may be stored: published by its own account, signed by
    /// the account's key, every one-time key with a signature's worth of bytes. Takes them by
    /// reference, so that a request waiting here holds them once, in its handler.
    async fn check_device(
        &self,
        me: &Member,
        device: &DeviceKeys,
        one_time_keys: &[OneTimeKey],
        fallback_key: Option<&OneTimeKey>,
    ) -> Result<(), Error> {
        if device.user != me.id {
            return Err(Error::refused(
                ErrorCode::InvalidKey,
                "a device is published by its own account",
            ));
        }
        // One-time key signatures are NOT verified here: clients verify them before use (they
        // must anyway, since they cannot trust the server), and skipping up to a hundred
        // verifications per device keeps a sign-up surge cheap. Only their shape is checked,
        // so that the directory never stores more than a signature's worth of bytes per key.
        let shapely = |key: &OneTimeKey| key.signature.len() == SIGNATURE_BYTES;
        if !one_time_keys.iter().all(shapely) || !fallback_key.iter().all(|key| shapely(key)) {
            return Err(Error::refused(
                ErrorCode::InvalidKey,
                "a one-time key signature is not 64 bytes",
            ));
        }
        let account_key = self.storage.account_key(me.id).await?.ok_or_else(|| {
            Error::Io(std::io::Error::other(
                "the signed-in account has no stored public key",
            ))
        })?;
        auth::verify_device(&auth::public_key(&account_key)?, device)
    }
}

impl<S: FrameSocket> Session<S> {
    /// The device this connection published keys for.
    fn device(&self) -> Option<DeviceKey> {
        self.signed_in
            .as_ref()
            .and_then(|signed_in| signed_in.device)
    }

    /// Answers `PublishKeys`, binds the connection to the device and sends what waits for it.
    /// Binding needs the device's own signature over this connection's challenge: the
    /// account's session alone (a stolen token, say) cannot act as one of its devices.
    pub(super) async fn publish_keys(
        &mut self,
        me: &Member,
        device: DeviceKeys,
        device_proof: Option<Vec<u8>>,
        one_time_keys: Vec<OneTimeKey>,
        fallback_key: Option<OneTimeKey>,
    ) -> Result<Flow, Gone> {
        let device_key = device.device;
        let mut checked = self
            .gateway
            .check_device(me, &device, &one_time_keys, fallback_key.as_ref())
            .await;
        if checked.is_ok() && self.device() != Some(device_key) {
            checked = auth::verify_device_binding(&device, &self.nonce, device_proof.as_deref());
        }
        let published = match checked {
            Ok(()) => {
                let session = self
                    .signed_in
                    .as_ref()
                    .map_or([0; 32], |signed_in| signed_in.token_hash);
                self.gateway
                    .storage
                    .publish_keys(session, device, one_time_keys, fallback_key)
                    .await
            }
            Err(error) => Err(error),
        };
        let published = match published {
            Ok(published) => published,
            Err(error) => {
                Box::pin(self.write_error(None, &error)).await?;
                return Ok(Flow::Continue);
            }
        };
        // The queue is sent once per connection, when it is bound: a device publishes its
        // keys a few at a time (small frames keep every connection's read buffer small), and
        // the later publishes must not send the queue again.
        let newly_bound = self.device() != Some(device_key);
        // Bound before the queue is read, so that a message stored meanwhile is not missed;
        // it may then arrive twice (queued and live), with the same id both times.
        self.gateway.fanout.bind_device(me.id, self.id, device_key);
        if let Some(signed_in) = self.signed_in.as_mut() {
            signed_in.device = Some(device_key);
        }
        if published.new_device {
            tracing::info!("new device published");
            self.gateway.devices_changed(me.id, self.id).await;
        }
        self.write_frame(&ServerFrame::KeysPublished {
            one_time_keys: published.one_time_keys,
        })
        .await?;
        if published.fallback_claimed {
            // Handed out while the device was away: it is to publish a new one.
            self.write_frame(&ServerFrame::KeysClaimed {
                one_time_keys: published.one_time_keys,
                fallback_claimed: true,
            })
            .await?;
        }
        if newly_bound {
            // Boxed, like the error above: once per connection, and the largest step.
            Box::pin(self.write_waiting_to_device(device_key)).await?;
        }
        Ok(Flow::Continue)
    }

    /// Sends every to-device message waiting for `device`, by id, a page at a time.
    async fn write_waiting_to_device(&mut self, device: DeviceKey) -> Result<(), Gone> {
        let mut after = 0;
        loop {
            let page = self
                .gateway
                .storage
                .to_device_after(device, after, TO_DEVICE_PAGE)
                .await;
            let queued = match page {
                Ok(queued) => queued,
                // What was not sent stays queued: the next PublishKeys sends it.
                Err(error) => return self.write_error(None, &error).await,
            };
            let full = queued.len() == TO_DEVICE_PAGE as usize;
            for message in queued {
                after = message.id;
                self.write_frame(&ServerFrame::ToDevice {
                    id: message.id,
                    sender: message.sender,
                    body: message.body,
                })
                .await?;
            }
            if !full {
                return Ok(());
            }
        }
    }

    /// Answers `QueryKeys`, for the accounts asked about that share a chat with this one (and
    /// itself): an account's public key is what an offline guess of its passphrase is checked
    /// against, so strangers do not get it. Others are left out, as if they did not exist.
    /// Each account named is looked for in a chat shared with this one, which ends at the
    /// first found for a partner and reads every chat of this account for a stranger: each
    /// stranger named costs a read more (the app names only the people of its chats).
    pub(super) async fn query_keys(
        &mut self,
        me: &Member,
        request: RequestId,
        users: Vec<UserId>,
    ) -> Result<Flow, Gone> {
        if users.len() > MAX_KEY_REQUEST {
            let detail = format!("ask for the keys of at most {MAX_KEY_REQUEST} accounts at once");
            return self.malformed_request(Some(request), detail).await;
        }
        let mut seen = HashSet::new();
        let named: Vec<UserId> = users
            .into_iter()
            .filter(|user| seen.insert(*user))
            .collect();
        let asked = named.len();
        let users = match self.gateway.storage.partners_among(me.id, named).await {
            Ok(partners) => partners,
            Err(error) => {
                return self
                    .write_error(Some(request), &error)
                    .await
                    .map(|()| Flow::Continue);
            }
        };
        let strangers = asked - users.len();
        if let Err(wait) = self.gateway.limits.take_reads(me.id, strangers) {
            return self.past_allowance(me, Some(request), wait).await;
        }
        match self.gateway.storage.user_keys(users).await {
            Ok(users) => {
                let frame = encode(&ServerFrame::Keys { request, users });
                // `Keys` has no paging: rather than leave accounts out (which would read as
                // "does not exist"), refuse and let the client ask for fewer at a time.
                if frame.len() > MAX_FRAME_BYTES {
                    return self
                        .refuse(
                            Some(request),
                            ErrorCode::LimitReached,
                            "these accounts have more keys than one frame holds; ask for \
                             fewer accounts at once",
                        )
                        .await;
                }
                self.write_bytes(frame).await?;
            }
            Err(error) => self.write_error(Some(request), &error).await?,
        }
        Ok(Flow::Continue)
    }

    /// Answers `ClaimKeys`, within the claimer's rate; a device whose one-time keys are being
    /// handed out too fast gives its fallback key instead (see `limits`), and a device left
    /// short of keys is told.
    pub(super) async fn claim_keys(
        &mut self,
        me: &Member,
        request: RequestId,
        devices: Vec<DeviceRef>,
    ) -> Result<Flow, Gone> {
        if devices.len() > MAX_KEY_REQUEST {
            let detail = format!("claim keys of at most {MAX_KEY_REQUEST} devices at once");
            return self.malformed_request(Some(request), detail).await;
        }
        let limits = &self.gateway.limits;
        let cost = u32::try_from(devices.len()).unwrap_or(u32::MAX);
        if let Err(wait) = limits.claims_by_account.take_cost(&me.id, cost) {
            // Counted with every other refusal past an allowance: a client that goes on
            // claiming without waiting as told is closed.
            return self.past_allowance(me, Some(request), wait).await;
        }
        self.refusals.served(std::time::Instant::now());
        let mut seen = HashSet::new();
        let devices: Vec<(DeviceRef, bool)> = devices
            .into_iter()
            .filter(|device| seen.insert(*device))
            .map(|device| {
                let one_time = limits.one_time_keys_by_device.take(&device.device).is_ok();
                (device, one_time)
            })
            .collect();
        let claimed = match self.gateway.storage.claim_keys(devices).await {
            Ok(claimed) => claimed,
            Err(error) => {
                return self
                    .write_error(Some(request), &error)
                    .await
                    .map(|()| Flow::Continue);
            }
        };
        for claim in &claimed {
            let handed_out_one_time = claim.key.key.as_ref().is_some_and(|key| !key.fallback);
            let low = handed_out_one_time && claim.one_time_keys_left < ONE_TIME_KEYS_LOW;
            if low || claim.fallback_claimed {
                let frame = encode(&ServerFrame::KeysClaimed {
                    one_time_keys: claim.one_time_keys_left,
                    fallback_claimed: claim.fallback_claimed,
                });
                self.gateway.deliver_to_device(&claim.key.device, frame);
            }
        }
        let keys = claimed.into_iter().map(|claim| claim.key).collect();
        self.write_frame(&ServerFrame::ClaimedKeys { request, keys })
            .await?;
        Ok(Flow::Continue)
    }

    /// Answers `SendToDevice` once the messages are durable, then hands each to the sessions
    /// of its device that are online.
    pub(super) async fn relay_to_devices(
        &mut self,
        me: &Member,
        request: RequestId,
        messages: Vec<ToDeviceMessage>,
    ) -> Result<Flow, Gone> {
        // The bodies were charged to the day's stored bytes as the request came (`quotas`):
        // what is not stored is given back.
        let bytes = |messages: &[ToDeviceMessage]| messages.iter().map(|m| m.body.len()).sum();
        let refusal = match self.device() {
            None => Err((
                ErrorCode::NoDevice,
                "publish this device's keys before sending to other devices".to_owned(),
            )),
            Some(_) if messages.len() > MAX_TO_DEVICE_BATCH => Err((
                ErrorCode::Malformed,
                format!("send at most {MAX_TO_DEVICE_BATCH} to-device messages at once"),
            )),
            Some(_) if messages.iter().any(|m| m.body.len() > MAX_TO_DEVICE_BYTES) => Err((
                ErrorCode::MessageTooLarge,
                format!("a to-device message has at most {MAX_TO_DEVICE_BYTES} bytes"),
            )),
            Some(device) => Ok(device),
        };
        let device = match refusal {
            Ok(device) => device,
            Err((code, detail)) => {
                self.gateway.quotas.give_back_bytes(me.id, bytes(&messages));
                return self.refuse(Some(request), code, detail).await;
            }
        };
        let sender = DeviceRef {
            user: me.id,
            device,
        };
        // Shared with the writer so the bodies are not copied; they come back once stored.
        let messages = Arc::new(messages);
        let stored = self
            .gateway
            .storage
            .queue_to_device(sender, Arc::clone(&messages))
            .await;
        let outcomes = match stored {
            Ok(outcomes) => outcomes,
            Err(error) => {
                self.gateway.quotas.give_back_bytes(me.id, bytes(&messages));
                self.write_error(Some(request), &error).await?;
                return Ok(Flow::Continue);
            }
        };
        let not_stored: usize = messages
            .iter()
            .zip(&outcomes)
            .filter(|(_, outcome)| !matches!(outcome, ToDeviceOutcome::Queued(_)))
            .map(|(message, _)| message.body.len())
            .sum();
        self.gateway.quotas.give_back_bytes(me.id, not_stored);
        let mut refused: Vec<DeviceRef> = messages
            .iter()
            .zip(&outcomes)
            .filter(|(_, outcome)| **outcome == ToDeviceOutcome::MailboxFull)
            .map(|(message, _)| message.recipient)
            .collect();
        refused.sort();
        refused.dedup();
        self.write_frame(&ServerFrame::ToDeviceSent { request, refused })
            .await?;
        let messages = Arc::try_unwrap(messages).unwrap_or_else(|shared| shared.as_ref().clone());
        for (message, outcome) in messages.into_iter().zip(outcomes) {
            // No such device: dropped without a word (it may have signed out).
            let ToDeviceOutcome::Queued(id) = outcome else {
                continue;
            };
            let frame: Bytes = encode(&ServerFrame::ToDevice {
                id,
                sender,
                body: message.body,
            });
            self.gateway.deliver_to_device(&message.recipient, frame);
        }
        Ok(Flow::Continue)
    }

    /// Handles `ToDeviceDone`: deletes those messages that were for this connection's device.
    pub(super) async fn acknowledge_to_device(&mut self, ids: Vec<u64>) -> Result<Flow, Gone> {
        let Some(device) = self.device() else {
            return self
                .refuse(
                    None,
                    ErrorCode::NoDevice,
                    "publish this device's keys before acknowledging to-device messages",
                )
                .await;
        };
        // No device ever has more waiting than this, so a longer list is not a real one; it
        // would only keep the writer busy.
        if ids.len() > MAX_PENDING_TO_DEVICE {
            return self
                .refuse(
                    None,
                    ErrorCode::Malformed,
                    format!("acknowledge at most {MAX_PENDING_TO_DEVICE} messages at once"),
                )
                .await;
        }
        if let Err(error) = self.gateway.storage.to_device_done(device, ids).await {
            self.write_error(None, &error).await?;
        }
        Ok(Flow::Continue)
    }

    /// Answers `PutBackup` once the entries are durable.
    pub(super) async fn put_backup(
        &mut self,
        me: &Member,
        request: RequestId,
        entries: Vec<BackupEntry>,
    ) -> Result<Flow, Gone> {
        if entries.len() > MAX_BACKUP_BATCH {
            return self
                .refuse(
                    Some(request),
                    ErrorCode::Malformed,
                    format!("put at most {MAX_BACKUP_BATCH} backup entries at once"),
                )
                .await;
        }
        if entries
            .iter()
            .any(|entry| entry.sealed.len() > MAX_BACKUP_ENTRY_BYTES)
        {
            return self
                .refuse(
                    Some(request),
                    ErrorCode::MessageTooLarge,
                    format!("a backup entry has at most {MAX_BACKUP_ENTRY_BYTES} bytes"),
                )
                .await;
        }
        match self.gateway.storage.put_backup(me.id, entries).await {
            Ok(()) => {
                self.write_frame(&ServerFrame::BackupStored { request })
                    .await?;
                // The account's other devices may be waiting for one of these keys.
                self.gateway.deliver_to_accounts(
                    &[me.id],
                    encode(&ServerFrame::BackupChanged),
                    Some(self.id),
                );
            }
            Err(error) => self.write_error(Some(request), &error).await?,
        }
        Ok(Flow::Continue)
    }

    /// Answers `FetchBackup`.
    pub(super) async fn fetch_backup(
        &mut self,
        me: &Member,
        request: RequestId,
        after: u64,
    ) -> Result<Flow, Gone> {
        let limit = u32::try_from(MAX_BACKUP_BATCH).unwrap_or(u32::MAX);
        match self.gateway.storage.backup_after(me.id, after, limit).await {
            Ok(page) => {
                self.write_frame(&ServerFrame::Backup {
                    request,
                    entries: page.entries,
                    more: page.more,
                })
                .await?
            }
            Err(error) => self.write_error(Some(request), &error).await?,
        }
        Ok(Flow::Continue)
    }
}
