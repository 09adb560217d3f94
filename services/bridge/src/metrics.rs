//! The bridge's Prometheus metrics (names as exported, with `_total` on counters):
//!
//! - `bridge_events_mirrored_total{routing_key}`: stored in the stream for the first time.
//! - `bridge_events_duplicate_total{routing_key}`: JetStream already had the id (a redelivery or
//!   a re-publish by the outbox), acked without a second copy.
//! - `bridge_events_redelivered_total`: deliveries RabbitMQ flagged as redelivered.
//! - `bridge_publish_failures_total{reason}`: failed publish attempts, each retried.
//! - `bridge_events_dead_lettered_total{reason}`: messages that cannot be mirrored, moved to the
//!   dead-letter queue.
//! - `bridge_events_missing_id_total{fallback}`: messages without `message_id`.
//! - `bridge_events_in_flight`: deliveries held now.
//! - `bridge_end_to_end_latency_seconds`: from the event's `occurred_at` to JetStream's PubAck.
//! - `bridge_mirror_duration_seconds`: from receiving a delivery to acking it.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use shop_telemetry::metrics::{Metrics, latency_histogram};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RoutingKeyLabel {
    pub routing_key: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FallbackLabel {
    pub fallback: &'static str,
}

/// End-to-end buckets reach further than request latencies: after an outage, events arrive
/// minutes late and should land in a bucket that says so.
const END_TO_END_BUCKETS: [f64; 16] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

#[derive(Debug, Clone)]
pub struct BridgeMetrics {
    pub mirrored: Family<RoutingKeyLabel, Counter>,
    pub duplicates: Family<RoutingKeyLabel, Counter>,
    pub redelivered: Counter,
    pub publish_failures: Family<ReasonLabel, Counter>,
    pub dead_lettered: Family<ReasonLabel, Counter>,
    pub missing_id: Family<FallbackLabel, Counter>,
    pub in_flight: Gauge,
    pub end_to_end: Histogram,
    pub mirror_duration: Histogram,
}

/// Reasons of `bridge_publish_failures_total` (the transient failures `mirror::classify` names).
pub const PUBLISH_FAILURE_REASONS: [&str; 4] =
    ["timeout", "disconnected", "stream_not_found", "refused"];
/// Reasons of `bridge_events_dead_lettered_total`.
pub const DEAD_LETTER_REASONS: [&str; 2] = ["invalid_routing_key", "too_large"];

impl BridgeMetrics {
    /// Registers the families and creates their known series at zero, so that dashboards and
    /// alerts see a 0 rather than no data before the first failure.
    pub fn register(metrics: &Metrics) -> Self {
        let this = Self {
            mirrored: Family::default(),
            duplicates: Family::default(),
            redelivered: Counter::default(),
            publish_failures: Family::default(),
            dead_lettered: Family::default(),
            missing_id: Family::default(),
            in_flight: Gauge::default(),
            end_to_end: Histogram::new(END_TO_END_BUCKETS),
            mirror_duration: latency_histogram(),
        };
        metrics.register(
            "bridge_events_mirrored",
            "Events stored in the JetStream stream, by routing key",
            this.mirrored.clone(),
        );
        metrics.register(
            "bridge_events_duplicate",
            "Events JetStream already held (same message id), acked without a second copy",
            this.duplicates.clone(),
        );
        metrics.register(
            "bridge_events_redelivered",
            "Deliveries RabbitMQ flagged as redelivered",
            this.redelivered.clone(),
        );
        metrics.register(
            "bridge_publish_failures",
            "Failed JetStream publish attempts (retried), by reason",
            this.publish_failures.clone(),
        );
        metrics.register(
            "bridge_events_dead_lettered",
            "Messages that cannot be mirrored, moved to the dead-letter queue, by reason",
            this.dead_lettered.clone(),
        );
        metrics.register(
            "bridge_events_missing_id",
            "Messages without message_id, by the fallback id used",
            this.missing_id.clone(),
        );
        metrics.register(
            "bridge_events_in_flight",
            "Deliveries received and not yet acked",
            this.in_flight.clone(),
        );
        metrics.register(
            "bridge_end_to_end_latency_seconds",
            "From the event's occurred_at to JetStream's PubAck",
            this.end_to_end.clone(),
        );
        metrics.register(
            "bridge_mirror_duration_seconds",
            "From receiving a delivery to acking it",
            this.mirror_duration.clone(),
        );
        for reason in PUBLISH_FAILURE_REASONS {
            let _ = this.publish_failures.get_or_create(&ReasonLabel { reason });
        }
        for reason in DEAD_LETTER_REASONS {
            let _ = this.dead_lettered.get_or_create(&ReasonLabel { reason });
        }
        this
    }
}
