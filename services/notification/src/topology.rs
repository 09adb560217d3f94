//! Declaring the queues this service owns ([`crate::queues`]) and how a message moves between
//! them.
//!
//! ```text
//! order_events (topic) --order.created--> order_notifications --(handled)--> ack
//!                                               |  ^
//!                      transient failure,       |  |  per-message TTL expires:
//!                      attempts left            v  |  dead-lettered via the default exchange
//!                               order_notifications.delay.<ms>ms   (one queue per delay)
//!
//!   malformed / unknown version or type / permanent failure / attempts used up
//!                                    --> order_notifications.dead
//! ```
//!
//! Each delay queue holds messages of one TTL only: RabbitMQ expires messages at the head of a
//! queue, so a long TTL in front would hold back a short one behind it. Delay queues have no
//! consumers; their `x-dead-letter-*` arguments send an expired message back to the work queue
//! through the default exchange. The TTL itself is set on each message (`expiration`), so a
//! change of the retry settings never conflicts with the arguments of an existing queue.

use std::sync::Arc;

use lapin::options::{BasicQosOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use shop_amqp::{self, Topology};

use crate::config::ConsumerConfig;

/// Declares the exchange, the work queue and its bindings, the dead-letter queue, the delay
/// queues and the prefetch window, on every new channel.
pub fn declare(config: &ConsumerConfig) -> Topology {
    let config = Arc::new(config.clone());
    Arc::new(move |channel| {
        let config = config.clone();
        Box::pin(async move {
            let names = &config.names;
            let expires = config.queue_expires_ms;
            // Declared exactly as the Order Service declares it (durable, never auto-deleted):
            // declarations of one exchange with different flags fail.
            shop_amqp::declare_durable_topic_exchange(&channel, &names.exchange).await?;
            let durable = QueueDeclareOptions {
                durable: true,
                ..QueueDeclareOptions::default()
            };
            channel
                .queue_declare(
                    ShortString::from(names.queue.as_str()),
                    durable,
                    queue_arguments(expires, None),
                )
                .await?;
            for key in &config.routing_keys {
                channel
                    .queue_bind(
                        ShortString::from(names.queue.as_str()),
                        ShortString::from(names.exchange.as_str()),
                        ShortString::from(key.as_str()),
                        QueueBindOptions::default(),
                        FieldTable::default(),
                    )
                    .await?;
            }
            channel
                .queue_declare(
                    ShortString::from(names.dead_letters.as_str()),
                    durable,
                    queue_arguments(expires, None),
                )
                .await?;
            for delay in config.retry.delays() {
                channel
                    .queue_declare(
                        ShortString::from(names.delay_queue(delay).as_str()),
                        durable,
                        queue_arguments(expires, Some(&names.queue)),
                    )
                    .await?;
            }
            channel
                .basic_qos(config.prefetch, BasicQosOptions::default())
                .await
        })
    })
}

/// `x-expires` when asked for; for a delay queue, where its expired messages go.
fn queue_arguments(expires_ms: Option<u32>, return_to: Option<&str>) -> FieldTable {
    let mut arguments = FieldTable::default();
    if let Some(expires) = expires_ms {
        arguments.insert("x-expires".into(), AMQPValue::LongUInt(expires));
    }
    if let Some(queue) = return_to {
        // The default exchange routes by queue name: straight back to the work queue.
        arguments.insert(
            "x-dead-letter-exchange".into(),
            AMQPValue::LongString(LongString::from("")),
        );
        arguments.insert(
            "x-dead-letter-routing-key".into(),
            AMQPValue::LongString(LongString::from(queue)),
        );
    }
    arguments
}
