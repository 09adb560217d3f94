//! Business metrics of the Notification Service, next to the runtime's HTTP metrics at
//! `/metrics`.
//!
//! - `notifications_handled_total{outcome}`: messages acknowledged after handling, `delivered`
//!   (every channel sent) or `duplicate` (already notified within the dedup window).
//! - `notifications_failed_total{channel,kind}`: failed sends, `transient` or `permanent`.
//! - `notifications_retried_total`: messages parked in a delay queue for another attempt.
//! - `notifications_dead_lettered_total{reason}`: messages moved to the dead-letter queue.
//! - `notifications_sent_total{channel}`: notifications that went out.
//! - `notification_handling_duration_seconds{outcome}`: from delivery to ack, per message.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use shop_telemetry::metrics::{Metrics, latency_histogram};

use crate::config::ChannelKind;

/// Every reason a message is dead-lettered for.
pub const DEAD_LETTER_REASONS: [&str; 5] = [
    "malformed",
    "unknown_schema_version",
    "unknown_event_type",
    "permanent_failure",
    "attempts_exhausted",
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FailureLabels {
    pub channel: &'static str,
    pub kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ChannelLabels {
    pub channel: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    pub reason: &'static str,
}

/// How the handling of one message ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    Duplicate,
    Retried,
    DeadLettered,
    /// Could not be acked, retried or dead-lettered (broker trouble): it comes back.
    Returned,
}

impl Outcome {
    pub const ALL: [Self; 5] = [
        Self::Delivered,
        Self::Duplicate,
        Self::Retried,
        Self::DeadLettered,
        Self::Returned,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Self::Delivered => "delivered",
            Self::Duplicate => "duplicate",
            Self::Retried => "retried",
            Self::DeadLettered => "dead_lettered",
            Self::Returned => "returned",
        }
    }
}

#[derive(Debug, Clone)]
pub struct NotificationMetrics {
    handled: Family<OutcomeLabels, Counter>,
    failed: Family<FailureLabels, Counter>,
    retried: Counter,
    dead_lettered: Family<ReasonLabels, Counter>,
    sent: Family<ChannelLabels, Counter>,
    duration: Family<OutcomeLabels, Histogram, fn() -> Histogram>,
}

impl NotificationMetrics {
    /// Registers the families and creates their known series at zero, so that dashboards and
    /// alerts see a 0 rather than no data before the first event.
    pub fn register(metrics: &Metrics, channels: &[ChannelKind]) -> Self {
        let this = Self {
            handled: Family::default(),
            failed: Family::default(),
            retried: Counter::default(),
            dead_lettered: Family::default(),
            sent: Family::default(),
            duration: Family::new_with_constructor(latency_histogram),
        };
        metrics.register(
            "notifications_handled",
            "Messages acknowledged after handling, by outcome (delivered, duplicate)",
            this.handled.clone(),
        );
        metrics.register(
            "notifications_failed",
            "Failed notification sends, by channel and kind (transient, permanent)",
            this.failed.clone(),
        );
        metrics.register(
            "notifications_retried",
            "Messages parked in a delay queue for another attempt",
            this.retried.clone(),
        );
        metrics.register(
            "notifications_dead_lettered",
            "Messages moved to the dead-letter queue, by reason",
            this.dead_lettered.clone(),
        );
        metrics.register(
            "notifications_sent",
            "Notifications that went out, by channel",
            this.sent.clone(),
        );
        metrics.register(
            "notification_handling_duration_seconds",
            "Time from delivery to acknowledgement, by outcome",
            this.duration.clone(),
        );
        for outcome in [Outcome::Delivered, Outcome::Duplicate] {
            let _ = this.handled.get_or_create(&OutcomeLabels {
                outcome: outcome.label(),
            });
        }
        for outcome in Outcome::ALL {
            let _ = this.duration.get_or_create(&OutcomeLabels {
                outcome: outcome.label(),
            });
        }
        for reason in DEAD_LETTER_REASONS {
            let _ = this.dead_lettered.get_or_create(&ReasonLabels { reason });
        }
        for channel in channels.iter().map(|kind| kind.name()) {
            let _ = this.sent.get_or_create(&ChannelLabels { channel });
            for kind in ["transient", "permanent"] {
                let _ = this.failed.get_or_create(&FailureLabels { channel, kind });
            }
        }
        this
    }

    pub fn sent(&self, channel: &'static str) {
        self.sent.get_or_create(&ChannelLabels { channel }).inc();
    }

    pub fn failed(&self, channel: &'static str, kind: &'static str) {
        self.failed
            .get_or_create(&FailureLabels { channel, kind })
            .inc();
    }

    pub fn dead_lettered(&self, reason: &'static str) {
        self.dead_lettered
            .get_or_create(&ReasonLabels { reason })
            .inc();
    }

    /// Counts a finished message and its handling time.
    pub fn finished(&self, outcome: Outcome, seconds: f64) {
        let labels = OutcomeLabels {
            outcome: outcome.label(),
        };
        match outcome {
            Outcome::Delivered | Outcome::Duplicate => {
                self.handled.get_or_create(&labels).inc();
            }
            Outcome::Retried => {
                self.retried.inc();
            }
            Outcome::DeadLettered | Outcome::Returned => {}
        }
        self.duration.get_or_create(&labels).observe(seconds);
    }
}
