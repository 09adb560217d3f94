//! The Order Service's side in tests: order events published to the test's exchange the way
//! the outbox does it, plus a look into queues (ready count, dead letters).

use std::sync::Arc;

use lapin::BasicProperties;
use lapin::options::{BasicGetOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use order_events::{EventType, OrderEvent, OrderStatus, wire};
use serde_json::Value;
use shop_amqp::{self, AmqpConfig, AmqpLink};
use shop_config::Secret;

use test_support::broker::order_snapshot;

use crate::harness::broker;

/// Publishes order events the way the Order Service does (persistent, confirmed, with
/// message_id and trace context), straight to the broker.
pub struct Publisher {
    pub link: Arc<AmqpLink>,
    pub exchange: String,
}

impl Publisher {
    pub async fn new(exchange: &str) -> Self {
        let topology = shop_amqp::durable_topic_exchange(exchange.to_owned());
        let config = AmqpConfig {
            amqp_url: Secret::new(broker()),
            amqp_timeout_ms: 5_000,
        };
        let link = AmqpLink::new(&config, "test-order-publisher", true, topology);
        Self {
            link,
            exchange: exchange.to_owned(),
        }
    }

    /// Publishes `body` with `message_id` (none when `None`) and the current trace context.
    pub async fn publish(&self, routing_key: &str, message_id: Option<&str>, body: &Value) {
        let version = order_events::SCHEMA_VERSION.to_string();
        let headers = shop_amqp::headers_with_trace(&[(wire::SCHEMA_VERSION_HEADER, &version)]);
        let mut properties = BasicProperties::default()
            .with_content_type(ShortString::from(wire::CONTENT_TYPE))
            .with_delivery_mode(wire::PERSISTENT)
            .with_type(ShortString::from(routing_key))
            .with_headers(headers);
        if let Some(id) = message_id {
            properties = properties.with_message_id(ShortString::from(id));
        }
        self.link
            .publish_confirmed(
                &self.exchange,
                routing_key,
                &serde_json::to_vec(body).unwrap(),
                properties,
            )
            .await
            .expect("the broker confirms the event");
    }

    /// An order event of the contract; returns (event id, body). `order.created` for a
    /// pending order, else the order's cancellation.
    pub fn event(order_id: u64, routing_key: &str) -> (String, Value) {
        let kind = EventType::parse(routing_key).expect("a contract event type");
        let id = i64::try_from(order_id).expect("a small order id");
        let event = match kind {
            EventType::OrderCreated => {
                OrderEvent::created(order_snapshot(id, OrderStatus::Pending))
            }
            other => OrderEvent::changed(
                other,
                order_snapshot(id, OrderStatus::Cancelled),
                OrderStatus::Pending,
            ),
        };
        let body = serde_json::to_value(&event).unwrap();
        (event.event_id.to_string(), body)
    }

    /// Publishes `count` events, four per order from `first_order` on: its `order.created`,
    /// then three `order.status_changed`; returns (routing key, event id) in publish order.
    pub async fn publish_events(&self, first_order: u64, count: u64) -> Vec<(String, String)> {
        let mut published = Vec::new();
        for n in 0..count {
            let key = if n % 4 == 0 {
                "order.created"
            } else {
                "order.status_changed"
            };
            let (id, body) = Self::event(first_order + n / 4, key);
            self.publish(key, Some(&id), &body).await;
            published.push((key.to_owned(), id));
        }
        published
    }

    /// Ready messages in `queue` (unacked ones are not counted).
    pub async fn ready_in(&self, queue: &str) -> u32 {
        let channel = self.link.channel().await.unwrap();
        channel
            .queue_declare(
                ShortString::from(queue),
                QueueDeclareOptions {
                    passive: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .unwrap()
            .message_count()
    }

    /// Takes one message from `queue`, if any: its original routing key (from `x-death`, for a
    /// dead letter) and body.
    pub async fn get(&self, queue: &str) -> Option<(String, Vec<u8>)> {
        let channel = self.link.channel().await.unwrap();
        channel
            .basic_get(ShortString::from(queue), BasicGetOptions { no_ack: true })
            .await
            .unwrap()
            .map(|message| {
                let death = message
                    .delivery
                    .properties
                    .headers()
                    .as_ref()
                    .and_then(|headers| dead_lettered_routing_key(headers.inner().get("x-death")?))
                    .unwrap_or_default();
                (death, message.delivery.data.clone())
            })
    }
}

/// The routing key a dead letter had before RabbitMQ dead-lettered it.
fn dead_lettered_routing_key(x_death: &AMQPValue) -> Option<String> {
    let AMQPValue::FieldArray(deaths) = x_death else {
        return None;
    };
    let AMQPValue::FieldTable(death) = deaths.as_slice().first()? else {
        return None;
    };
    let AMQPValue::FieldArray(keys) = death.inner().get("routing-keys")? else {
        return None;
    };
    match keys.as_slice().first()? {
        AMQPValue::LongString(key) => String::from_utf8(key.as_bytes().to_vec()).ok(),
        _ => None,
    }
}
