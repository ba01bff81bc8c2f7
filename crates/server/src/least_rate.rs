//! The least rate a transfer must keep, in either direction: a file part's sender (`blobs`,
//! reading a `PATCH`'s body) and the reader of anything the server writes on a connection
//! (`accept`: a download, the app's files, a WebSocket's frames).
//!
//! A peer may keep the server waiting at most a grace at once, and in all no longer than that
//! grace and a second per [`LeastRate::bytes_per_sec`] it moved. A byte now and then resets no
//! timer for good: a peer trickling its bytes would otherwise hold the connection, the file
//! and the memory behind it for as long as it liked. Only time spent waiting on the peer
//! counts: the server's own reading, writing and pacing are not the peer's doing. An honest
//! peer on a link slower than this loses little: a part keeps what arrived, a download goes
//! on with a `Range` from where it stopped.
//!
//! [`LeastRateWrites`] holds a connection's writes to the rule. Its stretch of accounting
//! starts with the first write that has to wait (the bytes the kernel's buffers took at once
//! earn nothing: the peer took none of them) and ends once no write has waited for a whole
//! grace: a peer that kept up that long (between responses, or between a WebSocket's
//! messages) starts afresh. Nothing shorter tells a peer that caught up from one that trickles:
//! the kernel's buffers, far larger than hyper's, take hyper's whole buffer at each wake-up
//! either way.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// The rule: how long a peer may keep the server waiting, by what it moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LeastRate {
    /// The most one wait may last, and the waiting granted before any byte earns more.
    pub(crate) grace: Duration,
    /// The least the peer must move on average, in bytes a second, beyond the grace; 0: only
    /// the grace at once, however slow.
    pub(crate) bytes_per_sec: u64,
}

impl LeastRate {
    /// How long the server may wait for the peer now, having waited `waited` before and seen
    /// `moved` bytes move: at most the grace, and in all the grace and a second per
    /// `bytes_per_sec` bytes moved.
    pub(crate) fn patience(&self, waited: Duration, moved: u64) -> Duration {
        if self.bytes_per_sec == 0 {
            return self.grace;
        }
        let earned = Duration::from_millis(moved.saturating_mul(1000) / self.bytes_per_sec);
        self.grace
            .saturating_add(earned)
            .saturating_sub(waited)
            .min(self.grace)
    }
}

/// A connection whose writes keep the [`LeastRate`]: a write that has waited its patience
/// fails with `TimedOut`, and the connection is closed by its owner (hyper). Reads are
/// passed through as they are.
#[derive(Debug)]
pub(crate) struct LeastRateWrites<S> {
    inner: S,
    rule: LeastRate,
    /// Since when the write under way has waited; `None` while no write waits.
    waiting_since: Option<Instant>,
    /// The end of the waiting write's patience; made at the first wait, so that a connection
    /// whose writes never wait (most) holds no timer.
    deadline: Option<Pin<Box<Sleep>>>,
    /// This stretch's waiting so far, the write under way not included.
    waited: Duration,
    /// The bytes written in this stretch after its first wait.
    moved: u64,
    /// When the last wait ended; `None` before the first.
    last_waited: Option<Instant>,
}

impl<S> LeastRateWrites<S> {
    pub(crate) fn new(inner: S, rule: LeastRate) -> LeastRateWrites<S> {
        LeastRateWrites {
            inner,
            rule,
            waiting_since: None,
            deadline: None,
            waited: Duration::ZERO,
            moved: 0,
            last_waited: None,
        }
    }

