//! What the relay records, on the service's registry. The names, help texts and types are those
//! the dashboards (`grafana/dashboards/shop-messaging.json`), the alert rules and the tests
//! read: renaming one silently empties a panel.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use shop_telemetry::metrics::{Metrics, latency_histogram};

#[derive(Debug, Clone)]
pub struct OutboxMetrics {
    pub backlog: Gauge,
    pub published: Counter,
    pub publish_failures: Counter,
    /// From the transaction that wrote the event to the broker's confirm.
    pub publish_latency: Histogram,
}

impl OutboxMetrics {
    pub fn register(metrics: &Metrics) -> Self {
        let this = Self {
            backlog: Gauge::default(),
            published: Counter::default(),
            publish_failures: Counter::default(),
            publish_latency: latency_histogram(),
        };
        metrics.register(
            "outbox_backlog",
            "Events written but not yet confirmed by RabbitMQ",
            this.backlog.clone(),
        );
        metrics.register(
            "outbox_published",
            "Events confirmed by RabbitMQ",
            this.published.clone(),
        );
        metrics.register(
            "outbox_publish_failures",
            "Publish attempts that failed (broker down, nack, timeout)",
            this.publish_failures.clone(),
        );
        metrics.register(
            "outbox_publish_latency_seconds",
            "Time from the order's commit to the broker's confirm",
            this.publish_latency.clone(),
        );
        this
    }
}
