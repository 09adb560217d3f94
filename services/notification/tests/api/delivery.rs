//! Events that go out: through each channel, signed, in the producer's trace, once.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use test_infra::smtp_sink::SmtpSink;
use test_infra::webhook_sink::WebhookSink;
use test_support::broker::{TestBroker, new_traceparent, order_created};
use test_support::logs::capture_json_logs;
use test_support::notification::{NotificationServiceHandle, NotificationTopology};
use test_support::wait_until;

use crate::{DELIVERED, DUPLICATE, WAIT, WEBHOOK_SECRET, wait_for_metric, webhook_channel};

#[tokio::test]
async fn an_order_reaches_the_webhook_signed_and_in_the_producers_trace() {
    let sink = WebhookSink::start().await;
    let topology = NotificationTopology::unique();
    let service = NotificationServiceHandle::start(&topology, &webhook_channel(&sink)).await;
    let broker = TestBroker::connect().await;
    let event = order_created(42);
    let (traceparent, trace_id) = new_traceparent();

    broker
        .publish_event(&topology.exchange, &event, Some(&traceparent))
        .await;
    let hook = wait_until("the webhook call", WAIT, || async {
        sink.received().into_iter().next()
    })
    .await;

    let body = hook.json();
    assert_eq!(body["event_id"], event["event_id"]);
    assert_eq!(body["event_type"], "order.created");
    assert_eq!(body["order"]["id"], 42);
    assert_eq!(body["order"]["total_price"], "498.00");
    assert_eq!(body["subject"], "Order #42 received");
    let timestamp = hook.header("x-shop-timestamp").expect("timestamp header");
    let mut mac = Hmac::<Sha256>::new_from_slice(WEBHOOK_SECRET.as_bytes()).unwrap();
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(&hook.body);
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    assert_eq!(
        hook.header("x-shop-signature"),
        Some(format!("sha256={expected}").as_str())
    );
    assert_eq!(hook.header("idempotency-key"), event["event_id"].as_str());
    assert_eq!(hook.header("content-type"), Some("application/json"));
    let outgoing = hook.header("traceparent").expect("traceparent on the call");
    assert_eq!(
        outgoing.split('-').nth(1),
        Some(trace_id.as_str()),
        "the consume span continues the producer's trace"
    );

    wait_for_metric(&service, DELIVERED, 1.0).await;
    assert_eq!(broker.queue_counts(&topology.queue).await, Some((0, 1)));
    service.stop().await;
}

#[tokio::test]
async fn an_order_is_emailed_through_smtp() {
    let sink = SmtpSink::start().await;
    let port = sink.address.port().to_string();
    let topology = NotificationTopology::unique();
    let service = NotificationServiceHandle::start(
        &topology,
        &[
            ("NOTIFY_CHANNELS", "email"),
            ("SMTP_HOST", "127.0.0.1"),
            ("SMTP_PORT", &port),
            ("NOTIFY_EMAIL_TO", "{username}@shop.test"),
        ],
    )
    .await;
    let broker = TestBroker::connect().await;
    let event = order_created(43);

    broker.publish_event(&topology.exchange, &event, None).await;
    let mail = wait_until("the email", WAIT, || async {
        sink.messages().into_iter().next()
    })
    .await;

    assert_eq!(mail.to, ["alice@shop.test"]);
    assert_eq!(mail.from, "notifications@shop.local");
    assert!(
        mail.data.contains("Subject: Order #43 received"),
        "{}",
        mail.data
    );
    assert!(mail.data.contains("Hello alice"), "{}", mail.data);
    let event_id = event["event_id"].as_str().unwrap();
    assert!(
        mail.data.contains(event_id),
        "Message-ID carries the event id"
    );
    wait_for_metric(&service, DELIVERED, 1.0).await;
    service.stop().await;
}

#[tokio::test]
async fn every_activity_is_logged_as_json_with_order_id_and_trace_id() {
    let (logs, _guard) = capture_json_logs("notification-service");
    let topology = NotificationTopology::unique();
    let service = NotificationServiceHandle::start(&topology, &[]).await;
    let broker = TestBroker::connect().await;
    let (traceparent, trace_id) = new_traceparent();

    broker
        .publish_event(&topology.exchange, &order_created(44), Some(&traceparent))
        .await;
    wait_for_metric(&service, DELIVERED, 1.0).await;

    let lines = logs.lines();
    let about_the_order: Vec<_> = lines.iter().filter(|line| line["order_id"] == 44).collect();
    let messages: Vec<_> = about_the_order
        .iter()
        .map(|line| line["message"].as_str().unwrap_or_default())
        .collect();
    assert!(messages.contains(&"notification received"), "{lines:#?}");
    assert!(messages.contains(&"notification sent"), "{lines:#?}");
    for line in &about_the_order {
        assert_eq!(line["trace_id"], trace_id.as_str(), "{line}");
        assert_eq!(line["service"], "notification-service");
    }
    let sent = about_the_order
        .iter()
        .find(|line| line["message"] == "notification sent")
        .unwrap();
    assert_eq!(sent["channel"], "log");
    assert_eq!(sent["total_price"], "498.00");
    service.stop().await;
}

#[tokio::test]
async fn a_redelivered_duplicate_does_not_notify_twice() {
    let sink = WebhookSink::start().await;
    let topology = NotificationTopology::unique();
    let service = NotificationServiceHandle::start(&topology, &webhook_channel(&sink)).await;
    let broker = TestBroker::connect().await;
    let event = order_created(45);

    // The outbox publishes at least once: the same event id twice.
    broker.publish_event(&topology.exchange, &event, None).await;
    broker.publish_event(&topology.exchange, &event, None).await;
    // The two copies may be handled at once: the second is dropped as a duplicate while the
    // first is still sending, so wait for both outcomes.
    wait_for_metric(&service, DUPLICATE, 1.0).await;
    wait_for_metric(&service, DELIVERED, 1.0).await;

    assert_eq!(service.metric(DUPLICATE), 1.0);
    assert_eq!(service.metric(DELIVERED), 1.0);
    assert_eq!(sink.received().len(), 1, "notified once");
    assert_eq!(broker.queue_counts(&topology.queue).await, Some((0, 1)));
    service.stop().await;
}
