use std::cell::RefCell;
use std::time::Duration;

use order_events::{EventType, OrderEvent, OrderStatus, decode, wire};
use serde_json::{Value, json};
use test_support::broker::TestBroker;
use test_support::wait_until;

use crate::Shop;

#[tokio::test]
async fn each_change_publishes_one_event_per_the_contract() {
    let shop = Shop::start().await;
    let broker = TestBroker::connect().await;
    let tap = broker.tap(&shop.orders.exchange, "#").await;
    let product = shop.product(10).await;

    let trace_id = "0af7651916cd43dd8448eb211c80319c";
    let response = shop
        .orders
        .client
        .post(shop.orders.url("/orders"))
        .bearer_auth(&shop.customer)
        .header("traceparent", format!("00-{trace_id}-b7ad6b7169203331-01"))
        .json(&json!({"product_id": product, "quantity": 2}))
        .send()
        .await
        .unwrap();
    let order: Value = response.json().await.unwrap();
    let path = format!("/orders/{}", order["id"]);
    shop.orders
        .put(&shop.customer, &path, &json!({"status": "cancelled"}))
        .await;

    let collected = RefCell::new(Vec::new());
    wait_until(
        "two events on the exchange",
        Duration::from_secs(10),
        || async {
            let taken = broker.take_all(&tap).await;
            let mut messages = collected.borrow_mut();
            messages.extend(taken);
            (messages.len() >= 2).then_some(())
        },
    )
    .await;
    let messages = collected.into_inner();
    assert_eq!(messages.len(), 2);

    let created = &messages[0];
    let body: Value = serde_json::from_slice(&created.data).unwrap();
    assert_eq!(body["event_type"], "order.created");
    assert_eq!(body["schema_version"], 1);
    assert_eq!(body["order"]["id"], order["id"]);
    assert_eq!(body["order"]["total_price"], "39.98");
    assert_eq!(body["order"]["status"], "pending");
    assert!(body["previous_status"].is_null());
    let properties = &created.properties;
    assert_eq!(
        properties.message_id().as_ref().unwrap().as_str(),
        body["event_id"].as_str().unwrap()
    );
    assert_eq!(
        properties.content_type().as_ref().unwrap().as_str(),
        "application/json"
    );
    assert_eq!(*properties.delivery_mode(), Some(2));
    assert_eq!(
        properties.kind().as_ref().unwrap().as_str(),
        "order.created"
    );
    assert_eq!(created.headers["x-schema-version"], "1");
    // The event continues the trace of the request that placed the order.
    assert!(
        created.headers["traceparent"].contains(trace_id),
        "{}",
        created.headers["traceparent"]
    );

    let changed: Value = serde_json::from_slice(&messages[1].data).unwrap();
    assert_eq!(changed["event_type"], "order.status_changed");
    assert_eq!(changed["previous_status"], "pending");
    assert_eq!(changed["order"]["status"], "cancelled");
    broker.delete_exchange(&shop.orders.exchange).await;
}

/// Every body the service publishes is a contract event: it decodes with `order_events`, its
/// `message_id` is its event id, and deleting an order publishes `order.deleted`.
#[tokio::test]
async fn published_bodies_decode_under_the_contract_including_deletion() {
    let shop = Shop::start().await;
    let broker = TestBroker::connect().await;
    let tap = broker.tap(&shop.orders.exchange, "#").await;
    let product = shop.product(10).await;
    let order = shop.order(product, 1).await;
    let path = format!("/orders/{}", order["id"]);
    let deleted = shop.orders.delete(&shop.customer, &path).await;
    assert_eq!(deleted.status(), 204);

    let collected = RefCell::new(Vec::new());
    wait_until(
        "two events on the exchange",
        Duration::from_secs(10),
        || async {
            let taken = broker.take_all(&tap).await;
            let mut messages = collected.borrow_mut();
            messages.extend(taken);
            (messages.len() >= 2).then_some(())
        },
    )
    .await;
    let events: Vec<OrderEvent> = collected
        .into_inner()
        .iter()
        .map(|message| {
            let header = message.headers.get(wire::SCHEMA_VERSION_HEADER);
            let event = decode(&message.data, header.map(String::as_str), &EventType::ALL)
                .expect("a contract event");
            let message_id = message.properties.message_id().clone().unwrap();
            assert_eq!(message_id.as_str(), event.event_id.to_string());
            event
        })
        .collect();
    let kinds: Vec<EventType> = events.iter().map(|event| event.event_type).collect();
    assert_eq!(kinds, [EventType::OrderCreated, EventType::OrderDeleted]);
    assert_eq!(events[1].previous_status, Some(OrderStatus::Pending));
    assert_eq!(events[1].order.id, order["id"].as_i64().unwrap());
    assert_eq!(events[1].order.total_price.as_str(), "19.99");
    broker.delete_exchange(&shop.orders.exchange).await;
}

#[tokio::test]
async fn health_reports_rabbitmq_and_the_outbox_backlog() {
    let shop = Shop::start().await;
    let health: Value = shop.orders.get_json("/health").await;
    assert_eq!(health["status"], "healthy");
    assert_eq!(health["dependencies"]["rabbitmq"]["status"], "up");
    assert_eq!(health["dependencies"]["database"]["status"], "up");
    assert_eq!(health["dependencies"]["outbox"]["status"], "up");
    // Public health says up or down only: no error text, latency or backlog.
    assert!(health["dependencies"]["outbox"].get("detail").is_none());
    let metrics = shop.orders.metrics().await;
    assert!(metrics.contains("outbox_backlog 0"), "{metrics}");
    assert!(metrics.contains(r#"health_dependency_up{dependency="rabbitmq"} 1"#));
}
