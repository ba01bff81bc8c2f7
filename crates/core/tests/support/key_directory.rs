//! A model of the server's key directory for engine tests: the contract of `docs/protocol.md`
//! ("Keys") in memory — devices vouched for by account keys, one-time keys handed out once
//! (then the fallback), to-device messages queued per device until done, and the key backup;
//! a claim naming too many devices, or a query whose answer would not fit a frame, refused.
//! Its answers are the frames the real server sends; the real server is tested against the
//! same contract in `crates/server/tests`.

use std::collections::{BTreeMap, HashMap};

use merpati_protocol::{
    ClientFrame, ErrorCode, MAX_FRAME_BYTES, MAX_KEY_REQUEST, ServerFrame, UserId,
    keys::{BackupEntry, ClaimedKey, DeviceKey, DeviceKeys, DeviceRef, OneTimeKey, UserKeys},
};

/// What the directory says back to one frame.
#[derive(Debug, Default)]
pub struct Handled {
    /// Frames for the connection that sent it.
    pub reply: Vec<ServerFrame>,
    /// Frames for the connections of particular devices.
    pub deliver: Vec<(DeviceKey, ServerFrame)>,
    /// Frames for every connection (`DevicesChanged`).
    pub everyone: Vec<ServerFrame>,
}

/// The model directory.
#[derive(Debug, Default)]
pub struct KeyDirectory {
    account_keys: BTreeMap<UserId, [u8; 32]>,
    devices: BTreeMap<DeviceKey, DeviceKeys>,
    one_time: HashMap<DeviceKey, Vec<OneTimeKey>>,
    fallback: HashMap<DeviceKey, OneTimeKey>,
    queue: BTreeMap<u64, (DeviceKey, DeviceRef, Vec<u8>)>,
    next_id: u64,
    backups: HashMap<UserId, BTreeMap<u64, BackupEntry>>,
    next_position: u64,
}

impl KeyDirectory {
    /// Registers an account's public key (as registration does).
    pub fn register(&mut self, user: UserId, account_key: [u8; 32]) {
        self.account_keys.insert(user, account_key);
    }

    /// Replaces an account's key, as a lying server would.
    pub fn swap_account_key(&mut self, user: UserId, account_key: [u8; 32]) {
        self.account_keys.insert(user, account_key);
    }

    /// The frames waiting for a device (as the server sends after `PublishKeys`).
    pub fn queued_for(&self, device: DeviceKey) -> Vec<ServerFrame> {
        self.queue
            .iter()
            .filter(|(_, (recipient, _, _))| *recipient == device)
            .map(|(id, (_, sender, body))| ServerFrame::ToDevice {
                id: *id,
                sender: *sender,
                body: body.clone(),
            })
            .collect()
    }

    /// Deletes a device from the directory (signed out), as if after it was listed.
    pub fn forget_device(&mut self, device: DeviceKey) {
        self.devices.remove(&device);
        self.one_time.remove(&device);
        self.fallback.remove(&device);
    }

