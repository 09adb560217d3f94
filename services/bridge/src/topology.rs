//! What the bridge declares on every new RabbitMQ channel (first connect and each reconnect):
//!
//! - the durable topic exchange (`order_events`), as the Order Service declares it;
//! - the dead-letter queue `{queue}.dead` for messages that can never be mirrored (a routing
//!   key that is no valid subject, a message larger than NATS accepts): nothing is dropped
//!   silently, an operator inspects and replays them;
//! - the durable queue (`order_events_bridge`) bound with each binding key, dead-lettering
//!   into the queue above, with `x-single-active-consumer` so that a second replica stands by
//!   instead of splitting the queue (two consumers would break the order per order);
//! - the prefetch, equal to the in-flight window.

use std::sync::Arc;

use lapin::options::{BasicQosOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use shop_amqp::{self, Topology};

use crate::config::BridgeSettings;

/// The dead-letter queue of `queue`.
pub fn dead_letter_queue(queue: &str) -> String {
    format!("{queue}.dead")
}

pub fn topology(settings: &BridgeSettings) -> Topology {
    let exchange = settings.bridge_exchange.clone();
    let queue = settings.bridge_queue.clone();
    let binding_keys = settings.binding_keys();
    let expires = settings.bridge_queue_expires_ms;
    let prefetch = settings.bridge_max_in_flight;
    Arc::new(move |channel| {
        let (exchange, queue, binding_keys) =
            (exchange.clone(), queue.clone(), binding_keys.clone());
        Box::pin(async move {
            shop_amqp::declare_durable_topic_exchange(&channel, &exchange).await?;
            let durable = QueueDeclareOptions {
                durable: true,
                ..QueueDeclareOptions::default()
            };
            let dead = dead_letter_queue(&queue);
            let mut dead_arguments = FieldTable::default();
            if let Some(ms) = expires {
                dead_arguments.insert("x-expires".into(), AMQPValue::LongUInt(ms));
            }
            channel
                .queue_declare(ShortString::from(dead.as_str()), durable, dead_arguments)
                .await?;
            let mut arguments = FieldTable::default();
            // The default exchange routes by queue name.
            arguments.insert(
                "x-dead-letter-exchange".into(),
                AMQPValue::LongString(LongString::from("")),
            );
            arguments.insert(
                "x-dead-letter-routing-key".into(),
                AMQPValue::LongString(LongString::from(dead.as_str())),
            );
            arguments.insert("x-single-active-consumer".into(), AMQPValue::Boolean(true));
            if let Some(ms) = expires {
                arguments.insert("x-expires".into(), AMQPValue::LongUInt(ms));
            }
            channel
                .queue_declare(ShortString::from(queue.as_str()), durable, arguments)
                .await?;
            for key in &binding_keys {
                channel
                    .queue_bind(
                        ShortString::from(queue.as_str()),
                        ShortString::from(exchange.as_str()),
                        ShortString::from(key.as_str()),
                        QueueBindOptions::default(),
                        FieldTable::default(),
                    )
                    .await?;
            }
            channel
                .basic_qos(prefetch, BasicQosOptions::default())
                .await
        })
    })
}
