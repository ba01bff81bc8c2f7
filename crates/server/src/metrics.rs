//! What the server counts, and `GET /metrics` in the Prometheus (OpenMetrics) text format.
//!
//! The counters are plain atomics bumped where things happen (admission control, the gateway,
//! the storage writer); [`Metrics`] reads them only when scraped, through a
//! `prometheus-client` collector, so counting costs one relaxed atomic add and nothing more.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use crate::storage::WriterStats;

/// The `Content-Type` of `GET /metrics`.
pub(crate) const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Every count the server keeps; shared by all connections.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    /// WebSocket connections open now.
    pub(crate) connections_open: AtomicUsize,
    /// The most WebSocket connections open at once since the start.
    pub(crate) connections_peak: AtomicUsize,
    /// Handshakes refused because the server held its cap of connections.
    pub(crate) connections_refused: AtomicU64,
    /// Handshakes refused because they came faster than the handshake rate.
    pub(crate) handshakes_refused: AtomicU64,
    /// TCP connections closed at once because their source address held its cap.
    pub(crate) connections_refused_per_address: AtomicU64,
    /// Sign-ins refused because the account held its cap of sessions.
    pub(crate) sessions_refused_per_account: AtomicU64,
    /// Messages stored (resends of stored ones not counted).
    pub(crate) messages_stored: AtomicU64,
    /// Sends that had to wait for the session's send rate.
    pub(crate) sends_held: AtomicU64,
    /// Sessions closed for sending too fast for too long.
    pub(crate) sessions_rate_limited: AtomicU64,
    /// Upload bytes written to blob files and recorded (`PATCH /blobs/{id}`).
    pub(crate) blob_bytes_received: AtomicU64,
    /// Times NATS dropped wake-ups this process was too slow to take (a cluster).
    pub(crate) nats_slow_consumer: AtomicU64,
    /// Wake-ups and pushes not published because NATS took nothing for too long (a
    /// cluster; head checks repair them).
    pub(crate) nats_publishes_dropped: AtomicU64,
    /// Messages delivered from storage because no wake-up brought them (a cluster's gap
    /// reads and head checks).
    pub(crate) messages_caught_up: AtomicU64,
    /// Messages a process could not deliver, their chat's members unread, and left for the
    /// chat's next wake-up or head check to read again (a cluster).
    pub(crate) deliveries_deferred: AtomicU64,
    /// To-device messages handed again from a device's mailbox, in case their push from
    /// another process was lost (a cluster's head checks).
    pub(crate) to_device_handed_again: AtomicU64,
    /// Accounts' privacy settings and block lists applied from storage because they differed
    /// from what this process held: the push of a change elsewhere was lost (a cluster's head
    /// checks).
    pub(crate) privacy_read_again: AtomicU64,
    /// `Sync`s that read every chat of their account from storage.
    pub(crate) syncs_read: AtomicU64,
    /// `Sync`s whose `Follow` the cluster's task did not take in time: they read up to their
    /// own heads (a cluster; `cluster::Following`).
    pub(crate) syncs_followed_late: AtomicU64,
    /// Chats this process follows now (a cluster: one subscription each).
    pub(crate) chats_followed: AtomicUsize,
}

impl Counters {
    /// Adds one to a counter.
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// The scrape side: the counters and the storage writer's, encoded on request.
#[derive(Debug)]
pub(crate) struct Metrics {
    registry: Registry,
}

impl Metrics {
    pub(crate) fn new(counters: Arc<Counters>, writer: Arc<WriterStats>) -> Metrics {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(Snapshot { counters, writer }));
        Metrics { registry }
    }

    /// The current values in the text format.
    pub(crate) fn render(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail, and the collector only writes numbers.
        if let Err(error) = prometheus_client::encoding::text::encode(&mut text, &self.registry) {
            tracing::error!(%error, "cannot encode the metrics");
        }
        text
    }
}

/// Reads the atomics at scrape time.
#[derive(Debug)]
struct Snapshot {
    counters: Arc<Counters>,
    writer: Arc<WriterStats>,
}

fn gauge(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    value: usize,
) -> Result<(), std::fmt::Error> {
    let gauge = ConstGauge::new(i64::try_from(value).unwrap_or(i64::MAX));
    gauge.encode(encoder.encode_descriptor(name, help, None, gauge.metric_type())?)
}

/// A counter; the encoder appends `_total` to `name`.
fn counter(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    value: &AtomicU64,
) -> Result<(), std::fmt::Error> {
    let counter = ConstCounter::new(value.load(Ordering::Relaxed));
    counter.encode(encoder.encode_descriptor(name, help, None, counter.metric_type())?)
}

