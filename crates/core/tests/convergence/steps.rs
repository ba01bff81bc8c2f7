//! What can happen, one step at a time: a device writes, edits, deletes, reacts or reads; a
//! frame crosses (in either direction, reordered or duplicated); a connection drops or comes
//! back. And the strategy that draws them.

use proptest::prelude::*;

use crate::EMOJI;

#[derive(Debug, Clone)]
pub(crate) enum Step {
    Write {
        device: usize,
    },
    /// Edit one of the device's own messages (the `pick`th it shows).
    Edit {
        device: usize,
        pick: usize,
    },
    /// Delete one of the device's own messages for everyone.
    Delete {
        device: usize,
        pick: usize,
    },
    /// React with `EMOJI[emoji]` to any message shown (choosing it again takes it back).
    React {
        device: usize,
        pick: usize,
        emoji: usize,
    },
    /// The person reads the chat on this device.
    Read {
        device: usize,
    },
    ClientToServer {
        device: usize,
    },
    ServerToClient {
        device: usize,
        pick: usize,
    },
    DuplicateInbound {
        device: usize,
        pick: usize,
    },
    Disconnect {
        device: usize,
    },
    Reconnect {
        device: usize,
    },
}

pub(crate) fn step_strategy(devices: usize) -> impl Strategy<Value = Step> {
    let device = 0..devices;
    prop_oneof![
        3 => device.clone().prop_map(|device| Step::Write { device }),
        1 => (device.clone(), any::<usize>()).prop_map(|(device, pick)| Step::Edit { device, pick }),
        1 => (device.clone(), any::<usize>()).prop_map(|(device, pick)| Step::Delete { device, pick }),
        2 => (device.clone(), any::<usize>(), 0..EMOJI.len())
            .prop_map(|(device, pick, emoji)| Step::React { device, pick, emoji }),
        1 => device.clone().prop_map(|device| Step::Read { device }),
        6 => device.clone().prop_map(|device| Step::ClientToServer { device }),
        6 => (device.clone(), any::<usize>()).prop_map(|(device, pick)| Step::ServerToClient { device, pick }),
        1 => (device.clone(), any::<usize>()).prop_map(|(device, pick)| Step::DuplicateInbound { device, pick }),
        1 => device.clone().prop_map(|device| Step::Disconnect { device }),
        2 => device.prop_map(|device| Step::Reconnect { device }),
    ]
}
