//! The key directory and to-device messages as the tests say them to a [`Client`]: publishing
//! a [`Device`]'s keys (with the proof that the connection holds it, or a forged one), querying
//! and claiming keys, and sending and receiving to-device messages.

use merpati_protocol::keys::{
    ClaimedKey, DeviceKeys, DeviceRef, OneTimeKey, ToDeviceMessage, UserKeys,
};
use merpati_protocol::{ClientFrame, ServerFrame, UserId};

use super::{Client, Device};

impl Client {
    /// Publishes a device's keys, proving this connection holds it as the app does, and
    /// returns the answer (`KeysPublished` or `Error`).
    pub(crate) async fn publish(
        &mut self,
        device: &Device,
        one_time_keys: Vec<OneTimeKey>,
        fallback_key: Option<OneTimeKey>,
    ) -> ServerFrame {
        let proof = device.proof(&self.nonce());
        self.publish_keys(device.keys(), Some(proof), one_time_keys, fallback_key)
            .await
    }

    /// Publishes `device`'s keys as given, with `device_proof` as given (a forgery, say);
    /// returns the answer.
    pub(crate) async fn publish_keys(
        &mut self,
        device: DeviceKeys,
        device_proof: Option<Vec<u8>>,
        one_time_keys: Vec<OneTimeKey>,
        fallback_key: Option<OneTimeKey>,
    ) -> ServerFrame {
        self.send(&ClientFrame::PublishKeys {
            device,
            device_proof,
            one_time_keys,
            fallback_key,
        })
        .await;
        self.recv().await
    }

    /// Publishes a device's keys with no new one-time keys; returns the unclaimed count.
    pub(crate) async fn publish_device(&mut self, device: &Device) -> u32 {
        match self.publish(device, Vec::new(), None).await {
            ServerFrame::KeysPublished { one_time_keys } => one_time_keys,
            other => panic!("publishing a device: {other:?}"),
        }
    }

    /// Expects a `KeysClaimed` push: (one-time keys left, fallback key handed out).
    pub(crate) async fn expect_keys_claimed(&mut self) -> (u32, bool) {
        match self.recv().await {
            ServerFrame::KeysClaimed {
                one_time_keys,
                fallback_claimed,
            } => (one_time_keys, fallback_claimed),
            other => panic!("expected KeysClaimed, got {other:?}"),
        }
    }

    /// Sends `QueryKeys` and returns the answer.
    pub(crate) async fn query_keys(&mut self, users: &[UserId]) -> Vec<UserKeys> {
        let request = self.request_id();
        self.send(&ClientFrame::QueryKeys {
            request,
            users: users.to_vec(),
        })
        .await;
        match self.recv().await {
            ServerFrame::Keys { request: r, users } if r == request => users,
            other => panic!("expected keys, got {other:?}"),
        }
    }

    /// Sends `ClaimKeys` and returns the answer.
    pub(crate) async fn claim_keys(&mut self, devices: &[DeviceRef]) -> Vec<ClaimedKey> {
        let request = self.request_id();
        self.send(&ClientFrame::ClaimKeys {
            request,
            devices: devices.to_vec(),
        })
        .await;
        match self.recv().await {
            ServerFrame::ClaimedKeys { request: r, keys } if r == request => keys,
            other => panic!("expected claimed keys, got {other:?}"),
        }
    }

    /// Sends `SendToDevice` and returns the answer (`ToDeviceSent` or `Error`), checking
    /// that it carries the request id.
    pub(crate) async fn send_to_device(&mut self, messages: Vec<ToDeviceMessage>) -> ServerFrame {
        let request = self.request_id();
        self.send(&ClientFrame::SendToDevice { request, messages })
            .await;
        let answer = self.recv().await;
        match &answer {
            ServerFrame::ToDeviceSent { request: r, .. } => assert_eq!(*r, request),
            ServerFrame::Error { request: r, .. } => assert_eq!(*r, Some(request)),
            _ => {}
        }
        answer
    }

    /// Expects a `ToDevice` frame: its id, sender and body.
    pub(crate) async fn expect_to_device(&mut self) -> (u64, DeviceRef, Vec<u8>) {
        match self.recv().await {
            ServerFrame::ToDevice { id, sender, body } => (id, sender, body),
            other => panic!("expected a to-device message, got {other:?}"),
        }
    }
}
