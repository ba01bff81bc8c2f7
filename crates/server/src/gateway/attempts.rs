//! Failed sign-in attempts, throttled per source address and per account.
//!
//! `Login` answers `NoSuchUser` or `WrongPassphrase`, so without a limit anyone could probe
//! which usernames exist, or try passphrases online, as fast as they can reconnect (a
//! connection closes after five failures, but reconnecting is free). So failures are counted
//! per source address (`AddressKey`: an IPv4 address or an IPv6 /64) and per username; when
//! either has used its allowance, further attempts from that address, or for that account,
//! are answered `TooManyAttempts` without being checked, until the allowance refills.
//!
//! The real person is not locked out by someone hammering their username: an address that
//! has signed in to the account successfully before is remembered and exempt from the
//! account's allowance (though not from its own address's), and resuming a session by its
//! token is never throttled — that is how a returning browser signs in. Successful sign-ins
//! cost nothing.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use merpati_protocol::{ErrorCode, Username};

use crate::Error;
use crate::throttle::{AddressKey, Rate, TABLE_CAPACITY, Throttle, try_again_in};

/// Failed sign-ins one source address may have: a burst for typos and a household behind
/// one address, then a slow trickle.
pub(crate) const FAILURES_PER_ADDRESS: Rate = Rate {
    per_minute: 10,
    burst: 30,
};
/// Failed sign-ins one account may have from addresses it has not signed in from before.
pub(crate) const FAILURES_PER_ACCOUNT: Rate = Rate {
    per_minute: 5,
    burst: 10,
};
/// Addresses remembered per account as ones it signed in from.
const KNOWN_ADDRESSES_PER_ACCOUNT: usize = 8;

/// The failure counts and the addresses known to each account.
#[derive(Debug)]
pub(crate) struct SignInAttempts {
    by_address: Throttle<AddressKey>,
    by_account: Throttle<Username>,
    known: Mutex<HashMap<Username, Vec<AddressKey>>>,
}

impl Default for SignInAttempts {
    fn default() -> SignInAttempts {
        SignInAttempts::new(FAILURES_PER_ADDRESS, FAILURES_PER_ACCOUNT)
    }
}

impl SignInAttempts {
    pub(crate) fn new(per_address: Rate, per_account: Rate) -> SignInAttempts {
        SignInAttempts {
            by_address: Throttle::new(per_address, TABLE_CAPACITY),
            by_account: Throttle::new(per_account, TABLE_CAPACITY),
            known: Mutex::new(HashMap::new()),
        }
    }

    /// Whether a sign-in to `username` from `peer` may be checked now.
    pub(crate) fn may_try(&self, peer: IpAddr, username: &Username) -> Result<(), Error> {
        let address = AddressKey::of(peer);
        self.by_address
            .has_token(&address)
            .map_err(|wait| too_many("from this address", wait))?;
        if !self.is_known(username, address) {
            self.by_account
                .has_token(username)
                .map_err(|wait| too_many("for this account", wait))?;
        }
        Ok(())
    }

    /// Counts a failed sign-in to `username` from `peer`.
    pub(crate) fn failed(&self, peer: IpAddr, username: &Username) {
        let address = AddressKey::of(peer);
        // Either may already be empty (a failure after `may_try` raced another); the count
        // only needs to hold the line, not be exact.
        let _ = self.by_address.take(&address);
        if !self.is_known(username, address) {
            let _ = self.by_account.take(username);
        }
    }

    /// Remembers that `username` signed in from `peer`.
    pub(crate) fn succeeded(&self, peer: IpAddr, username: &Username) {
        let address = AddressKey::of(peer);
        let mut known = self
            .known
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if !known.contains_key(username) && known.len() >= TABLE_CAPACITY {
            // Forgetting costs the real person only the exemption, until they sign in again.
            known.clear();
        }
        let addresses = known.entry(username.clone()).or_default();
        if !addresses.contains(&address) {
            if addresses.len() >= KNOWN_ADDRESSES_PER_ACCOUNT {
                addresses.remove(0);
            }
            addresses.push(address);
        }
    }

    fn is_known(&self, username: &Username, address: AddressKey) -> bool {
        self.known
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(username)
            .is_some_and(|addresses| addresses.contains(&address))
    }
}

fn too_many(whom: &str, wait: Duration) -> Error {
    Error::refused(
        ErrorCode::TooManyAttempts,
        format!(
            "too many failed sign-in attempts {whom}; {}",
            try_again_in(wait)
        ),
    )
}