    /// A write-side operation returned `Pending`: the peer keeps the server waiting. `Ready`
    /// with `TimedOut` once this wait has lasted its patience.
    fn wait(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        if self.waiting_since.is_none() {
            let now = Instant::now();
            self.waiting_since = Some(now);
            if self
                .last_waited
                .is_some_and(|last| now.duration_since(last) >= self.rule.grace)
            {
                // Kept up for a whole grace: caught up.
                self.waited = Duration::ZERO;
                self.moved = 0;
            }
            let until = now + self.rule.patience(self.waited, self.moved);
            match &mut self.deadline {
                Some(deadline) => deadline.as_mut().reset(until),
                None => self.deadline = Some(Box::pin(tokio::time::sleep_until(until))),
            }
        }
        match &mut self.deadline {
            Some(deadline) => {
                ready!(deadline.as_mut().poll(cx));
                Poll::Ready(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the peer took the bytes written to it too slowly",
                ))
            }
            None => Poll::Pending,
        }
    }

    /// A write-side operation ended (done or failed) after `moved` more bytes went out.
    fn went_out(&mut self, moved: usize) {
        if let Some(since) = self.waiting_since.take() {
            let now = Instant::now();
            self.waited = self.waited.saturating_add(now.duration_since(since));
            self.last_waited = Some(now);
        }
        if self.last_waited.is_some() {
            self.moved = self
                .moved
                .saturating_add(u64::try_from(moved).unwrap_or(u64::MAX));
        }
    }

    /// Applies the rule to the outcome of a write-side operation that moved `moved(&T)` bytes.
    fn watch<T>(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<T>>,
        moved: impl FnOnce(&T) -> usize,
    ) -> Poll<io::Result<T>> {
        match polled {
            Poll::Pending => self.wait(cx).map(Err),
            Poll::Ready(Ok(done)) => {
                self.went_out(moved(&done));
                Poll::Ready(Ok(done))
            }
            Poll::Ready(Err(error)) => {
                self.went_out(0);
                Poll::Ready(Err(error))
            }
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for LeastRateWrites<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for LeastRateWrites<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.watch(cx, polled, |written| *written)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.watch(cx, polled, |written| *written)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_flush(cx);
        this.watch(cx, polled, |()| 0)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_shutdown(cx);
        this.watch(cx, polled, |()| 0)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    const RULE: LeastRate = LeastRate {
        grace: Duration::from_secs(30),
        bytes_per_sec: 1024,
    };

    #[test]
    fn a_peer_keeps_the_server_waiting_at_most_the_grace_at_once_and_earns_more_only_by_moving() {
        let patience = |waited_secs, moved| RULE.patience(Duration::from_secs(waited_secs), moved);
        assert_eq!(patience(0, 0), RULE.grace, "the first bytes get the grace");
        assert_eq!(patience(29, 0), Duration::from_secs(1));
        assert_eq!(
            patience(60, 1024),
            Duration::ZERO,
            "a second's worth in a minute is a trickle, ended"
        );
        assert_eq!(
            patience(40, 20 * 1024),
            Duration::from_secs(10),
            "20 s earned by moving, 10 s of them left"
        );
        assert_eq!(
            patience(0, 1 << 30),
            RULE.grace,
            "never more than the grace at once"
        );
        let no_least_rate = LeastRate {
            bytes_per_sec: 0,
            ..RULE
        };
        assert_eq!(
            no_least_rate.patience(Duration::from_secs(3600), 0),
            RULE.grace
        );
    }

    /// The peer of a 1 KiB pipe reads 256 bytes every 2 s (128 bytes a second, each wait
    /// well within the grace): the writes fail once the waiting outgrows what that earned.
    /// A peer that reads as fast as it can takes everything. On tokio's paused clock.
    #[tokio::test(start_paused = true)]
    async fn writes_to_a_peer_taking_less_than_the_least_rate_fail_after_the_grace() {
        let rule = LeastRate {
            grace: Duration::from_secs(5),
            bytes_per_sec: 1024,
        };
        let (near, mut far) = tokio::io::duplex(1024);
        let mut writes = LeastRateWrites::new(near, rule);
        let trickle = tokio::spawn(async move {
            let mut chunk = [0u8; 256];
            let mut took = 0;
            loop {
                tokio::time::sleep(Duration::from_secs(2)).await;
                match far.read(&mut chunk).await {
                    Ok(0) | Err(_) => return took,
                    Ok(read) => took += read,
                }
            }
        });
        let started = Instant::now();
        let written = writes.write_all(&[7u8; 64 * 1024]).await;
        let error = written.expect_err("a trickle is not served to the end");
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        drop(writes);
        let took = trickle.await.expect("the reader ends");
        assert!(took < 64 * 1024, "took {took} bytes");
        // Waiting 2 s for each 256 bytes, which earn 0.25 s: the grace of 5 s is used up
        // after about 3 of those waits, not before the first.
        assert!(started.elapsed() > rule.grace, "{:?}", started.elapsed());

        let (near, mut far) = tokio::io::duplex(1024);
        let mut writes = LeastRateWrites::new(near, rule);
        let reader = tokio::spawn(async move {
            let mut all = Vec::new();
            far.read_to_end(&mut all).await.map(|_| all.len())
        });
        writes.write_all(&[7u8; 64 * 1024]).await.expect("served");
        writes.shutdown().await.expect("shut");
        drop(writes);
        assert_eq!(reader.await.expect("the reader ends").ok(), Some(64 * 1024));
    }

    /// A WebSocket's peer that now and then falls behind for most of the grace, then keeps up
    /// for a whole grace, starts afresh each time: its waits add up past the grace, but it is
    /// never a trickle.
    #[tokio::test(start_paused = true)]
    async fn a_peer_that_kept_up_for_a_whole_grace_starts_afresh() {
        let rule = LeastRate {
            grace: Duration::from_secs(5),
            bytes_per_sec: 1024,
        };
        let (near, mut far) = tokio::io::duplex(1024);
        let mut writes = LeastRateWrites::new(near, rule);
        for _ in 0..3 {
            let late_reader = async {
                tokio::time::sleep(Duration::from_secs(4)).await;
                let mut all = [0u8; 2048];
                // Bounded: writes that failed leave it short.
                tokio::time::timeout(rule.grace, far.read_exact(&mut all)).await
            };
            let (written, _) = tokio::join!(writes.write_all(&[7u8; 2048]), late_reader);
            written.expect("each wait is within the grace");
            tokio::time::sleep(rule.grace).await;
        }
    }
}
