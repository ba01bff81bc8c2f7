//! Failed sign-in attempts, throttled per source address and per account.
//!
//! `Login` answers `NoSuchUser` or `WrongPassphrase`, so without a limit anyone could probe
//! which usernames exist, or try passphrases online, as fast as they can reconnect (a
//! connection closes after five failures, but reconnecting is free). So failures are counted
//! per source address (`AddressKey`: an IPv4 address or an IPv6 /64) and per username; when
//! either has used its allowance, further attempts from that address, or for that account,
//! are answered `TooManyAttempts` without being checked, until the allowance refills. Each
//! sign-in takes its failure's worth before it is checked, and has it back unless it failed.
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

/// What a sign-in being checked took of the allowances ([`SignInAttempts::begin`]).
#[derive(Debug)]
#[must_use = "a sign-in's attempt is either failed or not"]
pub(crate) struct Attempt {
    address: AddressKey,
    /// The account's, unless the address is known to it.
    account: Option<Username>,
}

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

    /// Takes a failure's worth of the allowances of `peer` and of `username` (unless it signed
    /// in from there before) for a sign-in about to be checked, or refuses it unchecked. Taken
    /// before the check, not counted after it: sign-ins racing each other could otherwise all
    /// be checked on the one failure left. The [`Attempt`] says what became of it.
    pub(crate) fn begin(&self, peer: IpAddr, username: &Username) -> Result<Attempt, Error> {
        let address = AddressKey::of(peer);
        self.by_address
            .take(&address)
            .map_err(|wait| too_many("from this address", wait))?;
        let account = if self.is_known(username, address) {
            None
        } else if let Err(wait) = self.by_account.take(username) {
            self.by_address.give_back(&address, 1);
            return Err(too_many("for this account", wait));
        } else {
            Some(username.clone())
        };
        Ok(Attempt { address, account })
    }

    /// The sign-in failed: what it took stays taken.
    pub(crate) fn failed(&self, attempt: Attempt) {
        drop(attempt);
    }

    /// The sign-in was not a failure to count (it succeeded, or the server could not check
    /// it): what it took is put back.
    pub(crate) fn not_failed(&self, attempt: Attempt) {
        let Attempt { address, account } = attempt;
        self.by_address.give_back(&address, 1);
        if let Some(account) = account {
            self.by_account.give_back(&account, 1);
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
