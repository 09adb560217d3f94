//! The whole order flow across services: an order placed through the Order Service reaches the
//! Notification Service through RabbitMQ, in the same trace.

use std::time::Duration;

use serde_json::{Value, json};
use test_infra::webhook_sink::WebhookSink;
use test_support::broker::TestBroker;
use test_support::notification::{NotificationServiceHandle, NotificationTopology};
use test_support::{OrderServiceHandle, ProductServiceHandle, UserServiceHandle, wait_until};

#[tokio::test]
async fn an_order_placed_leads_to_one_notification_in_the_same_trace() {
    let users = UserServiceHandle::start().await;
    let products = ProductServiceHandle::start(&users).await;
    let orders = OrderServiceHandle::start(&users, &products).await;
    let sink = WebhookSink::start().await;
    let topology = NotificationTopology::unique().with_exchange(&orders.exchange);
    let notifications = NotificationServiceHandle::start(
        &topology,
        &[
            ("NOTIFY_CHANNELS", "webhook"),
            ("NOTIFY_WEBHOOK_URL", &sink.url),
            ("NOTIFY_WEBHOOK_SECRET", "test-webhook-secret-0123456789"),
        ],
    )
    .await;
    let (_, admin) = users.admin().await;
    let (_, customer) = users.customer().await;
    let product = products.product_with_stock(&admin, "Oak table", 5).await;

    let trace_id = "5b8efff798038103d269b633813fc60c";
    let order: Value = orders
        .client
        .post(orders.url("/orders"))
        .bearer_auth(&customer)
        .header("traceparent", format!("00-{trace_id}-eee19b7ec3c1b174-01"))
        .json(&json!({"product_id": product, "quantity": 2}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    let hook = wait_until(
        "the webhook notification",
        Duration::from_secs(20),
        || async { sink.received().into_iter().next() },
    )
    .await;
    let event = hook.json();
    assert_eq!(event["event_type"], "order.created");
    assert_eq!(event["order"]["id"], order["id"]);
    assert_eq!(event["order"]["total_price"], "39.98");
    let traceparent = hook
        .header("traceparent")
        .expect("webhook carries the trace");
    assert!(traceparent.contains(trace_id), "{traceparent}");

    // Exactly one: nothing else arrives once the outbox is empty and the queue drained.
    orders.relay.drain().await.unwrap();
    wait_until("the queue to drain", Duration::from_secs(10), || async {
        let broker = TestBroker::connect().await;
        let counts = broker.queue_counts(&topology.queue).await;
        broker.close().await;
        (counts.map(|(ready, _)| ready) == Some(0)).then_some(())
    })
    .await;
    assert_eq!(sink.received().len(), 1);
    assert_eq!(
        notifications.metric(r#"notifications_handled_total{outcome="delivered"}"#),
        1.0
    );
    TestBroker::connect()
        .await
        .delete_exchange(&orders.exchange)
        .await;
}