    /// How many to-device messages wait for anyone.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Handles a key frame from `user`'s connection (bound to `bound` after `PublishKeys`);
    /// `None` for any other frame.
    pub fn handle(
        &mut self,
        user: UserId,
        bound: &mut Option<DeviceKey>,
        frame: &ClientFrame,
    ) -> Option<Handled> {
        let mut handled = Handled::default();
        match frame {
            ClientFrame::PublishKeys {
                device,
                device_proof,
                one_time_keys,
                fallback_key,
            } => {
                assert_eq!(device.user, user, "a device of the signed-in account");
                assert!(
                    *bound == Some(device.device) || device_proof.is_some(),
                    "the publish that binds a connection proves it holds the device"
                );
                let new = !self.devices.contains_key(&device.device);
                self.devices.insert(device.device, device.clone());
                self.one_time
                    .entry(device.device)
                    .or_default()
                    .extend(one_time_keys.iter().cloned());
                if let Some(fallback) = fallback_key {
                    self.fallback.insert(device.device, fallback.clone());
                }
                let newly_bound = *bound != Some(device.device);
                *bound = Some(device.device);
                let count = self.one_time.get(&device.device).map_or(0, Vec::len);
                handled.reply.push(ServerFrame::KeysPublished {
                    one_time_keys: count as u32,
                });
                if newly_bound {
                    handled.reply.extend(self.queued_for(device.device));
                }
                if new {
                    handled.everyone.push(ServerFrame::DevicesChanged { user });
                }
            }
            ClientFrame::QueryKeys { request, users } => {
                let users = users
                    .iter()
                    .filter_map(|user| {
                        Some(UserKeys {
                            user: *user,
                            account_key: *self.account_keys.get(user)?,
                            devices: self
                                .devices
                                .values()
                                .filter(|device| device.user == *user)
                                .cloned()
                                .collect(),
                        })
                    })
                    .collect();
                let keys = ServerFrame::Keys {
                    request: *request,
                    users,
                };
                if merpati_protocol::encode(&keys).len() > MAX_FRAME_BYTES {
                    handled.reply.push(ServerFrame::Error {
                        request: Some(*request),
                        code: ErrorCode::LimitReached,
                        detail: "ask for fewer accounts at once".into(),
                    });
                } else {
                    handled.reply.push(keys);
                }
            }
            ClientFrame::ClaimKeys { request, devices } if devices.len() > MAX_KEY_REQUEST => {
                handled.reply.push(ServerFrame::Error {
                    request: Some(*request),
                    code: ErrorCode::Malformed,
                    detail: format!("claim keys of at most {MAX_KEY_REQUEST} devices at once"),
                });
            }
            ClientFrame::ClaimKeys { request, devices } => {
                let keys = devices
                    .iter()
                    .filter(|device| self.devices.contains_key(&device.device))
                    .map(|device| ClaimedKey {
                        device: *device,
                        key: self
                            .one_time
                            .get_mut(&device.device)
                            .and_then(Vec::pop)
                            .or_else(|| self.fallback.get(&device.device).cloned()),
                    })
                    .collect();
                handled.reply.push(ServerFrame::ClaimedKeys {
                    request: *request,
                    keys,
                });
            }
            ClientFrame::SendToDevice { request, messages } => {
                let sender = DeviceRef {
                    user,
                    device: bound.expect("PublishKeys comes first"),
                };
                for message in messages {
                    if !self.devices.contains_key(&message.recipient.device) {
                        continue;
                    }
                    self.next_id += 1;
                    self.queue.insert(
                        self.next_id,
                        (message.recipient.device, sender, message.body.clone()),
                    );
                    handled.deliver.push((
                        message.recipient.device,
                        ServerFrame::ToDevice {
                            id: self.next_id,
                            sender,
                            body: message.body.clone(),
                        },
                    ));
                }
                handled.reply.push(ServerFrame::ToDeviceSent {
                    request: *request,
                    refused: Vec::new(),
                });
            }
            ClientFrame::ToDeviceDone { ids } => {
                for id in ids {
                    if self
                        .queue
                        .get(id)
                        .is_some_and(|(recipient, _, _)| Some(*recipient) == *bound)
                    {
                        self.queue.remove(id);
                    }
                }
            }
            ClientFrame::PutBackup { request, entries } => {
                let backup = self.backups.entry(user).or_default();
                for entry in entries {
                    backup.retain(|_, existing| existing.id != entry.id);
                    self.next_position += 1;
                    backup.insert(self.next_position, entry.clone());
                }
                handled
                    .reply
                    .push(ServerFrame::BackupStored { request: *request });
            }
            ClientFrame::FetchBackup { request, after } => {
                let entries: Vec<(u64, BackupEntry)> = self
                    .backups
                    .get(&user)
                    .map(|backup| {
                        backup
                            .range(after + 1..)
                            .map(|(position, entry)| (*position, entry.clone()))
                            .collect()
                    })
                    .unwrap_or_default();
                handled.reply.push(ServerFrame::Backup {
                    request: *request,
                    entries,
                    more: false,
                });
            }
            _ => return None,
        }
        Some(handled)
    }
}
