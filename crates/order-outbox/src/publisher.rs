//! Publishing claimed events to RabbitMQ with publisher confirms, labelled as the event
//! contract prescribes ([`order_events::wire`]). An event may be published twice (a confirm
//! lost with the connection); consumers deduplicate on its id.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use lapin::options::BasicPublishOptions;
use lapin::types::ShortString;
use lapin::{BasicProperties, Channel, Confirmation, PublisherConfirm};
use order_events::{SCHEMA_VERSION, wire};
use shop_amqp::{self, AmqpLink};
use tracing::Instrument;

use crate::claim::PendingEvent;
use crate::metrics::OutboxMetrics;

/// What became of a batch: the outbox ids the broker confirmed, and the first failure (after
/// which nothing else counts as published, to keep the order per order).
#[derive(Debug, Default)]
pub struct Outcome {
    pub published: Vec<i64>,
    pub failure: Option<(i64, String)>,
}

#[derive(Debug)]
pub struct Publisher {
    link: Arc<AmqpLink>,
    exchange: String,
    confirm_timeout: Duration,
    metrics: OutboxMetrics,
}

impl Publisher {
    pub fn new(link: Arc<AmqpLink>, exchange: String, metrics: OutboxMetrics) -> Self {
        Self {
            link,
            exchange,
            confirm_timeout: Duration::from_secs(5),
            metrics,
        }
    }

    pub fn exchange(&self) -> &str {
        &self.exchange
    }

    /// Publishes `events` on one channel, then awaits their confirms in order.
    pub async fn publish(&self, events: &[PendingEvent]) -> Outcome {
        let channel = match self.link.channel().await {
            Ok(channel) => channel,
            Err(error) => {
                // No channel: the link is already reconnecting, nothing to reset.
                self.metrics.publish_failures.inc();
                return Outcome {
                    published: Vec::new(),
                    failure: Some((events[0].id, error.to_string())),
                };
            }
        };
        let (sent, failure) = self.send(&channel, events).await;
        let outcome = self.await_confirms(sent, failure).await;
        if outcome.failure.is_some() {
            self.metrics.publish_failures.inc();
            self.link.reset().await;
        }
        outcome
    }

    /// Sends until the first refusal; returns the confirms to await and that refusal.
    async fn send<'a>(
        &self,
        channel: &Channel,
        events: &'a [PendingEvent],
    ) -> (
        Vec<(&'a PendingEvent, PublisherConfirm)>,
        Option<(i64, String)>,
    ) {
        let mut sent = Vec::with_capacity(events.len());
        for event in events {
            let result = channel
                .basic_publish(
                    ShortString::from(self.exchange.as_str()),
                    ShortString::from(event.event_type.as_str()),
                    BasicPublishOptions::default(),
                    event.payload.as_bytes(),
                    properties(event),
                )
                .instrument(event.span.clone())
                .await;
            match result {
                Ok(confirm) => sent.push((event, confirm)),
                Err(error) => return (sent, Some((event.id, error.to_string()))),
            }
        }
        (sent, None)
    }

    async fn await_confirms(
        &self,
        sent: Vec<(&PendingEvent, PublisherConfirm)>,
        mut failure: Option<(i64, String)>,
    ) -> Outcome {
        let mut published = Vec::with_capacity(sent.len());
        for (event, confirm) in sent {
            if failure.is_some() {
                break;
            }
            match tokio::time::timeout(self.confirm_timeout, confirm).await {
                Ok(Ok(Confirmation::Ack(_) | Confirmation::NotRequested)) => {
                    published.push(event.id);
                    self.record_published(event);
                }
                Ok(Ok(Confirmation::Nack(_))) => {
                    failure = Some((event.id, "broker nacked the message".into()));
                }
                Ok(Err(error)) => failure = Some((event.id, error.to_string())),
                Err(_) => failure = Some((event.id, "no confirm in time".into())),
            }
        }
        Outcome { published, failure }
    }

    fn record_published(&self, event: &PendingEvent) {
        self.metrics.published.inc();
        let latency = (Utc::now() - event.created_at).to_std().unwrap_or_default();
        self.metrics.publish_latency.observe(latency.as_secs_f64());
    }
}

/// The message properties of the contract, with the trace context of the event's span.
fn properties(event: &PendingEvent) -> BasicProperties {
    let headers = event.span.in_scope(|| {
        shop_amqp::headers_with_trace(&[(wire::SCHEMA_VERSION_HEADER, &SCHEMA_VERSION.to_string())])
    });
    BasicProperties::default()
        .with_content_type(ShortString::from(wire::CONTENT_TYPE))
        .with_delivery_mode(wire::PERSISTENT)
        .with_message_id(ShortString::from(event.event_id.to_string()))
        .with_type(ShortString::from(event.event_type.as_str()))
        .with_timestamp(u64::try_from(event.created_at.timestamp()).unwrap_or(0))
        .with_app_id(ShortString::from(wire::APP_ID))
        .with_headers(headers)
}