impl Collector for Snapshot {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let c = &self.counters;
        let e = &mut encoder;
        gauge(
            e,
            "merpati_connections_open",
            "WebSocket connections open now.",
            c.connections_open.load(Ordering::Relaxed),
        )?;
        gauge(
            e,
            "merpati_connections_peak",
            "The most WebSocket connections open at once since the server started.",
            c.connections_peak.load(Ordering::Relaxed),
        )?;
        gauge(
            e,
            "merpati_chats_followed",
            "Chats this process follows now, in a cluster (one NATS subscription each).",
            c.chats_followed.load(Ordering::Relaxed),
        )?;
        counter(
            e,
            "merpati_connections_refused_per_address",
            "TCP connections closed at once because their source address held its cap.",
            &c.connections_refused_per_address,
        )?;
        counter(
            e,
            "merpati_sessions_refused_per_account",
            "Sign-ins refused because the account held its cap of connected sessions.",
            &c.sessions_refused_per_account,
        )?;
        counter(
            e,
            "merpati_connections_refused",
            "WebSocket handshakes refused (503) because the connection cap was reached.",
            &c.connections_refused,
        )?;
        counter(
            e,
            "merpati_handshakes_refused",
            "WebSocket handshakes refused (503) because they came faster than the handshake rate.",
            &c.handshakes_refused,
        )?;
        counter(
            e,
            "merpati_messages_stored",
            "Messages stored (a resend of a stored message is not counted again).",
            &c.messages_stored,
        )?;
        counter(
            e,
            "merpati_commits",
            "Transactions committed by the storage writer (one per group commit).",
            &self.writer.commits,
        )?;
        counter(
            e,
            "merpati_sends_held",
            "Sends that waited for their session's send rate (backpressure).",
            &c.sends_held,
        )?;
        counter(
            e,
            "merpati_sessions_rate_limited",
            "Sessions closed (Goodbye RateLimited) for sending too fast for too long.",
            &c.sessions_rate_limited,
        )?;
        counter(
            e,
            "merpati_blob_bytes_received",
            "Upload bytes made durable in blob files since the server started.",
            &c.blob_bytes_received,
        )?;
        counter(
            e,
            "merpati_nats_slow_consumer",
            "Times NATS dropped wake-ups this process was too slow to take.",
            &c.nats_slow_consumer,
        )?;
        counter(
            e,
            "merpati_nats_publishes_dropped",
            "Wake-ups and pushes not published because NATS took nothing for too long.",
            &c.nats_publishes_dropped,
        )?;
        counter(
            e,
            "merpati_messages_caught_up",
            "Messages delivered from storage because no wake-up brought them.",
            &c.messages_caught_up,
        )?;
        counter(
            e,
            "merpati_deliveries_deferred",
            "Messages not delivered for want of their chat's members, left for the next check.",
            &c.deliveries_deferred,
        )?;
        counter(
            e,
            "merpati_syncs_read",
            "Syncs that read every chat of their account from storage.",
            &c.syncs_read,
        )?;
        counter(
            e,
            "merpati_syncs_followed_late",
            "Syncs whose Follow the cluster's task did not take in time.",
            &c.syncs_followed_late,
        )?;
        counter(
            e,
            "merpati_to_device_handed_again",
            "To-device messages handed again from a mailbox, in case their push was lost.",
            &c.to_device_handed_again,
        )?;
        counter(
            e,
            "merpati_privacy_read_again",
            "Accounts' privacy applied from storage because the push of its change was lost.",
            &c.privacy_read_again,
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_is_rendered_with_its_value() {
        let counters = Arc::new(Counters::default());
        counters.connections_open.store(3, Ordering::Relaxed);
        counters.connections_peak.store(7, Ordering::Relaxed);
        counters.connections_refused.store(2, Ordering::Relaxed);
        counters.blob_bytes_received.store(9, Ordering::Relaxed);
        let writer = Arc::new(WriterStats::default());
        writer.commits.store(5, Ordering::Relaxed);
        let text = Metrics::new(counters, writer).render();
        for line in [
            "merpati_connections_open 3",
            "merpati_connections_peak 7",
            "merpati_connections_refused_total 2",
            "merpati_handshakes_refused_total 0",
            "merpati_messages_stored_total 0",
            "merpati_commits_total 5",
            "merpati_blob_bytes_received_total 9",
            "# TYPE merpati_connections_open gauge",
            "# TYPE merpati_commits counter",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
    }
}
