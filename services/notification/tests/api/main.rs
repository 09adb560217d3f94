//! The Notification Service against the real RabbitMQ: each test runs the service in-process
//! on its own exchange and queues (which expire on their own), publishes order events the way
//! `docs/events.md` says the Order Service does, and watches sinks, queues and metrics.

mod delivery;
mod failures;
mod platform;
mod resilience;
mod throughput;

use std::time::Duration;

use test_infra::webhook_sink::WebhookSink;
use test_support::notification::NotificationServiceHandle;
use test_support::wait_until;

/// Long enough for a loaded 2-core machine; a passing test takes a fraction of it.
pub const WAIT: Duration = Duration::from_secs(20);
pub const WEBHOOK_SECRET: &str = "test-webhook-secret-0123456789";

/// Waits until `sample` in the service's metrics reaches `at_least`.
pub async fn wait_for_metric(service: &NotificationServiceHandle, sample: &str, at_least: f64) {
    wait_until(&format!("{sample} >= {at_least}"), WAIT, || async {
        (service.metric(sample) >= at_least).then_some(())
    })
    .await;
}

/// Settings for the webhook channel pointing at `sink`.
pub fn webhook_channel(sink: &WebhookSink) -> [(&'static str, &str); 3] {
    [
        ("NOTIFY_CHANNELS", "webhook"),
        ("NOTIFY_WEBHOOK_URL", sink.url.as_str()),
        ("NOTIFY_WEBHOOK_SECRET", WEBHOOK_SECRET),
    ]
}

pub const DELIVERED: &str = r#"notifications_handled_total{outcome="delivered"}"#;
pub const DUPLICATE: &str = r#"notifications_handled_total{outcome="duplicate"}"#;
pub const RETRIED: &str = "notifications_retried_total";
