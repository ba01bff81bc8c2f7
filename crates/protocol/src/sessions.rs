//! An account's sessions as the account itself sees them: where it is signed in, so that it
//! can end a session it does not recognise (a lost phone, a stolen token).

use serde::{Deserialize, Serialize};

use crate::keys::DeviceKey;

/// Names one session of the account to the account: the first half of the SHA-256 of its
/// token, which says nothing about the token itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SessionRef(#[serde(with = "crate::sixteen_bytes")] pub [u8; 16]);

/// What a session signed in from, as its browser said when it signed in: only a family and
/// a system from short fixed lists ("Chrome", "Linux"), never the browser's own words, so the
/// server keeps no more than a person needs to recognise their devices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientKind {
    /// The browser's family: "Chrome", "Edge", "Firefox", "Safari", "Opera", "Samsung
    /// Internet".
    pub browser: String,
    /// The system it runs on: "Android", "iOS", "Windows", "macOS", "ChromeOS", "Linux".
    pub system: String,
}

/// One session of the account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    /// Which one.
    pub session: SessionRef,
    /// The device its browser published keys for, if it has.
    pub device: Option<DeviceKey>,
    /// When it was made (signing in), in milliseconds since the Unix epoch.
    pub created_ms: u64,
    /// When it was last used to connect, to the day.
    pub last_used_ms: u64,
    /// Whether it is the session asking.
    pub current: bool,
    /// What it signed in from, when its browser said something the server recognises.
    pub client: Option<ClientKind>,
}
