//! Free loopback ports, each handed out once per process.
//!
//! A port is found free by binding port 0 and letting go; the child that is to listen on it
//! binds it a moment later. Between the two, the system may hand the same port to another
//! probe — a test running beside this one — and a cluster's processes bind with
//! `SO_REUSEPORT`, which lets two unrelated servers share a port without an error: their
//! connections would then mix. So every port handed out is remembered, and a probe that
//! gets one again asks for another. (Across processes the system's own choice is left to
//! chance: the suites of one `cargo test` run one binary at a time.)

use std::collections::HashSet;
use std::net::{SocketAddr, TcpListener};
use std::sync::{Mutex, PoisonError};

/// The ports handed out so far in this process.
static HANDED_OUT: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

/// How many probes a call makes before it gives up.
const PROBES: usize = 1_000;

/// A loopback address whose port was free a moment ago and has not been handed out before in
/// this process.
pub fn free_loopback_addr() -> std::io::Result<SocketAddr> {
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(PoisonError::into_inner);
    let handed_out = handed_out.get_or_insert_with(HashSet::new);
    for _ in 0..PROBES {
        let addr = TcpListener::bind("127.0.0.1:0")?.local_addr()?;
        if handed_out.insert(addr.port()) {
            return Ok(addr);
        }
    }
    Err(std::io::Error::other(
        "no loopback port left that was not handed out",
    ))
}

/// The port of [`free_loopback_addr`].
pub fn free_loopback_port() -> std::io::Result<u16> {
    free_loopback_addr().map(|addr| addr.port())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn no_port_is_handed_out_twice() {
        let ports: Vec<u16> = (0..200).map(|_| free_loopback_port().unwrap()).collect();
        let distinct: HashSet<u16> = ports.iter().copied().collect();
        assert_eq!(distinct.len(), ports.len());
    }
}
