//! Waiting for a condition: checked again every few milliseconds until it holds, failing
//! after a bound. What is waited for is the thing itself (a port that answers, a count that
//! was reached), so a slow machine only makes the wait longer.

use std::time::Duration;

use tokio::time::Instant;

use crate::Error;

/// How often a condition is checked again.
pub const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// Checks `check` every [`POLL_INTERVAL`] until it returns `Some`, and returns that; fails
/// with [`Error::TimedOut`] naming `what` once `patience` has passed.
pub async fn poll_until<T, F, Fut>(what: &str, patience: Duration, mut check: F) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + patience;
    loop {
        if let Some(found) = check().await {
            return Ok(found);
        }
        if Instant::now() >= deadline {
            return Err(Error::TimedOut {
                what: what.to_owned(),
                patience,
            });
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// Waits until `ready` says a freshly started `child` serves; fails at once with
/// [`Error::ExitedAtStart`] if it exits first, and with [`Error::TimedOut`] naming `what`
/// once `patience` has passed. What every launcher of the kit waits with.
pub async fn until_child_ready<F, Fut>(
    what: &str,
    patience: Duration,
    child: &mut std::process::Child,
    mut ready: F,
) -> Result<(), Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    poll_until(what, patience, || {
        let exited = child.try_wait();
        let check = ready();
        async move {
            match exited {
                Ok(Some(status)) => Some(Err(Error::ExitedAtStart(status))),
                Err(error) => Some(Err(Error::Io(error))),
                Ok(None) => check.await.then_some(Ok(())),
            }
        }
    })
    .await?
}
