//! Events that cannot go out now or ever: retried through the delay queues with bounded
//! attempts, or dead-lettered at once, never requeued in a loop.

use lapin::BasicProperties;
use serde_json::json;
use test_infra::smtp_sink::SmtpSink;
use test_infra::webhook_sink::WebhookSink;
use test_support::broker::{TestBroker, event_properties, order_created};
use test_support::notification::{NotificationServiceHandle, NotificationTopology};
use test_support::wait_until;

use crate::{DELIVERED, RETRIED, WAIT, wait_for_metric, webhook_channel};

fn dead_lettered(reason: &str) -> String {
    format!(r#"notifications_dead_lettered_total{{reason="{reason}"}}"#)
}

#[tokio::test]
async fn messages_that_are_not_known_events_are_dead_lettered_at_once() {
    let topology = NotificationTopology::unique();
    let service = NotificationServiceHandle::start(&topology, &[]).await;
    let broker = TestBroker::connect().await;
    let json = BasicProperties::default().with_content_type("application/json".into());

    broker
        .publish(&topology.exchange, "order.created", b"{not json", json)
        .await;
    let mut newer = order_created(1);
    newer["schema_version"] = json!(2);
    broker.publish_event(&topology.exchange, &newer, None).await;
    let mut unknown = order_created(2);
    unknown["event_type"] = json!("order.refunded");
    // Published under the bound key, as a confused producer would.
    broker
        .publish(
            &topology.exchange,
            "order.created",
            unknown.to_string().as_bytes(),
            event_properties(&unknown, None),
        )
        .await;

    for reason in ["malformed", "unknown_schema_version", "unknown_event_type"] {
        wait_for_metric(&service, &dead_lettered(reason), 1.0).await;
    }
    let mut reasons = Vec::new();
    while let Some(letter) = broker.take(&topology.dead_letters()).await {
        assert_eq!(letter.headers["x-notification-attempt"], "1");
        assert!(!letter.headers["x-notification-error"].is_empty());
        assert_eq!(letter.headers["x-original-routing-key"], "order.created");
        if letter.headers["x-notification-failure"] == "malformed" {
            assert_eq!(letter.data, b"{not json", "the body is kept as it came");
        }
        reasons.push(letter.headers["x-notification-failure"].clone());
    }
    reasons.sort();
    assert_eq!(
        reasons,
        ["malformed", "unknown_event_type", "unknown_schema_version"]
    );
    for reason in ["malformed", "unknown_schema_version", "unknown_event_type"] {
        assert_eq!(service.metric(&dead_lettered(reason)), 1.0, "{reason} once");
    }
    assert_eq!(service.metric(RETRIED), 0.0, "never retried");
    assert_eq!(service.metric(DELIVERED), 0.0);
    assert_eq!(
        broker.queue_counts(&topology.queue).await,
        Some((0, 1)),
        "nothing requeued"
    );
    service.stop().await;
}

#[tokio::test]
async fn smtp_down_then_up_is_retried_then_delivered_once() {
    let mut sink = SmtpSink::start().await;
    let port = sink.address.port().to_string();
    sink.go_down();
    let topology = NotificationTopology::unique();
    let service = NotificationServiceHandle::start(
        &topology,
        &[
            ("NOTIFY_CHANNELS", "email"),
            ("SMTP_PORT", &port),
            ("NOTIFY_EMAIL_TO", "{username}@shop.test"),
            ("NOTIFY_MAX_ATTEMPTS", "20"),
        ],
    )
    .await;
    let broker = TestBroker::connect().await;

    broker
        .publish_event(&topology.exchange, &order_created(50), None)
        .await;
    wait_for_metric(&service, RETRIED, 2.0).await;
    assert!(sink.messages().is_empty());
    sink.come_up().await;
    wait_for_metric(&service, DELIVERED, 1.0).await;

    // Acked, and no copy left waiting in any queue: it cannot arrive a second time.
    for queue in [
        topology.queue.clone(),
        format!("{}.delay.100ms", topology.queue),
        format!("{}.delay.200ms", topology.queue),
        format!("{}.delay.400ms", topology.queue),
    ] {
        assert_eq!(broker.queue_counts(&queue).await.unwrap().0, 0, "{queue}");
    }
    assert_eq!(sink.messages().len(), 1, "delivered once");
    assert!(
        service.metric(r#"notifications_failed_total{channel="email",kind="transient"}"#) >= 2.0
    );
    assert_eq!(
        broker.take(&topology.dead_letters()).await.map(|m| m.data),
        None
    );
    service.stop().await;
}

#[tokio::test]
async fn a_failure_that_outlasts_the_attempts_ends_in_the_dead_letter_queue() {
    let sink = WebhookSink::start().await;
    sink.respond_with(503);
    let topology = NotificationTopology::unique();
    let mut settings = webhook_channel(&sink).to_vec();
    settings.push(("NOTIFY_MAX_ATTEMPTS", "3"));
    let service = NotificationServiceHandle::start(&topology, &settings).await;
    let broker = TestBroker::connect().await;
    let event = order_created(51);

    broker.publish_event(&topology.exchange, &event, None).await;
    wait_for_metric(&service, &dead_lettered("attempts_exhausted"), 1.0).await;

    assert_eq!(sink.received().len(), 3, "one call per attempt");
    assert_eq!(service.metric(RETRIED), 2.0);
    let letter = broker
        .take(&topology.dead_letters())
        .await
        .expect("a dead letter");
    assert_eq!(
        letter.headers["x-notification-failure"],
        "attempts_exhausted"
    );
    assert_eq!(letter.headers["x-notification-attempt"], "3");
    assert!(letter.headers["x-notification-error"].contains("503"));
    assert_eq!(
        letter
            .properties
            .message_id()
            .as_ref()
            .map(|id| id.as_str()),
        event["event_id"].as_str()
    );
    assert!(letter.headers.contains_key("x-schema-version"));
    service.stop().await;
}

#[tokio::test]
async fn a_webhook_redirect_is_not_followed() {
    // Following it would send the signed event wherever the receiving end points, including
    // internal addresses only this service can reach.
    let elsewhere = WebhookSink::start().await;
    let sink = WebhookSink::start().await;
    sink.redirect_to(&elsewhere.url);
    let topology = NotificationTopology::unique();
    let service = NotificationServiceHandle::start(&topology, &webhook_channel(&sink)).await;
    let broker = TestBroker::connect().await;

    broker
        .publish_event(&topology.exchange, &order_created(53), None)
        .await;
    wait_for_metric(&service, &dead_lettered("permanent_failure"), 1.0).await;
    assert_eq!(sink.received().len(), 1);
    assert!(elsewhere.received().is_empty(), "the redirect was followed");
    service.stop().await;
}

#[tokio::test]
async fn a_permanent_rejection_is_dead_lettered_without_retrying() {
    let sink = WebhookSink::start().await;
    sink.respond_with(400);
    let topology = NotificationTopology::unique();
    let service = NotificationServiceHandle::start(&topology, &webhook_channel(&sink)).await;
    let broker = TestBroker::connect().await;

    broker
        .publish_event(&topology.exchange, &order_created(52), None)
        .await;
    wait_for_metric(&service, &dead_lettered("permanent_failure"), 1.0).await;
    assert_eq!(sink.received().len(), 1);
    assert_eq!(service.metric(RETRIED), 0.0);
    service.stop().await;
}

#[tokio::test]
async fn a_retry_repeats_only_the_channels_that_failed() {
    let sink = WebhookSink::start().await;
    sink.respond_with(502);
    let topology = NotificationTopology::unique();
    let mut settings = webhook_channel(&sink).to_vec();
    settings[0] = ("NOTIFY_CHANNELS", "log,webhook");
    let service = NotificationServiceHandle::start(&topology, &settings).await;
    let broker = TestBroker::connect().await;

    broker
        .publish_event(&topology.exchange, &order_created(53), None)
        .await;
    wait_for_metric(&service, RETRIED, 1.0).await;
    sink.respond_with(200);
    wait_for_metric(&service, DELIVERED, 1.0).await;

    assert_eq!(
        service.metric(r#"notifications_sent_total{channel="log"}"#),
        1.0
    );
    assert_eq!(
        service.metric(r#"notifications_sent_total{channel="webhook"}"#),
        1.0
    );
    wait_until("the queue to be empty", WAIT, || async {
        (broker.queue_counts(&topology.queue).await == Some((0, 1))).then_some(())
    })
    .await;
    service.stop().await;
}
