//! The queues this service owns and how a message moves between them.
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

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use lapin::ExchangeKind;
use lapin::options::{
    BasicQosOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use service_runtime::amqp::Topology;

use crate::config::ConsumerConfig;

/// The names of the exchange and queues, all derived from the configured work queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueNames {
    pub exchange: String,
    pub queue: String,
    pub dead_letters: String,
}

impl QueueNames {
    pub fn new(exchange: &str, queue: &str) -> Self {
        Self {
            exchange: exchange.to_owned(),
            queue: queue.to_owned(),
            dead_letters: format!("{queue}.dead"),
        }
    }

    /// The queue where messages wait `delay` before returning to the work queue.
    pub fn delay_queue(&self, delay: Duration) -> String {
        format!("{}.delay.{}ms", self.queue, delay.as_millis())
    }
}

/// Bounded attempts with exponential backoff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Sends of one event, the first included.
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl RetryPolicy {
    /// The wait after attempt `failed_attempt` (1-based) failed: base × 2^(attempt − 1), capped.
    pub fn delay_after(&self, failed_attempt: u32) -> Duration {
        let doublings = failed_attempt.saturating_sub(1).min(31);
        self.base_delay
            .saturating_mul(1 << doublings)
            .min(self.max_delay)
    }

    /// Whether another attempt follows attempt `attempt`.
    pub fn allows_retry_after(&self, attempt: u32) -> bool {
        attempt < self.max_attempts
    }

    /// Every distinct delay the policy uses: one delay queue each.
    pub fn delays(&self) -> BTreeSet<Duration> {
        (1..self.max_attempts)
            .map(|attempt| self.delay_after(attempt))
            .collect()
    }
}

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
            channel
                .exchange_declare(
                    ShortString::from(names.exchange.as_str()),
                    ExchangeKind::Topic,
                    ExchangeDeclareOptions {
                        durable: true,
                        ..ExchangeDeclareOptions::default()
                    },
                    FieldTable::default(),
                )
                .await?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(max_attempts: u32) -> RetryPolicy {
        RetryPolicy {
            max_attempts,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(5),
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let delays: Vec<u64> = (1..=5)
            .map(|attempt| policy(6).delay_after(attempt).as_secs())
            .collect();
        assert_eq!(delays, [1, 2, 4, 5, 5]);
        assert_eq!(policy(6).delay_after(200), Duration::from_secs(5));
    }

    #[test]
    fn one_delay_queue_per_distinct_delay() {
        let delays: Vec<u64> = policy(6).delays().iter().map(Duration::as_secs).collect();
        assert_eq!(delays, [1, 2, 4, 5]);
        assert!(policy(1).delays().is_empty(), "one attempt needs no delay");
    }

    #[test]
    fn attempts_are_bounded() {
        assert!(policy(3).allows_retry_after(2));
        assert!(!policy(3).allows_retry_after(3));
    }

    #[test]
    fn names_derive_from_the_work_queue() {
        let names = QueueNames::new("order_events", "order_notifications");
        assert_eq!(names.dead_letters, "order_notifications.dead");
        assert_eq!(
            names.delay_queue(Duration::from_millis(1500)),
            "order_notifications.delay.1500ms"
        );
    }
}
